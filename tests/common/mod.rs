//! Shared by the integration tests: find the lab the test command started, start a shardgate server inside
//! the test, and a raw protocol client for checks drivers would hide.
#![allow(dead_code)]

pub mod checker;
pub mod raw;
pub mod sysbench;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use shardgate::server::Server;
use shardgate::stats::Stats;

/// Base port of the test lab (`LAB_PORT` as given to tests/lab/lab.sh by tests/run.sh).
pub fn lab_port() -> u16 {
    std::env::var("LAB_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(23310)
}

/// Port of ds0's primary, ds1's primary, and the reference instance.
pub fn ds0_port() -> u16 {
    lab_port()
}
/// ds1's primary.
pub fn ds1_port() -> u16 {
    lab_port() + 2
}

/// A fresh decision-log path for one test server.
pub fn xa_log_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.xa.log", unique("xa")))
}

/// Fails (never skips) when the lab is not running: these tests exist to talk to real MariaDB.
pub fn require_lab() {
    for port in [ds0_port(), ds1_port()] {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            panic!(
                "the test lab is not running (nothing on 127.0.0.1:{port}). Run the test command `tests/run.sh`, \
                 or start the lab with `LAB_DIR=target/test-lab LAB_PORT={} tests/lab/lab.sh up`",
                lab_port()
            );
        }
    }
}

/// Rules for a test server: app/app, ds_0 and ds_1 on the lab's primaries, schemas demo and sbtest on ds_0,
/// plus whatever `extra` adds.
pub fn rules_text(extra: &str) -> String {
    format!(
        r#"
# Each test server its own XA decision log (and so its own XA id prefix).
xa_log = "{}"

[server]
listen = "127.0.0.1:0"

[[users]]
name = "app"
password = "app"
admin = true

[data_sources.ds_0]
primary = "127.0.0.1:{}"
user = "app"
password = "app"

[data_sources.ds_1]
primary = "127.0.0.1:{}"
user = "app"
password = "app"

[schemas.demo]
data_source = "ds_0"

[schemas.sbtest]
data_source = "ds_0"
{extra}
"#,
        xa_log_path().display(),
        ds0_port(),
        ds1_port()
    )
}

/// A shardgate server running on the current tokio runtime, on a free port.
pub struct Proxy {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Its counters.
    pub stats: Arc<Stats>,
}

/// Starts a server with [`rules_text`]`(extra)`.
pub async fn start_proxy(extra: &str) -> Proxy {
    start_proxy_with(|t| format!("{t}{extra}")).await
}

/// Starts a server with the standard rules text changed by `edit`.
pub async fn start_proxy_with(edit: impl FnOnce(String) -> String) -> Proxy {
    require_lab();
    let text = edit(rules_text(""));
    let rules = shardgate::config::parse(&text, Path::new("test.toml")).expect("test rules are valid");
    let server = Server::bind(rules).await.expect("bind");
    let proxy = Proxy { addr: server.local_addr(), stats: server.stats() };
    tokio::spawn(server.serve());
    proxy
}

/// mysql_async options for `user`/`password` on `db` through the proxy (TCP only: mysql_async would
/// otherwise switch to the backend's unix socket, ARCHITECTURE.md, Measurements).
pub fn opts(proxy: &Proxy, user: &str, password: &str, db: Option<&str>) -> mysql_async::Opts {
    opts_at(proxy.addr.port(), user, password, db)
}

/// mysql_async options for a shardgate process of the test's own on 127.0.0.1:`port`.
pub fn opts_at(port: u16, user: &str, password: &str, db: Option<&str>) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .db_name(db)
        .prefer_socket(false)
        .into()
}

/// A direct connection to a lab backend (bypassing the proxy), to check what really landed there.
pub async fn direct(port: u16, db: Option<&str>) -> mysql_async::Conn {
    let opts: mysql_async::Opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("app"))
        .pass(Some("app"))
        .db_name(db)
        .prefer_socket(false)
        .into();
    mysql_async::Conn::new(opts).await.expect("direct connection to the lab")
}

/// A table name unique to this test process and call, so tests running in parallel never collide.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!("{prefix}_{}_{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Starts the lab's third shard (ds_2: a primary and its replica) if it is not up; returns its primary's port.
pub fn shard3_up() -> u16 {
    let dir = std::env::var("LAB_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-lab").to_string());
    let status = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/lab.sh"))
        .arg("shard3-up")
        .env("LAB_DIR", dir)
        .env("LAB_PORT", lab_port().to_string())
        .status()
        .expect("run tests/lab/lab.sh shard3-up");
    assert!(status.success(), "lab.sh shard3-up failed");
    lab_port() + 6
}

/// Primary ports of ds_0, ds_1 and (once [`shard3_up`]) ds_2.
pub fn three_primaries() -> [u16; 3] {
    [ds0_port(), ds1_port(), lab_port() + 6]
}

/// Creates database `db` afresh on every primary in `ports` (their replicas follow).
pub async fn fresh_database(ports: &[u16], db: &str) {
    use mysql_async::prelude::Queryable;
    for &port in ports {
        let mut c = direct(port, None).await;
        c.query_drop(format!("DROP DATABASE IF EXISTS {db}")).await.unwrap();
        c.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
    }
}

/// Pipes `dump` (SQL text) into the mariadb CLI on 127.0.0.1:`port` (a proxy), database `db`, as app/app;
/// panics with the CLI's message if it fails.
pub fn restore(port: &str, db: &str, dump: &[u8]) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut restore = Command::new("mariadb")
        .args(["--no-defaults", "-h127.0.0.1", "-P", port, "-uapp", "-papp", db])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the mariadb CLI");
    restore.stdin.take().expect("stdin").write_all(dump).expect("write the dump");
    let out = restore.wait_with_output().expect("the mariadb CLI");
    assert!(out.status.success(), "restore: {}", String::from_utf8_lossy(&out.stderr));
}

/// The test lab's directory (`LAB_DIR`, or target/test-lab).
#[allow(dead_code)]
pub fn lab_dir() -> std::path::PathBuf {
    std::env::var("LAB_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-lab"))
}

/// Starts whatever lab server is down (`lab.sh up`, e.g. after a test killed one) and checks that ds_1's
/// primary answers.
#[allow(dead_code)]
pub fn lab_up() {
    let ok = std::process::Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh"))
        .arg("up")
        .env("LAB_DIR", lab_dir())
        .env("LAB_PORT", lab_port().to_string())
        .status()
        .expect("bash runs lab.sh")
        .success();
    assert!(ok, "lab.sh up starts the lab's stopped servers");
    assert!(std::net::TcpStream::connect(("127.0.0.1", ds1_port())).is_ok(), "ds_1's primary answers after lab.sh up");
}
