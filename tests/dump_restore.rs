//! Dump and restore through shardgate (issue 16): mariadb-dump of a logical database (LOCK TABLES, SHOW FULL
//! TABLES, SHOW CREATE TABLE, INFORMATION_SCHEMA lookups, SELECT /*!40001 SQL_NO_CACHE */, SET statements in
//! versioned comments) produces a dump of the logical tables; the mariadb CLI pipes it back through
//! shardgate into an empty sharded database (INSERT without a column list, LOCK TABLES WRITE, ALTER … DISABLE
//! KEYS); every table is then equal to the original and every row on its node.

mod common;

use std::process::Command;

use common::{direct, ds0_port, ds1_port, start_proxy_with};
use mysql_async::prelude::*;

/// Rules for schemas `src` and `dst`: `orders` sharded by id (consistent hashing) over both data sources,
/// `rates` broadcast, `notes` without rules.
fn rules(text: String, src: &str, dst: &str) -> String {
    let mut out = text;
    for s in [src, dst] {
        out += &format!(
            "\n[schemas.{s}]\ndata_source = \"ds_0\"\nbroadcast_tables = [\"rates\"]\n\n[schemas.{s}.tables.orders]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.orders_${{0..1}}\"\n"
        );
    }
    out
}

async fn rows(c: &mut mysql_async::Conn, sql: &str) -> Vec<Vec<Option<String>>> {
    let rows: Vec<mysql_async::Row> = c.query(sql).await.unwrap();
    rows.into_iter()
        .map(|r| (0..r.len()).map(|i| r.get_opt::<Option<String>, _>(i).and_then(|v| v.ok()).flatten()).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logical_database_dumps_and_restores_through_the_proxy() {
    let id = std::process::id();
    let (src, dst) = (format!("dump_src_{id}"), format!("dump_dst_{id}"));
    for port in [ds0_port(), ds1_port()] {
        let mut d = direct(port, None).await;
        for db in [&src, &dst] {
            d.query_drop(format!("DROP DATABASE IF EXISTS {db}")).await.unwrap();
            d.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
        }
    }
    let p = start_proxy_with(|t| rules(t, &src, &dst)).await;
    let opts = |db: &str| common::opts(&p, "app", "app", Some(db));
    let mut c = mysql_async::Conn::new(opts(&src)).await.unwrap();
    c.query_drop(
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, who VARCHAR(40) COLLATE utf8mb4_general_ci, amount DECIMAL(14,4), \
         placed TIMESTAMP NULL, note TEXT)",
    )
    .await
    .unwrap();
    c.query_drop("CREATE TABLE rates (code CHAR(3) PRIMARY KEY, rate DECIMAL(10,6))").await.unwrap();
    c.query_drop("CREATE TABLE notes (k INT PRIMARY KEY, body TEXT)").await.unwrap();
    let names = ["Zoë", "ÅNGSTRÖM", "o'Brien", "mIxEd CaSe", "back\\slash", "tab\there", "日本語", ""];
    let mut values = Vec::new();
    for i in 1..=600i64 {
        let who = if i % 11 == 0 { "NULL".to_string() } else { format!("'{} {i}'", names[i as usize % names.len()].replace('\\', "\\\\").replace('\'', "''")) };
        let amount = if i % 13 == 0 { "NULL".to_string() } else { format!("{}.{:04}", i * 37 - 9000, (i * 7919) % 10000) };
        let placed = if i % 17 == 0 { "NULL".to_string() } else { format!("'2026-{:02}-{:02} {:02}:{:02}:07'", i % 12 + 1, i % 28 + 1, i % 24, i % 60) };
        values.push(format!("({i}, {who}, {amount}, {placed}, 'line one\\nline two {i}')"));
    }
    c.query_drop(format!("INSERT INTO orders (id, who, amount, placed, note) VALUES {}", values.join(", "))).await.unwrap();
    c.query_drop("INSERT INTO rates (code, rate) VALUES ('EUR', 1.000000), ('SEK', 0.087123), ('JPY', NULL)").await.unwrap();
    c.query_drop("INSERT INTO notes (k, body) VALUES (1, 'plain'), (2, NULL)").await.unwrap();

    // Dump through the proxy, with mariadb-dump's defaults (--opt: LOCK TABLES, extended INSERTs, …).
    let port = p.addr.port().to_string();
    let dump = Command::new("mariadb-dump").args(["--no-defaults", "-h127.0.0.1", "-P", &port, "-uapp", "-papp", &src]).output().unwrap();
    let text = String::from_utf8_lossy(&dump.stdout).into_owned();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    assert!(text.contains("CREATE TABLE `orders`") && text.contains("INSERT INTO `orders` VALUES"), "logical names in the dump");
    assert!(!text.contains("orders_0") && !text.contains("orders_1"), "no physical names in the dump");
    assert!(text.contains("LOCK TABLES `orders` WRITE") && text.contains("CREATE TABLE `rates`") && text.contains("CREATE TABLE `notes`"));

    // Restore it through the proxy into the empty database.
    common::restore(&port, &dst, &dump.stdout);

    // Every table equal, read through the proxy, in a session of each schema.
    let mut d = mysql_async::Conn::new(opts(&dst)).await.unwrap();
    for (table, order) in [("orders", "id"), ("rates", "code"), ("notes", "k")] {
        let q = format!("SELECT * FROM {table} ORDER BY {order}");
        let (a, b) = (rows(&mut c, &q).await, rows(&mut d, &q).await);
        assert_eq!(a.len(), b.len(), "{table}");
        assert_eq!(a, b, "{table} restored equal");
    }
    // TIMESTAMPs compared as the servers store them (the dump writes them in UTC).
    let q = "SELECT id, UNIX_TIMESTAMP(placed) FROM orders ORDER BY id";
    assert_eq!(rows(&mut c, q).await, rows(&mut d, q).await);
    // And each row of the sharded table on its node: the same physical tables hold the same ids.
    for (port, table) in [(ds0_port(), "orders_0"), (ds0_port(), "orders_1"), (ds1_port(), "orders_0"), (ds1_port(), "orders_1")] {
        let mut b = direct(port, None).await;
        let q = |db: &str| format!("SELECT GROUP_CONCAT(id ORDER BY id) FROM {db}.{table}");
        let (x, y): (Option<String>, Option<String>) = (b.query_first(q(&src)).await.unwrap().flatten(), b.query_first(q(&dst)).await.unwrap().flatten());
        assert_eq!(x, y, "{table} on port {port}");
    }
    for port in [ds0_port(), ds1_port()] {
        let mut b = direct(port, None).await;
        let n: Option<i64> = b.query_first(format!("SELECT COUNT(*) FROM {dst}.rates")).await.unwrap();
        assert_eq!(n, Some(3), "the broadcast table's copy on port {port}");
        for db in [&src, &dst] {
            b.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
        }
    }
}
