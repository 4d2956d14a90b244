//! Transaction exactness as real drivers see it, through shardgate in xa mode with a table of `demo` sharded
//! by `id` over both data sources (`ds_${0..1}.<t>_${0..1}`):
//!
//! - Connector/J (text statements, and server-side prepared statements): `setAutoCommit(false)`, INSERTs on
//!   both shards, `commit()` makes them visible to a fresh connection and `rollback()` leaves none. The driver
//!   sends COMMIT/ROLLBACK only when the server's IN_TRANS flag is set, so a wrong flag loses the commit.
//! - PyMySQL: `server_status & (IN_TRANS | AUTOCOMMIT | IN_TRANS_READONLY)` after every OK-packet statement
//!   equals the unsharded reference MariaDB's, over autocommit on/off, BEGIN/COMMIT/ROLLBACK, READ ONLY,
//!   single- and two-shard writes, SET autocommit = 1 inside a transaction.
//! - SQLAlchemy 2 (PyMySQL): a Session's commit keeps its rows on both shards, a rollback removes them.
//! - `mariadb-dump --single-transaction` of a sharded schema through the proxy restores, through the proxy,
//!   into an empty sharded schema with every table equal.
//!
//! The driver programs live in tests/drivers/{java,python}/ (ExactCommit.java, run by run.sh with JAVA_CLASS,
//! exact_status.py, exact_sqlalchemy.py); tests/drivers/install.sh installs the clients.

mod common;

use std::path::Path;
use std::process::Command;

use common::{direct, ds0_port, ds1_port, lab_port, opts, start_proxy_with, unique, Proxy};
use mysql_async::prelude::*;
use mysql_async::Conn;

/// A proxy whose schema `demo` shards `t` by id over two tables on each data source.
async fn sharded_proxy(t: &str) -> Proxy {
    start_proxy_with(|text| {
        text + &format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}_${{0..1}}\"\n")
    })
    .await
}

/// Runs SQL statements on lab backends with the mariadb CLI when dropped, so what a test created goes away
/// also when it fails.
struct Cleanup(Vec<(u16, String)>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (port, sql) in &self.0 {
            let _ = Command::new("mariadb")
                .args(["--no-defaults", "-h127.0.0.1", "-P", &port.to_string(), "-uapp", "-papp", "-e", sql])
                .output();
        }
    }
}

/// Drops the physical tables of sharded `demo.t` on both data sources.
fn drop_sharded(t: &str) -> Vec<(u16, String)> {
    [ds0_port(), ds1_port()].into_iter().map(|port| (port, format!("DROP TABLE IF EXISTS demo.{t}_0, demo.{t}_1"))).collect()
}

/// A session of `demo` through the proxy.
async fn via(p: &Proxy) -> Conn {
    Conn::new(opts(p, "app", "app", Some("demo"))).await.unwrap()
}

/// Runs a driver program from the repository root; panics with its output unless it exits 0.
async fn run(program: &[&str], env: &[(&str, String)]) -> String {
    let (program, env): (Vec<String>, Vec<(String, String)>) =
        (program.iter().map(|s| s.to_string()).collect(), env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect());
    let shown = program.join(" ");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&program[0]).args(&program[1..]).envs(env).current_dir(env!("CARGO_MANIFEST_DIR")).output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot start {shown}: {e} (tests/drivers/install.sh installs the clients)"));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{shown}: exit {:?}\n{stdout}\n{stderr}", out.status.code());
    stdout.into_owned()
}

/// Rows of `demo.t` on ds_0 and on ds_1 (both physical tables), read on the backends directly.
async fn rows_per_source(t: &str) -> [i64; 2] {
    let mut out = [0; 2];
    for (i, port) in [ds0_port(), ds1_port()].into_iter().enumerate() {
        let mut d = direct(port, Some("demo")).await;
        let q = format!("SELECT (SELECT COUNT(*) FROM {t}_0) + (SELECT COUNT(*) FROM {t}_1)");
        out[i] = d.query_first::<i64, _>(q).await.unwrap().unwrap();
    }
    out
}

