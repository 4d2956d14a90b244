//! TLS from clients: the mariadb CLI (`--ssl`) and PyMySQL start TLS through shardgate's SSLRequest
//! handling (rustls), run statements over sharded tables, and a plain connection is refused when
//! require_secure_transport is on.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{opts, start_proxy_with};

/// A self-signed certificate and key for 127.0.0.1 (openssl, made once per test process).
fn certificate() -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{}", std::process::id()));
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if !cert.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl")
            .status
            .success();
        assert!(ok, "openssl made a certificate");
    }
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_and_pymysql_over_tls_and_plain_refused_when_required() {
    let (cert, key) = certificate();
    let table = common::unique("tls");
    let settings = format!("tls_cert = \"{}\"\ntls_key = \"{}\"\nrequire_secure_transport = true\n", cert.display(), key.display());
    let p = start_proxy_with(|t| {
        t.replacen("listen = \"127.0.0.1:0\"\n", &format!("listen = \"127.0.0.1:0\"\n{settings}"), 1)
            + &format!("\n[schemas.demo.tables.{table}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{table}\"\nalgorithm = \"mod\"\n")
    })
    .await;
    let port = p.addr.port().to_string();
    let cli = |args: &[&str]| {
        // The in-process proxy runs on this runtime: a client blocking a worker in place would hold up
        // the session tasks queued on it (block_in_place hands them to another worker first).
        tokio::task::block_in_place(|| Command::new("mariadb").args(["--no-defaults", "-h127.0.0.1", "-P", &port, "-uapp", "-papp", "demo"]).args(args).output().unwrap())
    };
    let script = format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO {table} (id, v) VALUES (1, 'a'), (2, 'b'); \
         SELECT COUNT(*) FROM {table}; \\s"
    );
    let out = cli(&["--ssl", "-e", &script]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Cipher in use is"), "the CLI's session is encrypted: {text}");
    assert!(text.lines().any(|l| l.trim() == "2"), "{text}");

    let py = format!(
        "import pymysql\nc = pymysql.connect(host='127.0.0.1', port={port}, user='app', password='app', database='demo', \
         ssl_ca='{}', ssl_verify_identity=False)\ncur = c.cursor()\ncur.execute('SELECT v FROM {table} WHERE id = %s', (2,))\n\
         print(cur.fetchone()[0], c._sock.version())",
        cert.display()
    );
    let out = tokio::task::block_in_place(|| Command::new("python3").args(["-c", &py]).output().unwrap());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("b TLSv1."), "PyMySQL read over TLS: {text}");

    // Without TLS: refused with 3159.
    let out = cli(&["--skip-ssl", "-e", "SELECT 1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("3159"), "{}", String::from_utf8_lossy(&out.stderr));
    let err = mysql_async::Conn::new(opts(&p, "app", "app", Some("demo"))).await.map(|_| ()).unwrap_err();
    assert!(matches!(&err, mysql_async::Error::Server(e) if e.code == 3159), "{err:?}");
    let out = cli(&["--ssl", "-e", &format!("DROP TABLE {table}")]);
    assert!(out.status.success());
}

/// The lab's CA (tests/lab/lab.sh makes it and serves TLS on every instance with a certificate it signed).
fn lab_ca() -> PathBuf {
    let dir = std::env::var("LAB_DIR").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-lab"));
    let ca = dir.join("tls/ca.pem");
    assert!(ca.exists(), "the lab's CA at {} (set LAB_DIR to the lab's directory)", ca.display());
    ca
}

/// Rules whose ds_0 is reached with `tls` settings.
fn with_backend_tls(text: String, tls: &str) -> String {
    let edited = text.replacen("password = \"app\"\n\n[data_sources.ds_1]", &format!("password = \"app\"\n{tls}\n\n[data_sources.ds_1]"), 1);
    assert_ne!(edited, text, "ds_0 got the TLS settings");
    edited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_over_tls_with_each_verification_mode() {
    use mysql_async::prelude::*;
    let ca = lab_ca();
    // verify_identity: the lab's certificate names 127.0.0.1 and the lab's CA signed it.
    for mode in ["required", "verify_ca", "verify_identity"] {
        let tls = format!("tls_mode = \"{mode}\"\ntls_ca = \"{}\"", ca.display());
        let p = start_proxy_with(|t| with_backend_tls(t, &tls)).await;
        let mut c = mysql_async::Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
        let cipher: Option<(String, String)> = c.query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'").await.unwrap();
        let cipher = cipher.unwrap().1;
        assert!(!cipher.is_empty(), "{mode}: the backend connection is encrypted");
        let version: Option<(String, String)> = c.query_first("SHOW SESSION STATUS LIKE 'Ssl_version'").await.unwrap();
        assert!(version.unwrap().1.starts_with("TLSv1."), "{mode}");
    }
    // Without tls_mode the same query shows a plain connection.
    let p = start_proxy_with(|t| t).await;
    let mut c = mysql_async::Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    let cipher: Option<(String, String)> = c.query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'").await.unwrap();
    assert_eq!(cipher.unwrap().1, "", "plain by default");

    // A CA that did not sign the server's certificate: the backend is unreachable, said so, and the client's
    // connection stays usable for statements that need no backend.
    let (other_ca, _) = certificate();
    let tls = format!("tls_mode = \"verify_ca\"\ntls_ca = \"{}\"", other_ca.display());
    let p = start_proxy_with(|t| {
        let edited = t.replacen("password = \"app\"\n\n[schemas.demo]", &format!("password = \"app\"\n{tls}\n\n[schemas.demo]"), 1);
        assert_ne!(edited, t, "ds_1 got the TLS settings");
        edited + "\n[schemas.on_ds1]\ndata_source = \"ds_1\"\ndatabase = \"demo\"\n"
    })
    .await;
    let mut c = mysql_async::Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    let err = c.query_drop("USE on_ds1").await.unwrap_err();
    let mysql_async::Error::Server(e) = err else { panic!("{err:?}") };
    assert!(e.message.contains("TLS handshake failed") && e.message.contains("ertificate"), "{}", e.message);
    c.ping().await.unwrap();

    // verify modes need the CA: `shardgate check` (the same validation) says which setting is missing.
    let text = with_backend_tls(common::rules_text(""), "tls_mode = \"verify_identity\"");
    let problems: Vec<String> = shardgate::config::parse(&text, std::path::Path::new("t.toml")).unwrap_err().iter().map(|e| e.to_string()).collect();
    let problems = problems.join("\n");
    assert!(problems.contains("data_sources.ds_0.tls_ca") && problems.contains("needs tls_ca"), "{problems}");
}
