//! The exact fallback (src/plan/compute.rs) against the real lab: a query the shards cannot answer as it
//! is runs on the compute data source over temporary copies named as the logical tables, and
//! - leaves no copy behind: afterwards a statement sent to that data source reads its own base table (of
//!   the same name) again, after a success, an error and a refusal alike;
//! - reads the session's transaction: its own uncommitted rows on each shard, and not another session's;
//! - answers prepared statements too;
//! - refuses (1235, naming max_fallback_rows) a query that needs more rows than the budget, and the
//!   connection stays usable;
//! - copies only the rows a condition on the table alone keeps (the shards apply it while copying);
//! - shows in EXPLAIN SHARDING which tables it copies from where.

mod common;

use common::{direct, ds0_port, ds1_port, opts, start_proxy_with, unique};
use mysql_async::prelude::*;
use mysql_async::Conn;

/// Rules with table `t` sharded by id over `ds_0.t` and `ds_1.t` (the physical tables carry the logical
/// name, so a copy left behind on ds_0 would hide ds_0's own table), and `budget` as max_fallback_rows.
async fn proxy(t: &str, budget: u64) -> common::Proxy {
    let t = t.to_string();
    start_proxy_with(move |text| {
        let text = text.replacen("listen = \"127.0.0.1:0\"\n", &format!("listen = \"127.0.0.1:0\"\nmax_fallback_rows = {budget}\n"), 1);
        format!(
            "{text}\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\n\
             [schemas.demo.tables.{t}_z]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}_z\"\n"
        )
    })
    .await
}

