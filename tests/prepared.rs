//! Prepared statements (binary protocol) on sharded tables: routed by their parameter values on every
//! EXECUTE, every parameter type, NULLs, merged binary rows, close semantics, and no statement leaks on the
//! backends.

mod common;

use common::raw::{RawClient, CLASSIC};
use common::{direct, ds0_port, ds1_port, opts, start_proxy_with, unique, Proxy};
use mysql_async::prelude::*;
use mysql_async::{Conn, Params, Value};
use shardgate::protocol::constants::com;
use shardgate::protocol::response::decode_err;

async fn sharded_proxy(t: &str) -> Proxy {
    start_proxy_with(|text| {
        text + &format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"user_id\"\nactual_nodes = \"ds_${{0..1}}.{t}_${{0..1}}\"\n")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_parameter_type_round_trips_and_routes_by_value() {
    let t = unique("ps");
    let proxy = sharded_proxy(&t).await;
    let mut c = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!(
        "CREATE TABLE {t} (user_id BIGINT PRIMARY KEY, ti TINYINT, si SMALLINT, i INT, ub BIGINT UNSIGNED, f FLOAT, d DOUBLE, \
         dec_ DECIMAL(12,3), s VARCHAR(40), b BLOB, dt DATETIME(6), da DATE, tm TIME(6), n INT)"
    ))
    .await
    .unwrap();
    let insert = format!("INSERT INTO {t} (user_id, ti, si, i, ub, f, d, dec_, s, b, dt, da, tm, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for user in 1..=20i64 {
        let params: Vec<Value> = vec![
            Value::Int(user),
            Value::Int(-128),
            Value::Int(-32768),
            Value::Int(2_147_483_647),
            Value::UInt(18_446_744_073_709_551_615),
            Value::Float(1.5),
            Value::Double(0.1 + 0.2),
            Value::Bytes(b"-123456789.125".to_vec()),
            Value::Bytes(format!("Zoë O'Brien \\ {user}").into_bytes()),
            Value::Bytes(vec![0, 255, 39, 92, 10]),
            Value::Date(2026, 11, 23, 1, 2, 3, 456_789),
            Value::Date(1999, 12, 31, 0, 0, 0, 0),
            Value::Time(true, 1, 2, 3, 4, 5),
            Value::NULL,
        ];
        c.exec_drop(&insert, Params::Positional(params)).await.unwrap();
        assert_eq!(c.affected_rows(), 1);
    }
    // Rows landed on the node of their key (checked on the backends directly): 20 rows, split over nodes.
    let mut total = 0;
    for port in [ds0_port(), ds1_port()] {
        for k in 0..2 {
            let n: Option<i64> = direct(port, Some("demo")).await.query_first(format!("SELECT COUNT(*) FROM {t}_{k}")).await.unwrap();
            total += n.unwrap();
        }
    }
    assert_eq!(total, 20);
    let select = format!("SELECT user_id, ti, si, i, ub, f, d, dec_, s, b, dt, da, tm, n FROM {t} WHERE user_id = ?");
    for user in [1i64, 7, 20] {
        let row: mysql_async::Row = c.exec_first(&select, (user,)).await.unwrap().unwrap();
        let v = row.unwrap();
        assert_eq!(v[0], Value::Int(user));
        assert_eq!(v[1], Value::Int(-128));
        assert_eq!(v[2], Value::Int(-32768));
        assert_eq!(v[3], Value::Int(2_147_483_647));
        assert_eq!(v[4], Value::UInt(18_446_744_073_709_551_615));
        assert_eq!(v[5], Value::Float(1.5));
        assert_eq!(v[6], Value::Double(0.1 + 0.2));
        assert_eq!(v[7], Value::Bytes(b"-123456789.125".to_vec()));
        assert_eq!(v[8], Value::Bytes(format!("Zoë O'Brien \\ {user}").into_bytes()));
        assert_eq!(v[9], Value::Bytes(vec![0, 255, 39, 92, 10]));
        assert_eq!(v[10], Value::Date(2026, 11, 23, 1, 2, 3, 456_789));
        assert_eq!(v[11], Value::Date(1999, 12, 31, 0, 0, 0, 0));
        assert_eq!(v[12], Value::Time(true, 1, 2, 3, 4, 5));
        assert_eq!(v[13], Value::NULL);
    }
    // Single-shard executions run as server-side statements on the backend connection (this session's
    // connection to ds_0 counts its own COM_STMT_EXECUTEs; the describe at prepare time executes nothing).
    // A user variable keeps the session on that one connection, so SHOW SESSION STATUS reads its counters.
    c.query_drop("SET @stay = 1").await.unwrap();
    for user in 1..=20i64 {
        let _: Option<mysql_async::Row> = c.exec_first(&select, (user,)).await.unwrap();
    }
    let status = |name: &str| format!("SHOW SESSION STATUS LIKE '{name}'");
    let executes: Option<(String, u64)> = c.query_first(status("Com_stmt_execute")).await.unwrap();
    assert!(executes.unwrap().1 >= 5, "executions by key ran natively on ds_0");
    // Closing the client's statement closes the backend statement its executions used.
    let stmt = c.prep(format!("SELECT s FROM {t} WHERE user_id = ?")).await.unwrap();
    for user in 1..=20i64 {
        let _: Option<String> = c.exec_first(&stmt, (user,)).await.unwrap();
    }
    let closes_before: Option<(String, u64)> = c.query_first(status("Com_stmt_close")).await.unwrap();
    c.close(stmt).await.unwrap();
    let closes_after: Option<(String, u64)> = c.query_first(status("Com_stmt_close")).await.unwrap();
    let closed = closes_after.unwrap().1 - closes_before.unwrap().1;
    assert!((1..=2).contains(&closed), "the statement's backend statements on ds_0 (one per physical table used) closed: {closed}");
    // A NULL key matches nothing anywhere.
    let none: Option<mysql_async::Row> = c.exec_first(&select, (Value::NULL,)).await.unwrap();
    assert!(none.is_none());
    // Multi-shard SELECT with ORDER BY / LIMIT over binary rows, with parameters.
    let page: Vec<(i64, String)> =
        c.exec(format!("SELECT user_id, s FROM {t} WHERE user_id > ? ORDER BY user_id DESC LIMIT ?, ?"), (3i64, 2i64, 4i64)).await.unwrap();
    assert_eq!(page.iter().map(|r| r.0).collect::<Vec<_>>(), [18, 17, 16, 15]);
    let sum: Option<(i64, String)> = c.exec_first(format!("SELECT COUNT(*), SUM(dec_) FROM {t} WHERE user_id BETWEEN ? AND ?"), (1i64, 10i64)).await.unwrap();
    assert_eq!(sum, Some((10, "-1234567891.250".to_string())));
    // UPDATE and DELETE by key through prepared statements.
    c.exec_drop(format!("UPDATE {t} SET s = ? WHERE user_id = ?"), ("new", 7i64)).await.unwrap();
    assert_eq!(c.affected_rows(), 1);
    c.exec_drop(format!("DELETE FROM {t} WHERE user_id IN (?, ?)"), (1i64, 2i64)).await.unwrap();
    assert_eq!(c.affected_rows(), 2);
    // Text-protocol PREPARE would hide the statement from the router: refused with a reason.
    match c.query_drop(format!("PREPARE s FROM 'SELECT * FROM {t} WHERE user_id = ?'")).await.unwrap_err() {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1235, "{}", e.message),
        other => panic!("{other:?}"),
    }
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_twice_unknown_ids_and_long_data() {
    let t = unique("psc");
    let proxy = sharded_proxy(&t).await;
    let mut setup = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    setup.query_drop(format!("CREATE TABLE {t} (user_id BIGINT PRIMARY KEY, s TEXT)")).await.unwrap();
    let mut c = RawClient::connect(proxy.addr, "app", "app", Some("demo"), CLASSIC, 45).await.unwrap();
    let mut prepare = vec![com::STMT_PREPARE];
    prepare.extend_from_slice(format!("INSERT INTO {t} (user_id, s) VALUES (?, ?)").as_bytes());
    let ok = c.command(&prepare).await;
    assert_eq!(ok.payload[0], 0x00);
    let id = u32::from_le_bytes(ok.payload[1..5].try_into().unwrap());
    assert_eq!(u16::from_le_bytes([ok.payload[7], ok.payload[8]]), 2, "two parameters");
    for _ in 0..3 {
        c.read().await; // two parameter definitions and their EOF (no columns)
    }
    // Long data for parameter 1 in two pieces, then execute with only parameter 0's value.
    for piece in [&b"long "[..], &b"data"[..]] {
        let mut long = vec![com::STMT_SEND_LONG_DATA];
        long.extend_from_slice(&id.to_le_bytes());
        long.extend_from_slice(&1u16.to_le_bytes());
        long.extend_from_slice(piece);
        c.io.write_packet(0, &long).await.unwrap();
    }
    let mut exec = vec![com::STMT_EXECUTE];
    exec.extend_from_slice(&id.to_le_bytes());
    exec.extend_from_slice(&[0, 1, 0, 0, 0, 0, 1, 8, 0, 252, 0]);
    exec.extend_from_slice(&42i64.to_le_bytes());
    assert_eq!(c.command(&exec).await.payload[0], 0x00, "insert OK");
    let s: Option<String> = setup.query_first(format!("SELECT s FROM {t} WHERE user_id = 42")).await.unwrap();
    assert_eq!(s.as_deref(), Some("long data"));
    // Close twice: no reply either time, and the session goes on.
    let mut close = vec![com::STMT_CLOSE];
    close.extend_from_slice(&id.to_le_bytes());
    c.io.write_packet(0, &close).await.unwrap();
    c.io.write_packet(0, &close).await.unwrap();
    let e = decode_err(&c.command(&exec).await.payload).unwrap();
    assert_eq!(e.code, 1243, "executing a closed statement: {}", e.message);
    assert_eq!(c.command(&[com::PING]).await.payload[0], 0x00);
    setup.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}
