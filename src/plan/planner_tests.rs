//! Unit tests of `planner::plan` / `plan_with_params`: the plan of each kind of statement over rules with two
//! data sources (ds_0, ds_1). Sharded tables use `mod` over four nodes (ds_0.x_0, ds_0.x_1, ds_1.x_0,
//! ds_1.x_1), so key k lives on node k % 4: 1 and 5 on ds_0.x_1, 2 on ds_1.x_0, 3 on ds_1.x_1, 4 on ds_0.x_0.

use std::collections::HashMap;

use crate::config::Rules;
use crate::plan::merge::{AggFunc, ColRef, MergeSpec, SortKey};
use crate::plan::planner::{plan, plan_with_params, prepared_template, Combine, Plan};
use crate::sharding::key::Literal;
use crate::sharding::table::SchemaLayout;
use crate::sql::lexer::{classify, Admin};

/// Schema `s` (sharded t, u, binding group o + i, broadcast b; anything else lives on ds_0), schema `plain`
/// without rules (on ds_1), schema `other` with sharded x, schema `al` whose backend database is `al_db`.
const SCHEMAS: &str = "[schemas.s]\ndata_source = \"ds_0\"\nbroadcast_tables = [\"b\"]\nbinding_groups = [[\"o\", \"i\"]]\n\
    [schemas.s.tables.t]\nsharding_column = \"id\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${0..1}.t_${0..1}\"\n\
    [schemas.s.tables.u]\nsharding_column = \"uid\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${0..1}.u_${0..1}\"\n\
    [schemas.s.tables.o]\nsharding_column = \"user_id\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${0..1}.o_${0..1}\"\n\
    [schemas.s.tables.i]\nsharding_column = \"user_id\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${0..1}.i_${0..1}\"\n\
    [schemas.plain]\ndata_source = \"ds_1\"\n\
    [schemas.other]\ndata_source = \"ds_1\"\n\
    [schemas.other.tables.x]\nsharding_column = \"k\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${0..1}.x_${0..1}\"\n\
    [schemas.al]\ndata_source = \"ds_0\"\ndatabase = \"al_db\"\n\
    [schemas.al.tables.y]\nsharding_column = \"k\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${0..1}.y_${0..1}\"\n";

fn setup(top: &str) -> (Rules, HashMap<String, SchemaLayout>) {
    crate::plan::test_rules(top, SCHEMAS)
}

/// Plans `sql` in `schema` under transaction mode xa (the default).
fn plan_in(schema: Option<&str>, sql: &str) -> Plan {
    let (rules, layouts) = setup("");
    plan(classify(sql), sql, schema, &rules, &layouts)
}

/// Plans `sql` in schema `s` under `transaction_mode = mode`.
fn plan_in_mode(mode: &str, sql: &str) -> Plan {
    let (rules, layouts) = setup(&format!("transaction_mode = \"{mode}\"\n"));
    plan(classify(sql), sql, Some("s"), &rules, &layouts)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(d, s)| (d.to_string(), s.to_string())).collect()
}

/// `sql` with `{t}` replaced by each node's physical name, as (data source, SQL) in node order.
fn every_node(sql: &str, table: &str) -> Vec<(String, String)> {
    [("ds_0", 0), ("ds_0", 1), ("ds_1", 0), ("ds_1", 1)].iter().map(|(ds, n)| (ds.to_string(), sql.replace("{t}", &format!("`{table}_{n}`")))).collect()
}

/// The targets and combine of a Scatter, with the number of sequences it resets.
fn scatter(p: &Plan, sql: &str) -> (Vec<(String, String)>, Combine, usize) {
    match p {
        Plan::Scatter { combine, reset_sequences, .. } => (p.describe(sql), *combine, reset_sequences.len()),
        other => panic!("a Scatter: {other:?}"),
    }
}

fn passthrough(p: &Plan) -> (String, Option<String>) {
    match p {
        Plan::Passthrough { data_source, sql } => (data_source.clone(), sql.clone()),
        other => panic!("a Passthrough: {other:?}"),
    }
}

