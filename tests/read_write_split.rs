//! Read/write splitting against the lab's real replicas (ds0-replica, ds0-replica2): where statements land is
//! read from each server's own Com_select / Com_insert counters; faults are real (kill -9, SIGSTOP, STOP SLAVE).
//! The tests share the replicas, so they run one at a time.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{direct, ds0_port, lab_port, opts, start_proxy_with, unique, Proxy};
use mysql_async::prelude::*;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn replica1() -> u16 {
    lab_port() + 1
}
fn replica2() -> u16 {
    lab_port() + 5
}

fn lab_dir() -> PathBuf {
    std::env::var("LAB_DIR").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-lab"))
}

/// Rules with ds_0's replicas as given (port, weight) and extra ds_0 settings.
async fn split_proxy(replicas: &[(u16, u32)], settings: &str) -> Proxy {
    let list: Vec<String> = replicas.iter().map(|(p, w)| format!("{{ address = \"127.0.0.1:{p}\", weight = {w} }}")).collect();
    let head = format!("[data_sources.ds_0]\nreplicas = [{}]\nhealth_check_interval_ms = 200\nhealth_check_timeout_ms = 500\n{settings}\n", list.join(", "));
    start_proxy_with(|t| t.replacen("[data_sources.ds_0]\n", &head, 1)).await
}

async fn status(port: u16, name: &str) -> u64 {
    let mut c = direct(port, None).await;
    let row: Option<(String, u64)> = c.query_first(format!("SHOW GLOBAL STATUS LIKE '{name}'")).await.expect("status");
    row.expect("status row").1
}

async fn counts(name: &str) -> [u64; 3] {
    [status(ds0_port(), name).await, status(replica1(), name).await, status(replica2(), name).await]
}

/// Statements between two snapshots: each snapshot's own connection runs one SELECT at connect
/// (mysql_async reads server variables), counted by the later snapshot.
fn delta(after: [u64; 3], before: [u64; 3]) -> [u64; 3] {
    [after[0] - before[0] - 1, after[1] - before[1] - 1, after[2] - before[2] - 1]
}

/// The (name, status, reason) rows of SHOW SHARDGATE NODES for ds_0's replicas.
async fn nodes(c: &mut mysql_async::Conn) -> Vec<(String, String, String)> {
    let rows: Vec<mysql_async::Row> = c.query("SHOW SHARDGATE NODES").await.expect("SHOW SHARDGATE NODES");
    rows.into_iter()
        .filter(|r| r.get::<String, _>("role").as_deref() == Some("replica"))
        .map(|r| (r.get("name").unwrap(), r.get("status").unwrap(), r.get("reason").unwrap()))
        .collect()
}

