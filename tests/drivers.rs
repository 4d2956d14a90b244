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
