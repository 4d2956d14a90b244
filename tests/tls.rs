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
        Command::new("mariadb").args(["--no-defaults", "-h127.0.0.1", "-P", &port, "-uapp", "-papp", "demo"]).args(args).output().unwrap()
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
    let out = Command::new("python3").args(["-c", &py]).output().unwrap();
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