/// A compute plan's reason and the tables it copies (with their node counts).
fn computed(p: &Plan) -> (String, Vec<(String, usize)>) {
    match p {
        Plan::Compute(c) => (c.reason.clone(), c.tables.iter().map(|t| (t.name.clone(), t.nodes.len())).collect()),
        other => panic!("a Compute: {other:?}"),
    }
}

fn refusal(p: &Plan) -> String {
    match p {
        Plan::Refuse(reason) => reason.clone(),
        other => panic!("a Refuse: {other:?}"),
    }
}

#[test]
fn point_select_by_key_goes_to_one_node_under_its_physical_name() {
    let p = plan_in(Some("s"), "SELECT c FROM t WHERE id = 3");
    assert_eq!(passthrough(&p), ("ds_1".into(), Some("SELECT c FROM `t_1` WHERE id = 3".into())));
}

#[test]
fn in_list_goes_to_the_nodes_holding_the_keys() {
    let sql = "SELECT c FROM t WHERE id IN (1, 5, 2)";
    let (targets, combine, _) = scatter(&plan_in(Some("s"), sql), sql);
    assert_eq!(targets, pairs(&[("ds_0", "SELECT c FROM `t_1` WHERE id IN (1, 5, 2)"), ("ds_1", "SELECT c FROM `t_0` WHERE id IN (1, 5, 2)")]));
    assert_eq!(combine, Combine::Concat);
}

#[test]
fn select_without_key_is_concatenated_from_every_node() {
    let sql = "SELECT c FROM t WHERE c = 3";
    let (targets, combine, resets) = scatter(&plan_in(Some("s"), sql), sql);
    assert_eq!(targets, every_node("SELECT c FROM {t} WHERE c = 3", "t"));
    assert_eq!((combine, resets), (Combine::Concat, 0));
}

#[test]
fn table_without_rules_passes_through_to_the_schema_default() {
    assert_eq!(passthrough(&plan_in(Some("s"), "SELECT * FROM nr WHERE id = 1")), ("ds_0".into(), None));
}

#[test]
fn schema_without_rules_passes_through_unchanged() {
    // `plain` has no rules: even a table named like a sharded one of `s` is just forwarded to ds_1.
    assert_eq!(passthrough(&plan_in(Some("plain"), "SELECT * FROM t WHERE id = 1")), ("ds_1".into(), None));
    // No schema at all: the rules' default data source (the first by name).
    assert_eq!(passthrough(&plan_in(None, "SELECT 1")), ("ds_0".into(), None));
}

#[test]
fn insert_with_key_goes_to_one_node() {
    let sql = "INSERT INTO t (id, c) VALUES (3, 'a')";
    let p = plan_in(Some("s"), sql);
    assert!(matches!(p, Plan::Insert(_)), "{p:?}");
    assert_eq!(p.describe(sql), pairs(&[("ds_1", "INSERT INTO `t_1` (id, c) VALUES (3, 'a')")]));
}

#[test]
fn multi_row_insert_is_split_per_node() {
    let sql = "INSERT INTO t (id, c) VALUES (1, 'a'), (2, 'b'), (5, 'c')";
    let p = plan_in(Some("s"), sql);
    let Plan::Insert(insert) = &p else { panic!("an Insert: {p:?}") };
    assert_eq!(insert.keys, vec![Literal::Int(1), Literal::Int(2), Literal::Int(5)]);
    assert_eq!(p.describe(sql), pairs(&[("ds_0", "INSERT INTO `t_1` (id, c) VALUES (1, 'a'), (5, 'c')"), ("ds_1", "INSERT INTO `t_0` (id, c) VALUES (2, 'b')")]));
}

#[test]
fn insert_without_column_list_learns_the_columns_first() {
    let (rules, layouts) = setup("");
    let sql = "INSERT INTO t VALUES (1, 'a'), (2, 'b')";
    let p = plan(classify(sql), sql, Some("s"), &rules, &layouts);
    let Plan::LearnColumns(table) = &p else { panic!("LearnColumns: {p:?}") };
    assert_eq!(table.name, "t");
    assert_eq!(p.describe(sql), pairs(&[("ds_0", "SHOW COLUMNS FROM `t_0` (then the statement, planned with them)")]));
    // Once learnt, the same statement is split by the key's position among them.
    layouts["s"].tables["t"].set_columns(vec!["id".into(), "c".into()]);
    let p = plan(classify(sql), sql, Some("s"), &rules, &layouts);
    assert!(matches!(p, Plan::Insert(_)), "{p:?}");
    assert_eq!(p.describe(sql), pairs(&[("ds_0", "INSERT INTO `t_1` VALUES (1, 'a')"), ("ds_1", "INSERT INTO `t_0` VALUES (2, 'b')")]));
}