async fn ids(c: &mut Conn, t: &str) -> Vec<i64> {
    c.query(format!("SELECT id FROM {t} ORDER BY id")).await.unwrap()
}

/// Connector/J's commit()/rollback() after INSERTs on both shards, with `useServerPrepStmts=ps`.
async fn connector_j(ps: &str) {
    let t = unique("dx_jdbc");
    let _cleanup = Cleanup(drop_sharded(&t));
    let p = sharded_proxy(&t).await;
    let mut c = via(&p).await;
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, v VARCHAR(20))")).await.unwrap();
    // Each variant compiles into its own directory, so the two tests never race on one class file.
    let build = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("java-exact-{ps}"));
    let port = p.addr.port().to_string();
    let out =
        run(&["bash", "tests/drivers/java/run.sh", "127.0.0.1", &port, &t, ps], &[("JAVA_BUILD_DIR", build.display().to_string()), ("JAVA_CLASS", "ExactCommit".to_string())])
            .await;
    println!("{out}");
    // Checked again outside the driver: the committed rows, and only those, on both data sources.
    assert_eq!(ids(&mut c, &t).await, (1..=8).collect::<Vec<_>>());
    let per = rows_per_source(&t).await;
    assert!(per[0] > 0 && per[1] > 0 && per[0] + per[1] == 8, "committed rows per data source: {per:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_j_commits_and_rolls_back_text_statements() {
    connector_j("false").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_j_commits_and_rolls_back_server_prepared_statements() {
    connector_j("true").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_status_bits_equal_the_reference() {
    let t = unique("dx_status");
    let mut drops = drop_sharded(&t);
    drops.push((lab_port() + 4, format!("DROP TABLE IF EXISTS demo.{t}")));
    let _cleanup = Cleanup(drops);
    let p = sharded_proxy(&t).await;
    let mut c = via(&p).await;
    let mut reference = direct(lab_port() + 4, Some("demo")).await;
    for conn in [&mut c, &mut reference] {
        conn.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)")).await.unwrap();
    }
    let (port, ref_port) = (p.addr.port().to_string(), (lab_port() + 4).to_string());
    println!("{}", run(&["python3", "tests/drivers/python/exact_status.py", "127.0.0.1", &port, &t, &ref_port], &[]).await);
    // The scripts' two-shard writes really reached both data sources.
    let per = rows_per_source(&t).await;
    assert!(per[0] > 0 && per[1] > 0, "rows left per data source: {per:?}");
    assert_eq!(ids(&mut c, &t).await, ids(&mut reference, &t).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_session_commits_and_rolls_back() {
    let t = unique("dx_orm");
    let _cleanup = Cleanup(drop_sharded(&t));
    let p = sharded_proxy(&t).await;
    let mut c = via(&p).await;
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, v VARCHAR(20))")).await.unwrap();
    let port = p.addr.port().to_string();
    println!("{}", run(&["python3", "tests/drivers/python/exact_sqlalchemy.py", "127.0.0.1", &port, &t], &[]).await);
    assert_eq!(ids(&mut c, &t).await, (1..=8).collect::<Vec<_>>());
    let per = rows_per_source(&t).await;
    assert!(per[0] > 0 && per[1] > 0, "committed rows per data source: {per:?}");
}

/// Rows as strings (NULL as None), for comparing whole tables.
async fn rows(c: &mut Conn, sql: &str) -> Vec<Vec<Option<String>>> {
    let rows: Vec<mysql_async::Row> = c.query(sql).await.unwrap();
    rows.into_iter().map(|r| (0..r.len()).map(|i| r.get_opt::<Option<String>, _>(i).and_then(|v| v.ok()).flatten()).collect()).collect()
}

/// Like tests/dump_restore.rs, but with `--single-transaction` (START TRANSACTION WITH CONSISTENT SNAPSHOT
/// before `USE`, savepoints around each table's SELECT, no LOCK TABLES).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_transaction_dump_restores_through_the_proxy() {
    let id = std::process::id();
    let (src, dst) = (format!("dx_dump_src_{id}"), format!("dx_dump_dst_{id}"));
    let drop_dbs = format!("DROP DATABASE IF EXISTS {src}; DROP DATABASE IF EXISTS {dst}");
    let _cleanup = Cleanup(vec![(ds0_port(), drop_dbs.clone()), (ds1_port(), drop_dbs)]);
    for port in [ds0_port(), ds1_port()] {
        let mut d = direct(port, None).await;
        for db in [&src, &dst] {
            d.query_drop(format!("DROP DATABASE IF EXISTS {db}")).await.unwrap();
            d.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
        }
    }
    // Both schemas: `orders` sharded by id over both data sources, `rates` broadcast, `notes` without rules.
    let p = start_proxy_with(|mut text| {
        for s in [&src, &dst] {
            text += &format!(
                "\n[schemas.{s}]\ndata_source = \"ds_0\"\nbroadcast_tables = [\"rates\"]\n\n[schemas.{s}.tables.orders]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.orders_${{0..1}}\"\n"
            );
        }
        text
    })
    .await;
    let mut c = Conn::new(opts(&p, "app", "app", Some(&src))).await.unwrap();
    c.query_drop("CREATE TABLE orders (id BIGINT PRIMARY KEY, who VARCHAR(40), amount DECIMAL(12,2), note TEXT)").await.unwrap();
    c.query_drop("CREATE TABLE rates (code CHAR(3) PRIMARY KEY, rate DECIMAL(10,6))").await.unwrap();
    c.query_drop("CREATE TABLE notes (k INT PRIMARY KEY, body TEXT)").await.unwrap();
    let values: Vec<String> = (1..=60i64)
        .map(|i| {
            let who = if i % 7 == 0 { "NULL".to_string() } else { format!("'Zoë o''Brien {i}'") };
            format!("({i}, {who}, {}.{:02}, 'line\\n{i}')", i * 13 - 300, i % 100)
        })
        .collect();
    c.query_drop(format!("INSERT INTO orders VALUES {}", values.join(", "))).await.unwrap();
    c.query_drop("INSERT INTO rates VALUES ('EUR', 1.000000), ('SEK', 0.087123), ('JPY', NULL)").await.unwrap();
    c.query_drop("INSERT INTO notes VALUES (1, 'plain'), (2, NULL)").await.unwrap();
    for port in [ds0_port(), ds1_port()] {
        let mut d = direct(port, Some(&src)).await;
        let n: i64 = d.query_first("SELECT (SELECT COUNT(*) FROM orders_0) + (SELECT COUNT(*) FROM orders_1)").await.unwrap().unwrap();
        assert!(n > 0, "orders has rows on port {port}");
    }

    let port = p.addr.port().to_string();
    let dump = Command::new("mariadb-dump")
        .args(["--no-defaults", "--single-transaction", "-h127.0.0.1", "-P", &port, "-uapp", "-papp", &src])
        .output()
        .unwrap();
    assert!(dump.status.success(), "mariadb-dump --single-transaction: {}", String::from_utf8_lossy(&dump.stderr));
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(text.contains("INSERT INTO `orders` VALUES") && !text.contains("orders_0"), "logical rows in the dump");

    common::restore(&port, &dst, &dump.stdout);

    let mut d = Conn::new(opts(&p, "app", "app", Some(&dst))).await.unwrap();
    for (table, order) in [("orders", "id"), ("rates", "code"), ("notes", "k")] {
        let q = format!("SELECT * FROM {table} ORDER BY {order}");
        let (a, b) = (rows(&mut c, &q).await, rows(&mut d, &q).await);
        assert!(!a.is_empty(), "{table} has rows");
        assert_eq!(a, b, "{table} restored equal");
    }
}
