//! `shardgate reshard run` end to end on the lab, with the proxy as its own process: sysbench
//! oltp_read_write (both ps modes, 8 threads) and a checker client run through a reshard from two shards to
//! three and back to two; and a reshard whose proxy is killed during the copy and during the catch-up,
//! resumed to completion. Afterwards every acknowledged write is there once, no deleted row is back, and
//! every row is on exactly the node the rules in force say.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::checker::{check_acknowledged, checker};
use mysql_async::prelude::Queryable;
use shardgate::sharding::key::Literal;

/// The tests share the third shard and two cores: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn primaries() -> [u16; 3] {
    common::three_primaries()
}

/// One test's database on the three shards, its rules files and its proxy process.
struct Setup {
    dir: PathBuf,
    db: String,
    port: u16,
    metrics_port: u16,
    tables: Vec<String>,
    proxy: Option<std::process::Child>,
}

impl Drop for Setup {
    /// A failed test leaves no proxy running.
    fn drop(&mut self) {
        self.kill_proxy();
    }
}

impl Setup {
    async fn new(prefix: &str, tables: &[&str]) -> Setup {
        common::require_lab();
        common::shard3_up();
        let db = common::unique(prefix);
        common::fresh_database(&primaries(), &db).await;
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&db);
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let s = Setup { dir, db, port, metrics_port, tables: tables.iter().map(|t| t.to_string()).collect(), proxy: None };
        std::fs::write(s.path("two.toml"), s.rules(1)).unwrap();
        std::fs::write(s.path("three.toml"), s.rules(2)).unwrap();
        std::fs::write(s.path("rules.toml"), s.rules(1)).unwrap();
        s
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The rules with the tables on ds_0..=ds_`last`.
    fn rules(&self, last: u8) -> String {
        let lab = common::lab_port();
        let mut text = format!(
            r#"xa_log = "{dir}/xa.log"

[server]
listen = "127.0.0.1:{port}"
metrics_listen = "127.0.0.1:{metrics}"

[[users]]
name = "app"
password = "app"
admin = true

[data_sources.ds_0]
primary = "127.0.0.1:{p0}"
user = "app"
password = "app"
replicas = [{{ address = "127.0.0.1:{r0}" }}]

[data_sources.ds_1]
primary = "127.0.0.1:{p1}"
user = "app"
password = "app"
replicas = [{{ address = "127.0.0.1:{r1}" }}]

[data_sources.ds_2]
primary = "127.0.0.1:{p2}"
user = "app"
password = "app"
replicas = [{{ address = "127.0.0.1:{r2}" }}]

[schemas.{db}]
data_source = "ds_0"
"#,
            dir = self.dir.display(),
            port = self.port,
            metrics = self.metrics_port,
            db = self.db,
            p0 = lab,
            r0 = lab + 1,
            p1 = lab + 2,
            r1 = lab + 3,
            p2 = lab + 6,
            r2 = lab + 7,
        );
        for t in &self.tables {
            text += &format!("\n[schemas.{db}.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..{last}}}.{t}\"\n", db = self.db);
        }
        text
    }

