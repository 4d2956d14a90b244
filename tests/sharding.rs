//! Sharding on the lab's two shards: every row lands on exactly the physical table its key maps to, and
//! statements over sharded, broadcast and default tables behave as on one database.

mod common;

use std::collections::BTreeSet;

use common::{direct, ds0_port, ds1_port, opts, rules_text, start_proxy, unique};
use mysql_async::prelude::*;
use mysql_async::{Conn, Error};

/// Sharded tables for one test: `t` by user_id over 4 physical tables on two data sources (consistent
/// hashing, ids from a sequence) and its binding partner `i`.
fn extra(t: &str, i: &str) -> String {
    format!(
        r#"
[schemas.demo.tables.{t}]
sharding_column = "user_id"
actual_nodes = "ds_${{0..1}}.{t}_${{0..1}}"
key_generator = "sequence"
key_column = "id"

[schemas.demo.tables.{i}]
sharding_column = "user_id"
actual_nodes = "ds_${{0..1}}.{i}_${{0..1}}"
"#
    )
}

fn code(e: Error) -> u16 {
    match e {
        Error::Server(s) => s.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

async fn physical_rows(port: u16, table: &str) -> Vec<(i64, i64)> {
    let mut c = direct(port, Some("demo")).await;
    c.query(format!("SELECT id, user_id FROM {table} ORDER BY id")).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_land_on_exactly_their_node_and_statements_route() {
    let (t, b, i) = (unique("ord"), unique("bc"), unique("item"));
    // broadcast_tables and binding_groups belong to [schemas.demo]: put them right after its header.
    let edit = |text: String| {
        let header = "[schemas.demo]\ndata_source = \"ds_0\"\n";
        let more = format!("{header}broadcast_tables = [\"{b}\"]\nbinding_groups = [[\"{t}\", \"{i}\"]]\n");
        text.replacen(header, &more, 1) + &extra(&t, &i)
    };
    let layout_rules = shardgate::config::parse(&edit(rules_text("")), std::path::Path::new("t.toml")).unwrap();
    let proxy = common::start_proxy_with(edit).await;
    let layouts = shardgate::sharding::table::build(&layout_rules).unwrap();
    let table = layouts["demo"].tables[&t].clone();

    let mut c = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, note VARCHAR(20))")).await.unwrap();
    c.query_drop(format!("CREATE TABLE {i} (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL)")).await.unwrap();
    c.query_drop(format!("CREATE TABLE {b} (k INT PRIMARY KEY, v VARCHAR(10))")).await.unwrap();

    // Multi-row INSERT spanning nodes, ids from the sequence (1..=40 in order, one process, one table).
    let values: Vec<String> = (1..=40).map(|u| format!("({u}, 'n{u}')")).collect();
    c.query_drop(format!("INSERT INTO {t} (user_id, note) VALUES {}", values.join(", "))).await.unwrap();
    assert_eq!(c.affected_rows(), 40);
    assert_eq!(c.last_insert_id(), Some(1), "LAST_INSERT_ID is the first generated id");

    // Each row is on the physical table its key maps to, and nowhere else.
    let mut seen = BTreeSet::new();
    for (n, node) in table.nodes.iter().enumerate() {
        let port = if node.data_source == "ds_0" { ds0_port() } else { ds1_port() };
        for (id, user) in physical_rows(port, &node.table).await {
            let expected = table.node_for(&shardgate::sharding::key::Literal::Int(user.into())).unwrap();
            assert_eq!(expected, n, "user {user} found on {}.{}", node.data_source, node.table);
            assert!(seen.insert(id), "id {id} stored twice");
        }
    }
    assert_eq!(seen, (1..=40).collect::<BTreeSet<i64>>(), "ids 1..40 exactly once");
    let used: BTreeSet<usize> = (1..=40i64).map(|u| table.node_for(&shardgate::sharding::key::Literal::Int(u.into())).unwrap()).collect();
    assert_eq!(used.len(), 4, "40 keys spread over all four nodes");

    // Reads: by key on one node, without key concatenated from all.
    let note: Option<String> = c.query_first(format!("SELECT note FROM {t} WHERE user_id = 7")).await.unwrap();
    assert_eq!(note.as_deref(), Some("n7"));
    let alias: Vec<String> = c.query(format!("SELECT o.note FROM {t} o WHERE o.user_id IN (3, 9)")).await.unwrap();
    assert_eq!(alias.into_iter().collect::<BTreeSet<_>>(), ["n3", "n9"].map(String::from).into());
    let qualified: Vec<String> = c.query(format!("SELECT `{t}`.note FROM demo.`{t}` WHERE {t}.user_id = 4 OR {t}.user_id = 4")).await.unwrap();
    assert_eq!(qualified, ["n4"]);
    let all: Vec<i64> = c.query(format!("SELECT user_id FROM {t}")).await.unwrap();
    assert_eq!(all.into_iter().collect::<BTreeSet<_>>(), (1..=40).collect());
    let plan: Vec<(String, String)> = c.query(format!("EXPLAIN SHARDING SELECT * FROM {t} WHERE user_id = 7")).await.unwrap();
    assert_eq!(plan.len(), 1);
    assert!(plan[0].1.contains(&format!("{t}_")), "{plan:?}");

    // Binding tables join on one node.
    c.query_drop(format!("INSERT INTO {i} (id, user_id) VALUES (1, 7), (2, 8)")).await.unwrap();
    let joined: Vec<(String, i64)> = c.query(format!("SELECT o.note, x.id FROM {t} o JOIN {i} x ON x.user_id = o.user_id WHERE o.user_id = 7")).await.unwrap();
    assert_eq!(joined, [("n7".to_string(), 1)]);

    // UPDATE/DELETE by key and without key: affected rows summed.
    c.query_drop(format!("UPDATE {t} SET note = 'x' WHERE user_id = 5")).await.unwrap();
    assert_eq!(c.affected_rows(), 1);
    c.query_drop(format!("UPDATE {t} SET note = 'all' WHERE id > 30")).await.unwrap();
    assert_eq!(c.affected_rows(), 10);
    c.query_drop(format!("DELETE FROM {t} WHERE user_id = 1")).await.unwrap();
    assert_eq!(c.affected_rows(), 1);
    c.query_drop(format!("DELETE FROM {t} WHERE id > 35")).await.unwrap();
    assert_eq!(c.affected_rows(), 5);
    let left: Vec<i64> = c.query(format!("SELECT id FROM {t}")).await.unwrap();
    assert_eq!(left.len(), 34);

    // REPLACE and ON DUPLICATE KEY UPDATE run on the key's node.
    c.query_drop(format!("REPLACE INTO {t} (id, user_id, note) VALUES (2, 2, 'r')")).await.unwrap();
    assert_eq!(c.affected_rows(), 2, "one row deleted and one inserted");
    c.query_drop(format!("INSERT INTO {t} (id, user_id, note) VALUES (3, 3, 'x') ON DUPLICATE KEY UPDATE note = 'dup'")).await.unwrap();
    assert_eq!(c.affected_rows(), 2, "an existing row updated");
    let notes: Vec<String> = c.query(format!("SELECT note FROM {t} WHERE user_id IN (2, 3)")).await.unwrap();
    assert_eq!(notes.into_iter().collect::<BTreeSet<_>>(), ["dup", "r"].map(String::from).into());

    // Merged across shards: ORDER BY with LIMIT, aggregates.
    let page: Vec<i64> = c.query(format!("SELECT id FROM {t} ORDER BY id DESC LIMIT 2, 3")).await.unwrap();
    assert_eq!(page, [33, 32, 31]);
    let count: Option<i64> = c.query_first(format!("SELECT COUNT(*) FROM {t}")).await.unwrap();
    assert_eq!(count, Some(34));
    // What the merge cannot do runs over copies (the exact fallback); what cannot be answered correctly yet is
    // refused with 1235, and the session goes on.
    let notes: Vec<Option<String>> = c.query(format!("SELECT note FROM {t} UNION SELECT note FROM {t} ORDER BY 1")).await.unwrap();
    assert_eq!(notes.len(), notes.iter().collect::<BTreeSet<_>>().len(), "UNION removes duplicates across shards: {notes:?}");
    // ids are unique: the sum of the distinct ones is the merged sum (629 here).
    let sum: Option<i64> = c.query_first(format!("SELECT SUM(id) FROM {t}")).await.unwrap();
    assert_eq!(c.query_first::<i64, _>(format!("SELECT SUM(DISTINCT id) FROM {t}")).await.unwrap(), sum);
    assert!(sum > Some(34));
    // A sharding key computed per row runs over copies: the row moves to the node of its new key (and back).
    c.query_drop(format!("UPDATE {t} SET user_id = user_id + 1000 WHERE id = 2")).await.unwrap();
    assert_eq!(c.affected_rows(), 1);
    let moved: i64 = c.query_first(format!("SELECT user_id FROM {t} WHERE id = 2")).await.unwrap().unwrap();
    assert!(moved > 1000, "{moved}");
    assert_eq!(c.query_first::<i64, _>(format!("SELECT id FROM {t} WHERE user_id = {moved}")).await.unwrap(), Some(2), "found by its new key");
    c.query_drop(format!("UPDATE {t} SET user_id = user_id - 1000 WHERE id = 2")).await.unwrap();
    let one: Option<i64> = c.query_first(format!("SELECT COUNT(*) FROM {t} WHERE user_id = 2")).await.unwrap();
    assert_eq!(one, Some(1), "aggregates on one node pass through");

    // Broadcast: written to every data source, read from one.
    c.query_drop(format!("INSERT INTO {b} VALUES (1, 'one')")).await.unwrap();
    assert_eq!(c.affected_rows(), 1);
    for port in [ds0_port(), ds1_port()] {
        let v: Option<String> = direct(port, Some("demo")).await.query_first(format!("SELECT v FROM {b} WHERE k = 1")).await.unwrap();
        assert_eq!(v.as_deref(), Some("one"), "broadcast row on port {port}");
    }

    // Session settings reach every data source, including ones the session reaches later.
    c.query_drop("SET @@session.group_concat_max_len = 1234, NAMES latin1").await.unwrap();
    let on_ds1: Option<(u64, String)> = c.query_first("/* shardgate: data_source=ds_1 */ SELECT @@group_concat_max_len, @@character_set_results").await.unwrap();
    assert_eq!(on_ds1, Some((1234, "latin1".to_string())), "applied to the connection already held on ds_1");
    c.query_drop("SET NAMES utf8mb4").await.unwrap();
    let mut fresh = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    fresh.query_drop("SET @@session.group_concat_max_len = 4321").await.unwrap();
    let later: Option<u64> = fresh.query_first("/* shardgate: data_source=ds_1 */ SELECT @@group_concat_max_len").await.unwrap();
    assert_eq!(later, Some(4321), "replayed on a data source reached after the SET");
    fresh.disconnect().await.unwrap();

    // Hints: data_source sends the statement unchanged there; shard_key routes as if the key were given.
    let port: Option<u16> = c.query_first("/* shardgate: data_source=ds_1 */ SELECT @@port").await.unwrap();
    assert_eq!(port, Some(ds1_port()));
    let node7 = table.node_for(&shardgate::sharding::key::Literal::Int(7)).unwrap();
    let users: Vec<i64> = c.query(format!("/*+ shardgate: shard_key=7 */ SELECT user_id FROM {t}")).await.unwrap();
    assert!(users.contains(&7) && users.len() < 34, "{users:?}");
    assert!(users.iter().all(|u| table.node_for(&shardgate::sharding::key::Literal::Int((*u).into())) == Some(node7)));
    assert_eq!(code(c.query_drop("/* shardgate: data_source=nope */ SELECT 1").await.unwrap_err()), 1235);

    // SHOW CREATE TABLE and DESCRIBE speak of the logical table.
    let (name, ddl): (String, String) = c.query_first(format!("SHOW CREATE TABLE {t}")).await.unwrap().unwrap();
    assert_eq!(name, t);
    assert!(ddl.starts_with(&format!("CREATE TABLE `{t}` (")), "{ddl}");
    let columns: Vec<String> = c.query_map(format!("DESCRIBE {t}"), |row: mysql_async::Row| row.get::<String, _>(0).unwrap()).await.unwrap();
    assert_eq!(columns, ["id", "user_id", "note"]);

    // SHOW TABLES speaks of logical tables.
    let tables: Vec<String> = c.query(format!("SHOW TABLES LIKE '{}%'", &t[..3])).await.unwrap();
    assert!(tables.contains(&t) && !tables.iter().any(|n| n.starts_with(&format!("{t}_"))), "{tables:?}");

    // DDL fan-out: DROP removes every physical table.
    for x in [&t, &i, &b] {
        c.query_drop(format!("DROP TABLE {x}")).await.unwrap();
    }
    for port in [ds0_port(), ds1_port()] {
        let left: Vec<String> = direct(port, Some("demo")).await.query(format!("SHOW TABLES LIKE '{t}%'")).await.unwrap();
        assert!(left.is_empty(), "{left:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_without_rules_go_to_the_default_data_source() {
    let proxy = start_proxy("").await;
    let t = unique("plain");
    let mut c = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY)")).await.unwrap();
    c.query_drop(format!("INSERT INTO {t} VALUES (1)")).await.unwrap();
    let on0: Vec<i32> = direct(ds0_port(), Some("demo")).await.query(format!("SELECT id FROM {t}")).await.unwrap();
    assert_eq!(on0, [1]);
    let on1 = direct(ds1_port(), Some("demo")).await.query_drop(format!("SELECT id FROM {t}")).await;
    assert!(on1.is_err(), "not created on ds_1");
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}
