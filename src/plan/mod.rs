//! Planning: statement + rules → what the executor runs.

pub mod cache;
pub mod info_schema;
pub mod insert;
pub mod load_data;
pub mod lock_tables;
pub mod merge;
pub mod move_rows;
pub mod planner;
pub mod route;
pub mod soundness;
pub mod template;
pub mod weights;

pub use planner::Plan;

#[cfg(test)]
mod planner_tests;

/// Layouts of rules with two data sources (ds_0, ds_1) plus `schemas`, for planners' unit tests.
#[cfg(test)]
pub(crate) fn test_layouts(schemas: &str) -> std::collections::HashMap<String, crate::sharding::table::SchemaLayout> {
    test_rules("", schemas).1
}

/// The rules (top-level keys `top`, e.g. `transaction_mode = "single_source"`, then two data sources ds_0 and
/// ds_1, then `schemas`) and their layouts, for tests that plan through `planner::plan`.
#[cfg(test)]
pub(crate) fn test_rules(top: &str, schemas: &str) -> (crate::config::Rules, std::collections::HashMap<String, crate::sharding::table::SchemaLayout>) {
    let text = format!(
        "{top}[server]\nlisten = \"127.0.0.1:0\"\n[[users]]\nname = \"u\"\npassword = \"p\"\n\
         [data_sources.ds_0]\nprimary = \"127.0.0.1:1\"\nuser = \"u\"\n[data_sources.ds_1]\nprimary = \"127.0.0.1:2\"\nuser = \"u\"\n{schemas}"
    );
    let rules = crate::config::parse(&text, std::path::Path::new("t.toml")).expect("test rules");
    let layouts = crate::sharding::table::build(&rules).expect("test layouts");
    (rules, layouts)
}