#[test]
fn update_and_delete_by_key_go_to_one_node() {
    assert_eq!(passthrough(&plan_in(Some("s"), "UPDATE t SET c = 'x' WHERE id = 2")), ("ds_1".into(), Some("UPDATE `t_0` SET c = 'x' WHERE id = 2".into())));
    assert_eq!(passthrough(&plan_in(Some("s"), "DELETE FROM t WHERE id = 4")), ("ds_0".into(), Some("DELETE FROM `t_0` WHERE id = 4".into())));
}

#[test]
fn update_and_delete_without_key_scatter_to_every_node() {
    let sql = "UPDATE t SET c = 'x'";
    assert_eq!(scatter(&plan_in(Some("s"), sql), sql), (every_node("UPDATE {t} SET c = 'x'", "t"), Combine::SumAffected, 0));
    let sql = "DELETE FROM t WHERE c = 'x'";
    assert_eq!(scatter(&plan_in(Some("s"), sql), sql), (every_node("DELETE FROM {t} WHERE c = 'x'", "t"), Combine::SumAffected, 0));
}

#[test]
fn sharding_key_update_moves_rows_in_xa_mode() {
    let sql = "UPDATE t SET id = 6 WHERE id = 1";
    let p = plan_in(Some("s"), sql);
    let Plan::MoveRows(m) = &p else { panic!("MoveRows: {p:?}") };
    assert_eq!((m.target, m.new_key.as_str()), (2, "6"));
    assert_eq!(m.updates.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1]);
    assert_eq!(p.describe(sql), pairs(&[("ds_0", "UPDATE `t_1` SET id = 6 WHERE id = 1"), ("ds_1", "(rows whose id is now 6 move to t_0)")]));
}

#[test]
fn sharding_key_update_is_refused_outside_xa_mode() {
    for mode in ["single_source", "best_effort"] {
        let reason = refusal(&plan_in_mode(mode, "UPDATE t SET id = 6 WHERE id = 1"));
        assert_eq!(reason, "UPDATE of sharding column 'id' (moving a row between shards needs transaction_mode = \"xa\")", "{mode}");
    }
}

#[test]
fn sharding_key_update_to_an_expression_runs_over_copies() {
    let Plan::MultiWrite(m) = plan_in(Some("s"), "UPDATE t SET id = id + 1 WHERE id = 1") else { panic!("a MultiWrite") };
    assert_eq!(m.compute.reason, "UPDATE of sharding column 'id' to an expression");
    assert_eq!(m.compute.tables[0].filter, Some(("t".to_string(), "id = 1".to_string())));
}

#[test]
fn broadcast_write_is_mirrored_on_every_data_source() {
    let sql = "INSERT INTO b (k, v) VALUES (1, 2)";
    assert_eq!(scatter(&plan_in(Some("s"), sql), sql), (pairs(&[("ds_0", sql), ("ds_1", sql)]), Combine::Mirror, 0));
}

#[test]
fn broadcast_read_goes_to_one_data_source() {
    assert_eq!(passthrough(&plan_in(Some("s"), "SELECT * FROM b WHERE k = 1")), ("ds_0".into(), None));
}

#[test]
fn ddl_on_a_sharded_table_goes_to_every_node() {
    let sql = "ALTER TABLE t ADD COLUMN z INT";
    assert_eq!(scatter(&plan_in(Some("s"), sql), sql), (every_node("ALTER TABLE {t} ADD COLUMN z INT", "t"), Combine::First, 0));
    // TRUNCATE and DROP also restart the table's sequence.
    let sql = "TRUNCATE TABLE t";
    assert_eq!(scatter(&plan_in(Some("s"), sql), sql), (every_node("TRUNCATE TABLE {t}", "t"), Combine::First, 1));
}