/// Rows of `t` on ds_0's own base table, read through the proxy with a data-source hint (the compute
/// connection, where a leaked copy would answer instead).
async fn home_count(c: &mut Conn, t: &str) -> i64 {
    c.query_first(format!("/* shardgate: data_source=ds_0 */ SELECT COUNT(*) FROM {t}")).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_reads_the_transaction_leaves_nothing_behind_and_keeps_its_budget() {
    let t = unique("ft");
    let p = proxy(&t, 1000).await;
    let mut c = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v VARCHAR(10) CHARACTER SET latin1, f FLOAT, d DOUBLE)")).await.unwrap();
    let values: Vec<String> = (1..=40).map(|id| format!("({id}, 'é{id}', {id}.1234567, 0.1e0 * {id})")).collect();
    c.query_drop(format!("INSERT INTO {t} VALUES {}", values.join(", "))).await.unwrap();
    let mut on = Vec::new();
    for port in [ds0_port(), ds1_port()] {
        on.push(direct(port, Some("demo")).await.query_first::<i64, _>(format!("SELECT COUNT(*) FROM {t}")).await.unwrap().unwrap());
    }
    assert!(on[0] > 0 && on[1] > 0 && on[0] + on[1] == 40, "rows on the two shards: {on:?}");

    // A derived table with DISTINCT (not row by row): computed over the copies; the latin1 text, FLOAT and DOUBLE values come through exactly.
    let derived = format!("SELECT COUNT(*), SUM(LENGTH(v)), SUM(f), SUM(d) FROM (SELECT DISTINCT * FROM {t}) d");
    let got: (i64, i64) = c.query_first(&derived).await.unwrap().map(|(n, l, _, _): (i64, i64, f64, f64)| (n, l)).unwrap();
    // LENGTH counts latin1 bytes: 'é' is one byte there, so 40 rows of 'é' + the digits of 1..=40.
    assert_eq!(got, (40, 40 + 9 + 31 * 2));
    // Every FLOAT and DOUBLE bit for bit (MariaDB prints a FLOAT with 6 digits only: `f + 0e0` shows all).
    let exact = format!("SELECT id, f + 0e0, d FROM (SELECT DISTINCT * FROM {t}) x ORDER BY id");
    let through: Vec<(i64, f64, f64)> = c.query(&exact).await.unwrap();
    let mut stored: Vec<(i64, f64, f64)> = Vec::new();
    for port in [ds0_port(), ds1_port()] {
        stored.extend(direct(port, Some("demo")).await.query::<(i64, f64, f64), _>(format!("SELECT id, f + 0e0, d FROM {t}")).await.unwrap());
    }
    stored.sort_by_key(|r| r.0);
    assert_eq!(through, stored);
    assert_eq!(home_count(&mut c, &t).await, on[0], "no copy left on the compute connection");

    // Prepared (binary protocol) too.
    let prepared: Option<i64> = c.exec_first(format!("SELECT COUNT(*) FROM (SELECT DISTINCT id FROM {t} WHERE id > ?) d"), (10,)).await.unwrap();
    assert_eq!(prepared, Some(30));

    // Inside a transaction: its own uncommitted rows on both shards, invisible to another session.
    let mut other = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("INSERT INTO {t} (id, v) VALUES (101, 'a'), (102, 'b'), (103, 'c'), (104, 'd')")).await.unwrap();
    let count = format!("SELECT COUNT(*) FROM (SELECT DISTINCT id FROM {t}) d");
    assert_eq!(c.query_first::<i64, _>(&count).await.unwrap(), Some(44));
    assert_eq!(other.query_first::<i64, _>(&count).await.unwrap(), Some(40));
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(c.query_first::<i64, _>(&count).await.unwrap(), Some(40));

    // An error in the statement itself: relayed, and the copies are dropped all the same.
    let e = c.query_drop(format!("SELECT COUNT(*) FROM (SELECT DISTINCT nope FROM {t}) d")).await.unwrap_err();
    assert!(matches!(&e, mysql_async::Error::Server(s) if s.code == 1054), "{e:?}");
    assert_eq!(home_count(&mut c, &t).await, on[0]);

    // EXPLAIN SHARDING names the copies and the compute data source.
    let plan: Vec<(String, String)> = c.query(format!("EXPLAIN SHARDING {count}")).await.unwrap();
    assert_eq!(plan.len(), 3, "{plan:?}");
    assert!(plan[..2].iter().all(|(_, sql)| sql.contains(&format!("copied into temporary table `{t}`"))), "{plan:?}");
    assert_eq!(plan[2].0, "ds_0");

    // Over the budget: refused with the budget's name; nothing left behind; the connection goes on.
    let small = proxy(&t, 25).await;
    let mut s = Conn::new(opts(&small, "app", "app", Some("demo"))).await.unwrap();
    let e = s.query_drop(&count).await.unwrap_err();
    assert!(matches!(&e, mysql_async::Error::Server(x) if x.code == 1235 && x.message.contains("max_fallback_rows")), "{e:?}");
    assert_eq!(home_count(&mut s, &t).await, on[0]);
    assert_eq!(s.query_first::<i64, _>(format!("SELECT COUNT(*) FROM {t} WHERE id = 7")).await.unwrap(), Some(1));
    // A condition on the table alone is applied by the shards while copying: 10 rows copied, under the budget.
    let narrow = format!("SELECT COUNT(*), MAX(id) FROM (SELECT DISTINCT id FROM {t} WHERE {t}.id <= 10 AND {t}.v IS NOT NULL) d");
    assert_eq!(s.query_first::<(i64, i64), _>(&narrow).await.unwrap(), Some((10, 10)));
    let plan: Vec<(String, String)> = s.query(format!("EXPLAIN SHARDING {narrow}")).await.unwrap();
    assert!(plan[0].1.contains(&format!("WHERE {t}.id <= 10 AND {t}.v IS NOT NULL")), "{plan:?}");

    // Copies are made under their own sql_mode: a 0 in an AUTO_INCREMENT column and a zero date come
    // through, and SHOW CREATE TABLE is read unquoted-by-ANSI, whatever the session's mode.
    c.query_drop(format!("CREATE TABLE {t}_z (id INT AUTO_INCREMENT PRIMARY KEY, d DATE NOT NULL DEFAULT '0000-00-00')")).await.unwrap();
    c.query_drop("SET sql_mode = 'NO_AUTO_VALUE_ON_ZERO'").await.unwrap();
    c.query_drop(format!("INSERT INTO {t}_z VALUES (0, '0000-00-00'), (1, '2020-01-01'), (2, '0000-00-00'), (3, '1999-12-31')")).await.unwrap();
    c.query_drop("SET sql_mode = 'ANSI_QUOTES,STRICT_ALL_TABLES,NO_ZERO_DATE'").await.unwrap();
    let zero: Vec<(i64, String)> = c.query(format!("SELECT id, CAST(d AS CHAR) FROM (SELECT DISTINCT * FROM {t}_z) x ORDER BY id")).await.unwrap();
    let want: Vec<(i64, String)> = [(0, "0000-00-00"), (1, "2020-01-01"), (2, "0000-00-00"), (3, "1999-12-31")].map(|(i, d)| (i, d.to_string())).into();
    assert_eq!(zero, want);
    c.query_drop("SET sql_mode = DEFAULT").await.unwrap();
    c.query_drop(format!("DROP TABLE {t}_z")).await.unwrap();
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

