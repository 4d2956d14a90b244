//! Unit tests of `planner::plan`: the plan of each kind of statement over rules with two data sources.

use std::collections::HashMap;

use crate::config::Rules;
use crate::plan::planner::{plan, plan_with_params, Combine, Plan};
use crate::sharding::table::SchemaLayout;
use crate::sql::lexer::classify;

const SCHEMAS: &str = "[schemas.s]\ndata_source = \"ds_0\"\nbroadcast_tables = [\"b\"]\nbinding_groups = [[\"o\", \"i\"]]\n\
    [schemas.s.tables.t]\nsharding_column = \"id\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${0..1}.t_${0..1}\"\n\
    [schemas.s.tables.u]\nsharding_column = \"uid\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${0..1}.u_${0..1}\"\n\
    [schemas.s.tables.o]\nsharding_column = \"user_id\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${0..1}.o_${0..1}\"\n\
    [schemas.s.tables.i]\nsharding_column = \"user_id\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${0..1}.i_${0..1}\"\n\
    [schemas.plain]\ndata_source = \"ds_1\"\n\
    [schemas.other]\ndata_source = \"ds_1\"\n\
    [schemas.other.tables.x]\nsharding_column = \"k\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${0..1}.x_${0..1}\"\n";

fn setup(top: &str) -> (Rules, HashMap<String, SchemaLayout>) {
    crate::plan::test_rules(top, SCHEMAS)
}

fn run(schema: Option<&str>, sql: &str) -> Plan {
    let (rules, layouts) = setup("");
    plan(classify(sql), sql, schema, &rules, &layouts)
}

#[test]
fn explore() {
    for (schema, sql) in [
        (Some("s"), "SELECT c FROM t WHERE id = 1"),
        (Some("s"), "SELECT c FROM t WHERE id IN (1, 5, 2)"),
        (Some("s"), "SELECT c FROM t"),
        (Some("s"), "SELECT c FROM t WHERE c = 3"),
        (Some("s"), "SELECT * FROM nr WHERE id = 1"),
        (Some("plain"), "SELECT * FROM t WHERE id = 1"),
        (Some("s"), "INSERT INTO t (id, c) VALUES (1, 'a')"),
        (Some("s"), "INSERT INTO t (id, c) VALUES (1, 'a'), (2, 'b'), (5, 'c')"),
        (Some("s"), "INSERT INTO t VALUES (1, 'a')"),
        (Some("s"), "UPDATE t SET c = 'x' WHERE id = 2"),
        (Some("s"), "DELETE FROM t WHERE id = 3"),
        (Some("s"), "UPDATE t SET c = 'x'"),
        (Some("s"), "DELETE FROM t WHERE c = 'x'"),
        (Some("s"), "UPDATE t SET id = 6 WHERE id = 1"),
        (Some("s"), "INSERT INTO b (k, v) VALUES (1, 2)"),
        (Some("s"), "SELECT * FROM b WHERE k = 1"),
        (Some("s"), "ALTER TABLE t ADD COLUMN z INT"),
        (Some("s"), "TRUNCATE TABLE t"),
        (Some("plain"), "CREATE DATABASE s"),
        (None, "CREATE DATABASE IF NOT EXISTS `other`"),
        (Some("s"), "SELECT * FROM other.x WHERE k = 3"),
        (Some("s"), "SELECT * FROM other.x JOIN x ON other.x.k = x.k"),
        (Some("s"), "SELECT * FROM other.x JOIN t ON x.k = t.id"),
        (Some("s"), "BEGIN"),
        (Some("s"), "START TRANSACTION READ ONLY"),
        (Some("s"), "START TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
        (Some("s"), "COMMIT"),
        (Some("s"), "ROLLBACK"),
        (Some("s"), "SAVEPOINT a"),
        (Some("s"), "SET @x = 1"),
        (Some("s"), "USE other"),
        (Some("s"), "SHOW DATABASES LIKE 's%'"),
        (Some("s"), "SHOW FULL TABLES"),
        (None, "SHOW TABLES"),
        (Some("s"), "EXPLAIN SHARDING SELECT c FROM t WHERE id = 2"),
        (Some("s"), "KILL QUERY 7"),
        (Some("s"), "SHOW SHARDGATE NODES"),
        (Some("s"), "/* shardgate: data_source=ds_9 */ SELECT 1"),
        (Some("s"), "/* shardgate: data_source=ds_1 */ SELECT * FROM t"),
        (Some("s"), "/* shardgate: shard_key=3 */ SELECT * FROM t WHERE c = 1"),
        (Some("plain"), "/* shardgate: shard_key=3 */ SELECT 1"),
        (Some("s"), "SELECT * FROM t WHERE id IN (SELECT uid FROM u)"),
        (Some("s"), "SELECT * FROM t JOIN u ON t.id = u.uid"),
        (Some("s"), "SELECT * FROM o JOIN i ON o.id = i.id"),
        (Some("s"), "SELECT * FROM o JOIN i ON o.user_id = i.user_id WHERE o.user_id = 5"),
        (Some("s"), "DELETE FROM t WHERE c = 1 LIMIT 10"),
        (Some("s"), "SELECT id, c FROM t ORDER BY c DESC LIMIT 5"),
        (Some("s"), "SELECT c, COUNT(*), SUM(v) FROM t GROUP BY c"),
        (Some("s"), "XA START 'x'"),
        (Some("s"), "PREPARE p FROM 'select 1'"),
        (Some("s"), "DESCRIBE t"),
        (Some("s"), "SHOW CREATE TABLE t"),
        (Some("s"), "UPDATE t SET id = id + 1 WHERE id = 1"),
    ] {
        let p = run(schema, sql);
        eprintln!("{schema:?} {sql}\n   {:?}\n   {:?}", p.describe(sql), p);
    }
}