#[test]
fn database_ddl_of_a_sharded_schema_goes_to_every_data_source() {
    let sql = "CREATE DATABASE IF NOT EXISTS `s`";
    assert_eq!(scatter(&plan_in(Some("plain"), sql), sql), (pairs(&[("ds_0", sql), ("ds_1", sql)]), Combine::First, 0));
    // Under the schema's backend database name; ALTER DATABASE without a name is the session's schema.
    let sql = "DROP DATABASE al";
    assert_eq!(scatter(&plan_in(None, sql), sql).0, pairs(&[("ds_0", "DROP DATABASE `al_db`"), ("ds_1", "DROP DATABASE `al_db`")]));
    let sql = "ALTER DATABASE CHARACTER SET utf8mb4";
    let want = "ALTER DATABASE `al_db` CHARACTER SET utf8mb4";
    assert_eq!(scatter(&plan_in(Some("al"), sql), sql).0, pairs(&[("ds_0", want), ("ds_1", want)]));
    // A schema without rules is not the proxy's business.
    assert_eq!(passthrough(&plan_in(Some("s"), "CREATE DATABASE plain")), ("ds_0".into(), None));
}

#[test]
fn qualified_name_of_another_schema_is_planned_with_its_rules() {
    let p = plan_in(Some("s"), "SELECT * FROM other.x WHERE k = 3");
    assert_eq!(passthrough(&p), ("ds_1".into(), Some("SELECT * FROM other.`x_1` WHERE k = 3".into())));
    // From a session without a schema too.
    let p = plan_in(None, "DELETE FROM other.x WHERE k = 4");
    assert_eq!(passthrough(&p), ("ds_0".into(), Some("DELETE FROM other.`x_0` WHERE k = 4".into())));
}

#[test]
fn mixing_qualified_and_unqualified_names_of_another_schema_is_refused() {
    let mixed = "a statement naming tables of schema other both qualified and not, or with the session's own sharded tables";
    assert_eq!(refusal(&plan_in(Some("s"), "SELECT * FROM other.x JOIN x ON other.x.k = x.k")), mixed);
    assert_eq!(refusal(&plan_in(Some("s"), "SELECT * FROM other.x JOIN t ON x.k = t.id")), mixed);
    // A schema whose backend database has another name cannot be named from elsewhere.
    let reason = refusal(&plan_in(Some("s"), "SELECT * FROM al.y WHERE k = 1"));
    assert_eq!(reason, "a qualified name of schema al, whose tables live in backend database 'al_db'; USE al first");
}

#[test]
fn begin_in_an_xa_managed_schema_is_answered_by_the_proxy() {
    assert!(matches!(plan_in(Some("s"), "BEGIN"), Plan::Begin { read_only: false, snapshot: None }));
    assert!(matches!(plan_in(Some("s"), "START TRANSACTION READ ONLY"), Plan::Begin { read_only: true, snapshot: None }));
    assert!(matches!(plan_in(Some("s"), "START TRANSACTION WITH CONSISTENT SNAPSHOT"), Plan::Begin { read_only: false, snapshot: Some(p) } if p.len() == 2));
    let reason = refusal(&plan_in(Some("s"), "START TRANSACTION ISOLATION LEVEL SERIALIZABLE"));
    assert!(reason.starts_with("START TRANSACTION with characteristics"), "{reason}");
}

#[test]
fn consistent_snapshot_in_the_rules_decides_which_transactions_take_a_snapshot_across_shards() {
    let begin = |mode: &str, sql: &str| {
        let (rules, layouts) = setup(&format!("consistent_snapshot = \"{mode}\"\n"));
        match plan(classify(sql), sql, Some("s"), &rules, &layouts) {
            Plan::Begin { read_only, snapshot } => (read_only, snapshot.is_some()),
            other => panic!("{sql}: {other:?}"),
        }
    };
    let snapshot = "START TRANSACTION WITH CONSISTENT SNAPSHOT";
    assert_eq!(begin("off", snapshot), (false, false));
    assert_eq!(begin("explicit", snapshot), (false, true));
    assert_eq!(begin("explicit", "START TRANSACTION READ ONLY"), (true, false));
    assert_eq!(begin("read_only", "START TRANSACTION READ ONLY"), (true, true));
    assert_eq!(begin("read_only", "BEGIN"), (false, false));
}

