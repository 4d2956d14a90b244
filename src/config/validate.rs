//! Checks that need the whole document: references between sections, value ranges, password formats.

use super::rules::Rules;
use crate::protocol::auth::parse_password_hash;
use std::collections::HashSet;
use std::ops::Range;

/// A problem found in a rules document, with the byte span it refers to (if known).
#[derive(Debug, Clone)]
pub struct Problem {
    /// Dotted key path, e.g. `schemas.demo.data_source`.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
    /// Where in the file.
    pub span: Option<Range<usize>>,
}

/// Returns every problem found (empty = valid).
pub fn validate(rules: &Rules) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut add = |key: String, message: String, span: Option<Range<usize>>| problems.push(Problem { key, message, span });
    let known = || rules.data_sources.keys().cloned().collect::<Vec<_>>().join(", ");

    if rules.data_sources.is_empty() {
        add("data_sources".into(), "at least one data source is required".into(), None);
    }
    for (name, ds) in &rules.data_sources {
        if ds.max_connections == 0 {
            add(format!("data_sources.{name}.max_connections"), "must be at least 1".into(), None);
        }
        if ds.connect_timeout_ms == 0 {
            add(format!("data_sources.{name}.connect_timeout_ms"), "must be at least 1".into(), None);
        }
        if ds.health_check_interval_ms == 0 || ds.health_check_timeout_ms == 0 {
            add(format!("data_sources.{name}.health_check_interval_ms"), "health-check interval and timeout must be at least 1 ms".into(), None);
        }
        // The TLS settings are checked the way a connection builds them (the CA file read and parsed).
        if let Err(reason) = crate::backend::tls::connector(ds) {
            add(format!("data_sources.{name}.tls_ca"), reason, None);
        }
        for (i, r) in ds.replicas.iter().enumerate() {
            if r.weight == 0 {
                add(format!("data_sources.{name}.replicas[{i}].weight"), "must be at least 1 (remove the replica to take it out)".into(), None);
            }
            if r.address == ds.primary || ds.replicas[..i].iter().any(|o| o.address == r.address) {
                add(format!("data_sources.{name}.replicas[{i}].address"), format!("{} is listed twice in this data source", r.address), None);
            }
        }
    }
    if rules.users.is_empty() {
        add("users".into(), "at least one [[users]] entry is required, or no client can log in".into(), None);
    }
    let mut seen = HashSet::new();
    for (i, user) in rules.users.iter().enumerate() {
        let span = Some(user.span());
        let u = user.get_ref();
        let key = format!("users[{i}]");
        if u.name.is_empty() {
            add(format!("{key}.name"), "must not be empty".into(), span.clone());
        }
        if !seen.insert(u.name.clone()) {
            add(format!("{key}.name"), format!("user '{}' is defined twice", u.name), span.clone());
        }
        match (&u.password, &u.password_hash) {
            (Some(_), Some(_)) => add(key, "set either password or password_hash, not both".into(), span),
            (None, None) => add(key, "set password or password_hash (\"\" for an empty password)".into(), span),
            (None, Some(h)) if parse_password_hash(h).is_none() => add(
                format!("{key}.password_hash"),
                "must be '*' followed by 40 hex digits, as SELECT PASSWORD('secret') prints".into(),
                span,
            ),
            _ => {}
        }
    }
    for (name, schema) in &rules.schemas {
        let ds = schema.data_source.get_ref();
        if !rules.data_sources.contains_key(ds) {
            add(
                format!("schemas.{name}.data_source"),
                format!("unknown data source '{ds}'; defined: {}", known()),
                Some(schema.data_source.span()),
            );
        }
    }
    if let Some(d) = &rules.default_data_source {
        if !rules.data_sources.contains_key(d.get_ref()) {
            add(
                "default_data_source".into(),
                format!("unknown data source '{}'; defined: {}", d.get_ref(), known()),
                Some(d.span()),
            );
        }
    }
    if rules.server.worker_threads == Some(0) {
        add("server.worker_threads".into(), "must be at least 1".into(), None);
    }
    if let Err(more) = crate::sharding::table::build(rules) {
        problems.extend(more);
    }
    problems
}
