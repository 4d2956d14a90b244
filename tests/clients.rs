//! Real clients through shardgate to the lab: mysql_async (binary-capable driver, CLIENT_DEPRECATE_EOF) and
//! the mariadb command-line client (libmariadb, classic EOF).

mod common;

use std::process::Output;

use common::{direct, ds0_port, opts, start_proxy, unique, Proxy};
use mysql_async::prelude::*;
use mysql_async::{Conn, Error, ServerError};

fn server_error(e: Error) -> ServerError {
    match e {
        Error::Server(s) => s,
        other => panic!("expected a server error, got {other:?}"),
    }
}

async fn cli(proxy: &Proxy, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new("mariadb");
    cmd.args(["-h127.0.0.1", &format!("-P{}", proxy.addr.port()), "--batch", "--skip-ssl"]).args(args);
    cmd.output().await.expect("the mariadb client is installed by tests/run.sh")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "mariadb failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_create_insert_select_round_trip() {
    let proxy = start_proxy("").await;
    let mut conn = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    let table = unique("rt");
    conn.query_drop(format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY, name VARCHAR(40), price DECIMAL(10,2), note TEXT NULL)")).await.unwrap();
    conn.query_drop(format!("INSERT INTO {table} VALUES (1, 'ä-ö ☃', 10.50, NULL), (2, 'b', 0.01, 'x'), (3, '', -3.00, '')")).await.unwrap();
    assert_eq!(conn.affected_rows(), 3);
    let rows: Vec<(i64, String, String, Option<String>)> =
        conn.query(format!("SELECT id, name, price, note FROM {table} ORDER BY id")).await.unwrap();
    let expected = vec![
        (1, "ä-ö ☃".to_string(), "10.50".to_string(), None),
        (2, "b".to_string(), "0.01".to_string(), Some("x".to_string())),
        (3, String::new(), "-3.00".to_string(), Some(String::new())),
    ];
    assert_eq!(rows, expected);
    // The rows really are on ds_0's primary.
    let mut backend = direct(ds0_port(), Some("demo")).await;
    let on_backend: Vec<(i64, String, String, Option<String>)> =
        backend.query(format!("SELECT id, name, price, note FROM {table} ORDER BY id")).await.unwrap();
    assert_eq!(on_backend, expected);
    // Binary protocol (prepared statements) passes through to the same connection.
    let name: Option<String> = conn.exec_first(format!("SELECT name FROM {table} WHERE id = ?"), (2,)).await.unwrap();
    assert_eq!(name.as_deref(), Some("b"));
    conn.query_drop(format!("DROP TABLE {table}")).await.unwrap();
    conn.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_errors_arrive_unchanged_and_the_session_goes_on() {
    let proxy = start_proxy("").await;
    let mut conn = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    let mut backend = direct(ds0_port(), Some("demo")).await;
    for bad in ["selec 1", "SELECT * FROM no_such_table_here", "SELECT 1 +"] {
        let through = server_error(conn.query_drop(bad).await.unwrap_err());
        let straight = server_error(backend.query_drop(bad).await.unwrap_err());
        assert_eq!((through.code, &through.state, &through.message), (straight.code, &straight.state, &straight.message));
        let one: Option<i32> = conn.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1), "the connection is usable after {bad}");
    }
    assert_eq!(server_error(conn.query_drop("selec 1").await.unwrap_err()).code, 1064);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_switches_schema_and_unknown_schemas_get_1049() {
    let proxy = start_proxy("").await;
    let mut conn = Conn::new(opts(&proxy, "app", "app", None)).await.unwrap();
    let db: Option<Option<String>> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db, Some(None));
    conn.query_drop("USE sbtest").await.unwrap();
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some("sbtest"));
    conn.query_drop("use `demo`;").await.unwrap();
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some("demo"));
    let e = server_error(conn.query_drop("USE mysql").await.unwrap_err());
    assert_eq!((e.code, e.state.as_str()), (1049, "42000"));
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some("demo"), "a failed USE leaves the schema as it was");
    let dbs: Vec<String> = conn.query("SHOW DATABASES").await.unwrap();
    assert_eq!(dbs, ["demo", "sbtest"], "clients see logical schemas only");
    let dbs: Vec<String> = conn.query("show schemas like 'sb%'").await.unwrap();
    assert_eq!(dbs, ["sbtest"]);
    let e = server_error(conn.query_drop("SHOW DATABASES WHERE 1").await.unwrap_err());
    assert_eq!(e.code, 1235);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn com_reset_connection_clears_session_state_and_keeps_the_schema() {
    let proxy = start_proxy("").await;
    let mut conn = Conn::new(opts(&proxy, "app", "app", Some("sbtest"))).await.unwrap();
    conn.query_drop("SET @kept = 7").await.unwrap();
    let v: Option<Option<i64>> = conn.query_first("SELECT @kept").await.unwrap();
    assert_eq!(v, Some(Some(7)));
    // mysql_async's reset() sends COM_RESET_CONNECTION.
    conn.reset().await.unwrap();
    let row: Option<(Option<i64>, String)> = conn.query_first("SELECT @kept, DATABASE()").await.unwrap();
    assert_eq!(row, Some((None, "sbtest".to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused_with_1045() {
    let proxy = start_proxy("").await;
    let e = server_error(Conn::new(opts(&proxy, "app", "wrong", None)).await.unwrap_err());
    assert_eq!((e.code, e.state.as_str()), (1045, "28000"));
    let o = cli(&proxy, &["-uapp", "-pwrong", "-e", "SELECT 1"]).await;
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("ERROR 1045 (28000)"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_batch_create_insert_select_and_use() {
    let proxy = start_proxy("").await;
    let table = unique("cli");
    let script = format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO {table} VALUES (1,'one'),(2,NULL); \
         SELECT id, v FROM {table} ORDER BY id; use sbtest; SELECT DATABASE(); use demo; DROP TABLE {table};"
    );
    let out = stdout(&cli(&proxy, &["-uapp", "-papp", "demo", "-e", &script]).await);
    assert_eq!(out, "id\tv\n1\tone\n2\tNULL\nDATABASE()\nsbtest\n");
    // An error stops the CLI's batch but is the backend's own error.
    let o = cli(&proxy, &["-uapp", "-papp", "demo", "-e", "selec 1"]).await;
    assert!(String::from_utf8_lossy(&o.stderr).contains("ERROR 1064 (42000)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_over_the_compressed_protocol_with_compressed_backends() {
    // The client scenario with --compress: DDL fan-out, a multi-row INSERT over both shards, a merged read,
    // a large compressible result and USE; ds_0 is reached in the compressed protocol too.
    let table = unique("cli_z");
    let proxy = common::start_proxy_with(|t| {
        let edited = t.replacen("password = \"app\"\n\n[data_sources.ds_1]", "password = \"app\"\ncompress = true\n\n[data_sources.ds_1]", 1);
        assert_ne!(edited, t);
        edited + &format!("\n[schemas.demo.tables.{table}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{table}\"\nalgorithm = \"mod\"\n")
    })
    .await;
    let script = format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO {table} (id, v) VALUES (1,'one'),(2,NULL),(3,'three'); \
         SELECT id, v FROM {table} ORDER BY id; SELECT LENGTH(REPEAT('ab', 500000)) AS n, MD5(REPEAT('ab', 500000)) = MD5(x) AS same \
         FROM (SELECT REPEAT('ab', 500000) AS x) d; SHOW SESSION STATUS LIKE 'Compression'; use sbtest; SELECT DATABASE(); \
         use demo; DROP TABLE {table}; \\s"
    );
    let out = stdout(&cli(&proxy, &["--compress", "-uapp", "-papp", "demo", "-e", &script]).await);
    assert!(out.starts_with("id\tv\n1\tone\n2\tNULL\n3\tthree\nn\tsame\n1000000\t1\n"), "{out}");
    assert!(out.contains("Compression\tON\n"), "the backend connection (ds_0) is compressed: {out}");
    assert!(out.contains("DATABASE()\nsbtest\n"), "{out}");
    assert!(out.contains("Protocol:\t\tCompressed"), "the CLI's own connection is compressed: {out}");
    // A 2 MB result travels compressed to the client and back intact.
    let big = stdout(&cli(&proxy, &["--compress", "-uapp", "-papp", "demo", "-N", "-e", "SELECT REPEAT('abc', 700000)"]).await);
    assert_eq!(big.trim_end().len(), 2_100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_interactive_with_auto_rehash_over_sharded_tables() {
    // A terminal (util-linux `script`) makes the CLI interactive: at connect it reads every table's
    // columns for completion (SHOW TABLES, then COM_FIELD_LIST per table), then runs what is typed.
    let table = unique("cli_rehash");
    let proxy = common::start_proxy_with(|t| {
        t + &format!("\n[schemas.demo.tables.{table}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{table}_${{0..1}}\"\n")
    })
    .await;
    let mut c = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {table} (id INT PRIMARY KEY, label VARCHAR(10))")).await.unwrap();
    c.query_drop(format!("INSERT INTO {table} (id, label) VALUES (1, 'one'), (2, 'two')")).await.unwrap();
    let typed = format!("SHOW TABLES LIKE '{table}';\nSELECT COUNT(*) AS answer FROM {table};\nquit\n");
    let command = format!("mariadb --no-defaults -h127.0.0.1 -P{} -uapp -papp --auto-rehash demo", proxy.addr.port());
    let mut child = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    use tokio::io::AsyncWriteExt;
    child.stdin.take().unwrap().write_all(typed.as_bytes()).await.unwrap();
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output()).await.expect("the CLI finished").unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(text.contains("Reading table information for completion"), "{text}");
    assert!(text.contains(&format!("| {table} ")), "the logical table is listed: {text}");
    assert!(text.contains("| answer |") && text.contains("|      2 |"), "{text}");
    assert!(!text.contains("ERROR"), "{text}");
    c.query_drop(format!("DROP TABLE {table}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_come_back_clean() {
    // One backend connection at most, so the second session must reuse the first one's connection.
    let proxy = common::start_proxy_with(|t| t.replacen("password = \"app\"\n\n[data_sources.ds_1]", "password = \"app\"\nmax_connections = 1\n\n[data_sources.ds_1]", 1)).await;
    let mut a = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    let id_a: Option<u64> = a.query_first("SELECT CONNECTION_ID()").await.unwrap();
    a.query_drop("SET @leak = 42, SESSION sql_mode = 'ANSI_QUOTES', NAMES latin1").await.unwrap();
    a.query_drop("CREATE TEMPORARY TABLE tmp_leak (x INT)").await.unwrap();
    a.disconnect().await.unwrap();
    let mut b = Conn::new(opts(&proxy, "app", "app", Some("sbtest"))).await.unwrap();
    let id_b: Option<u64> = b.query_first("SELECT CONNECTION_ID()").await.unwrap();
    assert_eq!(id_a, id_b, "the backend connection was reused");
    let row: Option<(Option<i64>, String, String, String)> =
        b.query_first("SELECT @leak, @@sql_mode LIKE '%ANSI_QUOTES%', @@character_set_client, DATABASE()").await.unwrap();
    assert_eq!(row, Some((None, "0".into(), "utf8mb4".into(), "sbtest".into())));
    assert!(b.query_drop("SELECT * FROM tmp_leak").await.is_err(), "temporary tables do not survive");
    // A client that vanishes without COM_QUIT gives its connection back too.
    drop(b);
    let mut c = Conn::new(opts(&proxy, "app", "app", None)).await.unwrap();
    let id_c: Option<u64> = c.query_first("SELECT CONNECTION_ID()").await.unwrap();
    assert!(id_c.is_some());
    // A user variable ties c to its backend connection (no multiplexing for it from now on).
    c.query_drop("SET @mine = 1").await.unwrap();
    let active = shardgate::stats::Stats::get(&proxy.stats.sessions_active);
    assert_eq!(active, 1);
    // A session waiting for the only connection gets it as soon as its holder leaves (well within the
    // 5 s acquire timeout), not an ERR 1040.
    let o = opts(&proxy, "app", "app", Some("demo"));
    let waiter = tokio::spawn(async move {
        let mut w = Conn::new(o).await.unwrap();
        let v: Option<i64> = w.query_first("SELECT 7").await.unwrap();
        w.disconnect().await.unwrap();
        v
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the waiter had to wait for the only connection");
    let started = std::time::Instant::now();
    c.disconnect().await.unwrap();
    assert_eq!(waiter.await.unwrap(), Some(7));
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "handed over in {:?}", started.elapsed());
}