/// Waits until every listed replica reports `want` (≤ `limit`), returning how long it took.
async fn wait_status(c: &mut mysql_async::Conn, names: &[&str], want: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let n = nodes(c).await;
        if names.iter().all(|name| n.iter().any(|(m, s, _)| m == name && s == want)) {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "replicas {names:?} not {want} within {limit:?}: {n:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a table through the primary and waits until both replicas have it.
async fn table_on_replicas(rows: u32) -> String {
    let t = unique("rw");
    let mut p = direct(ds0_port(), Some("demo")).await;
    p.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)")).await.unwrap();
    let values: Vec<String> = (1..=rows).map(|i| format!("({i}, {i})")).collect();
    p.query_drop(format!("INSERT INTO {t} VALUES {}", values.join(","))).await.unwrap();
    let pos: String = p.query_first("SELECT @@gtid_binlog_pos").await.unwrap().unwrap();
    for port in [replica1(), replica2()] {
        let mut r = direct(port, None).await;
        let waited: i64 = r.query_first(format!("SELECT MASTER_GTID_WAIT('{pos}', 30)")).await.unwrap().unwrap();
        assert_eq!(waited, 0, "replica on {port} caught up");
    }
    t
}

#[tokio::test]
async fn reads_go_to_replicas_by_weight_and_everything_else_to_the_primary() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = table_on_replicas(10).await;
    let proxy = split_proxy(&[(replica1(), 3), (replica2(), 1)], "").await;
    let mut c = mysql_async::Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    wait_status(&mut c, &["ds_0/replica1", "ds_0/replica2"], "serving", Duration::from_secs(5)).await;
    // The admin view shows each replica's measured lag (seconds, a number while it serves).
    let rows: Vec<mysql_async::Row> = c.query("SHOW SHARDGATE NODES").await.unwrap();
    let lags: Vec<Option<String>> = rows.iter().filter(|r| r.get::<String, _>("role").as_deref() == Some("replica")).map(|r| r.get("lag_seconds").unwrap()).collect();
    assert_eq!(lags.len(), 2);
    assert!(lags.iter().all(|l| l.as_deref().is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n <= 10))), "lags {lags:?}");

    let before = counts("Com_select").await;
    let stmt = c.prep(format!("SELECT v FROM {t} WHERE id = ?")).await.unwrap();
    for i in 0..400u32 {
        let v: Option<i32> = c.query_first(format!("SELECT v FROM {t} WHERE id = {}", i % 10 + 1)).await.unwrap();
        assert_eq!(v, Some((i % 10 + 1) as i32));
        let v: Option<i32> = c.exec_first(&stmt, (i % 10 + 1,)).await.unwrap();
        assert_eq!(v, Some((i % 10 + 1) as i32));
    }
    let [primary, r1, r2] = delta(counts("Com_select").await, before);
    assert!(primary <= 2, "plain reads stay off the primary: {primary} selects there");
    assert!(r1 + r2 >= 800, "800 reads on the replicas: {r1} + {r2}");
    let share = r1 as f64 / (r1 + r2) as f64;
    assert!((0.65..0.85).contains(&share), "weights 3:1 give replica1 ~75 % of reads, got {share:.2} ({r1} vs {r2})");

    // Writes, locking reads, side-effect functions, transactions and autocommit=0 stay on the primary.
    let primary_only = [
        format!("SELECT v FROM {t} WHERE id = 1 FOR UPDATE"),
        format!("SELECT v FROM {t} WHERE id = 1 LOCK IN SHARE MODE"),
        "SELECT LAST_INSERT_ID()".to_string(),
        "SELECT GET_LOCK('rw_test', 0), RELEASE_LOCK('rw_test')".to_string(),
        format!("/* shardgate: read=primary */ SELECT v FROM {t} WHERE id = 1"),
    ];
    let inserts = status(ds0_port(), "Com_insert").await;
    let before = counts("Com_select").await;
    for sql in &primary_only {
        c.query_drop(sql).await.unwrap();
    }
    c.query_drop(format!("INSERT INTO {t} VALUES (100, 100)")).await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    for _ in 0..3 {
        c.query_drop(format!("SELECT v FROM {t} WHERE id = 2")).await.unwrap();
    }
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop("SET autocommit = 0").await.unwrap();
    c.query_drop(format!("SELECT v FROM {t} WHERE id = 3")).await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop("SET autocommit = 1").await.unwrap();
    let [primary, r1, r2] = delta(counts("Com_select").await, before);
    // + 3 SELECTs in the transactions and 1 with autocommit off; no read-your-writes lookup of @@last_gtid:
    // no plain read followed a write, and the session kept its primary connection (nobody else wanted it).
    assert_eq!((primary, r1 + r2), (primary_only.len() as u64 + 4, 0), "primary-only statements landed on the primary");
    assert_eq!(status(ds0_port(), "Com_insert").await - inserts, 1, "the INSERT ran on the primary");

    // A replica hint sends even a SELECT the proxy would keep on the primary to a replica (a fresh session:
    // no write of its own to wait for).
    let mut fresh = mysql_async::Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    let before = counts("Com_select").await;
    fresh.query_drop("/* shardgate: read=replica */ SELECT LAST_INSERT_ID()").await.unwrap();
    let [primary, r1, r2] = delta(counts("Com_select").await, before);
    assert_eq!((primary, r1 + r2), (0, 1), "read=replica hint");
    drop((c, fresh));
    direct(ds0_port(), Some("demo")).await.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

async fn set_delay(seconds: u32) {
    for port in [replica1(), replica2()] {
        let mut r = direct(port, None).await;
        r.query_drop(format!("STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = {seconds}; START SLAVE")).await.unwrap();
    }
}