#[test]
fn transactions_not_managed_by_the_proxy_pass_through() {
    // A schema without rules in xa mode, and a sharded schema in single_source mode.
    assert_eq!(passthrough(&plan_in(Some("plain"), "BEGIN")), ("ds_1".into(), None));
    for sql in ["BEGIN", "START TRANSACTION READ ONLY", "SAVEPOINT a"] {
        assert_eq!(passthrough(&plan_in_mode("single_source", sql)), ("ds_0".into(), None), "{sql}");
    }
}

#[test]
fn commit_and_rollback_end_the_transaction() {
    assert!(matches!(plan_in(Some("s"), "COMMIT"), Plan::EndTransaction(true)));
    assert!(matches!(plan_in(Some("s"), "ROLLBACK WORK"), Plan::EndTransaction(false)));
    // Even outside the proxy's transactions: the session ends what it joined.
    assert!(matches!(plan_in(Some("plain"), "COMMIT"), Plan::EndTransaction(true)));
}

#[test]
fn savepoints_in_an_xa_managed_schema() {
    for sql in ["SAVEPOINT a", "ROLLBACK TO SAVEPOINT a", "RELEASE SAVEPOINT a"] {
        assert!(matches!(plan_in(Some("s"), sql), Plan::Savepoint), "{sql}");
    }
}

#[test]
fn set_runs_on_the_home_data_source() {
    let p = plan_in(Some("plain"), "SET @x = 1");
    assert!(matches!(&p, Plan::Set { data_source } if data_source == "ds_1"), "{p:?}");
    assert!(matches!(plan_in(Some("s"), "SET NAMES utf8mb4"), Plan::Set { data_source } if data_source == "ds_0"));
}

#[test]
fn use_switches_the_logical_schema() {
    assert!(matches!(plan_in(Some("s"), "USE other"), Plan::UseSchema(name) if name == "other"));
    assert!(matches!(plan_in(None, "use `plain`;"), Plan::UseSchema(name) if name == "plain"));
}

#[test]
fn show_databases_and_tables_are_answered_by_the_proxy() {
    assert!(matches!(plan_in(Some("s"), "SHOW DATABASES LIKE 's%'"), Plan::ShowDatabases { like: Some(l) } if l == "s%"));
    assert!(matches!(plan_in(None, "SHOW DATABASES"), Plan::ShowDatabases { like: None }));
    assert!(matches!(plan_in(Some("s"), "SHOW FULL TABLES"), Plan::ShowTables { full: true, like: None }));
    assert!(matches!(plan_in(Some("plain"), "SHOW TABLES LIKE 't%'"), Plan::ShowTables { full: false, like: Some(l) } if l == "t%"));
    // Without a schema, the default data source answers.
    assert_eq!(passthrough(&plan_in(None, "SHOW TABLES")), ("ds_0".into(), None));
}

#[test]
fn explain_sharding_plans_the_inner_statement() {
    let p = plan_in(Some("s"), "EXPLAIN SHARDING SELECT c FROM t WHERE id = 2");
    let Plan::Explain(inner, text) = &p else { panic!("Explain: {p:?}") };
    assert_eq!(text, "SELECT c FROM t WHERE id = 2");
    assert_eq!(passthrough(inner), ("ds_1".into(), Some("SELECT c FROM `t_0` WHERE id = 2".into())));
}

#[test]
fn kill_is_answered_by_the_proxy() {
    assert!(matches!(plan_in(Some("s"), "KILL QUERY 7"), Plan::Kill { query: true, id: 7 }));
    assert!(matches!(plan_in(None, "KILL 9"), Plan::Kill { query: false, id: 9 }));
    assert!(refusal(&plan_in(None, "KILL USER app")).starts_with("this form of KILL"));
}

#[test]
fn admin_statements_are_answered_by_the_proxy() {
    assert!(matches!(plan_in(Some("s"), "SHOW SHARDGATE NODES"), Plan::Admin(Admin::Nodes)));
    assert!(matches!(plan_in(None, "RELOAD RULES"), Plan::Admin(Admin::Reload)));
    assert!(matches!(plan_in(None, "SET SHARDGATE NODE 'ds_0/r1' OFFLINE"), Plan::Admin(Admin::Node(n, true)) if n == "ds_0/r1"));
    assert!(refusal(&plan_in(None, "SHOW SHARDGATE NODEZ")).starts_with("SHOW SHARDGATE …"));
}

