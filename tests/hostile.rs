//! Hostile input: truncated handshakes, garbage frames, oversized packets, stalled handshakes, idle sessions,
//! deep and huge SQL. Each gets an ERR or a clean close of that one connection, never a panic or a stuck
//! task: after every case the proxy still serves a fresh client.

mod common;

use std::time::{Duration, Instant};

use common::raw::{RawClient, CLASSIC};
use common::{opts, start_proxy_with, unique, Proxy};
use mysql_async::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn proxy() -> Proxy {
    start_proxy_with(|t| {
        let t = t.replacen(
            "listen = \"127.0.0.1:0\"\n",
            "listen = \"127.0.0.1:0\"\nmax_allowed_packet = 65536\nhandshake_timeout_ms = 400\nidle_timeout_s = 1\n",
            1,
        );
        let table = "hostile_t";
        t + &format!("\n[schemas.demo.tables.{table}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{table}\"\n")
    })
    .await
}

/// A fresh client can log in and run a statement: the proxy survived whatever came before.
async fn still_serving(p: &Proxy) {
    let mut c = mysql_async::Conn::new(opts(p, "app", "app", Some("demo"))).await.expect("a fresh client logs in");
    let v: Option<i64> = c.query_first("SELECT 41 + 1").await.unwrap();
    assert_eq!(v, Some(42));
}

/// Reads until the proxy closes the socket (or `limit` passes); returns whether it closed and what it sent.
async fn until_closed(s: &mut TcpStream, limit: Duration) -> (bool, Vec<u8>) {
    let mut got = Vec::new();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (true, got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (false, got),
        }
    }
}

fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_handshakes_and_frames_close_only_that_connection() {
    let p = proxy().await;
    // A handshake response cut short (10 bytes): an ERR, then the connection closes.
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    let (_, greeting) = until_closed(&mut s, Duration::from_millis(100)).await;
    assert!(greeting.len() > 20 && greeting[4] == 10, "a v10 greeting");
    s.write_all(&frame(1, &[0x85, 0xa6, 0x0f, 0, 0, 0, 0, 1, 45, 0])).await.unwrap();
    let (closed, reply) = until_closed(&mut s, Duration::from_secs(3)).await;
    assert!(closed, "the truncated handshake closed the connection");
    assert!(reply.len() > 4 && reply[4] == 0xFF, "an ERR first: {reply:?}");
    still_serving(&p).await;

    // Garbage instead of a handshake response.
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    let _ = until_closed(&mut s, Duration::from_millis(100)).await;
    s.write_all(&[0xde; 300]).await.unwrap(); // a frame header claiming ~14 MB, then nothing
    drop(s);
    still_serving(&p).await;

    // After login: a frame whose header promises more than ever comes, then the client vanishes.
    let mut c = RawClient::connect(p.addr, "app", "app", None, CLASSIC, 45).await.unwrap();
    c.io.write_raw(&[0x10, 0x00, 0x00, 0x00, 0x03, b'S']).await.unwrap();
    drop(c);
    // After login: an unknown command and a COM_QUERY that is not SQL get ERRs; the session goes on.
    let mut c = RawClient::connect(p.addr, "app", "app", Some("demo"), CLASSIC, 45).await.unwrap();
    assert_eq!(c.command(&[0x99, 1, 2, 3]).await.payload[0], 0xFF);
    assert_eq!(c.command(&[0x03, 0xff, 0xfe, 0x00, b'(', b'(']).await.payload[0], 0xFF);
    assert_eq!(c.command(&[0x0e]).await.payload[0], 0x00, "COM_PING still answers");
    still_serving(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_packets_stalled_handshakes_and_idle_sessions_are_dropped() {
    let p = proxy().await;
    // A packet over max_allowed_packet (64 KiB here): ERR 1153, then the connection closes.
    let mut c = RawClient::connect(p.addr, "app", "app", None, CLASSIC, 45).await.unwrap();
    let mut query = vec![0x03];
    query.extend_from_slice(format!("SELECT '{}'", "x".repeat(70_000)).as_bytes());
    c.io.write_packet(0, &query).await.unwrap();
    let reply = c.read().await;
    let e = shardgate::protocol::response::decode_err(&reply.payload).unwrap();
    assert_eq!((e.code, e.sqlstate.as_str()), (1153, "08S01"), "{}", e.message);
    assert!(c.io.read_packet().await.map(|p| p.is_none()).unwrap_or(true), "closed after the error");

    // A client that never finishes its handshake is dropped after handshake_timeout_ms (400 ms here).
    let start = Instant::now();
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    let (closed, _) = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(closed && start.elapsed() < Duration::from_secs(3), "a stalled handshake is cut ({:?})", start.elapsed());

    // A session idle for idle_timeout_s (1 s here) is closed.
    let mut idle = mysql_async::Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(idle.query_drop("SELECT 1").await.is_err(), "the idle session was closed");
    still_serving(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_and_huge_sql_get_errors_not_crashes() {
    let p = proxy().await;
    let mut c = mysql_async::Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    let t = unique("hostile");
    c.query_drop(format!("CREATE TABLE IF NOT EXISTS hostile_t (id BIGINT PRIMARY KEY, v TEXT) /* {t} */")).await.unwrap();
    // 20,000 nested parentheses over a sharded table: the proxy's parser gives up (its recursion limit), the
    // statement goes on as the backend sees it, and the answer is an ERR (the backend's own).
    let deep = format!("SELECT id FROM hostile_t WHERE id = {}1{}", "(".repeat(20_000), ")".repeat(20_000));
    let err = c.query_drop(&deep).await;
    let _ = err; // an ERR from the backend, or rows: either way the session must go on
    let v: Option<i64> = c.query_first("SELECT 7").await.unwrap();
    assert_eq!(v, Some(7));
    // A long statement just under max_allowed_packet, many literals: planned and answered.
    let list: Vec<String> = (0..6000).map(|i| i.to_string()).collect();
    let long = format!("SELECT COUNT(*) FROM hostile_t WHERE id IN ({})", list.join(","));
    assert!(long.len() < 65_000);
    let n: Option<i64> = c.query_first(&long).await.unwrap();
    assert_eq!(n, Some(0));
    c.query_drop("DROP TABLE hostile_t").await.unwrap();
    still_serving(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_breaks_out_through_names_hints_or_literals() {
    let p = start_proxy_with(|t| t + "\n[schemas.demo.tables.inj_t]\nsharding_column = \"id\"\nactual_nodes = \"ds_${0..1}.inj_t_${0..1}\"\nalgorithm = \"mod\"\n").await;
    let mut c = mysql_async::Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop("DROP TABLE IF EXISTS inj_t").await.unwrap();
    c.query_drop("CREATE TABLE IF NOT EXISTS inj_victim (a INT)").await.unwrap();
    c.query_drop("CREATE TABLE inj_t (id BIGINT PRIMARY KEY, v VARCHAR(100))").await.unwrap();
    let attempts = [
        "INSERT INTO inj_t (id, v) VALUES (5, 'x''); DROP TABLE inj_victim; -- ')".to_string(),
        "INSERT INTO inj_t (id, v) VALUES (6, 'y\\'); DROP TABLE inj_victim; -- ')".to_string(),
        "SELECT * FROM inj_t WHERE id = 1 /* shardgate: shard_key=1'; DROP TABLE inj_victim; -- */".to_string(),
        "/* shardgate: data_source=ds_0; DROP TABLE inj_victim */ SELECT 1".to_string(),
        "UPDATE inj_t SET v = 'z`; DROP TABLE inj_victim; --' WHERE id = 5".to_string(),
        "UPDATE inj_t SET id = 7 WHERE id = 6 AND v <> '`); DROP TABLE inj_victim; --'".to_string(),
        "SELECT * FROM `inj_t` WHERE id IN (5, '6`; DROP TABLE inj_victim; --')".to_string(),
    ];
    // (`…; DROP TABLE inj_victim` outside any literal is the client's own second statement, which a client
    // that enabled CLIENT_MULTI_STATEMENTS may send: tests/multi_statements.rs. Here every `;` is inside a
    // literal, a quoted name, a comment or a hint, where the statement splitter must not cut.)
    for sql in &attempts {
        let _ = c.query_drop(sql).await; // refused, an error or a harmless answer: never the DROP
    }
    let tables: Vec<String> = c.query("SHOW TABLES LIKE 'inj_victim'").await.unwrap();
    assert_eq!(tables, vec!["inj_victim".to_string()], "the victim table survived every attempt");
    let rows: Vec<(i64, String)> = c.query("SELECT id, v FROM inj_t ORDER BY id").await.unwrap();
    assert_eq!(
        rows,
        vec![(5, "z`; DROP TABLE inj_victim; --".to_string()), (7, "y'); DROP TABLE inj_victim; -- ".to_string())],
        "literals stayed literals, the moved row kept its value"
    );
    // Physical names the rewriter emits are quoted.
    let plan: Vec<(String, String)> = c.query("EXPLAIN SHARDING SELECT v FROM inj_t WHERE id = 5").await.unwrap();
    assert!(plan[0].1.contains("`inj_t_1`"), "{plan:?}");
    c.query_drop("DROP TABLE inj_t").await.unwrap();
    c.query_drop("DROP TABLE inj_victim").await.unwrap();
}
