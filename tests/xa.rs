//! XA transactions over two shards (transaction_mode = "xa", the default): money moved between accounts on
//! different shards is never created or lost — under concurrency, after a rollback, when shardgate dies
//! between PREPARE and COMMIT, and when a shard's primary dies during the commit.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{direct, ds0_port, ds1_port, lab_dir, opts, rules_text, start_proxy_with, unique, Proxy};
use mysql_async::prelude::*;
use mysql_async::Conn;

const ACCOUNTS: i64 = 20;

/// The tests look at every XA branch on the lab's primaries, and two of them kill processes: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
const START: i64 = 1000;

/// Accounts sharded by id, odd ids on ds_1 and even on ds_0 (mod 2).
fn table_rule(t: &str) -> String {
    format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\nalgorithm = \"mod\"\n")
}

async fn accounts(c: &mut Conn, t: &str) {
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)")).await.unwrap();
    let rows: Vec<String> = (1..=ACCOUNTS).map(|i| format!("({i}, {START})")).collect();
    c.query_drop(format!("INSERT INTO {t} (id, balance) VALUES {}", rows.join(", "))).await.unwrap();
}

/// (sum on ds_0, sum on ds_1), read on the primaries directly.
async fn sums(t: &str) -> (i64, i64) {
    let q = format!("SELECT CAST(COALESCE(SUM(balance), 0) AS SIGNED) FROM {t}");
    let a: i64 = direct(ds0_port(), Some("demo")).await.query_first(&q).await.unwrap().unwrap();
    let b: i64 = direct(ds1_port(), Some("demo")).await.query_first(&q).await.unwrap().unwrap();
    (a, b)
}

/// XA branches still prepared on each primary whose gtrid starts with `sg-`.
async fn prepared() -> Vec<String> {
    let mut out = Vec::new();
    for port in [ds0_port(), ds1_port()] {
        let rows: Vec<(i64, i64, i64, String)> = direct(port, None).await.query("XA RECOVER").await.unwrap();
        out.extend(rows.into_iter().map(|r| r.3).filter(|x| x.starts_with("sg-")));
    }
    out
}

fn server_error(e: mysql_async::Error) -> (u16, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.message),
        other => (0, other.to_string()),
    }
}

