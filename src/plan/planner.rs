//! Turns a classified statement and the session's schema into a plan for the executor.

use crate::config::Rules;
use crate::sql::lexer::Statement;

/// What to do with one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Send to exactly one data source and relay its reply untouched.
    Passthrough {
        /// The data source.
        data_source: String,
    },
    /// Switch the session's logical schema.
    UseSchema(String),
    /// Answer with the logical schemas.
    ShowDatabases {
        /// LIKE filter.
        like: Option<String>,
    },
    /// Refuse with ER_NOT_SUPPORTED_YET and this reason.
    Refuse(String),
}

/// The data source a session's schema-less or single-source statements go to.
pub fn data_source_for(schema: Option<&str>, rules: &Rules) -> String {
    schema
        .and_then(|s| rules.schemas.get(s))
        .map(|s| s.data_source.get_ref().clone())
        .unwrap_or_else(|| rules.default_data_source().to_string())
}

/// Plans one statement.
pub fn plan(statement: Statement, schema: Option<&str>, rules: &Rules) -> Plan {
    match statement {
        Statement::Use(name) => Plan::UseSchema(name),
        Statement::ShowDatabases { like } => Plan::ShowDatabases { like },
        Statement::Unsupported(what) => Plan::Refuse(what.to_string()),
        Statement::Other => Plan::Passthrough { data_source: data_source_for(schema, rules) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::lexer::classify;
    use std::path::Path;

    fn rules() -> Rules {
        crate::config::parse(
            r#"
default_data_source = "ds_1"
[server]
listen = "127.0.0.1:0"
[[users]]
name = "app"
password = "app"
[data_sources.ds_0]
primary = "127.0.0.1:1"
user = "app"
[data_sources.ds_1]
primary = "127.0.0.1:2"
user = "app"
[schemas.a]
data_source = "ds_0"
"#,
            Path::new("t.toml"),
        )
        .unwrap()
    }

    #[test]
    fn statements_follow_the_schema_or_the_default_source() {
        let r = rules();
        assert_eq!(plan(classify("select 1"), Some("a"), &r), Plan::Passthrough { data_source: "ds_0".into() });
        assert_eq!(plan(classify("select 1"), None, &r), Plan::Passthrough { data_source: "ds_1".into() });
        assert_eq!(plan(classify("use a"), None, &r), Plan::UseSchema("a".into()));
        assert!(matches!(plan(classify("show databases where 1"), None, &r), Plan::Refuse(_)));
    }
}