#[tokio::test]
async fn a_session_reads_its_own_writes_while_replicas_lag() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = table_on_replicas(1).await;
    let proxy = split_proxy(&[(replica1(), 1), (replica2(), 1)], "read_your_writes_ms = 5").await;
    let mut c = mysql_async::Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    wait_status(&mut c, &["ds_0/replica1", "ds_0/replica2"], "serving", Duration::from_secs(5)).await;

    set_delay(1).await;
    // Failures are collected, not asserted, so the delay is undone whatever happens.
    let mut wrong = None;
    for i in 2..1002 {
        let pair = async {
            c.query_drop(format!("INSERT INTO {t} VALUES ({i}, {i})")).await?;
            c.query_first::<i32, _>(format!("SELECT v FROM {t} WHERE id = {i}")).await
        };
        match pair.await {
            Ok(Some(v)) if v == i => {}
            other => {
                wrong = Some(format!("write {i}, read back {other:?}"));
                break;
            }
        }
    }
    set_delay(0).await;
    assert_eq!(wrong, None, "every write read back at once while replicas run 1 s behind");

    // Caught-up replicas serve the reads that follow writes, after waiting (up to 2 s here) for the write's GTID.
    let proxy = split_proxy(&[(replica1(), 1), (replica2(), 1)], "read_your_writes_ms = 2000").await;
    let mut c = mysql_async::Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    wait_status(&mut c, &["ds_0/replica1", "ds_0/replica2"], "serving", Duration::from_secs(10)).await;
    let before = counts("Com_select").await;
    for i in 2000..2100 {
        c.query_drop(format!("INSERT INTO {t} VALUES ({i}, {i})")).await.unwrap();
        let v: Option<i32> = c.query_first(format!("SELECT v FROM {t} WHERE id = {i}")).await.unwrap();
        assert_eq!(v, Some(i));
    }
    let [primary, r1, r2] = delta(counts("Com_select").await, before);
    // Per pair: the write's GTID read on the primary; on a replica the wait for it and the read itself. A
    // wait that runs out (a replica just restarted by another test may still be catching up) sends that read
    // to the primary: allowed for a few.
    let fallbacks = primary.saturating_sub(100);
    assert_eq!(primary + r1 + r2, 300, "every read after its write, and its lookups, counted once: {primary} + {r1} + {r2}");
    assert!(fallbacks <= 5, "reads after writes reach caught-up replicas: {fallbacks} of 100 went to the primary");

    // Window mode: reads right after a write go to the primary.
    let proxy = split_proxy(&[(replica1(), 1)], "read_your_writes = \"window\"\nread_your_writes_ms = 60000").await;
    let mut w = mysql_async::Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    wait_status(&mut w, &["ds_0/replica1"], "serving", Duration::from_secs(5)).await;
    let before = counts("Com_select").await;
    w.query_drop(format!("SELECT v FROM {t} WHERE id = 2")).await.unwrap();
    w.query_drop(format!("UPDATE {t} SET v = v + 1 WHERE id = 2")).await.unwrap();
    let v: Option<i32> = w.query_first(format!("SELECT v FROM {t} WHERE id = 2")).await.unwrap();
    assert_eq!(v, Some(3));
    let [primary, r1, _] = delta(counts("Com_select").await, before);
    assert_eq!((primary, r1), (1, 1), "before the write a replica, after it the primary");
    drop((c, w));
    direct(ds0_port(), Some("demo")).await.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

fn replica2_pid() -> i32 {
    let path = lab_dir().join("ds0-replica2/mariadbd.pid");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().parse().expect("pid")
}

fn signal(pid: i32, sig: &str) {
    let ok = std::process::Command::new("kill").args([sig, &pid.to_string()]).status().expect("kill").success();
    assert!(ok, "kill {sig} {pid}");
}

/// Reads through the proxy for `time`; every read must succeed, and none may take longer than the
/// detection bound (health_check_interval_ms 200 + health_check_timeout_ms 500, well inside 2 s).
async fn read_loop(c: &mut mysql_async::Conn, t: &str, time: Duration) -> usize {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < time {
        let one = Instant::now();
        let v: Option<i32> = c.query_first(format!("SELECT v FROM {t} WHERE id = 1")).await.expect("a read during the fault");
        assert_eq!(v, Some(1));
        assert!(one.elapsed() < Duration::from_secs(2), "a read took {:?} during the fault", one.elapsed());
        n += 1;
    }
    n
}

