//! A fleet of two shardgate processes reshards from two shards to three through etcd while a checker
//! writes through each: the job runs on one instance, both hold their gates at the cut-over and switch to
//! the new rules revision, and afterwards every acknowledged write is there once and every row is on the
//! node the new rules say.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::checker::{check_acknowledged, checker};
use mysql_async::prelude::Queryable;
use shardgate::sharding::key::Literal;

fn endpoints() -> Vec<String> {
    let base = common::lab_port() + 20;
    (0..3).map(|i| format!("127.0.0.1:{}", base + i)).collect()
}

fn primaries() -> [u16; 3] {
    common::three_primaries()
}

fn rules(db: &str, last: u8) -> String {
    let lab = common::lab_port();
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[[users]]\nname = \"app\"\npassword = \"app\"\nadmin = true\n\n[schemas.{db}]\ndata_source = \"ds_0\"\n"
    );
    for (i, p) in [lab, lab + 2, lab + 6].into_iter().enumerate() {
        text += &format!("\n[data_sources.ds_{i}]\nprimary = \"127.0.0.1:{p}\"\nuser = \"app\"\npassword = \"app\"\n");
    }
    for t in ["items", "checker"] {
        text += &format!("\n[schemas.{db}.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..{last}}}.{t}\"\n");
    }
    text
}

struct Instance {
    port: u16,
    boot: PathBuf,
    child: Child,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    fn start(dir: &Path, prefix: &str, name: &str) -> Instance {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let boot = dir.join(format!("{name}.toml"));
        let etcd: Vec<String> = endpoints().iter().map(|e| format!("\"{e}\"")).collect();
        std::fs::write(
            &boot,
            format!("etcd = [{}]\nprefix = \"{prefix}\"\ninstance = \"{name}\"\nlease_ttl_s = 2\nlisten = \"127.0.0.1:{port}\"\nxa_log = \"{name}.xa.log\"\n", etcd.join(", ")),
        )
        .unwrap();
        let child = Self::spawn(&boot, port);
        Instance { port, boot, child }
    }