/// Moves `amount` from one account to another in one transaction, updating the lower id first.
async fn transfer(c: &mut Conn, t: &str, from: i64, to: i64, amount: i64) -> Result<(), mysql_async::Error> {
    let mut changes = [(from, -amount), (to, amount)];
    changes.sort();
    c.query_drop("BEGIN").await?;
    for (id, delta) in changes {
        c.query_drop(format!("UPDATE {t} SET balance = balance + ({delta}) WHERE id = {id}")).await?;
    }
    c.query_drop("COMMIT").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transfers_keep_the_total_exact() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = unique("bank");
    let proxy = start_proxy_with(|text| text + &table_rule(&t)).await;
    let mut admin = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    accounts(&mut admin, &t).await;
    // Writers hold the read side while a transaction runs; the checker takes the write side, so its reads
    // happen while no commit is in flight (XA is atomic, not a cross-shard snapshot: see README).
    let gate = Arc::new(tokio::sync::RwLock::new(()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let (gate, t, o) = (gate.clone(), t.clone(), opts(&proxy, "app", "app", Some("demo")));
        writers.push(tokio::spawn(async move {
            let mut c = Conn::new(o).await.unwrap();
            // Neither shard sees a lock cycle that spans both (a distributed deadlock), so it would wait for
            // innodb_lock_wait_timeout: take locks in id order as applications do, and keep the timeout short.
            c.query_drop("SET SESSION innodb_lock_wait_timeout = 2").await.unwrap();
            let (mut commits, mut conflicts) = (0u64, 0u64);
            let mut n = w;
            while Instant::now() < deadline {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let from = (n >> 33) as i64 % ACCOUNTS + 1;
                let to = (from + (n >> 20) as i64 % (ACCOUNTS - 1)) % ACCOUNTS + 1; // never `from`
                let amount = (n >> 40) as i64 % 50 + 1;
                let _inside = gate.read().await;
                match transfer(&mut c, &t, from, to, amount).await {
                    Ok(()) => commits += 1,
                    Err(e) => {
                        let (code, message) = server_error(e);
                        // Deadlocks and lock waits between concurrent transfers are MariaDB's answer, as direct.
                        assert!(matches!(code, 1213 | 1205 | 1614 | 1402), "transfer failed unexpectedly: {code} {message}");
                        conflicts += 1;
                        c.query_drop("ROLLBACK").await.unwrap();
                    }
                }
            }
            (commits, conflicts)
        }));
    }
    let mut checks = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _quiet = gate.write().await;
        let total: i64 = admin.query_first(format!("SELECT SUM(balance) FROM {t}")).await.unwrap().unwrap();
        assert_eq!(total, ACCOUNTS * START, "total balance during the run (check {checks})");
        checks += 1;
    }
    let (mut commits, mut conflicts) = (0, 0);
    for w in writers {
        let (c, f) = w.await.unwrap();
        commits += c;
        conflicts += f;
    }
    let (a, b) = sums(&t).await;
    assert_eq!(a + b, ACCOUNTS * START, "total after the run: ds_0 {a} + ds_1 {b}");
    assert!(a != ACCOUNTS / 2 * START, "money moved between the shards");
    let two_phase = shardgate::stats::Stats::get(&proxy.stats.xa_two_phase_commits);
    assert!(commits > 100 && two_phase > 50, "{commits} transfers committed, {two_phase} in two phases, {conflicts} conflicts");
    assert!(checks >= 5, "{checks} checks");
    // Every two-phase commit counted its steps: prepare, decision and commit once each; the decisions were
    // made durable by at most as many fsyncs (fewer when commits shared one).
    use shardgate::stats::{Stats, XaStep};
    let step = |s: XaStep| Stats::get(&proxy.stats.xa_step_count[s as usize]);
    for s in [XaStep::Prepare, XaStep::Decision, XaStep::Commit] {
        assert!(step(s) >= two_phase && step(s) > 0, "{s:?}: {} for {two_phase} two-phase commits", step(s));
    }
    assert!(step(XaStep::Start) >= two_phase && Stats::get(&proxy.stats.xa_step_us[XaStep::Commit as usize]) > 0);
    assert_eq!(prepared().await, Vec::<String>::new(), "no XA branch left prepared");
    println!("{commits} transfers ({two_phase} two-phase), {conflicts} conflicts, {checks} checks");
    admin.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_savepoints_and_implicit_commits() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = unique("xa");
    let proxy: Proxy = start_proxy_with(|text| text + &table_rule(&t)).await;
    let mut c = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    accounts(&mut c, &t).await;
    // ROLLBACK after writes on both shards leaves no trace.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("UPDATE {t} SET balance = 0 WHERE id = 2")).await.unwrap();
    c.query_drop(format!("UPDATE {t} SET balance = 0 WHERE id = 3")).await.unwrap();
    c.query_drop(format!("INSERT INTO {t} (id, balance) VALUES (101, 5), (102, 5)")).await.unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(sums(&t).await, (ACCOUNTS / 2 * START, ACCOUNTS / 2 * START));
    assert_eq!(prepared().await, Vec::<String>::new());

    // Transactions where at most one shard was written commit in one phase everywhere (no PREPARE, no
    // decision): the read-only optimisation of two-phase commit. Writes on both shards take two phases.
    let two_phase = || shardgate::stats::Stats::get(&proxy.stats.xa_two_phase_commits);
    let before = two_phase();
    c.query_drop("BEGIN").await.unwrap();
    let _: Vec<i64> = c.query(format!("SELECT balance FROM {t} WHERE id = 2")).await.unwrap();
    c.query_drop(format!("UPDATE {t} SET balance = balance WHERE id = 3")).await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(two_phase(), before, "one shard read, one written: one phase");
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("UPDATE {t} SET balance = balance WHERE id = 2")).await.unwrap();
    c.query_drop(format!("UPDATE {t} SET balance = balance WHERE id = 3")).await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(two_phase(), before + 1, "both shards written: two phases");

    // Savepoints hold on every shard: a shard that joins after the savepoint is rolled back to its start,
    // as one MariaDB would undo everything done since the savepoint.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("UPDATE {t} SET balance = 1 WHERE id = 2")).await.unwrap();
    c.query_drop("SAVEPOINT s1").await.unwrap();
    c.query_drop(format!("UPDATE {t} SET balance = 2 WHERE id = 4")).await.unwrap();
    c.query_drop("ROLLBACK TO SAVEPOINT s1").await.unwrap();
    c.query_drop(format!("UPDATE {t} SET balance = 3 WHERE id = 3")).await.unwrap();
    c.query_drop("ROLLBACK TO SAVEPOINT s1").await.unwrap();
    c.query_drop(format!("UPDATE {t} SET balance = 6 WHERE id = 4")).await.unwrap();
    c.query_drop("RELEASE SAVEPOINT s1").await.unwrap();
    let (code, message) = server_error(c.query_drop("ROLLBACK TO SAVEPOINT s1").await.unwrap_err());
    assert_eq!(code, 1305, "a released savepoint is gone: {message}");
    c.query_drop("COMMIT").await.unwrap();
    let got: Vec<(i64, i64)> = c.query(format!("SELECT id, balance FROM {t} WHERE id IN (2, 3, 4) ORDER BY id")).await.unwrap();
    assert_eq!(got, vec![(2, 1), (3, START), (4, 6)]);

    // DDL commits the open transaction first, as MySQL does; client XA statements are refused.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("UPDATE {t} SET balance = 7 WHERE id = 5")).await.unwrap();
    let other = unique("xa_ddl");
    c.query_drop(format!("CREATE TABLE {other} (a INT)")).await.unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    let v: Option<i64> = c.query_first(format!("SELECT balance FROM {t} WHERE id = 5")).await.unwrap();
    assert_eq!(v, Some(7), "the CREATE TABLE committed the UPDATE before it");
    let (code, _) = server_error(c.query_drop("XA RECOVER").await.unwrap_err());
    assert_eq!(code, 1235);
    // With autocommit off (every Python driver's default) or right after BEGIN, DDL still runs.
    c.query_drop("SET autocommit = 0").await.unwrap();
    c.query_drop(format!("DROP TABLE IF EXISTS {other}_gone")).await.unwrap();
    c.query_drop(format!("UPDATE {t} SET balance = 8 WHERE id = 5")).await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop("SET autocommit = 1").await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("CREATE TABLE {other}_gone (a INT)")).await.unwrap();
    c.query_drop(format!("DROP TABLE {other}_gone")).await.unwrap();
    c.query_drop(format!("UPDATE {t} SET balance = 7 WHERE id = 5")).await.unwrap();

    // A multi-shard UPDATE in autocommit is one XA transaction: a failure on one shard (division by zero is
    // an error in the default strict mode; id 9 is on ds_1) changes none.
    let before = sums(&t).await;
    let (code, message) = server_error(c.query_drop(format!("UPDATE {t} SET balance = IF(id = 9, 1 / 0, balance + 1)")).await.unwrap_err());
    assert_eq!(code, 1365, "{message}");
    assert_eq!(sums(&t).await, before, "neither shard changed");
    c.query_drop(format!("UPDATE {t} SET balance = balance + 1")).await.unwrap();
    assert_eq!(sums(&t).await, (before.0 + ACCOUNTS / 2, before.1 + ACCOUNTS / 2), "both shards changed");
    assert_eq!(prepared().await, Vec::<String>::new());
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    c.query_drop(format!("DROP TABLE {other}")).await.unwrap();
}