/// Rows of `sql` on each shard, read directly.
async fn on_each(sql: &str) -> Vec<Vec<(String, Option<i64>)>> {
    let mut out = Vec::new();
    for port in [ds0_port(), ds1_port()] {
        out.push(direct(port, Some("demo")).await.query::<(String, Option<i64>), _>(sql).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_table_write_reaches_every_copy_moves_rows_and_is_all_or_nothing() {
    let t = unique("mw");
    let tt = t.clone();
    let p = start_proxy_with(move |text| {
        let text = text.replacen("[schemas.demo]\ndata_source = \"ds_0\"\n", &format!("[schemas.demo]\ndata_source = \"ds_0\"\nbroadcast_tables = [\"{tt}_b\"]\n"), 1);
        format!(
            "{text}\n[schemas.demo.tables.{tt}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{tt}\"\n\
             [schemas.demo.tables.{tt}_z]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{tt}_z\"\n"
        )
    })
    .await;
    let mut c = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT, note VARCHAR(10), UNIQUE KEY (note))")).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t}_z (id INT PRIMARY KEY, w INT NOT NULL)")).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t}_b (code CHAR(1) PRIMARY KEY, n INT)")).await.unwrap();
    let rows: Vec<String> = (1..=20).map(|id| format!("({id}, 0, 'n{id}')")).collect();
    c.query_drop(format!("INSERT INTO {t} VALUES {}", rows.join(", "))).await.unwrap();
    let rows: Vec<String> = (1..=20).map(|id| format!("({id}, {})", id * 10)).collect();
    c.query_drop(format!("INSERT INTO {t}_z VALUES {}", rows.join(", "))).await.unwrap();
    c.query_drop(format!("INSERT INTO {t}_b VALUES ('a', 0), ('b', 0)")).await.unwrap();

    // Two sharded tables that are not co-located and a broadcast table, in one UPDATE: ten rows of t and
    // both rows of the broadcast table (each once, however many joined rows name it), on every copy.
    let sql = format!("UPDATE {t} JOIN {t}_z ON {t}_z.id = {t}.id JOIN {t}_b ON {t}_b.code = IF({t}.id % 2, 'a', 'b') SET {t}.v = {t}_z.w, {t}_b.n = {t}_b.n + 1 WHERE {t}.id <= 10");
    c.query_drop(&sql).await.unwrap();
    assert_eq!(c.affected_rows(), 12);
    let v: Vec<(i64, i64)> = c.query(format!("SELECT id, v FROM {t} WHERE v > 0 ORDER BY id")).await.unwrap();
    assert_eq!(v, (1..=10).map(|id| (id, id * 10)).collect::<Vec<_>>());
    let copies = on_each(&format!("SELECT code, n FROM {t}_b ORDER BY code")).await;
    let want = vec![("a".to_string(), Some(1)), ("b".to_string(), Some(1))];
    assert_eq!(copies, [want.clone(), want], "every copy of the broadcast table changed alike");

    // The sharding column set from another sharded table: the row moves to the node of its new key.
    c.query_drop(format!("UPDATE {t} SET id = id + 100 WHERE id IN (SELECT id FROM {t}_z WHERE w = 30)")).await.unwrap();
    assert_eq!(c.affected_rows(), 1);
    let moved: Option<(i64, String)> = c.query_first(format!("SELECT v, note FROM {t} WHERE id = 103")).await.unwrap();
    assert_eq!(moved, Some((30, "n3".to_string())), "found by its new key, on its new node");
    let counts = on_each(&format!("SELECT 'n', COUNT(*) FROM {t}")).await;
    assert_eq!(counts.iter().map(|r| r[0].1.unwrap()).sum::<i64>(), 20, "moved, not copied: {counts:?}");

    // Prepared, with placeholders: planned with the values bound, the same way.
    c.exec_drop(format!("UPDATE {t} JOIN {t}_z ON {t}_z.id = {t}.id SET {t}.v = {t}_z.w + ? WHERE {t}.id BETWEEN ? AND ?"), (1, 11, 12)).await.unwrap();
    assert_eq!(c.affected_rows(), 2);
    let v: Vec<i64> = c.query(format!("SELECT v FROM {t} WHERE id BETWEEN 11 AND 12 ORDER BY id")).await.unwrap();
    assert_eq!(v, [111, 121]);

    // All or nothing: the write-back changes a row on each shard and the second one hits a unique key
    // (its other row was never copied): ERROR 1062, as one server says, and the first shard's change undone.
    let read = format!("SELECT id FROM {t} WHERE id <= 20 ORDER BY id");
    let zero: Vec<i64> = direct(ds0_port(), Some("demo")).await.query(&read).await.unwrap();
    let one: Vec<i64> = direct(ds1_port(), Some("demo")).await.query(&read).await.unwrap();
    let (a, b, taken) = (zero[0], one[0], one[1]);
    c.query_drop(format!("UPDATE {t} SET note = 'dup' WHERE id = {taken}")).await.unwrap();
    let clash = format!("UPDATE {t} JOIN {t}_z ON {t}_z.id = {t}.id SET {t}.note = IF({t}.id = {a}, 'dupA', 'dup') WHERE {t}.id IN ({a}, {b})");
    let e = c.query_drop(&clash).await.unwrap_err();
    assert!(matches!(&e, mysql_async::Error::Server(s) if s.code == 1062), "{e}");
    let notes: Vec<String> = c.query(format!("SELECT note FROM {t} WHERE id IN ({a}, {b}) ORDER BY id")).await.unwrap();
    assert_eq!(notes, [format!("n{a}"), format!("n{b}")], "nothing of the failed statement stayed");
    assert_eq!(c.query_first::<i64, _>("SELECT 1").await.unwrap(), Some(1), "the connection stays usable");
    for name in [t.clone(), format!("{t}_z"), format!("{t}_b")] {
        c.query_drop(format!("DROP TABLE {name}")).await.unwrap();
    }
}