    fn spawn(boot: &Path, port: u16) -> Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(boot.with_extension("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_shardgate"))
            .args(["serve", "--fleet"])
            .arg(boot)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("shardgate binary");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(15), "{} did not listen", boot.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// SIGKILL, then the same instance started again.
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(&self.boot, self.port);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.boot.with_extension("log")).unwrap_or_default()
    }

    fn opts(&self, db: &str) -> mysql_async::Opts {
        common::opts_at(self.port, "app", "app", Some(db))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_two_reshards_through_etcd_and_both_switch_at_the_cut_over() {
    common::require_lab();
    common::shard3_up();
    let db = common::unique("rfleet");
    common::fresh_database(&primaries(), &db).await;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&db);
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = format!("/shardgate-test/{db}");
    std::fs::write(dir.join("two.toml"), rules(&db, 1)).unwrap();
    std::fs::write(dir.join("three.toml"), rules(&db, 2)).unwrap();
    let e = endpoints().join(",");
    let pushed = Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .args(["rules", "--etcd", &e, "--prefix", &prefix, "push"])
        .arg(dir.join("two.toml"))
        .args(["--revision", "0"])
        .output()
        .unwrap();
    assert!(pushed.status.success(), "{}", String::from_utf8_lossy(&pushed.stderr));

    let (mut a, b) = (Instance::start(&dir, &prefix, "ra"), Instance::start(&dir, &prefix, "rb"));
    let mut c = mysql_async::Conn::new(a.opts(&db)).await.unwrap();
    c.query_drop("CREATE TABLE items (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)").await.unwrap();
    c.query_drop("CREATE TABLE checker (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)").await.unwrap();
    const N: i64 = 6000;
    let values: Vec<String> = (1..=N).map(|i| format!("({i}, {i})")).collect();
    c.query_drop(format!("INSERT INTO items VALUES {}", values.join(","))).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let via_a = tokio::spawn(checker(a.opts(&db), 1, stop.clone()));
    let via_b = tokio::spawn(checker(b.opts(&db), 1_000_000_000, stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let target = dir.join("three.toml");
    let said: Option<String> = c.query_first(format!("RESHARD RUN '{}' RATE 1000", target.display())).await.unwrap();
    println!("{}", said.unwrap_or_default());
    // The other instance does not start a second job: it names the runner.
    let mut cb = mysql_async::Conn::new(b.opts(&db)).await.unwrap();
    let err = cb.query_drop(format!("RESHARD RUN '{}'", target.display())).await.unwrap_err();
    assert!(err.to_string().contains("runs on instance ra"), "{err}");

    // The runner is killed during the copy and started again: once its lease is gone, an instance resumes
    // the job from etcd.
    loop {
        let row: mysql_async::Row = c.query_first("SHOW SHARDGATE RESHARD").await.unwrap().expect("the runner shows the job");
        if row.get::<Option<String>, _>("rows_scanned").flatten().and_then(|r| r.parse::<u64>().ok()).unwrap_or(0) >= 1500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.restart();
    drop(c);
    let started = Instant::now();
    let shown = 'done: loop {
        for (name, i) in [("ra", &a), ("rb", &b)] {
            let Ok(mut conn) = mysql_async::Conn::new(i.opts(&db)).await else { continue };
            let Ok(Some(row)) = conn.query_first::<mysql_async::Row, _>("SHOW SHARDGATE RESHARD").await else { continue };
            let get = |n: &str| row.get::<Option<String>, _>(n).flatten().unwrap_or_default();
            assert!(get("error").is_empty(), "the reshard stopped on {name}: {}\n{}", get("error"), i.log());
            if get("phase") == "done" && get("resumed") == "1" {
                println!("resumed and finished by {name}");
                break 'done (get("pause_ms"), get("moved_share"));
            }
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the fleet's reshard did not finish:\n{}\n{}", a.log(), b.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut c = mysql_async::Conn::new(a.opts(&db)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let (ca, cb_checked) = (via_a.await.unwrap(), via_b.await.unwrap());
    assert_eq!(cb_checked.errors, 0, "writes through the instance that lived failed");
    for (name, i) in [("ra", &a), ("rb", &b)] {
        let log = i.log();
        assert!(log.contains("reshard: holding for the cut-over"), "{name} never held its gate:\n{log}");
    }
    println!("fleet reshard: cut-over pause {} ms, moved share {}", shown.0, shown.1);
    let pause: u64 = shown.0.parse().unwrap();
    assert!(pause < 2000, "the fleet's cut-over paused writes {pause} ms");

    // Both instances run the new rules revision.
    let mut view: Vec<(String, String, String, String, String, String)> = cb.query("SHOW SHARDGATE PROXIES").await.unwrap();
    view.sort();
    assert_eq!(view.len(), 2, "{view:?}");
    assert_eq!(view[0].3, view[1].3, "both on one revision: {view:?}");
    for conn in [&mut c, &mut cb] {
        let rules: Vec<(String, String, String)> = conn.query("SHOW SHARDGATE RULES").await.unwrap();
        let items = rules.iter().find(|r| r.1 == format!("{db}.items")).expect("items rule");
        assert!(items.2.contains("ds_${0..2}"), "{items:?}");
    }
    // Every row where the new rules say; every acknowledged write there once.
    let parsed = shardgate::config::parse(&rules(&db, 2), "r.toml".as_ref()).unwrap();
    let layouts = shardgate::sharding::table::build(&parsed).unwrap();
    let mut total = 0;
    for t in ["items", "checker"] {
        let table = &layouts[&db].tables[t];
        let mut seen = std::collections::BTreeSet::new();
        for (ds, port) in primaries().into_iter().enumerate() {
            let ids: Vec<i64> = common::direct(port, Some(&db)).await.query(format!("SELECT id FROM {t}")).await.unwrap();
            for id in ids {
                let owner = table.node_for(&Literal::Int(id.into())).unwrap();
                assert_eq!(table.nodes[owner].data_source, format!("ds_{ds}"), "{t} id {id} on ds_{ds}");
                assert!(seen.insert(id), "{t} id {id} twice");
            }
        }
        if t == "items" {
            total = seen.len();
        }
    }
    assert_eq!(total, N as usize);
    check_acknowledged(&primaries(), &db, &ca).await;
    check_acknowledged(&primaries(), &db, &cb_checked).await;

    drop((c, cb));
    drop((a, b));
    for port in primaries() {
        common::direct(port, None).await.query_drop(format!("DROP DATABASE IF EXISTS {db}")).await.unwrap();
    }
    let mut etcd = etcd_client::Client::connect(endpoints(), None).await.unwrap();
    etcd.delete(prefix, Some(etcd_client::DeleteOptions::new().with_prefix())).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
