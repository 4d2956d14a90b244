//! Soak under load (issue 11): many client connections running a mixed workload through two shards, with
//! the proxy in its own process so its memory can be watched; then thousands of idle connections.
//!
//! `SOAK_SECONDS` (default 20 in the test command; bench/soak.sh runs 60), `SOAK_CLIENTS` (1000) and
//! `SOAK_IDLE` (5000) size it; `SOAK_REPORT` names a JSON file for the figures (bench/RESULTS.md reads it).
//! It fails on any client error, a backend connection count above the pools' bounds, memory that keeps
//! growing after warm-up, or idle sessions that hold backend connections.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{direct, ds0_port, ds1_port, rules_text, unique};
use mysql_async::prelude::*;
use rand::Rng;

/// Pool bound per data source.
const POOL: usize = 16;
/// Rows in the soak table.
const ROWS: i64 = 10_000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Proxy {
    child: Child,
    port: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn opts(&self, db: Option<&str>) -> mysql_async::Opts {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some("app"))
            .pass(Some("app"))
            .db_name(db)
            .prefer_socket(false)
            .into()
    }

    /// Resident set size of the proxy process, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
    }
}

async fn start_proxy(table: &str) -> Proxy {
    common::require_lab();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let extra = format!(
        "\n[schemas.demo.tables.{table}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{table}\"\n"
    );
    let text = rules_text(&extra)
        .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\"\nlog_level = \"warn\""))
        .replace("password = \"app\"\n\n[data_sources.ds_1]", &format!("password = \"app\"\nmax_connections = {POOL}\n\n[data_sources.ds_1]"))
        .replace("password = \"app\"\n\n[schemas.demo]", &format!("password = \"app\"\nmax_connections = {POOL}\n\n[schemas.demo]"));
    assert_eq!(text.matches(&format!("max_connections = {POOL}")).count(), 2, "both pools bounded:\n{text}");
    let path = std::env::temp_dir().join(format!("{table}.toml"));
    std::fs::write(&path, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("shardgate binary");
    let proxy = Proxy { child, port };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(15), "shardgate did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy
}

/// Connections to each primary right now, as the backends count them.
async fn backend_threads(probes: &mut [mysql_async::Conn]) -> Vec<u64> {
    let mut out = Vec::new();
    for c in probes.iter_mut() {
        let row: Option<(String, u64)> = c.query_first("SHOW GLOBAL STATUS LIKE 'Threads_connected'").await.unwrap();
        out.push(row.unwrap().1);
    }
    out
}

#[derive(Default)]
struct Tally {
    ops: AtomicU64,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().unwrap();
        if first.len() < 10 {
            first.push(what);
        }
    }
}