#[test]
fn client_xa_and_text_prepared_statements_are_refused_in_a_sharded_schema() {
    assert!(refusal(&plan_in(Some("s"), "XA START 'x'")).starts_with("XA statements from clients"));
    assert!(refusal(&plan_in(Some("s"), "PREPARE p FROM 'SELECT 1'")).starts_with("PREPARE … FROM"));
    assert_eq!(passthrough(&plan_in(Some("plain"), "PREPARE p FROM 'SELECT 1'")), ("ds_1".into(), None));
    assert_eq!(passthrough(&plan_in(Some("plain"), "XA START 'x'")), ("ds_1".into(), None));
}

#[test]
fn data_source_hints() {
    assert_eq!(refusal(&plan_in(Some("s"), "/* shardgate: data_source=ds_9 */ SELECT 1")), "a hint naming unknown data source 'ds_9'");
    // A known data source takes the statement as it is, sharded tables or not.
    assert_eq!(passthrough(&plan_in(Some("s"), "/* shardgate: data_source=ds_1 */ SELECT * FROM t")), ("ds_1".into(), None));
    let reason = refusal(&plan_in(Some("s"), "/* shardgate: node=1 */ SELECT 1"));
    assert!(reason.starts_with("unknown hint 'node'"), "{reason}");
}

#[test]
fn shard_key_hint_routes_as_if_the_key_were_given() {
    let sql = "/* shardgate: shard_key=3 */ SELECT * FROM t WHERE c = 1";
    assert_eq!(passthrough(&plan_in(Some("s"), sql)), ("ds_1".into(), Some("/* shardgate: shard_key=3 */ SELECT * FROM `t_1` WHERE c = 1".into())));
    let reason = refusal(&plan_in(Some("plain"), "/* shardgate: shard_key=3 */ SELECT 1"));
    assert_eq!(reason, "a shard_key hint in a schema without sharded tables");
}

#[test]
fn nested_sharded_subquery_runs_on_the_compute_data_source_and_a_write_is_refused() {
    let (reason, tables) = computed(&plan_in(Some("s"), "SELECT * FROM o WHERE user_id IN (SELECT user_id FROM i)"));
    assert_eq!(reason, "a subquery, derived table or CTE over sharded table 'i' (each shard would answer it over its own rows only)");
    assert_eq!(tables, [("o".to_string(), 4), ("i".to_string(), 4)]);
    let p = plan_in(Some("s"), "DELETE FROM o WHERE user_id IN (SELECT user_id FROM i)");
    assert!(matches!(p, Plan::KeyedWrite(_)), "{p:?}");
    let reason = refusal(&plan_in(Some("s"), "DELETE FROM o WHERE user_id IN (SELECT user_id FROM i) LIMIT 2"));
    assert!(reason.ends_with("(which rows it changes is unspecified); add ORDER BY)"), "{reason}");
    // With ORDER BY, or a SET reading a subquery: the statement over copies, its changes written back.
    for sql in ["DELETE FROM o WHERE user_id IN (SELECT user_id FROM i) ORDER BY id LIMIT 2", "UPDATE o SET c = (SELECT MAX(c) FROM i) WHERE user_id = 3"] {
        let p = plan_in(Some("s"), sql);
        assert!(matches!(p, Plan::MultiWrite(_)), "{sql}: {p:?}");
    }
}

#[test]
fn joins_of_sharded_tables_that_are_not_co_located_run_on_the_compute_data_source() {
    let (reason, _) = computed(&plan_in(Some("s"), "SELECT * FROM t JOIN u ON t.id = u.uid"));
    assert_eq!(reason, "a statement over sharded tables t, u that are not in one binding group");
    let (reason, _) = computed(&plan_in(Some("s"), "SELECT * FROM o JOIN i ON o.id = i.id"));
    assert!(reason.starts_with("a join of sharded tables o (o.user_id), i (i.user_id) on something other than equal sharding columns"), "{reason}");
    // Joined on the key within a binding group: one node.
    let p = plan_in(Some("s"), "SELECT * FROM o JOIN i ON o.user_id = i.user_id WHERE o.user_id = 5");
    assert_eq!(passthrough(&p), ("ds_0".into(), Some("SELECT * FROM `o_1` JOIN `i_1` ON `o_1`.user_id = `i_1`.user_id WHERE `o_1`.user_id = 5".into())));
}

