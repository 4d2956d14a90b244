//! Classifier, hint reader, normaliser and the planner (with the plan cache) over arbitrary text, in a
//! schema with a sharded table.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use shardgate::config::Rules;
use shardgate::sharding::table::SchemaLayout;

const RULES: &str = r#"
[server]
listen = "127.0.0.1:1"
[[users]]
name = "u"
password = "p"
[data_sources.ds_0]
primary = "127.0.0.1:2"
user = "u"
[data_sources.ds_1]
primary = "127.0.0.1:3"
user = "u"
[schemas.s]
data_source = "ds_0"
broadcast_tables = ["b"]
[schemas.s.tables.t]
sharding_column = "id"
actual_nodes = "ds_${0..1}.t_${0..1}"
"#;

fn setup() -> &'static (Rules, std::collections::HashMap<String, SchemaLayout>) {
    static S: OnceLock<(Rules, std::collections::HashMap<String, SchemaLayout>)> = OnceLock::new();
    S.get_or_init(|| {
        let rules = shardgate::config::parse(RULES, std::path::Path::new("fuzz.toml")).expect("rules");
        let layouts = shardgate::sharding::table::build(&rules).expect("layouts");
        (rules, layouts)
    })
}

fuzz_target!(|data: &[u8]| {
    let sql = String::from_utf8_lossy(data);
    let (rules, layouts) = setup();
    let _ = shardgate::sql::lexer::hint(&sql);
    let _ = shardgate::sql::reads::is_plain_read(&sql);
    let _ = shardgate::sql::normalize::normalize(&sql);
    let _ = shardgate::sql::sysvars::socket_as_null(&sql);
    let classified = shardgate::sql::lexer::classify(&sql);
    let plan = shardgate::plan::planner::plan(classified, &sql, Some("s"), rules, layouts);
    let _ = plan.describe(&sql);
});
