//! Real drivers and ORMs through shardgate (tests/drivers/<language>/): each runs the same scenario against
//! a table sharded over both shards — parameterised inserts, point and merged selects, update, delete, a
//! rolled-back and a committed cross-shard transaction — and compares every result. tests/drivers/install.sh
//! (called by the test command) installs the clients.

mod common;

use std::path::Path;
use std::process::Command;

use common::{start_proxy_with, unique, Proxy};

/// (client, table suffix, program and arguments before HOST PORT TABLE, arguments after).
fn clients() -> Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)> {
    vec![
        ("pymysql", vec!["python3", "tests/drivers/python/check_pymysql.py"], vec![]),
        ("mysqlclient", vec!["python3", "tests/drivers/python/check_mysqlclient.py"], vec![]),
        ("connector_pure", vec!["python3", "tests/drivers/python/check_connector.py"], vec!["pure"]),
        ("connector_c", vec!["python3", "tests/drivers/python/check_connector.py"], vec!["c"]),
        ("aiomysql", vec!["python3", "tests/drivers/python/check_aiomysql.py"], vec![]),
        ("sqlalchemy", vec!["python3", "tests/drivers/python/check_sqlalchemy.py"], vec![]),
        ("mysql2_query", vec!["node", "tests/drivers/node/mysql2.js"], vec!["query"]),
        ("mysql2_execute", vec!["node", "tests/drivers/node/mysql2.js"], vec!["execute"]),
        ("jdbc", vec!["bash", "tests/drivers/java/run.sh"], vec!["false"]),
        ("jdbc_ps", vec!["bash", "tests/drivers/java/run.sh"], vec!["true"]),
        ("go", vec!["bash", "tests/drivers/go/run.sh"], vec![]),
    ]
}

async fn proxy(tables: &[String]) -> Proxy {
    let rules: String = tables
        .iter()
        .map(|t| format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\n"))
        .collect();
    start_proxy_with(|text| text + &rules).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_driver_runs_the_sharded_scenario() {
    let clients = clients();
    let tables: Vec<String> = clients.iter().map(|(name, _, _)| unique(&format!("drv_{name}"))).collect();
    let proxy = proxy(&tables).await;
    let port = proxy.addr.port().to_string();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    let mut versions = Vec::new();
    for ((name, program, after), table) in clients.iter().zip(&tables) {
        let (port, table, args, after) = (port.clone(), table.clone(), program.clone(), after.clone());
        let root = root.to_path_buf();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(args[0]).args(&args[1..]).args(["127.0.0.1", &port, &table]).args(&after).current_dir(&root).output()
        })
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{name}: cannot start {program:?}: {e} (tests/drivers/install.sh installs the clients)"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        match stdout.lines().find(|l| l.starts_with("ok ")) {
            Some(line) if out.status.success() => versions.push(line.to_string()),
            _ => failures.push(format!("{name}: exit {:?}\n{stdout}\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr))),
        }
    }
    println!("{}", versions.join("\n"));
    assert!(failures.is_empty(), "drivers failed:\n{}", failures.join("\n---\n"));
    assert_eq!(versions.len(), clients.len());
}

/// The same scenario through mysql_async: binary protocol (exec with parameters), a pool that resets
/// connections with COM_RESET_CONNECTION when they come back, transactions with its TxOpts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_pool_runs_the_sharded_scenario() {
    use mysql_async::prelude::*;
    use mysql_async::{Pool, TxOpts, Value};
    let t = unique("drv_mysql_async");
    let proxy = proxy(std::slice::from_ref(&t)).await;
    let pool = Pool::new(common::opts(&proxy, "app", "app", Some("demo")));
    let mut c = pool.get_conn().await.unwrap();
    c.query_drop(format!("DROP TABLE IF EXISTS {t}")).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, name VARCHAR(50) CHARACTER SET utf8mb4, amount DECIMAL(10,2), created DATETIME)"))
        .await
        .unwrap();
    for i in 1..=10i64 {
        let name = if i == 7 { "Zoë ☃".to_string() } else { format!("name-{i}") };
        let amount = format!("{:.2}", i as f64 * 1.25);
        c.exec_drop(format!("INSERT INTO {t} (id, name, amount, created) VALUES (?, ?, ?, ?)"), (i, name, amount, format!("2026-11-23 10:00:{i:02}")))
            .await
            .unwrap();
    }
    drop(c); // back to the pool: COM_RESET_CONNECTION
    let mut c = pool.get_conn().await.unwrap();
    let row: Option<(String, String)> = c.exec_first(format!("SELECT name, CAST(amount AS CHAR) FROM {t} WHERE id = ?"), (7,)).await.unwrap();
    assert_eq!(row, Some(("Zoë ☃".into(), "8.75".into())));
    let agg: Option<(i64, String)> = c.exec_first(format!("SELECT COUNT(*), SUM(amount) FROM {t}"), ()).await.unwrap();
    assert_eq!(agg, Some((10, "68.75".into())));
    let top: Vec<i64> = c.exec(format!("SELECT id FROM {t} ORDER BY amount DESC LIMIT 3"), ()).await.unwrap();
    assert_eq!(top, vec![10, 9, 8]);
    let some: Vec<i64> = c.exec(format!("SELECT id FROM {t} WHERE id IN (?, ?, ?) ORDER BY id"), (2, 3, 4)).await.unwrap();
    assert_eq!(some, vec![2, 3, 4]);
    c.exec_drop(format!("UPDATE {t} SET amount = amount + 1 WHERE id = ?"), (5,)).await.unwrap();
    assert_eq!(c.affected_rows(), 1);
    c.exec_drop(format!("DELETE FROM {t} WHERE id = ?"), (6,)).await.unwrap();
    assert_eq!(c.affected_rows(), 1);
    {
        let mut tx = c.start_transaction(TxOpts::default()).await.unwrap();
        tx.exec_drop(format!("UPDATE {t} SET name = 'x' WHERE id = ?"), (1,)).await.unwrap();
        tx.exec_drop(format!("UPDATE {t} SET name = 'y' WHERE id = ?"), (2,)).await.unwrap();
        tx.rollback().await.unwrap();
    }
    let names: Vec<String> = c.query(format!("SELECT name FROM {t} WHERE id IN (1, 2) ORDER BY id")).await.unwrap();
    assert_eq!(names, vec!["name-1", "name-2"]);
    {
        let mut tx = c.start_transaction(TxOpts::default()).await.unwrap();
        tx.exec_drop(format!("UPDATE {t} SET amount = ? WHERE id = ?"), (Value::from("100"), 1)).await.unwrap();
        tx.exec_drop(format!("UPDATE {t} SET amount = ? WHERE id = ?"), (Value::from("200"), 2)).await.unwrap();
        tx.commit().await.unwrap();
    }
    let agg: Option<(i64, String)> = c.query_first(format!("SELECT COUNT(*), SUM(amount) FROM {t}")).await.unwrap();
    assert_eq!(agg, Some((9, "358.50".into())));
    let created: Option<String> = c.exec_first(format!("SELECT CAST(created AS CHAR) FROM {t} WHERE id = ?"), (3,)).await.unwrap();
    assert_eq!(created.as_deref(), Some("2026-11-23 10:00:03"));
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    drop(c);
    pool.disconnect().await.unwrap();
}
