//! A fleet of three shardgate processes on the lab's three-member etcd: pushed rules reach all of them within
//! 2 s while clients keep working, invalid revisions are refused everywhere, one etcd member down changes
//! nothing, all of etcd down leaves them serving (a restarted one from its cache), concurrent pushes have one
//! winner, and two instances' sequence ids never collide. One test: it stops and starts etcd members, which
//! would disturb any test running beside it.

mod common;

use std::collections::HashSet;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{rules_text, unique};
use mysql_async::prelude::*;

fn endpoints() -> String {
    let base = common::lab_port() + 20;
    (0..3).map(|i| format!("127.0.0.1:{}", base + i)).collect::<Vec<_>>().join(",")
}

fn lab(args: &[&str]) {
    let status = Command::new("tests/lab/lab.sh").args(args).status().expect("tests/lab/lab.sh");
    assert!(status.success(), "lab.sh {args:?} failed");
}

/// Runs `shardgate <args>`; returns (exit ok, stdout, stderr).
fn cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shardgate")).args(args).output().expect("shardgate binary");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

struct Fleet {
    prefix: String,
    dir: std::path::PathBuf,
}

impl Fleet {
    fn rules(&self, op: &[&str]) -> (bool, String, String) {
        let e = endpoints();
        let mut args = vec!["rules", "--etcd", e.as_str(), "--prefix", self.prefix.as_str()];
        args.extend_from_slice(op);
        cli(&args)
    }

    /// `rules get`, edited by `edit`, pushed; returns the new revision.
    fn change(&self, edit: impl FnOnce(String) -> String) -> i64 {
        let (ok, doc, err) = self.rules(&["get"]);
        assert!(ok, "rules get: {err}");
        let file = self.dir.join(format!("{}.toml", unique("edit")));
        std::fs::write(&file, edit(doc)).unwrap();
        let (ok, out, err) = self.rules(&["push", file.to_str().unwrap()]);
        assert!(ok, "push: {out} {err}");
        out.rsplit(' ').next().unwrap().trim().parse().expect("pushed revision")
    }
}

struct Instance {
    name: String,
    port: u16,
    boot: std::path::PathBuf,
    child: Option<Child>,
    /// SHARDGATE_TEST_FAULT for the process (src/execute/xa.rs).
    fault: Option<String>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Instance {
    fn new(fleet: &Fleet, name: &str) -> Instance {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let boot = fleet.dir.join(format!("{name}.toml"));
        let etcd: Vec<String> = endpoints().split(',').map(|e| format!("\"{e}\"")).collect();
        std::fs::write(
            &boot,
            format!(
                "etcd = [{}]\nprefix = \"{}\"\ninstance = \"{name}\"\nlease_ttl_s = 2\nlisten = \"127.0.0.1:{port}\"\nxa_log = \"{name}.xa.log\"\n",
                etcd.join(", "),
                fleet.prefix
            ),
        )
        .unwrap();
        Instance { name: name.into(), port, boot, child: None, fault: None }
    }

    async fn start(&mut self) {
        let log = std::fs::File::create(self.boot.with_extension("log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardgate"));
        if let Some(f) = &self.fault {
            cmd.env("SHARDGATE_TEST_FAULT", f);
        }
        let child = cmd
            .args(["serve", "--fleet"])
            .arg(&self.boot)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap()) // tracing writes to stdout
            .stderr(log)
            .spawn()
            .expect("shardgate binary");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(15), "{} did not listen: {}", self.name, self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.boot.with_extension("log")).unwrap_or_default()
    }

    fn opts(&self) -> mysql_async::Opts {
        common::opts_at(self.port, "app", "app", Some("demo"))
    }

    /// The `detail` column of SHOW SHARDGATE RULES, joined.
    async fn rules_view(&self) -> String {
        let Ok(mut c) = mysql_async::Conn::new(self.opts()).await else { return String::new() };
        let rows: Vec<(String, String, String)> = c.query("SHOW SHARDGATE RULES").await.unwrap_or_default();
        let _ = c.disconnect().await;
        rows.into_iter().map(|(k, n, d)| format!("{k} {n} {d}\n")).collect()
    }
}

