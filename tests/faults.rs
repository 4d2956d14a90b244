//! Availability under faults (issue 27), against the real lab. Alone in their test binary, one at a time:
//! they stop a server every other test uses.
//!
//! - A backend restarted under load: ds_1's primary is shut down and started again while clients keep
//!   reading and writing through the proxy. Statements during the outage fail (the server is gone); once it
//!   answers again, no statement may fail because of a pooled connection that died with the old server: a
//!   connection idle past a few milliseconds is probed before use (backend/pool.rs), and one that dies
//!   before anything of the statement ran on it is replaced (ExecCtx::pin_backend).
//! - A primary killed for 10 s: plain reads of its shard keep coming from its replica, which applied all it
//!   had received (backend/health.rs, `reads_while_primary_down`); writes fail with a clear error; nothing
//!   is lost.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ds1_port, lab_dir, lab_up, opts, start_proxy_with, unique};
use mysql_async::prelude::*;
use mysql_async::Conn;

/// One fault at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Brings the lab back when dropped, so that a failing fault test never leaves a server stopped or frozen
/// for the test binaries after it.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(lab_dir().join("ds1-primary/mariadbd.pid")) {
            let _ = Command::new("kill").args(["-CONT", pid.trim()]).status();
        }
        if std::net::TcpStream::connect(("127.0.0.1", ds1_port())).is_err() {
            lab_up();
        }
    }
}