/// A shardgate process on its own port with `rules`, with `fault` in SHARDGATE_TEST_FAULT.
struct Process {
    child: Child,
    port: u16,
}

impl Process {
    async fn start(rules: &Path, port: u16, fault: Option<&str>) -> Process {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardgate"));
        cmd.args(["serve", "--config"]).arg(rules).stdout(Stdio::null()).stderr(Stdio::inherit());
        if let Some(f) = fault {
            cmd.env("SHARDGATE_TEST_FAULT", f);
        }
        let child = cmd.spawn().expect("shardgate binary");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(15), "shardgate did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Process { child, port }
    }

    fn opts(&self) -> mysql_async::Opts {
        common::opts_at(self.port, "app", "app", Some("demo"))
    }

    async fn wait_exit(&mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(start.elapsed() < Duration::from_secs(10), "shardgate did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A rules file for a process: the test rules on `port`, the accounts table, recovery every 300 ms.
fn rules_file(t: &str, port: u16, log: &Path) -> PathBuf {
    let text = rules_text("").replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\""));
    let text = text.replacen("xa_log = ", &format!("xa_recovery_interval_ms = 300\nxa_log = \"{}\"\n# was: ", log.display()), 1);
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{t}.toml"));
    std::fs::write(&path, text + &table_rule(t)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shardgate_killed_between_prepare_and_commit_recovers_on_restart() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = unique("xa_kill");
    let log = common::xa_log_path();
    let port = free_port();
    let rules = rules_file(&t, port, &log);
    {
        let p = Process::start(&rules, port, None).await;
        accounts(&mut Conn::new(p.opts()).await.unwrap(), &t).await;
    }
    for (fault, applied) in [("exit_after_prepare", false), ("exit_after_decision", true)] {
        let mut p = Process::start(&rules, port, Some(fault)).await;
        let mut c = Conn::new(p.opts()).await.unwrap();
        let before = sums(&t).await;
        let result = transfer(&mut c, &t, 2, 3, 100).await;
        assert!(result.is_err(), "{fault}: the COMMIT never got its answer");
        assert_eq!(p.wait_exit().await, 86, "{fault}: shardgate stopped at the fault point");
        assert_eq!(prepared().await.len(), 2, "{fault}: both branches were left prepared");
        drop(p);
        // Restart with the same rules and decision log: start-up recovery resolves both branches.
        let p = Process::start(&rules, port, None).await;
        assert_eq!(prepared().await, Vec::<String>::new(), "{fault}: nothing left prepared after the restart");
        let after = sums(&t).await;
        assert_eq!(after.0 + after.1, ACCOUNTS * START, "{fault}: total intact");
        let expected = if applied { (before.0 - 100, before.1 + 100) } else { before };
        assert_eq!(after, expected, "{fault}: the transfer is {}", if applied { "committed" } else { "rolled back" });
        drop(p);
    }
    direct(ds0_port(), Some("demo")).await.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    direct(ds1_port(), Some("demo")).await.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

/// Every account's balance, read on the primaries directly.
async fn balances(t: &str) -> std::collections::BTreeMap<i64, i64> {
    let mut out = std::collections::BTreeMap::new();
    for port in [ds0_port(), ds1_port()] {
        let rows: Vec<(i64, i64)> = direct(port, Some("demo")).await.query(format!("SELECT id, balance FROM {t}")).await.unwrap();
        out.extend(rows);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shardgate_killed_while_compacting_its_decision_log_recovers_every_transaction() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = unique("xa_compact");
    let log = common::xa_log_path();
    let port = free_port();
    let rules = rules_file(&t, port, &log);
    // A tiny bound: the decision log is compacted while running every few two-phase commits.
    let text = std::fs::read_to_string(&rules).unwrap().replacen("xa_log = ", "xa_log_max_bytes = 300\nxa_log = ", 1);
    std::fs::write(&rules, text).unwrap();
    {
        let p = Process::start(&rules, port, None).await;
        accounts(&mut Conn::new(p.opts()).await.unwrap(), &t).await;
    }
    // Before the new file replaces the old one, and right after.
    for fault in ["exit_in_compaction", "exit_after_compaction"] {
        let mut p = Process::start(&rules, port, Some(fault)).await;
        let before = balances(&t).await;
        // Writer i moves 1 at a time from account 2i+2 (ds_0) to 2i+1 (ds_1): no two writers share a row, so
        // each pair's balances tell how many of its transfers committed.
        let mut writers = Vec::new();
        for i in 0..4i64 {
            let (opts, t) = (p.opts(), t.clone());
            writers.push(tokio::spawn(async move {
                let mut c = Conn::new(opts).await.unwrap();
                let mut acked = 0;
                while transfer(&mut c, &t, 2 * i + 2, 2 * i + 1, 1).await.is_ok() {
                    acked += 1;
                }
                (i, acked)
            }));
        }
        assert_eq!(p.wait_exit().await, 86, "{fault}: shardgate stopped while compacting");
        let mut acked = Vec::new();
        for w in writers {
            acked.push(w.await.unwrap());
        }
        drop(p);
        // Restart with the same rules and log: start-up recovery resolves every branch left prepared.
        let p = Process::start(&rules, port, None).await;
        assert_eq!(prepared().await, Vec::<String>::new(), "{fault}: nothing left prepared after the restart");
        let after = balances(&t).await;
        assert_eq!(after.values().sum::<i64>(), ACCOUNTS * START, "{fault}: total intact");
        println!("{fault}: transfers acknowledged per writer {acked:?}");
        for (i, acked) in acked {
            let (from, to) = (2 * i + 2, 2 * i + 1);
            let moved = after[&to] - before[&to];
            assert_eq!(before[&from] - after[&from], moved, "{fault}: writer {i}'s transfers are whole");
            // Every acknowledged COMMIT is there; the one in flight at the crash is there only if decided.
            assert!(moved == acked || moved == acked + 1, "{fault}: writer {i}: {acked} acknowledged, {moved} applied");
        }
        drop(p);
    }
    direct(ds0_port(), Some("demo")).await.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    direct(ds1_port(), Some("demo")).await.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_killed_during_commit_is_completed_by_recovery() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = unique("xa_shard");
    let log = common::xa_log_path();
    let port = free_port();
    let rules = rules_file(&t, port, &log);
    {
        let p = Process::start(&rules, port, None).await;
        accounts(&mut Conn::new(p.opts()).await.unwrap(), &t).await;
    }
    let p = Process::start(&rules, port, Some("pause_after_decision_ms=3000")).await;
    let mut c = Conn::new(p.opts()).await.unwrap();
    let before = sums(&t).await;
    let table = t.clone();
    let commit = tokio::spawn(async move { transfer(&mut c, &table, 2, 3, 100).await.map_err(server_error) });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // ds_1's primary dies after the decision, before its XA COMMIT arrives.
    let pid: i32 = std::fs::read_to_string(lab_dir().join("ds1-primary/mariadbd.pid")).unwrap().trim().parse().unwrap();
    assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
    let result = commit.await.unwrap();
    let (_, message) = result.expect_err("the client hears that the commit is not confirmed everywhere");
    assert!(message.contains("will complete"), "{message}");
    common::lab_up();
    // The restarted shard still has the branch prepared; periodic recovery (300 ms) commits it.
    let start = Instant::now();
    while !prepared().await.is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20), "recovery did not commit the branch: {:?}", prepared().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sums(&t).await, (before.0 - 100, before.1 + 100), "the transfer is whole on both shards");
    drop(p);
    direct(ds0_port(), Some("demo")).await.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    direct(ds1_port(), Some("demo")).await.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_the_shard_key_moves_the_row() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = unique("xa_move");
    let proxy = start_proxy_with(|text| text + &table_rule(&t)).await;
    let mut c = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!(
        "CREATE TABLE {t} (id BIGINT PRIMARY KEY, name VARCHAR(20), amount DECIMAL(10,2), day DATE, note TEXT, raw VARBINARY(4))"
    ))
    .await
    .unwrap();
    c.query_drop(format!("INSERT INTO {t} (id, name, amount, day, note, raw) VALUES (2, 'it''s', 12.50, '2026-11-23', NULL, 0x00FF10), (6, 'six', 1, NULL, 'x', NULL)")).await.unwrap();
    type Row = (i64, String, String, Option<String>, Option<String>, Option<Vec<u8>>);
    let on = |port: u16| {
        let t = t.clone();
        async move {
            let q = format!("SELECT id, name, CAST(amount AS CHAR), CAST(day AS CHAR), note, raw FROM {t} ORDER BY id");
            direct(port, Some("demo")).await.query::<Row, _>(q).await.unwrap()
        }
    };
    let moved: Row = (3, "it's".into(), "12.50".into(), Some("2026-11-23".into()), None, Some(vec![0, 255, 16]));

    // Autocommit: ds_0 → ds_1, every column intact.
    c.query_drop(format!("UPDATE {t} SET id = 3 WHERE id = 2")).await.unwrap();
    assert_eq!(on(ds0_port()).await.iter().map(|r| r.0).collect::<Vec<_>>(), vec![6]);
    assert_eq!(on(ds1_port()).await, vec![moved.clone()]);

    // Inside a transaction that rolls back: no trace.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("UPDATE {t} SET id = 4, name = 'four' WHERE id = 3")).await.unwrap();
    let seen: Option<String> = c.query_first(format!("SELECT name FROM {t} WHERE id = 4")).await.unwrap();
    assert_eq!(seen.as_deref(), Some("four"), "the transaction sees the moved row");
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(on(ds1_port()).await, vec![moved.clone()]);
    assert_eq!(on(ds0_port()).await.len(), 1);

    // A duplicate key at the destination: an error, and nothing changed.
    let (code, message) = server_error(c.query_drop(format!("UPDATE {t} SET id = 6 WHERE id = 3")).await.unwrap_err());
    assert_eq!(code, 1062, "{message}");
    assert_eq!(on(ds1_port()).await, vec![moved]);

    // Committed inside a transaction with other work.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("UPDATE {t} SET id = 8 WHERE id = 3")).await.unwrap();
    c.query_drop(format!("UPDATE {t} SET note = 'y' WHERE id = 6")).await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(on(ds1_port()).await, vec![]);
    assert_eq!(on(ds0_port()).await.iter().map(|r| r.0).collect::<Vec<_>>(), vec![6, 8]);
    // A key computed per row: run over copies, the row moved where its new key places it.
    c.query_drop(format!("UPDATE {t} SET id = id + 1 WHERE id = 8")).await.unwrap();
    assert_eq!(c.affected_rows(), 1);
    assert_eq!(on(ds0_port()).await.iter().map(|r| r.0).collect::<Vec<_>>(), vec![6]);
    assert_eq!(on(ds1_port()).await.iter().map(|r| r.0).collect::<Vec<_>>(), vec![9]);
    assert_eq!(prepared().await, Vec::<String>::new());
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}