    /// The proxy's Prometheus page.
    fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).expect("metrics listener");
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut page = String::new();
        s.read_to_string(&mut page).unwrap();
        page
    }

    fn start_proxy(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.path("proxy.log")).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_shardgate"))
            .args(["serve", "--config"])
            .arg(self.path("rules.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start shardgate");
        self.proxy = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the proxy did not listen on {}:\n{}", self.port, self.log());
    }

    fn kill_proxy(&mut self) {
        if let Some(mut p) = self.proxy.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("proxy.log")).unwrap_or_default()
    }

    fn opts(&self) -> mysql_async::Opts {
        common::opts_at(self.port, "app", "app", Some(&self.db))
    }

    async fn conn(&self) -> mysql_async::Conn {
        mysql_async::Conn::new(self.opts()).await.unwrap()
    }

    /// `shardgate reshard run --config rules.toml --to <to> …`, running.
    fn reshard(&self, to: &str, extra: &[&str]) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_shardgate"))
            .args(["reshard", "run", "--config"])
            .arg(self.path("rules.toml"))
            .arg("--to")
            .arg(self.path(to))
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run shardgate reshard run")
    }

    async fn finish(&self, cli: tokio::process::Child) -> String {
        let out = tokio::time::timeout(Duration::from_secs(240), cli.wait_with_output()).await.expect("the reshard ends within 4 minutes").unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "reshard run failed:\n{text}\nproxy log:\n{}", self.log());
        for line in self.log().lines().filter(|l| l.contains("switched to the new rules")) {
            println!("proxy: {line}");
        }
        text
    }

    /// Every row of every table is on the node `rules` place it on, once, and on no other; returns the
    /// rows per table.
    async fn placement(&self, rules: &str) -> BTreeMap<String, usize> {
        let rules = shardgate::config::parse(rules, "r.toml".as_ref()).unwrap();
        let layouts = shardgate::sharding::table::build(&rules).unwrap();
        let mut counts = BTreeMap::new();
        for t in &self.tables {
            let table = &layouts[&self.db].tables[t];
            let mut seen = BTreeSet::new();
            for (ds, port) in primaries().into_iter().enumerate() {
                let mut c = common::direct(port, Some(&self.db)).await;
                let staging: Vec<String> = c.query("SHOW TABLES LIKE '%sg_reshard'").await.unwrap();
                assert!(staging.is_empty(), "staging tables left on ds_{ds}: {staging:?}");
                let exists: Option<String> = c.query_first(format!("SHOW TABLES LIKE '{t}'")).await.unwrap();
                if exists.is_none() {
                    continue;
                }
                let ids: Vec<i64> = c.query(format!("SELECT id FROM {t}")).await.unwrap();
                for id in ids {
                    let owner = table.node_for(&Literal::Int(id.into())).unwrap();
                    assert_eq!(table.nodes[owner].data_source, format!("ds_{ds}"), "{t} id {id} is on ds_{ds}, the rules place it on {:?}", table.nodes[owner]);
                    assert!(seen.insert(id), "{t} id {id} stored twice");
                }
            }
            counts.insert(t.clone(), seen.len());
        }
        counts
    }

    async fn show(&self) -> BTreeMap<String, String> {
        let mut c = self.conn().await;
        let row: mysql_async::Row = c.query_first("SHOW SHARDGATE RESHARD").await.unwrap().expect("a reshard is shown");
        row.columns_ref().iter().enumerate().map(|(i, col)| (col.name_str().into_owned(), row.get::<Option<String>, _>(i).flatten().unwrap_or_default())).collect()
    }

    /// Polls SHOW SHARDGATE RESHARD until `until` holds (the proxy may be restarting meanwhile).
    async fn wait_for(&self, what: &str, until: impl Fn(&BTreeMap<String, String>) -> bool) -> BTreeMap<String, String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(mut c) = mysql_async::Conn::new(self.opts()).await {
                if let Ok(Some(row)) = c.query_first::<mysql_async::Row, _>("SHOW SHARDGATE RESHARD").await {
                    let s: BTreeMap<String, String> = row
                        .columns_ref()
                        .iter()
                        .enumerate()
                        .map(|(i, col)| (col.name_str().into_owned(), row.get::<Option<String>, _>(i).flatten().unwrap_or_default()))
                        .collect();
                    assert!(s["error"].is_empty(), "the reshard stopped: {s:?}\n{}", self.log());
                    if until(&s) {
                        return s;
                    }
                }
            }
            assert!(Instant::now() < deadline, "waited 2 minutes for {what}\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn drop_all(mut self) {
        self.kill_proxy();
        for port in primaries() {
            let mut c = common::direct(port, None).await;
            c.query_drop(format!("DROP DATABASE IF EXISTS {}", self.db)).await.unwrap();
        }
        let key = self.path("rules.toml").display().to_string();
        common::direct(common::ds0_port(), None).await.exec_drop("DELETE FROM shardgate.reshard_jobs WHERE rules_path = ?", (key,)).await.unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sysbench_args(s: &Setup) -> Vec<String> {
    let port = format!("--mysql-port={}", s.port);
    let db = format!("--mysql-db={}", s.db);
    ["--mysql-host=127.0.0.1", &port, "--mysql-user=app", "--mysql-password=app", &db, "--tables=2", "--table-size=10000", "--mysql-ssl=off", "--auto_inc=off"]
        .iter()
        .map(|a| a.to_string())
        .collect()
}

/// One sysbench run's outcome.
struct Run {
    started: Instant,
    ended: Instant,
    mode: &'static str,
    transactions: u64,
    p99_ms: f64,
}

fn number_after(report: &str, label: &str) -> f64 {
    let line = report.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no '{label}' in:\n{report}"));
    line[line.find(label).unwrap() + label.len()..].split_whitespace().next().unwrap().parse().unwrap()
}

/// oltp_read_write, 8 threads, in runs of 4 s alternating the binary and the text protocol, until `stop`;
/// every run must end with no error, ignored error or reconnect.
async fn sysbench_loop(args: Vec<String>, stop: Arc<AtomicBool>) -> Vec<Run> {
    let mut runs = Vec::new();
    for mode in ["auto", "disable"].into_iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let started = Instant::now();
        let out = tokio::process::Command::new("sysbench")
            .arg("oltp_read_write")
            .args(&args)
            .args(["--threads=8", "--time=4", "--rand-type=uniform", "--percentile=99", "--report-interval=0"])
            .arg(format!("--db-ps-mode={mode}"))
            .arg("run")
            .output()
            .await
            .expect("sysbench is installed by tests/run.sh");
        let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "sysbench ({mode}) failed during the reshard:\n{report}");
        assert_eq!(number_after(&report, "ignored errors:"), 0.0, "sysbench ({mode}) errors:\n{report}");
        assert_eq!(number_after(&report, "reconnects:"), 0.0, "sysbench ({mode}) reconnects:\n{report}");
        let transactions = number_after(&report, "transactions:") as u64;
        assert!(transactions > 0, "{report}");
        runs.push(Run { started, ended: Instant::now(), mode, transactions, p99_ms: number_after(&report, "99th percentile:") });
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysbench_and_a_checker_run_through_a_reshard_from_two_shards_to_three_and_back() {
    let _serial = SERIAL.lock().await;
    let mut s = Setup::new("rsys", &["sbtest1", "sbtest2", "checker"]).await;
    s.start_proxy();
    let args = sysbench_args(&s);
    let prepare = tokio::process::Command::new("sysbench").arg("oltp_read_write").args(&args).arg("prepare").output().await.unwrap();
    assert!(prepare.status.success(), "sysbench prepare: {}", String::from_utf8_lossy(&prepare.stderr));
    s.conn().await.query_drop("CREATE TABLE checker (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)").await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let bench = tokio::spawn(sysbench_loop(args, stop.clone()));
    let check = tokio::spawn(checker(s.opts(), 1, stop.clone()));
    tokio::time::sleep(Duration::from_secs(9)).await;

    let mut windows = Vec::new();
    let mut figures = Vec::new();
    // RESHARD_RATE (rows/s read while copying; 0: unlimited) lets bench/reshard.sh measure the copy's own speed.
    let rate = std::env::var("RESHARD_RATE").unwrap_or_else(|_| "4000".into());
    for (to, extra) in [("three.toml", vec!["--rate", rate.as_str()]), ("two.toml", vec!["--rate", rate.as_str(), "--cleanup"])] {
        let began = Instant::now();
        let said = s.finish(s.reshard(to, &extra)).await;
        windows.push((began, Instant::now()));
        let shown = s.show().await;
        println!("reshard to {to}: {said}\n{shown:?}");
        assert_eq!(shown["phase"], "done");
        assert_eq!(std::fs::read_to_string(s.path("rules.toml")).unwrap(), std::fs::read_to_string(s.path(to)).unwrap(), "the rules file holds the new rules");
        let (pause, share): (u64, f64) = (shown["pause_ms"].parse().unwrap(), shown["moved_share"].parse().unwrap());
        assert!((0.2..0.47).contains(&share), "moved {share} of the rows; the ideal is 1/3");
        // The goal is under 500 ms; this is a debug build on two loaded cores (bench/RESULTS.md has release).
        assert!(pause < 1000, "writes paused {pause} ms at the cut-over");
        figures.push(serde_json::json!({
            "to": to,
            "rate_limit": rate.parse::<u64>().unwrap(),
            "job_s": began.elapsed().as_secs_f64(),
            "rows_scanned": shown["rows_scanned"].parse::<u64>().unwrap(),
            "rows_copied": shown["rows_copied"].parse::<u64>().unwrap(),
            "copy_s": shown["copy_s"].parse::<f64>().unwrap(),
            "changes_applied": shown["changes_applied"].parse::<u64>().unwrap(),
            "backoffs": shown["backoffs"].parse::<u64>().unwrap(),
            "pause_ms": pause,
            "moved_share": share,
            "ideal_share": 1.0 / 3.0,
        }));
        let page = s.metrics();
        let gauge = |name: &str| page.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse::<f64>().ok());
        assert_eq!(gauge("shardgate_reshard_phase{phase=\"done\"}"), Some(1.0), "{page}");
        assert_eq!(gauge("shardgate_reshard_rows_scanned"), shown["rows_scanned"].parse().ok(), "{page}");
        assert!(gauge("shardgate_reshard_rows_copied").unwrap_or(0.0) > 1000.0, "{page}");
        tokio::time::sleep(Duration::from_secs(9)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let runs = bench.await.expect("sysbench ran clean");
    let checked = check.await.unwrap();
    assert_eq!(checked.errors, 0, "the checker's writes failed");

    let counts = s.placement(&s.rules(1)).await;
    assert!(counts["sbtest1"] > 9000 && counts["sbtest2"] > 9000, "{counts:?}");
    check_acknowledged(&primaries(), &s.db, &checked).await;
    let ds2: Option<i64> = common::direct(primaries()[2], Some(&s.db)).await.query_first("SELECT COUNT(*) FROM sbtest1").await.unwrap();
    assert_eq!(ds2, Some(0), "--cleanup deleted the removed node's rows");

    // The figures for bench/RESULTS.md.
    let phase = |r: &Run| match windows.iter().position(|(a, b)| r.ended > *a && r.started < *b) {
        Some(i) => format!("during reshard {}", i + 1),
        None if r.ended <= windows[0].0 => "before".into(),
        None if r.started >= windows[1].1 => "after".into(),
        None => "between".into(),
    };
    let mut samples = Vec::new();
    for r in &runs {
        println!("sysbench {:>17} ps-mode={:<7} {:>5} transactions, p99 {:>7.2} ms", phase(r), r.mode, r.transactions, r.p99_ms);
        let seconds = (r.ended - r.started).as_secs_f64();
        samples.push(serde_json::json!({"phase": phase(r), "mode": r.mode, "transactions": r.transactions, "tps": r.transactions as f64 / seconds, "p99_ms": r.p99_ms}));
    }
    for f in &figures {
        println!("reshard: {f}");
    }
    if let Ok(path) = std::env::var("RESHARD_REPORT") {
        let doc = serde_json::json!({
            "reshards": figures,
            "sysbench": samples,
            "sysbench_args": "oltp_read_write --threads=8 --time=4 --rand-type=uniform --tables=2 --table-size=10000 --auto_inc=off, ps-mode auto and disable alternating",
            "checker": {"writes": checked.writes, "errors": checked.errors, "slowest_ms": checked.slowest.as_secs_f64() * 1000.0},
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
    s.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_killed_during_the_copy_and_during_the_catch_up_resumes_the_reshard_to_completion() {
    let _serial = SERIAL.lock().await;
    let mut s = Setup::new("rkill", &["items", "checker"]).await;
    s.start_proxy();
    let mut c = s.conn().await;
    c.query_drop("CREATE TABLE items (id BIGINT PRIMARY KEY, v BIGINT NOT NULL, pad VARCHAR(60) NOT NULL)").await.unwrap();
    c.query_drop("CREATE TABLE checker (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)").await.unwrap();
    const N: i64 = 20_000;
    for start in (1..=N).step_by(2000) {
        let values: Vec<String> = (start..start + 2000).map(|i| format!("({i}, 0, 'pad{i}')")).collect();
        c.query_drop(format!("INSERT INTO items VALUES {}", values.join(","))).await.unwrap();
    }
    drop(c);
    let stop = Arc::new(AtomicBool::new(false));
    let check = tokio::spawn(checker(s.opts(), 1, stop.clone()));

    // Killed during the copy, with the command.
    let cli = s.reshard("three.toml", &["--rate", "1500"]);
    let before = s.wait_for("the copy", |r| r["phase"] == "copy" && r["rows_scanned"].parse::<u64>().unwrap() >= 4000).await;
    s.kill_proxy();
    drop(cli);
    let scanned: u64 = before["rows_scanned"].parse().unwrap();
    s.start_proxy();
    let resumed = s.wait_for("the resumed job", |r| r["resumed"] == "1").await;
    assert!(resumed["rows_scanned"].parse::<u64>().unwrap() >= scanned, "the copy started over: {resumed:?} (had read {scanned})");
    println!("killed during the copy at {scanned} rows read; resumed at {resumed:?}");
    let cli = s.reshard("three.toml", &["--rate", "1500"]);
    // Changes for the catch-up: every row twice, while the copy goes on.
    let mut c = s.conn().await;
    for _ in 0..2 {
        c.query_drop("UPDATE items SET v = v + 1").await.unwrap();
    }
    drop(c);

    // Killed during the catch-up; the command follows the proxy back.
    let during = s.wait_for("the catch-up", |r| r["phase"] == "catch_up" && r["changes_applied"].parse::<u64>().unwrap() > 500).await;
    s.kill_proxy();
    println!("killed during the catch-up: {during:?}");
    s.start_proxy();
    s.wait_for("the job resumed again", |r| r["resumed"] == "2").await;
    let said = s.finish(cli).await;
    println!("{said}");
    stop.store(true, Ordering::Relaxed);
    let checked = check.await.unwrap();

    let counts = s.placement(&s.rules(2)).await;
    assert_eq!(counts["items"], N as usize, "{counts:?}");
    check_acknowledged(&primaries(), &s.db, &checked).await;
    let mut c = s.conn().await;
    let (rows, total): (i64, i64) = c.query_first("SELECT COUNT(*), SUM(v) FROM items").await.unwrap().unwrap();
    assert_eq!((rows, total), (N, 2 * N), "both acknowledged updates of every row arrived");
    let shown = s.show().await;
    assert_eq!(shown["phase"], "done");
    println!("{shown:?}");
    drop(c);
    s.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_before_the_switch_removes_what_was_copied_and_leaves_the_old_layout_serving() {
    let _serial = SERIAL.lock().await;
    let mut s = Setup::new("rabort", &["items"]).await;
    s.start_proxy();
    let mut c = s.conn().await;
    c.query_drop("CREATE TABLE items (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)").await.unwrap();
    const N: i64 = 12_000;
    let values: Vec<String> = (1..=N).map(|i| format!("({i}, {i})")).collect();
    c.query_drop(format!("INSERT INTO items VALUES {}", values.join(","))).await.unwrap();
    let two = std::fs::read_to_string(s.path("rules.toml")).unwrap();

    // Growing: aborted during the copy, the new node is emptied.
    let cli = s.reshard("three.toml", &["--rate", "2000"]);
    s.wait_for("the copy", |r| r["phase"] == "copy" && r["rows_copied"].parse::<u64>().unwrap() > 500).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardgate")).args(["reshard", "abort", "--config"]).arg(s.path("rules.toml")).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && said.contains("aborted"), "{said}{}", String::from_utf8_lossy(&out.stderr));
    println!("{said}");
    let followed = tokio::time::timeout(Duration::from_secs(30), cli.wait_with_output()).await.unwrap().unwrap();
    assert!(!followed.status.success(), "reshard run reports the abort");
    assert_eq!(s.show().await["phase"], "aborted");
    assert_eq!(std::fs::read_to_string(s.path("rules.toml")).unwrap(), two, "the old rules still in force");
    let on_new: Option<i64> = common::direct(primaries()[2], Some(&s.db)).await.query_first("SELECT COUNT(*) FROM items").await.unwrap();
    assert_eq!(on_new, Some(0), "the copied rows were removed");
    assert_eq!(s.placement(&s.rules(1)).await["items"], N as usize);
    c.query_drop("UPDATE items SET v = v + 1 WHERE id = 7").await.unwrap();
    let v: Option<i64> = c.query_first("SELECT v FROM items WHERE id = 7").await.unwrap();
    assert_eq!(v, Some(8), "the old layout serves reads and writes");

    // Grown for real, then shrinking aborted during the copy: the staging tables on the staying nodes go.
    s.finish(s.reshard("three.toml", &[])).await;
    let cli = s.reshard("two.toml", &["--rate", "1000"]);
    s.wait_for("the copy back", |r| r["phase"] == "copy" && r["rows_copied"].parse::<u64>().unwrap() > 500).await;
    let mut admin = s.conn().await;
    let said: Option<String> = admin.query_first("RESHARD ABORT").await.unwrap();
    assert!(said.unwrap_or_default().contains("aborted"));
    drop(cli);
    assert_eq!(s.placement(&s.rules(2)).await["items"], N as usize, "three nodes serve, no staging table is left");
    let err = admin.query_drop("RESHARD CLEANUP").await.unwrap_err();
    assert!(err.to_string().contains("aborted"), "{err}");
    drop((c, admin));
    s.drop_all().await;
}