#[test]
fn dml_with_limit_across_shards_is_refused() {
    let reason = refusal(&plan_in(Some("s"), "DELETE FROM t WHERE c = 1 LIMIT 10"));
    assert!(reason.starts_with("UPDATE or DELETE … LIMIT over several shards of 't'"), "{reason}");
    // On one shard the LIMIT is that shard's.
    let p = plan_in(Some("s"), "UPDATE t SET c = 1 WHERE id = 1 LIMIT 1");
    assert_eq!(passthrough(&p), ("ds_0".into(), Some("UPDATE `t_1` SET c = 1 WHERE id = 1 LIMIT 1".into())));
}

#[test]
fn order_by_limit_across_shards_is_merged() {
    let sql = "SELECT id, c FROM t ORDER BY c DESC LIMIT 2, 5";
    let p = plan_in(Some("s"), sql);
    let Plan::Merge { spec, .. } = &p else { panic!("Merge: {p:?}") };
    let want = MergeSpec {
        derived: 2,
        order: vec![SortKey { col: ColRef::Visible(1), desc: true }],
        offset: 2,
        limit: Some(5),
        weights: vec![(ColRef::Visible(1), 0, 1)],
        ..MergeSpec::none()
    };
    assert_eq!(*spec, want);
    let shard = "SELECT id, c, WEIGHT_STRING(c) AS __sg_w0, IF(IF(NULL, c, ' ') = IF(NULL, c, ''), WEIGHT_STRING(IF(NULL, c, ' ')), '') AS __sg_p0 FROM {t} ORDER BY c DESC LIMIT 7";
    assert_eq!(p.describe(sql), every_node(shard, "t"));
}

#[test]
fn group_by_with_count_and_sum_is_merged_with_aggregates() {
    let sql = "SELECT c, COUNT(*), SUM(v) FROM t WHERE id IN (1, 2) GROUP BY c";
    let p = plan_in(Some("s"), sql);
    let Plan::Merge { spec, .. } = &p else { panic!("Merge: {p:?}") };
    let want = MergeSpec {
        derived: 3,
        group: vec![0],
        aggregates: vec![(1, AggFunc::Count), (2, AggFunc::Sum)],
        aggregated: true,
        weights: vec![(ColRef::Derived(0), 1, 2)],
        ..MergeSpec::none()
    };
    assert_eq!(*spec, want);
    let shard = "SELECT c, COUNT(*), SUM(v), c AS __sg_g0, WEIGHT_STRING(c) AS __sg_w1, IF(IF(NULL, c, ' ') = IF(NULL, c, ''), WEIGHT_STRING(IF(NULL, c, ' ')), '') AS __sg_p1 FROM {t} WHERE id IN (1, 2) GROUP BY c";
    let [_, n1, n2, _] = every_node(shard, "t").try_into().unwrap();
    assert_eq!(p.describe(sql), vec![n1, n2]);
}

#[test]
fn prepared_parameters_route_by_their_bound_values() {
    let (rules, layouts) = setup("");
    let sql = "SELECT c FROM t WHERE id = ?";
    let p = plan_with_params(classify(sql), sql, Some("s"), &rules, &layouts, &[Literal::Int(2)]);
    assert_eq!(passthrough(&p), ("ds_1".into(), Some("SELECT c FROM `t_0` WHERE id = ?".into())));
    // The template of the same text, bound later to another value.
    let template = prepared_template(sql, Some("s"), &layouts).expect("a reusable template");
    assert_eq!(passthrough(&template.bind(&[Literal::Int(3)], &[])), ("ds_1".into(), Some("SELECT c FROM `t_1` WHERE id = ?".into())));
    // Neither an INSERT (planned per execution) nor a statement in a schema without rules has one.
    assert!(prepared_template("INSERT INTO t (id) VALUES (?)", Some("s"), &layouts).is_none());
    assert!(prepared_template(sql, Some("plain"), &layouts).is_none());
}
