//! Loading and validating the rules file; every error names the file, line, column and key.

pub mod nodes;
pub mod rules;
pub mod validate;

pub use rules::Rules;

use std::fmt;
use std::path::{Path, PathBuf};

/// One error in a rules file, printed as `file:line:column: key: message`.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line and column, when the error has a place in the file.
    pub position: Option<(usize, usize)>,
    /// Dotted key, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Parses and validates rules text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Rules, Vec<ConfigError>> {
    let rules: Rules = toml::from_str(text).map_err(|e| {
        vec![ConfigError {
            path: path.to_path_buf(),
            position: e.span().map(|s| line_col(text, s.start)),
            key: None,
            message: e.message().trim().to_string(),
        }]
    })?;
    let problems = validate::validate(&rules);
    if problems.is_empty() {
        return Ok(rules);
    }
    Err(problems
        .into_iter()
        .map(|p| ConfigError {
            path: path.to_path_buf(),
            position: p.span.map(|s| line_col(text, s.start)),
            key: Some(p.key),
            message: p.message,
        })
        .collect())
}

/// Reads, parses and validates a rules file.
pub fn load(path: &Path) -> Result<Rules, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError { path: path.to_path_buf(), position: None, key: None, message: format!("cannot read: {e}") }]
    })?;
    parse(&text, path)
}

impl Rules {
    /// The data source for sessions without a schema.
    pub fn default_data_source(&self) -> &str {
        match &self.default_data_source {
            Some(d) => d.get_ref(),
            None => self.data_sources.keys().next().map(String::as_str).unwrap_or(""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
listen = "127.0.0.1:3307"

[[users]]
name = "app"
password = "app"

[data_sources.ds_0]
primary = "127.0.0.1:3310"
user = "app"
password = "app"

[schemas.demo]
data_source = "ds_0"
"#;

    fn errors(text: &str) -> Vec<String> {
        parse(text, Path::new("r.toml")).unwrap_err().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn good_rules_load_with_defaults() {
        let r = parse(GOOD, Path::new("r.toml")).unwrap();
        assert_eq!(r.data_sources["ds_0"].max_connections, 256);
        assert_eq!(r.default_data_source(), "ds_0");
    }

    #[test]
    fn unknown_key_is_named_with_its_position() {
        let text = GOOD.replace("user = \"app\"\npassword = \"app\"\n\n[schemas", "user = \"app\"\npasword = \"app\"\n\n[schemas");
        let e = errors(&text);
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("r.toml:12:1: "), "{}", e[0]);
        assert!(e[0].contains("unknown field `pasword`"), "{}", e[0]);
    }

    #[test]
    fn bad_address_is_rejected_with_position() {
        let e = errors(&GOOD.replace("127.0.0.1:3310", "localhost"));
        assert!(e[0].starts_with("r.toml:10:11: "), "{}", e[0]);
    }

    #[test]
    fn dangling_data_source_reference_points_at_the_value() {
        let e = errors(&GOOD.replace("data_source = \"ds_0\"", "data_source = \"ds_9\""));
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("r.toml:15:15: schemas.demo.data_source: unknown data source 'ds_9'"), "{}", e[0]);
    }

    #[test]
    fn password_rules() {
        let e = errors(&GOOD.replace("password = \"app\"\n\n[data", "password_hash = \"*12\"\n\n[data"));
        assert!(e[0].contains("users[0].password_hash: must be '*' followed by 40 hex digits"), "{}", e[0]);
        let e = errors(&GOOD.replace("name = \"app\"\npassword = \"app\"", "name = \"app\""));
        assert!(e[0].contains("users[0]: set password or password_hash"), "{}", e[0]);
    }
}