/// Waits until every instance's rules view contains `needle`; returns how long the slowest took.
async fn until_all(instances: &[Instance], needle: &str, since: Instant) -> Duration {
    let mut slowest = Duration::ZERO;
    for i in instances {
        loop {
            if i.rules_view().await.contains(needle) {
                slowest = slowest.max(since.elapsed());
                break;
            }
            assert!(since.elapsed() < Duration::from_secs(20), "{} never applied '{needle}':\n{}", i.name, i.log());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    slowest
}

/// A client per instance that writes and reads its own rows until stopped, recording any error.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(instances: &[Instance], table: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let tasks = instances
            .iter()
            .enumerate()
            .map(|(n, i)| {
                let (opts, stop, ok, errors, table) = (i.opts(), stop.clone(), ok.clone(), errors.clone(), table.to_string());
                tokio::spawn(async move {
                    let mut k: u64 = 0;
                    let mut conn: Option<mysql_async::Conn> = None;
                    while !stop.load(Ordering::Relaxed) {
                        // Reconnecting is the client's business only when its instance was killed on purpose.
                        if conn.is_none() {
                            match mysql_async::Conn::new(opts.clone()).await {
                                Ok(c) => conn = Some(c),
                                Err(e) => {
                                    errors.lock().unwrap().push(format!("{n} connect: {e}"));
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                    continue;
                                }
                            }
                        }
                        let c = conn.as_mut().unwrap();
                        let id = (n as u64) * 1_000_000_000 + k;
                        k += 1;
                        let r = async {
                            c.exec_drop(format!("INSERT INTO {table} (id, v) VALUES (?, ?)"), (id, k)).await?;
                            let v: Option<u64> = c.exec_first(format!("SELECT v FROM {table} WHERE id = ?"), (id,)).await?;
                            assert_eq!(v, Some(k), "row {id} read back");
                            let _: Option<u64> = c.query_first(format!("SELECT COUNT(*) FROM {table}")).await?;
                            Ok::<(), mysql_async::Error>(())
                        }
                        .await;
                        match r {
                            Ok(()) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                errors.lock().unwrap().push(format!("{n} {e}"));
                                conn = None;
                            }
                        }
                    }
                })
            })
            .collect();
        Load { stop, ok, errors, tasks }
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        self.ok.load(Ordering::Relaxed)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_follows_etcd_through_changes_and_outages() {
    common::require_lab();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique("fleet"));
    std::fs::create_dir_all(&dir).unwrap();
    let fleet = Fleet { prefix: format!("/shardgate-test/{}", unique("f")), dir: dir.clone() };
    let (t, seq) = (unique("ft"), unique("fs"));
    for ds in [common::ds0_port(), common::ds1_port()] {
        let mut c = common::direct(ds, Some("demo")).await;
        c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, v BIGINT)")).await.unwrap();
        c.query_drop(format!("CREATE TABLE {seq} (id BIGINT PRIMARY KEY, who VARCHAR(8))")).await.unwrap();
    }

    // The first push must say it creates the document (--revision 0); an unvalidated file is refused.
    let first = dir.join("rules.toml");
    std::fs::write(
        &first,
        rules_text(&format!(
            "\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\n\
             \n[schemas.demo.tables.{seq}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{seq}\"\nkey_generator = \"sequence\"\n"
        )),
    )
    .unwrap();
    let (ok, _, err) = fleet.rules(&["push", first.to_str().unwrap()]);
    assert!(!ok && err.contains("say which revision you edited"), "{err}");
    let (ok, out, err) = fleet.rules(&["push", first.to_str().unwrap(), "--revision", "0"]);
    assert!(ok, "{out} {err}");

    let mut instances: Vec<Instance> = ["sg-a", "sg-b", "sg-c"].iter().map(|n| Instance::new(&fleet, n)).collect();
    for i in &mut instances {
        i.start().await;
    }
    let load = Load::start(&instances, &t);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 1. A replica added: all three apply it within 2 s.
    let replica = format!("127.0.0.1:{}", common::lab_port() + 1);
    let pushed = Instant::now();
    let rev_a = fleet.change(|d| d.replace("password = \"app\"\n\n[data_sources.ds_1]", &format!("password = \"app\"\nreplicas = [{{ address = \"{replica}\" }}]\n\n[data_sources.ds_1]")));
    let took = until_all(&instances, &format!("replicas [{replica} (weight 1)]"), pushed).await;
    println!("fleet: a replica added (revision {rev_a}) was applied by all three in {took:?}");
    assert!(took < Duration::from_secs(2), "applied in {took:?}");

    // 2. A table's rule changed (a new sharded table): the same.
    let pushed = Instant::now();
    let rev_b = fleet.change(|d| format!("{d}\n[schemas.demo.tables.extra_{t}]\nsharding_column = \"k\"\nactual_nodes = \"ds_${{0..1}}.extra\"\n"));
    let took = until_all(&instances, &format!("demo.extra_{t}"), pushed).await;
    println!("fleet: a table rule (revision {rev_b}) was applied by all three in {took:?}");
    assert!(took < Duration::from_secs(2), "applied in {took:?}");

    // 3. An invalid document: refused by push; written straight into etcd, refused by every instance.
    let bad = dir.join("bad.toml");
    let (_, doc, _) = fleet.rules(&["get"]);
    std::fs::write(&bad, doc.replace("data_source = \"ds_0\"", "data_source = \"ds_9\"")).unwrap();
    let (ok, _, err) = fleet.rules(&["push", bad.to_str().unwrap()]);
    assert!(!ok && err.contains("unknown data source 'ds_9'") && err.contains("nothing was written"), "{err}");
    let mut etcd = etcd_client::Client::connect(endpoints().split(',').collect::<Vec<_>>(), None).await.unwrap();
    let bad_rev = etcd
        .put(format!("{}/rules", fleet.prefix), shardgate::fleet::rules_store::strip_header(&std::fs::read_to_string(&bad).unwrap()), None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    let start = Instant::now();
    loop {
        let mut c = mysql_async::Conn::new(instances[0].opts()).await.unwrap();
        let rows: Vec<(String, String, String, String, String, String)> = c.query("SHOW SHARDGATE PROXIES").await.unwrap();
        let refused = rows.iter().filter(|r| r.4.contains(&format!("refused revision {bad_rev}")) && r.3 == rev_b.to_string()).count();
        if refused == 3 {
            assert!(rows.iter().all(|r| r.4.contains("BEHIND")), "{rows:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "not refused by all three: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ok, status, _) = cli(&["fleet", "--etcd", &endpoints(), "--prefix", &fleet.prefix, "status"]);
    assert!(!ok && status.matches("BEHIND").count() == 3, "fleet status flags them: {status}");
    for i in &instances {
        assert!(i.rules_view().await.contains(&format!("demo.extra_{t}")), "{} still serves revision {rev_b}", i.name);
    }
    // A good push on top of the bad one (based on it) repairs the fleet.
    let rev_c = fleet.change(|d| format!("{}\n{}", d.lines().next().unwrap(), std::fs::read_to_string(&first).unwrap()));
    until_all(&instances, &format!("demo.{seq}"), Instant::now()).await;

    // 4. One etcd member down: pushes and watches still work.
    lab(&["etcd-down", "0"]);
    let pushed = Instant::now();
    let rev_d = fleet.change(|d| format!("{d}\n[schemas.demo.tables.d_{t}]\nsharding_column = \"k\"\nactual_nodes = \"ds_${{0..1}}.d\"\n"));
    let took = until_all(&instances, &format!("demo.d_{t}"), pushed).await;
    println!("fleet: with one etcd member down, revision {rev_d} was applied by all three in {took:?}");
    assert!(took < Duration::from_secs(2), "applied in {took:?}");
    lab(&["etcd-up", "0"]);

    // 5. All of etcd down: the instances keep serving; one restarted meanwhile starts from its cache.
    lab(&["etcd-down"]);
    let before = load.ok.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(load.ok.load(Ordering::Relaxed) > before + 10, "clients kept working while etcd was down");
    instances[2].kill();
    instances[2].start().await;
    assert!(instances[2].log().contains("starting from the cached rules"), "{}", instances[2].log());
    assert!(instances[2].rules_view().await.contains(&format!("demo.d_{t}")), "the cache held revision {rev_d}");
    lab(&["etcd-up"]);
    let pushed = Instant::now();
    let rev_e = fleet.change(|d| format!("{d}\n[schemas.demo.tables.e_{t}]\nsharding_column = \"k\"\nactual_nodes = \"ds_${{0..1}}.e\"\n"));
    let took = until_all(&instances, &format!("demo.e_{t}"), pushed).await;
    println!("fleet: after etcd returned, revision {rev_e} was applied by all three in {took:?}");
    assert!(took < Duration::from_secs(2), "applied in {took:?}");
    let start = Instant::now();
    loop {
        let (ok, status, _) = cli(&["fleet", "--etcd", &endpoints(), "--prefix", &fleet.prefix, "status"]);
        if ok && status.lines().filter(|l| l.contains("\tcurrent")).count() == 3 && !status.contains("cache") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "fleet not current again: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 6. Two concurrent pushes based on the same revision: one wins, the other is told it lost.
    let (_, doc, _) = fleet.rules(&["get"]);
    let files: Vec<String> = (0..2)
        .map(|n| {
            let f = dir.join(format!("race{n}.toml"));
            std::fs::write(&f, format!("{doc}\n# race {n}\n")).unwrap();
            f.to_str().unwrap().to_string()
        })
        .collect();
    let e = endpoints();
    let racers: Vec<_> = files
        .iter()
        .map(|f| {
            let (e, p, f) = (e.clone(), fleet.prefix.clone(), f.clone());
            std::thread::spawn(move || cli(&["rules", "--etcd", &e, "--prefix", &p, "push", &f]))
        })
        .collect();
    let results: Vec<(bool, String, String)> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.0).count(), 1, "one winner: {results:?}");
    assert!(results.iter().any(|r| !r.0 && r.2.contains("push refused: the rules changed since revision")), "{results:?}");

    // 7. History and rollback: back to revision c's document, applied everywhere.
    let (ok, hist, err) = fleet.rules(&["history", "-n", "20"]);
    assert!(ok, "{err}");
    for rev in [rev_a, rev_b, bad_rev, rev_c, rev_d, rev_e] {
        assert!(hist.lines().any(|l| l.starts_with(&format!("{rev}\t"))), "history lacks {rev}:\n{hist}");
    }
    let (ok, out, err) = fleet.rules(&["rollback", &rev_c.to_string()]);
    assert!(ok, "{out} {err}");
    let start = Instant::now();
    for i in &instances {
        while i.rules_view().await.contains(&format!("demo.d_{t}")) {
            assert!(start.elapsed() < Duration::from_secs(5), "{} did not roll back", i.name);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // 8. Two instances insert through a sequence-generated key at once: no id twice.
    let inserters: Vec<_> = instances[..2]
        .iter()
        .map(|i| {
            let (opts, seq, who) = (i.opts(), seq.clone(), i.name.clone());
            tokio::spawn(async move {
                let mut c = mysql_async::Conn::new(opts).await.unwrap();
                for _ in 0..300 {
                    c.exec_drop(format!("INSERT INTO {seq} (who) VALUES (?)"), (who.clone(),)).await.unwrap();
                }
            })
        })
        .collect();
    for h in inserters {
        h.await.unwrap();
    }
    let mut ids = Vec::new();
    for ds in [common::ds0_port(), common::ds1_port()] {
        let mut c = common::direct(ds, Some("demo")).await;
        ids.extend(c.query::<i64, _>(format!("SELECT id FROM {seq}")).await.unwrap());
    }
    assert_eq!(ids.len(), 600);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 600, "duplicate sequence ids across instances");

    // 9. Instances dying inside two-phase commits: sg-x after its commit decision (SIGKILL while paused
    //    there), sg-y after PREPARE without one. A peer resolves each after its lease expires: sg-x's
    //    transfer commits, sg-y's rolls back; XA RECOVER ends empty and the money adds up.
    let bank = unique("bank");
    fleet.change(|d| format!("{d}\n[schemas.demo.tables.{bank}]\nsharding_column = \"id\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_${{0..1}}.{bank}\"\n"));
    for ds in [common::ds0_port(), common::ds1_port()] {
        let mut c = common::direct(ds, Some("demo")).await;
        c.query_drop(format!("CREATE TABLE {bank} (id INT PRIMARY KEY, bal INT NOT NULL)")).await.unwrap();
    }
    until_all(&instances, &format!("demo.{bank}"), Instant::now()).await;
    let mut c = mysql_async::Conn::new(instances[0].opts()).await.unwrap();
    c.query_drop(format!("INSERT INTO {bank} (id, bal) VALUES (0, 100), (1, 100), (2, 100), (3, 100)")).await.unwrap();
    let mut dying = Vec::new();
    for (name, fault, from, to) in [("sg-x", "pause_after_decision_ms=60000", 0, 1), ("sg-y", "exit_after_prepare", 3, 2)] {
        let mut i = Instance::new(&fleet, name);
        i.fault = Some(fault.into());
        i.start().await;
        until_all(std::slice::from_ref(&i), &format!("demo.{bank}"), Instant::now()).await;
        let (opts, bank) = (i.opts(), bank.clone());
        tokio::spawn(async move {
            let mut c = mysql_async::Conn::new(opts).await.unwrap();
            c.query_drop("BEGIN").await.unwrap();
            c.query_drop(format!("UPDATE {bank} SET bal = bal - 10 WHERE id = {from}")).await.unwrap();
            c.query_drop(format!("UPDATE {bank} SET bal = bal + 10 WHERE id = {to}")).await.unwrap();
            let _ = c.query_drop("COMMIT").await; // never answered: the instance dies in it
        });
        dying.push(i);
    }
    let mut probe = common::direct(common::ds0_port(), None).await;
    let start = Instant::now();
    loop {
        let xids: Vec<(i64, i64, i64, String)> = probe.query("XA RECOVER").await.unwrap();
        let gtrid = |p: &str| xids.iter().any(|x| x.3.starts_with(p));
        if gtrid("sg-sg_x-") && gtrid("sg-sg_y-") && dying[1].child.as_mut().unwrap().try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            // What the two instances said, for whoever reads a failure here (it was seen once in CI, right
            // after the whole etcd cluster had restarted, and not reproduced).
            let logs: Vec<String> = dying.iter().map(|i| format!("--- {}:\n{}", i.name, i.log())).collect();
            panic!("both transfers prepared within 20 s: {xids:?}\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // sg-x is asleep after writing its decision
    dying[0].kill();
    let killed = Instant::now();
    loop {
        let mut left = 0;
        for ds in [common::ds0_port(), common::ds1_port()] {
            let mut p = common::direct(ds, None).await;
            left += p.query::<(i64, i64, i64, String), _>("XA RECOVER").await.unwrap().len();
        }
        if left == 0 {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(20), "{left} branches still prepared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("fleet: a peer resolved the dead instances' prepared branches {:?} after the SIGKILL", killed.elapsed());
    let bal: Vec<(i32, i32)> = c.query(format!("SELECT id, bal FROM {bank} ORDER BY id")).await.unwrap();
    assert_eq!(bal, vec![(0, 90), (1, 110), (2, 100), (3, 100)], "sg-x's decided transfer committed, sg-y's rolled back");
    for (name, outcome) in [("sg-x", "committed=2 rolled_back=0"), ("sg-y", "committed=0 rolled_back=2")] {
        let resolvers: Vec<&str> = instances
            .iter()
            .filter(|i| i.log().contains(&format!("instance={name} {outcome}")))
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(resolvers.len(), 1, "exactly one peer resolved {name}: {resolvers:?}");
    }

    let errors = load.errors();
    let done = load.finish().await;
    // Only the client of the instance killed on purpose (number 2) may have failed, while it was down.
    let unexpected: Vec<&String> = errors.iter().filter(|e| !e.starts_with("2 ")).collect();
    assert!(unexpected.is_empty(), "client errors: {errors:?}");
    assert!(done > 100, "clients did work: {done}");
    println!("fleet: {done} client round trips, errors only from the killed instance: {errors:?}");
    for ds in [common::ds0_port(), common::ds1_port()] {
        let mut c = common::direct(ds, Some("demo")).await;
        c.query_drop(format!("DROP TABLE {t}, {seq}")).await.unwrap();
    }
}