/// Stops ds_1's primary with `signal` and waits until the process is gone.
async fn stop_ds1_primary(signal: &str) {
    let pid = std::fs::read_to_string(lab_dir().join("ds1-primary/mariadbd.pid")).unwrap().trim().to_string();
    assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
    let down = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(down.elapsed() < Duration::from_secs(60), "ds1's primary did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_backend_restart_no_statement_fails_on_a_dead_pooled_connection() {
    let _one = SERIAL.lock().await;
    let _restore = Restore;
    let t = unique("restart");
    let tt = t.clone();
    let proxy = start_proxy_with(move |text| {
        text + &format!("\n[schemas.demo.tables.{tt}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{tt}\"\nalgorithm = \"mod\"\n")
    })
    .await;
    let connect = || Conn::new(opts(&proxy, "app", "app", Some("demo")));
    let mut setup = connect().await.unwrap();
    setup.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")).await.unwrap();
    let rows: Vec<String> = (1..=16).map(|i| format!("({i}, 0)")).collect();
    setup.query_drop(format!("INSERT INTO {t} VALUES {}", rows.join(", "))).await.unwrap();

    // Errors with the time they happened; `up` is when the restarted server answered again.
    let errors: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    // Half the clients pause across the restart, so their sessions' pooled connections sit idle through
    // it and are dead when the clients come back; the other half run on and see the outage.
    let paused = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..6i64 {
        let (errors, stop, t, paused) = (errors.clone(), stop.clone(), t.clone(), paused.clone());
        let opts = opts(&proxy, "app", "app", Some("demo"));
        let mut conn = Conn::new(opts.clone()).await.unwrap();
        clients.push(tokio::spawn(async move {
            let mut n = 0i64;
            let mut done = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if c % 2 == 0 && paused.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                n += 1;
                // Odd ids live on ds_1: reads in autocommit, and transactions (an XA branch on ds_1).
                let id = 2 * ((c + n) % 8) + 1;
                let work = async {
                    conn.query_drop(format!("SELECT v FROM {t} WHERE id = {id}")).await?;
                    if n % 3 == 0 {
                        conn.query_drop("BEGIN").await?;
                        conn.query_drop(format!("UPDATE {t} SET v = v + 1 WHERE id = {id}")).await?;
                        conn.query_drop("COMMIT").await?;
                    }
                    Ok::<_, mysql_async::Error>(())
                };
                match work.await {
                    Ok(()) => done += 1,
                    Err(e) => {
                        errors.lock().unwrap().push((Instant::now(), e.to_string()));
                        // The proxy ends a session whose backend connection broke under a statement (as a
                        // server that dies ends its clients'): reconnect, as an application's pool does.
                        if matches!(e, mysql_async::Error::Io(_)) || conn.query_drop("ROLLBACK").await.is_err() {
                            conn = Conn::new(opts.clone()).await.expect("the proxy accepts new sessions");
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                // Some pauses, so pooled connections sit idle across the restart too.
                if n % 5 == 0 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            }
            done
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A clean shutdown (the server closes every connection), then the lab starts it again.
    paused.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_ds1_primary("-TERM").await;
    lab_up();
    let up = Instant::now();
    paused.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    let mut done = 0;
    for c in clients {
        done += c.await.unwrap();
    }
    let errors = errors.lock().unwrap().clone();
    let during = errors.iter().filter(|(at, _)| *at < up).count();
    let after: Vec<&String> = errors.iter().filter(|(at, _)| *at >= up).map(|(_, e)| e).collect();
    eprintln!("backend_restart: {done} rounds done, {during} errors while ds_1 was down or starting, after it answered: {after:?}");
    assert!(during > 0, "the outage was seen (the test could fail)");
    assert!(after.is_empty(), "statements failed after ds_1 answered again: {after:?}");
    // `setup` wrote last and kept its connection for LAST_INSERT_ID(): state the restart took, so the proxy
    // ended that session, as the server ended its own clients'. A new session finds every row.
    drop(setup);
    let mut check = connect().await.unwrap();
    let v: i64 = check.query_first(format!("SELECT CAST(COUNT(*) AS SIGNED) FROM {t}")).await.unwrap().unwrap();
    assert_eq!(v, 16);
    check.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_a_primary_is_down_its_replica_keeps_serving_plain_reads() {
    let _one = SERIAL.lock().await;
    let _restore = Restore;
    let t = unique("down");
    let tt = t.clone();
    // ds_1 with its replica (the lab's ds1-replica, one port above its primary), checked every 200 ms.
    let replica = format!("replicas = [{{ address = \"127.0.0.1:{}\" }}]\nhealth_check_interval_ms = 200\n", ds1_port() + 1);
    let proxy = start_proxy_with(move |text| {
        let text = text.replacen(&format!("primary = \"127.0.0.1:{}\"\n", ds1_port()), &format!("primary = \"127.0.0.1:{}\"\n{replica}", ds1_port()), 1);
        text + &format!("\n[schemas.demo.tables.{tt}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{tt}\"\nalgorithm = \"mod\"\n")
    })
    .await;
    let connect = || Conn::new(opts(&proxy, "app", "app", Some("demo")));
    let mut c = connect().await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")).await.unwrap();
    let rows: Vec<String> = (1..=20).map(|i| format!("({i}, {i})")).collect();
    c.query_drop(format!("INSERT INTO {t} VALUES {}", rows.join(", "))).await.unwrap();
    // A plain read routed to ds_1 alone (id 7 is odd).
    let odd = format!("SELECT v FROM {t} WHERE id = 7");
    // Until the replica has the rows, reads of ds_1 may come from the primary: wait for the replica.
    let mut replica_conn = common::direct(ds1_port() + 1, Some("demo")).await;
    let start = Instant::now();
    while replica_conn.query_first::<i64, _>(format!("SELECT COUNT(*) FROM {t}")).await.ok().flatten() != Some(10) {
        assert!(start.elapsed() < Duration::from_secs(20), "ds1's replica never got the rows");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A reader that never wrote (a session that just wrote reads its own writes where it made them).
    drop(replica_conn);
    let mut c = connect().await.unwrap();
    stop_ds1_primary("-KILL").await;
    let down = Instant::now();
    let (mut reads, mut failed_reads, mut late_failures) = (0, 0, Vec::new());
    while down.elapsed() < Duration::from_secs(10) {
        match c.query_first::<i64, _>(&odd).await {
            Ok(v) => {
                assert_eq!(v, Some(7), "the replica holds the row");
                reads += 1;
            }
            Err(e) => {
                failed_reads += 1;
                eprintln!("faults: read failed after {:?}: {e}", down.elapsed());
                // The first health check after the kill may still be under way.
                if down.elapsed() > Duration::from_secs(1) {
                    late_failures.push(e.to_string());
                }
                if failed_reads > 5 {
                    break;
                }
                // The proxy ends a session whose backend connection broke under a statement: reconnect.
                c = connect().await.unwrap();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("faults: {reads} reads served while ds_1's primary was down, {failed_reads} failed");
    assert!(late_failures.is_empty(), "reads failed during the outage: {late_failures:?}");
    assert!(reads > 100, "{reads} reads");
    // A write on the dead primary's shard fails, with the data source named; one on the other shard works.
    let e = c.query_drop(format!("UPDATE {t} SET v = v + 1 WHERE id = 1")).await.unwrap_err().to_string();
    assert!(e.contains("ds_1"), "{e}");
    c.query_drop(format!("UPDATE {t} SET v = v + 1 WHERE id = 2")).await.unwrap();

    lab_up();
    // Nothing was lost: every row, with the write that succeeded, from the primary.
    let mut primary = common::direct(ds1_port(), Some("demo")).await;
    let sum: i64 = primary.query_first(format!("SELECT CAST(SUM(v) AS SIGNED) FROM {t}")).await.unwrap().unwrap();
    assert_eq!(sum, 100);
    c.query_drop(format!("UPDATE {t} SET v = v + 1 WHERE id = 1")).await.unwrap();
    let total: i64 = c.query_first(format!("SELECT CAST(SUM(v) AS SIGNED) FROM {t}")).await.unwrap().unwrap();
    assert_eq!(total, 210 + 2);
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

/// Rules for the fault tests: table `t` sharded by id with `mod` (odd ids on ds_1), health checks of both
/// primaries every 200 ms with a 500 ms timeout, and `extra` after ds_0's primary line.
fn fault_rules(t: &str, ds0_extra: &str) -> impl FnOnce(String) -> String {
    let (t, ds0_extra) = (t.to_string(), ds0_extra.to_string());
    move |text| {
        let checks = "health_check_interval_ms = 200\nhealth_check_timeout_ms = 500\n";
        let text = text
            .replacen(&format!("primary = \"127.0.0.1:{}\"\n", common::ds0_port()), &format!("primary = \"127.0.0.1:{}\"\n{checks}{ds0_extra}", common::ds0_port()), 1)
            .replacen(&format!("primary = \"127.0.0.1:{}\"\n", ds1_port()), &format!("primary = \"127.0.0.1:{}\"\n{checks}", ds1_port()), 1);
        text + &format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\nalgorithm = \"mod\"\n")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_primary_fails_its_statements_fast_and_never_delays_the_other_shard() {
    let _one = SERIAL.lock().await;
    let _restore = Restore;
    let freeze: u64 = std::env::var("SHARDGATE_FREEZE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let t = unique("frozen");
    let proxy = start_proxy_with(fault_rules(&t, "")).await;
    let connect = || Conn::new(opts(&proxy, "app", "app", Some("demo")));
    let mut c = connect().await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")).await.unwrap();
    c.query_drop(format!("INSERT INTO {t} VALUES (1, 1), (2, 2), (3, 3), (4, 4)")).await.unwrap();
    // Give the health checks time to see both primaries once (only then are statements guarded).
    tokio::time::sleep(Duration::from_millis(600)).await;

    // The other shard's latency, measured throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let (stop, mut o, t) = (stop.clone(), connect().await.unwrap(), t.clone());
        tokio::spawn(async move {
            let (mut worst, mut n) = (Duration::ZERO, 0);
            while !stop.load(Ordering::Relaxed) {
                let at = Instant::now();
                let v: Option<i64> = o.query_first(format!("SELECT v FROM {t} WHERE id = 2")).await.unwrap();
                assert_eq!(v, Some(2));
                worst = worst.max(at.elapsed());
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (worst, n)
        })
    };

    let pid = std::fs::read_to_string(lab_dir().join("ds1-primary/mariadbd.pid")).unwrap().trim().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let frozen = Instant::now();
    // A statement already waiting on the frozen server ends once the health check marks it down.
    let at = Instant::now();
    let e = c.query_drop(format!("SELECT v FROM {t} WHERE id = 1")).await.unwrap_err().to_string();
    let waited = at.elapsed();
    eprintln!("faults: a statement on the frozen primary ended after {waited:?}: {e}");
    assert!(e.contains("ds_1") && e.contains("down"), "{e}");
    assert!(waited < Duration::from_millis(2500), "the waiting statement ended after {waited:?}");
    // Through the freeze: new sessions fail at once on it, and succeed on the other shard.
    let mut fastest_fail = Duration::MAX;
    let mut slowest_fail = Duration::ZERO;
    while frozen.elapsed() < Duration::from_secs(freeze) {
        let mut fresh = connect().await.unwrap();
        let at = Instant::now();
        let e = fresh.query_drop(format!("UPDATE {t} SET v = v + 1 WHERE id = 3")).await.unwrap_err().to_string();
        assert!(e.contains("ds_1"), "{e}");
        slowest_fail = slowest_fail.max(at.elapsed());
        fastest_fail = fastest_fail.min(at.elapsed());
        assert_eq!(fresh.query_first::<i64, _>(format!("SELECT v FROM {t} WHERE id = 4")).await.unwrap(), Some(4));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("faults: new sessions' statements on the frozen primary failed in {fastest_fail:?}..{slowest_fail:?}");
    assert!(slowest_fail < Duration::from_millis(500), "a new session's statement on the frozen primary took {slowest_fail:?}");

    // Thawed: service resumes within a second.
    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    let thawed = Instant::now();
    loop {
        match c.query_first::<i64, _>(format!("SELECT v FROM {t} WHERE id = 1")).await {
            Ok(v) => {
                assert_eq!(v, Some(1));
                break;
            }
            Err(e) => assert!(thawed.elapsed() < Duration::from_secs(1), "ds_1 still refused {:?} after it thawed: {e}", thawed.elapsed()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("faults: ds_1 served again {:?} after it thawed", thawed.elapsed());
    stop.store(true, Ordering::Relaxed);
    let (worst, n) = other.await.unwrap();
    eprintln!("faults: {n} statements on ds_0 during the freeze, the slowest {worst:?}");
    assert!(worst < Duration::from_millis(500), "a statement on the other shard took {worst:?}");
    // Nothing was half-done: the UPDATEs refused during the freeze never ran.
    assert_eq!(c.query_first::<i64, _>(format!("SELECT v FROM {t} WHERE id = 3")).await.unwrap(), Some(3));
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_query_timeout_ms_ends_with_1969_and_is_killed_on_the_server() {
    let _one = SERIAL.lock().await;
    let t = unique("slow");
    let proxy = start_proxy_with(fault_rules(&t, "query_timeout_ms = 1000\n")).await;
    let mut c = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")).await.unwrap();
    c.query_drop(format!("INSERT INTO {t} VALUES (2, 2)")).await.unwrap();
    let at = Instant::now();
    let e = c.query_drop(format!("SELECT SLEEP(20) FROM {t} WHERE id = 2")).await.unwrap_err();
    let took = at.elapsed();
    match e {
        mysql_async::Error::Server(e) => {
            assert_eq!((e.code, e.state.as_str()), (1969, "70100"), "{}", e.message);
            assert!(e.message.contains("query_timeout_ms = 1000") && e.message.contains("ds_0"), "{}", e.message);
        }
        other => panic!("{other}"),
    }
    assert!(took >= Duration::from_millis(1000) && took < Duration::from_millis(2000), "{took:?}");
    // The session goes on, and the server no longer runs the query.
    assert_eq!(c.query_first::<i64, _>(format!("SELECT v FROM {t} WHERE id = 2")).await.unwrap(), Some(2));
    let mut direct = common::direct(common::ds0_port(), None).await;
    let start = Instant::now();
    loop {
        let running: Vec<String> = direct.query("SELECT INFO FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(20)%'").await.unwrap();
        if running.is_empty() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "the query still runs on the server: {running:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}
