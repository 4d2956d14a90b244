//! Planning: statement + rules → what the executor runs.

pub mod cache;
pub mod compute;
pub mod info_schema;
pub mod insert;
pub mod insert_select;
pub mod keyed_write;
pub mod limited_write;
pub mod load_data;
pub mod lock_tables;
pub mod merge;
pub mod move_rows;
pub mod multi_write;
pub mod planner;
pub mod pushdown;
pub mod route;
pub mod snapshot;
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

/// Schema `s`: t (mod), h (consistent hash, the default), r (range: < 100, < 200, < 300, the rest), each
/// over ds_0.x_0, ds_0.x_1, ds_1.x_0, ds_1.x_1; broadcast b; anything else on ds_0.
#[cfg(test)]
pub(crate) fn schema_s() -> crate::sharding::table::SchemaLayout {
    test_layouts(
        "[schemas.s]\ndata_source = \"ds_0\"\nbroadcast_tables = [\"b\"]\n\
         [schemas.s.tables.t]\nsharding_column = \"id\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${0..1}.t_${0..1}\"\n\
         [schemas.s.tables.h]\nsharding_column = \"id\"\nactual_nodes = \"ds_${0..1}.h_${0..1}\"\n\
         [schemas.s.tables.r]\nsharding_column = \"k\"\nalgorithm = \"range\"\nboundaries = [100, 200, 300]\nactual_nodes = \"ds_${0..1}.r_${0..1}\"\n",
    )
    .remove("s")
    .expect("schema s")
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
