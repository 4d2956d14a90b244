//! Operations: Prometheus metrics move as statements run, admin statements answer admins and refuse others,
//! a rules reload adds a replica under a client that keeps reading, a broken rules file is refused while the
//! old rules keep serving, the slow-query log records a slow statement (and no literal), guard rails hold.

mod common;

use std::time::{Duration, Instant};

use common::{direct, lab_port, opts, rules_text, start_proxy_with, unique};
use mysql_async::prelude::*;
use mysql_async::Conn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn sharded(t: &str) -> String {
    format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\nalgorithm = \"mod\"\n")
}

/// The rules text with `settings` added to [server] and a non-admin user bob.
fn with_server(text: String, settings: &str) -> String {
    text.replacen("listen = \"127.0.0.1:0\"\n", &format!("listen = \"127.0.0.1:0\"\n{settings}\n"), 1)
        + "\n[[users]]\nname = \"bob\"\npassword = \"bob\"\nmax_connections = 1\n"
}

async fn scrape(port: u16) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("metrics listener");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    body
}

/// The value of the sample whose line starts with `series` (name and labels as rendered).
fn sample(text: &str, series: &str) -> f64 {
    text.lines().find(|l| l.starts_with(series)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

fn code(e: mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        other => panic!("not a server error: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_admin_statements_and_guard_rails() {
    let t = unique("ops");
    let metrics = free_port();
    let settings = format!("metrics_listen = \"127.0.0.1:{metrics}\"\nrefuse_unsafe_dml = true\nmax_merge_rows = 5");
    let p = start_proxy_with(|text| with_server(text, &settings) + &sharded(&t)).await;
    let mut c = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, v INT)")).await.unwrap();
    let rows: Vec<String> = (1..=10).map(|i| format!("({i}, {i})")).collect();
    c.query_drop(format!("INSERT INTO {t} (id, v) VALUES {}", rows.join(", "))).await.unwrap();
    let before = scrape(metrics).await;
    for i in 1..=20 {
        let _: Option<i64> = c.query_first(format!("SELECT v FROM {t} WHERE id = {}", i % 10 + 1)).await.unwrap();
    }
    let _: Vec<i64> = c.query(format!("SELECT v FROM {t} WHERE id IN (1, 2, 3) ORDER BY v")).await.unwrap();
    // Guard rails: unsafe DML and a merge over max_merge_rows are refused with a clear error.
    assert_eq!(code(c.query_drop(format!("DELETE FROM {t}")).await.unwrap_err()), 1235);
    let err = c.query_drop(format!("SELECT v FROM {t} ORDER BY v")).await.unwrap_err();
    assert!(err.to_string().contains("max_merge_rows"), "{err}");
    let err = c.query_drop(format!("SELECT v FROM {t}")).await.unwrap_err();
    assert!(err.to_string().contains("max_merge_rows"), "a plain concatenation is capped too: {err}");
    let n: Option<i64> = c.query_first(format!("SELECT COUNT(*) FROM {t} WHERE id <= 4")).await.unwrap();
    assert_eq!(n, Some(4), "the session goes on");
    tokio::time::sleep(Duration::from_millis(1200)).await; // the publisher's tick
    let after = scrape(metrics).await;
    let single = "shardgate_statements_total{kind=\"select\",route=\"single\"}";
    assert!(sample(&after, single) - sample(&before, single) >= 20.0, "point selects counted:\n{after}");
    let scatter = "shardgate_statements_total{kind=\"select\",route=\"scatter\"}";
    assert!(sample(&after, scatter) - sample(&before, scatter) >= 1.0, "merged selects counted");
    assert!(sample(&after, "shardgate_errors_total{code=\"1235\"}") >= 1.0, "errors by code:\n{after}");
    assert!(after.contains("shardgate_statement_seconds_bucket{route=\"single\",le=\"0.001\"}"), "a latency histogram with buckets");
    assert!(sample(&after, "shardgate_client_sessions") >= 1.0);
    assert!(after.contains("shardgate_pool_connections{node=\"ds_0\",state=\"in_use\"}"), "pool gauges per node");

    // Admin statements: rows for an admin, 1227 for anyone else.
    for stmt in ["SHOW SHARDGATE BACKENDS", "SHOW SHARDGATE RULES", "SHOW SHARDGATE SESSIONS", "SHOW SHARDGATE STATS"] {
        let rows: Vec<mysql_async::Row> = c.query(stmt).await.unwrap();
        assert!(!rows.is_empty(), "{stmt}");
    }
    let stats: Vec<(String, String)> = c.query("SHOW SHARDGATE STATS").await.unwrap();
    assert!(stats.iter().any(|(k, v)| k == "questions" && v.parse::<u64>().unwrap() > 20), "{stats:?}");
    // A session keeps its backend connections while nobody else waits for them; nothing pins it yet.
    let sessions: Vec<(String, String, String, String)> = c.query("SHOW SHARDGATE SESSIONS").await.unwrap();
    assert!(sessions.iter().any(|(id, _, threads, pinned)| id == &c.id().to_string() && threads.contains("ds_0:") && pinned.is_empty()), "{sessions:?}");
    c.query_drop("SET @pin = 1").await.unwrap();
    let sessions: Vec<(String, String, String, String)> = c.query("SHOW SHARDGATE SESSIONS").await.unwrap();
    assert!(
        sessions.iter().any(|(id, user, threads, pinned)| id == &c.id().to_string() && user == "app" && threads.contains("ds_0:") && pinned == "a user variable"),
        "{sessions:?}"
    );
    let rules: Vec<(String, String, String)> = c.query("SHOW SHARDGATE RULES").await.unwrap();
    assert!(rules.iter().any(|(kind, name, _)| kind == "sharded_table" && name == &format!("demo.{t}")));
    let mut bob = Conn::new(opts(&p, "bob", "bob", Some("demo"))).await.unwrap();
    for stmt in ["SHOW SHARDGATE STATS", "RELOAD RULES", "SET SHARDGATE NODE 'ds_0/replica1' OFFLINE"] {
        assert_eq!(code(bob.query_drop(stmt).await.unwrap_err()), 1227, "{stmt} as a non-admin");
    }
    // bob may hold one connection at a time.
    let second = Conn::new(opts(&p, "bob", "bob", Some("demo"))).await.map(|_| ()).unwrap_err();
    assert_eq!(code(second), 1226);
    drop(bob);
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_log_records_digest_route_duration_and_rows() {
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.slow.log", unique("slow")));
    let settings = format!("slow_query_ms = 200\nslow_log = \"{}\"", log.display());
    let p = start_proxy_with(|text| with_server(text, &settings)).await;
    let mut c = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    let _: Option<i64> = c.query_first("SELECT 1").await.unwrap();
    let _: Option<(i64, String)> = c.query_first("SELECT SLEEP(0.3), 'hunter2'").await.unwrap();
    let text = std::fs::read_to_string(&log).expect("the slow log was written");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "only the slow statement: {text}");
    assert!(lines[0].contains("\"digest\":\"SELECT SLEEP(?), ?\""), "{text}");
    assert!(lines[0].contains("\"route\":\"single\"") && lines[0].contains("\"rows\":1"), "{text}");
    let ms: f64 = lines[0].split("\"duration_ms\":").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!(ms >= 300.0, "{ms}");
    assert!(!text.contains("hunter2"), "no literal reaches the log");
}

async fn replica_selects() -> u64 {
    let mut r = direct(lab_port() + 1, None).await;
    let row: Option<(String, u64)> = r.query_first("SHOW GLOBAL STATUS LIKE 'Com_select'").await.unwrap();
    row.unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_a_replica_under_a_reading_client_and_refuses_a_broken_file() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.toml", unique("reload")));
    let base = rules_text("");
    std::fs::write(&path, &base).unwrap();
    let server = shardgate::server::Server::bind_file(&path).await.expect("bind");
    let proxy = common::Proxy { addr: server.local_addr(), stats: server.stats() };
    tokio::spawn(server.serve());
    let mut admin = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    // A client reads in a loop through the whole reload; it must never see an error or a disconnect.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, o) = (stop.clone(), opts(&proxy, "app", "app", Some("demo")));
        tokio::spawn(async move {
            let mut c = Conn::new(o).await.unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v: Option<i64> = c.query_first("SELECT 7").await.expect("reads go on during the reload");
                assert_eq!(v, Some(7));
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let with_replica = base.replacen("[data_sources.ds_0]\n", &format!("[data_sources.ds_0]\nreplicas = [{{ address = \"127.0.0.1:{}\" }}]\n", lab_port() + 1), 1);
    std::fs::write(&path, with_replica).unwrap(); // the directory watch picks this up
    let start = Instant::now();
    loop {
        let rows: Vec<mysql_async::Row> = admin.query("SHOW SHARDGATE NODES").await.unwrap();
        let serving = rows.iter().any(|r| r.get::<String, _>("name").as_deref() == Some("ds_0/replica1") && r.get::<String, _>("status").as_deref() == Some("serving"));
        if serving {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the new replica did not appear");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = replica_selects().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(replica_selects().await > before + 10, "the reading client's reads moved to the new replica");
    // Taken offline by hand: reads leave it at once; back online: they return.
    admin.query_drop("SET SHARDGATE NODE 'ds_0/replica1' OFFLINE").await.unwrap();
    let rows: Vec<mysql_async::Row> = admin.query("SHOW SHARDGATE NODES").await.unwrap();
    assert!(rows.iter().any(|r| r.get::<String, _>("status").as_deref() == Some("offline")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = replica_selects().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(replica_selects().await <= before + 1, "no reads on an offline replica");
    admin.query_drop("SET SHARDGATE NODE 'ds_0/replica1' ONLINE").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = replica_selects().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(replica_selects().await > before + 10, "reads return when it is online again");

    // A broken file is refused with its position; the rules in force keep serving.
    std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:0\"\n[[users]]\nname = 5\n").unwrap();
    let err = admin.query_drop("RELOAD RULES").await.unwrap_err();
    assert!(err.to_string().contains(&format!("{}:4:", path.display())), "file:line:column in the error: {err}");
    let rows: Vec<mysql_async::Row> = admin.query("SHOW SHARDGATE NODES").await.unwrap();
    assert!(rows.iter().any(|r| r.get::<String, _>("name").as_deref() == Some("ds_0/replica1")), "the old rules still serve");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.await.expect("the reading client never failed");
    assert!(reads > 50, "{reads} reads during the reload");
}