#[tokio::test]
async fn reads_survive_a_replica_that_dies_hangs_or_stops_replicating() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = table_on_replicas(1).await;
    let proxy = split_proxy(&[(replica2(), 1)], "").await;
    let mut c = mysql_async::Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    let name = ["ds_0/replica1"]; // the first (only) replica in these rules: the lab's ds0-replica2
    wait_status(&mut c, &name, "serving", Duration::from_secs(5)).await;
    // The reader connection has a pinned replica connection when each fault starts.
    let mut reader = mysql_async::Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();

    for fault in ["kill -9", "SIGSTOP", "STOP SLAVE"] {
        read_loop(&mut reader, &t, Duration::from_millis(300)).await;
        let pid = replica2_pid();
        match fault {
            "kill -9" => signal(pid, "-KILL"),
            "SIGSTOP" => signal(pid, "-STOP"),
            _ => direct(replica2(), None).await.query_drop("STOP SLAVE").await.unwrap(),
        }
        let reads = read_loop(&mut reader, &t, Duration::from_secs(3)).await;
        assert!(reads > 10, "{fault}: reads went on ({reads} in 3 s)");
        let taken_out = wait_status(&mut c, &name, "down", Duration::from_secs(2)).await;
        let reason = nodes(&mut c).await[0].2.clone();
        assert!(!reason.is_empty(), "{fault}: the admin view says why");
        // Reads now land on the primary.
        let before = status(ds0_port(), "Com_select").await;
        read_loop(&mut reader, &t, Duration::from_millis(200)).await;
        assert!(status(ds0_port(), "Com_select").await > before, "{fault}: reads on the primary while the replica is out");

        match fault {
            "kill -9" => {
                let ok = std::process::Command::new("bash")
                    .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh"))
                    .arg("up")
                    .env("LAB_DIR", lab_dir())
                    .env("LAB_PORT", lab_port().to_string())
                    .status()
                    .expect("lab.sh up")
                    .success();
                assert!(ok, "lab.sh up restarts the killed replica");
            }
            "SIGSTOP" => signal(pid, "-CONT"),
            _ => direct(replica2(), None).await.query_drop("START SLAVE").await.unwrap(),
        }
        let back = wait_status(&mut c, &name, "serving", Duration::from_secs(10)).await;
        let before = status(replica2(), "Com_select").await;
        read_loop(&mut reader, &t, Duration::from_millis(200)).await;
        assert!(status(replica2(), "Com_select").await > before, "{fault}: the replica serves reads again");
        eprintln!("{fault}: out of rotation after {taken_out:?} of polling, back {back:?} after recovery");
    }
    drop((c, reader));
    direct(ds0_port(), Some("demo")).await.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

/// A read over both shards right after writes on both, while every replica lags, waits at most
/// read_your_writes_ms in all (the waits share one deadline), then reads the primaries: it sees the writes.
#[tokio::test]
async fn a_scatter_read_waits_for_its_writes_at_most_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = unique("ryw_scatter");
    let ds1_replica = lab_port() + 3;
    let proxy = start_proxy_with(|text| {
        let text = text
            .replacen(
                "[data_sources.ds_0]\n",
                &format!("[data_sources.ds_0]\nreplicas = [{{ address = \"127.0.0.1:{}\", weight = 1 }}]\nhealth_check_interval_ms = 200\nread_your_writes_ms = 300\n", replica1()),
                1,
            )
            .replacen(
                "[data_sources.ds_1]\n",
                &format!("[data_sources.ds_1]\nreplicas = [{{ address = \"127.0.0.1:{ds1_replica}\", weight = 1 }}]\nhealth_check_interval_ms = 200\nread_your_writes_ms = 300\n"),
                1,
            );
        text + &format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\n")
    })
    .await;
    let mut c = mysql_async::Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)")).await.unwrap();
    wait_status(&mut c, &["ds_0/replica1", "ds_1/replica1"], "serving", Duration::from_secs(10)).await;
    for port in [replica1(), ds1_replica] {
        direct(port, None).await.query_drop("STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 3; START SLAVE").await.unwrap();
    }
    let mut outcome = Vec::new();
    for round in 0..3 {
        let rows: Vec<String> = (1..=8).map(|i| format!("({}, {round})", round * 10 + i)).collect();
        c.query_drop(format!("INSERT INTO {t} VALUES {}", rows.join(", "))).await.unwrap();
        let start = Instant::now();
        let n: Option<i64> = c.query_first(format!("SELECT COUNT(*) FROM {t} WHERE v = {round}")).await.unwrap();
        outcome.push((n, start.elapsed()));
    }
    for port in [replica1(), ds1_replica] {
        direct(port, None).await.query_drop("STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE").await.unwrap();
    }
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    for (n, took) in outcome {
        assert_eq!(n, Some(8), "the read sees the session's own writes on both shards");
        // Two data sources waited one after the other took twice the limit (600 ms) before.
        assert!(took < Duration::from_millis(500), "a read after writes on two shards took {took:?} with read_your_writes_ms = 300");
    }
}
