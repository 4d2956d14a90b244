//! Session state through shardgate: settings stay with the session that made them whichever backend
//! connection serves it next, system variables clients bootstrap with read sensibly, and COM_CHANGE_USER
//! re-authenticates and starts a fresh session.

mod common;

use common::{ds0_port, ds1_port, opts, start_proxy_with, unique};
use mysql_async::prelude::*;
use mysql_async::{ChangeUserOpts, Conn};

/// Rules with small pools (2 connections per data source), a second user, and a sharded table.
async fn proxy(t: &str) -> common::Proxy {
    start_proxy_with(|text| {
        let text = text.replacen("\n[data_sources.ds_1]", "max_connections = 2\n\n[data_sources.ds_1]", 1).replacen("\n[schemas.demo]", "max_connections = 2\n\n[schemas.demo]", 1);
        text + &format!(
            "\n[[users]]\nname = \"bob\"\npassword = \"bob's secret\"\n\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\nalgorithm = \"mod\"\n"
        )
    })
    .await
}

/// (sql_mode, time_zone, collation_connection) as the data source `ds` sees the session.
async fn settings(c: &mut Conn, ds: &str) -> (String, String, String) {
    c.query_first(format!("/* shardgate: data_source={ds} */ SELECT @@sql_mode, @@time_zone, @@collation_connection")).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_sessions_keep_their_own_settings_over_a_small_pool() {
    let t = unique("sess");
    let p = proxy(&t).await;
    let mut a = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    let mut b = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    a.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, at DATETIME)")).await.unwrap();
    a.query_drop("SET sql_mode = 'ANSI_QUOTES'").await.unwrap();
    a.query_drop("SET time_zone = '+05:00'").await.unwrap();
    a.query_drop("SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci").await.unwrap();
    b.query_drop("SET SESSION sql_mode = 'TRADITIONAL'").await.unwrap();
    b.query_drop("SET @@session.time_zone = '-03:00'").await.unwrap();
    b.query_drop("SET CHARACTER SET utf8mb4").await.unwrap();
    let want_a = ("ANSI_QUOTES".to_string(), "+05:00".to_string(), "utf8mb4_unicode_ci".to_string());
    let want_b = settings(&mut b, "ds_0").await;
    assert!(want_b.0.contains("TRADITIONAL") && want_b.0.contains("STRICT_ALL_TABLES"), "{want_b:?}");
    assert_eq!((want_b.1.as_str(), want_b.2.as_str()), ("-03:00", "utf8mb4_general_ci"));
    for round in 0..10 {
        for ds in ["ds_0", "ds_1"] {
            assert_eq!(settings(&mut a, ds).await, want_a, "session a on {ds}, round {round}");
            assert_eq!(settings(&mut b, ds).await, want_b, "session b on {ds}, round {round}");
        }
        // Statements through the sharded table use both sessions' connections on both shards.
        a.query_drop(format!("INSERT INTO {t} (id, at) VALUES ({}, NOW())", 2 * round)).await.unwrap();
        b.query_drop(format!("INSERT INTO {t} (id, at) VALUES ({}, NOW())", 2 * round + 1)).await.unwrap();
        if round % 3 == 2 {
            // USE gives the session's other connections back to the pools (reset there); the next
            // statements take connections again, maybe the other session's old ones, and must replay.
            a.query_drop("USE sbtest").await.unwrap();
            a.query_drop("USE demo").await.unwrap();
            b.query_drop("USE sbtest").await.unwrap();
            b.query_drop("USE demo").await.unwrap();
        }
    }
    // time_zone applied to NOW() on each shard: the sessions' rows differ by about 8 hours.
    let at = |port: u16, id: i64| {
        let t = t.clone();
        async move {
            let v: Option<String> =
                common::direct(port, Some("demo")).await.query_first(format!("SELECT CAST(at AS CHAR) FROM {t} WHERE id = {id}")).await.unwrap();
            chrono_hours(&v.unwrap())
        }
    };
    let diff = at(common::ds0_port(), 0).await - at(common::ds1_port(), 1).await;
    assert!((7..=9).contains(&diff.rem_euclid(24)), "NOW() in +05:00 vs -03:00 differs by ~8 h, got {diff}");
    a.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

/// Hours since midnight of a "YYYY-MM-DD HH:MM:SS" text.
fn chrono_hours(s: &str) -> i64 {
    s[11..13].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_variables_read_as_clients_expect() {
    let t = unique("sess");
    let p = proxy(&t).await;
    let mut c = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    let socket: Option<Option<String>> = c.query_first("SELECT @@socket").await.unwrap();
    assert_eq!(socket, Some(None), "@@socket reads NULL so no client leaves the proxy for a local socket");
    let row: mysql_async::Row = c.query_first("SELECT @@max_allowed_packet, @@tx_isolation, @@version_comment, DATABASE(), @@session.socket AS s").await.unwrap().unwrap();
    assert!(row.get::<u64, _>(0).unwrap() > 0);
    assert_eq!(row.get::<String, _>(1).as_deref(), Some("REPEATABLE-READ"));
    assert_eq!(row.get::<String, _>(3).as_deref(), Some("demo"));
    assert_eq!(row.get::<Option<String>, _>("s"), Some(None));
    let vars: Vec<(String, String)> = c.query("SHOW VARIABLES LIKE 'lower_case_table_names'").await.unwrap();
    assert_eq!(vars.len(), 1);
    c.query_drop("DO 1").await.unwrap();
    let _: Vec<mysql_async::Row> = c.query("SHOW WARNINGS").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_reauthenticates_and_starts_a_fresh_session() {
    let t = unique("sess");
    let p = proxy(&t).await;
    let mut c = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop("SET @mark = 42").await.unwrap();
    c.query_drop("SET time_zone = '+01:00'").await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.change_user(ChangeUserOpts::default().with_user(Some("bob".into())).with_pass(Some("bob's secret".into())).with_db_name(Some("sbtest".into())))
        .await
        .unwrap();
    let (mark, tz, db): (Option<i64>, String, Option<String>) = c.query_first("SELECT @mark, @@time_zone, DATABASE()").await.unwrap().unwrap();
    assert_eq!((mark, tz.as_str(), db.as_deref()), (None, "SYSTEM", Some("sbtest")), "a fresh session in the new schema");
    // Back as app, into the sharded schema: routing works as for a new connection.
    c.change_user(ChangeUserOpts::default().with_user(Some("app".into())).with_pass(Some("app".into())).with_db_name(Some("demo".into())))
        .await
        .unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY)")).await.unwrap();
    c.query_drop(format!("INSERT INTO {t} (id) VALUES (1), (2)")).await.unwrap();
    let n: Option<i64> = c.query_first(format!("SELECT COUNT(*) FROM {t}")).await.unwrap();
    assert_eq!(n, Some(2));
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    // A wrong password is refused with 1045 and ends the connection.
    let err = c.change_user(ChangeUserOpts::default().with_user(Some("bob".into())).with_pass(Some("wrong".into()))).await.unwrap_err();
    match err {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1045, "{}", e.message),
        other => panic!("expected 1045, got {other:?}"),
    }
    assert!(c.query_drop("SELECT 1").await.is_err(), "the connection is closed after a failed change of user");
}

/// Backend threads on `port` still running a statement whose text contains `needle`.
async fn running(port: u16, needle: &str) -> usize {
    let rows: Vec<(Option<String>,)> = common::direct(port, None).await.query("SELECT INFO FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query'").await.unwrap();
    rows.iter().filter(|(info,)| info.as_deref().is_some_and(|i| i.contains(needle) && !i.contains("PROCESSLIST"))).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_stops_a_merged_statement_on_every_shard() {
    let t = unique("sess");
    let p = proxy(&t).await;
    let mut a = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    a.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY)")).await.unwrap();
    a.query_drop(format!("INSERT INTO {t} (id) VALUES (1), (2)")).await.unwrap();
    let mut b = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    let a_id = a.id();
    // ORDER BY over both shards: a merge that streams from a connection per shard.
    let sql = format!("SELECT id, SLEEP(30) FROM {t} ORDER BY id");
    let sleeping = tokio::spawn(async move {
        let r: Result<Vec<(i64, i64)>, _> = a.query(sql).await;
        (a, r.map_err(|e| e.to_string()), std::time::Instant::now())
    });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    // The shards get the select list with derived columns (collation weights) before FROM.
    let needle = format!("FROM `{t}`");
    assert_eq!((running(ds0_port(), &needle).await, running(ds1_port(), &needle).await), (1, 1), "the statement runs on both shards");
    let killed_at = std::time::Instant::now();
    b.query_drop(format!("KILL QUERY {a_id}")).await.unwrap();
    let (mut a, result, returned_at) = sleeping.await.unwrap();
    let took = returned_at - killed_at;
    assert!(took < std::time::Duration::from_secs(1), "KILL QUERY returned the merged statement after {took:?} ({result:?})");
    assert_eq!((running(ds0_port(), &needle).await, running(ds1_port(), &needle).await), (0, 0), "stopped on every shard");
    let alive: Option<i64> = a.query_first("SELECT 1").await.unwrap();
    assert_eq!(alive, Some(1), "KILL QUERY leaves the connection usable");
    a.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_and_connection_by_the_proxy_connection_id() {
    let t = unique("sess");
    let p = proxy(&t).await;
    let mut a = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    let mut b = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    let a_id = a.id();
    let sleeping = tokio::spawn(async move {
        let start = std::time::Instant::now();
        let r: Result<Option<i64>, _> = a.query_first("SELECT SLEEP(20)").await;
        (a, r.map_err(|e| e.to_string()), start.elapsed())
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    b.query_drop(format!("KILL QUERY {a_id}")).await.unwrap();
    let (mut a, result, took) = sleeping.await.unwrap();
    assert!(took < std::time::Duration::from_secs(10), "KILL QUERY stopped the statement after {took:?} ({result:?})");
    let alive: Option<i64> = a.query_first("SELECT 1").await.unwrap();
    assert_eq!(alive, Some(1), "KILL QUERY leaves the connection usable");

    b.query_drop(format!("KILL CONNECTION {a_id}")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(a.query_drop("SELECT 1").await.is_err(), "KILL CONNECTION ended the session");
    let err = b.query_drop("KILL 987654").await.unwrap_err();
    assert!(matches!(&err, mysql_async::Error::Server(e) if e.code == 1094), "{err:?}");
    let mut bob = Conn::new(opts(&p, "bob", "bob's secret", Some("demo"))).await.unwrap();
    let err = bob.query_drop(format!("KILL {}", b.id())).await.unwrap_err();
    assert!(matches!(&err, mysql_async::Error::Server(e) if e.code == 1095), "another user's session: {err:?}");
    let fine: Option<i64> = b.query_first("SELECT 2").await.unwrap();
    assert_eq!(fine, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_schemas_and_password_hashes_from_shardgate_passwd() {
    // `shardgate passwd` prints the rules line for a password read on stdin.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .arg("passwd")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"carol's pw\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with("password_hash = \"*") && line.trim_end().len() == "password_hash = \"*\"".len() + 40, "{line}");
    let p = start_proxy_with(|t| t + &format!("\n[[users]]\nname = \"carol\"\n{line}schemas = [\"sbtest\"]\n")).await;
    // Only the hash is in the rules, and carol may use sbtest only.
    let mut c = Conn::new(opts(&p, "carol", "carol's pw", Some("sbtest"))).await.expect("the hash from shardgate passwd works");
    let err = c.query_drop("USE demo").await.unwrap_err();
    assert!(matches!(&err, mysql_async::Error::Server(e) if e.code == 1044), "{err:?}");
    let db: Option<String> = c.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some("sbtest"), "still in sbtest after the refused USE");
    let err = Conn::new(opts(&p, "carol", "carol's pw", Some("demo"))).await.map(|_| ()).unwrap_err();
    assert!(matches!(&err, mysql_async::Error::Server(e) if e.code == 1044), "{err:?}");
}