/// One client: a mix of point reads (text and prepared), single-row writes, merged range reads, aggregates,
/// one-shard transactions and insert/delete pairs; a third of the clients run with their own sql_mode and
/// check it now and then (the proxy replays it on whichever backend connection serves them).
async fn client(n: u64, opts: mysql_async::Opts, table: String, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut c = match tokio::time::timeout(Duration::from_secs(20), mysql_async::Conn::new(opts)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return tally.fail(format!("client {n} connect: {e}")),
        Err(_) => return tally.fail(format!("client {n} connect: no greeting within 20 s")),
    };
    let mode = (n % 3 == 0).then_some("STRICT_ALL_TABLES,NO_ZERO_DATE");
    if let Some(m) = mode {
        if let Err(e) = c.query_drop(format!("SET SESSION sql_mode = '{m}'")).await {
            return tally.fail(format!("client {n} SET: {e}"));
        }
    }
    let mut own = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let (pick, k) = {
            let mut rng = rand::thread_rng();
            (rng.gen_range(0..100u32), rng.gen_range(1..=ROWS))
        };
        let op = async {
            match pick {
                0..=34 => {
                    let v: Option<i64> = c.query_first(format!("SELECT v FROM {table} WHERE id = {k}")).await?;
                    if v.is_none() {
                        return Err(mysql_async::Error::Other(format!("row {k} missing").into()));
                    }
                }
                35..=59 => {
                    let v: Option<i64> = c.exec_first(format!("SELECT v FROM {table} WHERE id = ?"), (k,)).await?;
                    if v.is_none() {
                        return Err(mysql_async::Error::Other(format!("row {k} missing (prepared)").into()));
                    }
                }
                60..=69 => c.query_drop(format!("UPDATE {table} SET v = v + 1 WHERE id = {k}")).await?,
                70..=79 => {
                    let hi = (k + 20).min(ROWS);
                    let ids: Vec<i64> = c.query(format!("SELECT id FROM {table} WHERE id BETWEEN {k} AND {hi} ORDER BY id LIMIT 5")).await?;
                    let want: Vec<i64> = (k..=hi).take(5).collect();
                    if ids != want {
                        return Err(mysql_async::Error::Other(format!("merged range {k}..{hi}: {ids:?}").into()));
                    }
                }
                80..=84 => {
                    let hi = (k + 100).min(ROWS);
                    let count: Option<i64> = c.query_first(format!("SELECT COUNT(*) FROM {table} WHERE id BETWEEN {k} AND {hi}")).await?;
                    if count != Some(hi - k + 1) {
                        return Err(mysql_async::Error::Other(format!("count {k}..{hi}: {count:?}").into()));
                    }
                }
                85..=94 => {
                    c.query_drop("BEGIN").await?;
                    let _: Option<i64> = c.query_first(format!("SELECT v FROM {table} WHERE id = {k} FOR UPDATE")).await?;
                    c.query_drop(format!("UPDATE {table} SET v = v - 1 WHERE id = {k}")).await?;
                    c.query_drop("COMMIT").await?;
                }
                _ => {
                    own += 1;
                    let id = 1_000_000 + n as i64 * 100_000 + own;
                    c.query_drop(format!("INSERT INTO {table} (id, v) VALUES ({id}, 0)")).await?;
                    c.query_drop(format!("DELETE FROM {table} WHERE id = {id}")).await?;
                    if let Some(m) = mode {
                        let got: Option<String> = c.query_first("SELECT @@sql_mode").await?;
                        if got.as_deref() != Some(m) {
                            return Err(mysql_async::Error::Other(format!("sql_mode {got:?}, set {m}").into()));
                        }
                    }
                }
            }
            Ok::<(), mysql_async::Error>(())
        };
        // A statement that hangs is an error too (the pools' acquire timeout is 5 s).
        match tokio::time::timeout(Duration::from_secs(20), op).await {
            Ok(Ok(())) => {
                tally.ops.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => tally.fail(format!("client {n}: {e}")),
            Err(_) => return tally.fail(format!("client {n}: a statement took over 20 s")),
        }
    }
    if let Err(e) = c.disconnect().await {
        tally.fail(format!("client {n} disconnect: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_clients_mixed_load_then_thousands_idle() {
    let seconds = env_or("SOAK_SECONDS", 20);
    let clients = env_or("SOAK_CLIENTS", 1000);
    let idle = env_or("SOAK_IDLE", 5000);
    let table = unique("soak");
    let proxy = start_proxy(&table).await;
    let mut setup = mysql_async::Conn::new(proxy.opts(Some("demo"))).await.unwrap();
    setup.query_drop(format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")).await.unwrap();
    for chunk in (1..=ROWS).collect::<Vec<_>>().chunks(1000) {
        let values: Vec<String> = chunk.iter().map(|i| format!("({i}, 0)")).collect();
        setup.query_drop(format!("INSERT INTO {table} (id, v) VALUES {}", values.join(","))).await.unwrap();
    }
    setup.disconnect().await.unwrap();
    let mut probes = vec![direct(ds0_port(), None).await, direct(ds1_port(), None).await];
    let baseline = backend_threads(&mut probes).await;

    // The load: every client connects at once, then runs until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|n| tokio::spawn(client(n, proxy.opts(Some("demo")), table.clone(), stop.clone(), tally.clone())))
        .collect();
    let warm_up = Duration::from_secs((seconds / 3).max(5));
    let mut samples = Vec::new();
    let (mut last_ops, mut last_at) = (0, started);
    let mut max_backend = vec![0u64; 2];
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let threads = backend_threads(&mut probes).await;
        for (i, (now, base)) in threads.iter().zip(&baseline).enumerate() {
            max_backend[i] = max_backend[i].max(now.saturating_sub(*base));
        }
        let ops = tally.ops.load(Ordering::Relaxed);
        let qps = (ops - last_ops) as f64 / last_at.elapsed().as_secs_f64();
        (last_ops, last_at) = (ops, Instant::now());
        let sample = serde_json::json!({
            "t_s": started.elapsed().as_secs_f64().round(),
            "ops_per_s": qps.round(),
            "errors": tally.errors.load(Ordering::Relaxed),
            "rss_kib": proxy.rss_kib(),
            "backend_connections": threads.iter().zip(&baseline).map(|(a, b)| a.saturating_sub(*b)).collect::<Vec<_>>(),
        });
        println!("soak {sample}");
        samples.push(sample);
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let ops = tally.ops.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();

    // Memory after warm-up: the largest RSS seen later may exceed the first one after warm-up only by noise.
    let after: Vec<u64> = samples.iter().filter(|s| s["t_s"].as_f64().unwrap() >= warm_up.as_secs_f64()).map(|s| s["rss_kib"].as_u64().unwrap()).collect();
    let (rss_warm, rss_max) = (after.first().copied().unwrap_or(0), after.iter().copied().max().unwrap_or(0));

    // Idle: open many sessions, hold them, report the memory they cost.
    let rss_before_idle = proxy.rss_kib();
    let opts = proxy.opts(Some("demo"));
    let mut held = Vec::new();
    let idle_started = Instant::now();
    for batch in (0..idle).collect::<Vec<_>>().chunks(250) {
        let opened = futures_join(batch.iter().map(|_| tokio::time::timeout(Duration::from_secs(20), mysql_async::Conn::new(opts.clone()))).collect()).await;
        for c in opened {
            match c {
                Ok(Ok(c)) => held.push(c),
                Ok(Err(e)) => tally.fail(format!("idle connect: {e}")),
                Err(_) => tally.fail("idle connect: no greeting within 20 s".into()),
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = proxy.rss_kib();
    let idle_backend: Vec<u64> = backend_threads(&mut probes).await.iter().zip(&baseline).map(|(a, b)| a.saturating_sub(*b)).collect();
    let mut ping = held.pop().unwrap();
    let one: Option<i64> = ping.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1), "the proxy still answers with {idle} sessions open");
    held.push(ping);
    let idle_opened_s = idle_started.elapsed().as_secs_f64();
    let held_count = held.len();
    for c in held {
        let _ = c.disconnect().await;
    }

    let report = serde_json::json!({
        "clients": clients,
        "seconds": seconds,
        "pool_max_connections_per_data_source": POOL,
        "statements_ok": ops,
        "errors": errors,
        "first_errors": *tally.first_errors.lock().unwrap(),
        "ops_per_s": (ops as f64 / elapsed).round(),
        "backend_connections_max": max_backend,
        "rss_kib_after_warm_up": rss_warm,
        "rss_kib_max_after_warm_up": rss_max,
        "samples": samples,
        "idle_sessions": held_count,
        "idle_open_s": idle_opened_s,
        "rss_kib_before_idle": rss_before_idle,
        "rss_kib_with_idle": rss_idle,
        "kib_per_idle_session": (rss_idle.saturating_sub(rss_before_idle) as f64 / held_count.max(1) as f64 * 10.0).round() / 10.0,
        "idle_backend_connections": idle_backend,
    });
    println!("soak report {report}");
    if let Ok(path) = std::env::var("SOAK_REPORT") {
        std::fs::write(path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    }
    assert_eq!(errors, 0, "client errors: {:?}", tally.first_errors.lock().unwrap());
    assert!(ops > clients, "every client got work done: {ops} statements");
    assert!(max_backend.iter().all(|&n| n as usize <= POOL), "backend connections within the pools' bound {POOL}: {max_backend:?}");
    assert!(rss_max <= rss_warm + rss_warm / 5 + 8 * 1024, "memory grew after warm-up: {rss_warm} KiB → {rss_max} KiB");
    assert_eq!(held_count as u64, idle, "every idle connection was accepted: {:?}", tally.first_errors.lock().unwrap());
    assert!(idle_backend.iter().all(|&n| n as usize <= POOL), "idle sessions hold no backend connections beyond the pools: {idle_backend:?}");
}

/// Awaits all `futures` concurrently.
async fn futures_join<F: std::future::Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
