//! The protocol server, checked at the byte level with a raw client against the real lab.

mod common;

use common::raw::{RawClient, CLASSIC};
use common::start_proxy;
use shardgate::protocol::constants::{cap, com};
use shardgate::protocol::response::{decode_err, decode_ok};
use shardgate::protocol::row_text::decode_text_row;

fn text(row: &[u8], columns: usize) -> Vec<Option<String>> {
    decode_text_row(row, columns).unwrap().into_iter().map(|v| v.map(|b| String::from_utf8_lossy(b).into_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_sets_in_both_eof_styles() {
    let proxy = start_proxy("").await;
    let sql = "SELECT seq, IF(seq = 2, NULL, CONCAT('v', seq)) FROM seq_1_to_3";
    for deprecate in [false, true] {
        let caps = if deprecate { CLASSIC | cap::DEPRECATE_EOF } else { CLASSIC };
        let mut c = RawClient::connect(proxy.addr, "app", "app", Some("demo"), caps, 45).await.unwrap();
        assert_eq!(c.caps & cap::DEPRECATE_EOF != 0, deprecate, "server agrees to the client's EOF style");
        let r = c.query_result(sql).await;
        assert_eq!(r.columns.len(), 2);
        assert_eq!(r.columns_eof.is_some(), !deprecate, "EOF after column definitions only without DEPRECATE_EOF");
        let rows: Vec<_> = r.rows.iter().map(|p| text(&p.payload, 2)).collect();
        let s = |x: &str| Some(x.to_string());
        assert_eq!(rows, vec![vec![s("1"), s("v1")], vec![s("2"), None], vec![s("3"), s("v3")]]);
        if deprecate {
            assert!(r.end.payload.len() >= 7, "an OK packet with header 0xFE ends the rows");
            assert_eq!(decode_ok(&r.end.payload).unwrap().status & 2, 2, "autocommit flag");
        } else {
            assert_eq!(r.end.payload.len(), 5, "a classic 5-byte EOF ends the rows");
        }
        // The session keeps working after a result set.
        assert_eq!(c.command(&[com::PING]).await.payload[0], 0x00);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_commands_get_1047_and_the_session_goes_on() {
    let proxy = start_proxy("").await;
    let mut c = RawClient::connect(proxy.addr, "app", "app", None, CLASSIC, 45).await.unwrap();
    for command in [0x0d_u8 /* COM_DEBUG */, 0x08 /* COM_SHUTDOWN */, 0x7f] {
        let reply = c.command(&[command]).await;
        let e = decode_err(&reply.payload).unwrap();
        assert_eq!((e.code, e.sqlstate.as_str()), (1047, "08S01"), "command {command:#x}: {}", e.message);
        assert_eq!(reply.seq, 1);
    }
    assert_eq!(c.command(&[com::PING]).await.payload[0], 0x00);
    let r = c.query_result("SELECT 1").await;
    assert_eq!(text(&r.rows[0].payload, 1), vec![Some("1".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_ping_init_db_and_field_list() {
    let proxy = start_proxy("").await;
    let mut c = RawClient::connect(proxy.addr, "app", "app", None, CLASSIC, 45).await.unwrap();
    let stats = c.command(&[com::STATISTICS]).await;
    let stats = String::from_utf8(stats.payload.to_vec()).unwrap();
    assert!(stats.starts_with("Uptime: ") && stats.contains("Questions: "), "{stats}");

    // COM_FIELD_LIST needs a schema.
    let e = decode_err(&c.command(b"\x04t\0").await.payload).unwrap();
    assert_eq!(e.code, 1046);

    let mut init = vec![com::INIT_DB];
    init.extend_from_slice(b"nosuch");
    let e = decode_err(&c.command(&init).await.payload).unwrap();
    assert_eq!((e.code, e.sqlstate.as_str()), (1049, "42000"));
    let mut init = vec![com::INIT_DB];
    init.extend_from_slice(b"demo");
    assert_eq!(c.command(&init).await.payload[0], 0x00);

    let table = common::unique("fl");
    let create = format!("CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(10))");
    let mut q = vec![com::QUERY];
    q.extend_from_slice(create.as_bytes());
    assert_eq!(c.command(&q).await.payload[0], 0x00);
    let mut fl = vec![com::FIELD_LIST];
    fl.extend_from_slice(table.as_bytes());
    fl.push(0);
    let mut names = Vec::new();
    let mut p = c.command(&fl).await;
    while p.payload[0] != 0xFE {
        // Column definition: catalog, schema, table, org_table, name …
        let mut r = shardgate::protocol::codec::Reader::new(&p.payload);
        for _ in 0..4 {
            r.lenenc_bytes().unwrap();
        }
        names.push(String::from_utf8(r.lenenc_bytes().unwrap().to_vec()).unwrap());
        p = c.read().await;
    }
    assert_eq!(names, ["id", "name"]);
    let mut q = vec![com::QUERY];
    q.extend_from_slice(format!("DROP TABLE {table}").as_bytes());
    assert_eq!(c.command(&q).await.payload[0], 0x00);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql8_collation_255_is_accepted_and_mapped() {
    let proxy = start_proxy("").await;
    let mut c = RawClient::connect(proxy.addr, "app", "app", Some("demo"), CLASSIC, 255).await.unwrap();
    let r = c.query_result("SELECT @@character_set_client, @@collation_connection").await;
    let row = text(&r.rows[0].payload, 2);
    assert_eq!(row, vec![Some("utf8mb4".to_string()), Some("utf8mb4_general_ci".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_errors_carry_mysql_codes() {
    let proxy = start_proxy("").await;
    let e = RawClient::connect(proxy.addr, "app", "nope", None, CLASSIC, 45).await.err().unwrap();
    assert_eq!((e.code, e.sqlstate.as_str()), (1045, "28000"));
    assert_eq!(e.message, "Access denied for user 'app'@'127.0.0.1' (using password: YES)");
    let e = RawClient::connect(proxy.addr, "nobody", "", None, CLASSIC, 45).await.err().unwrap();
    assert_eq!(e.message, "Access denied for user 'nobody'@'127.0.0.1' (using password: NO)");
    let e = RawClient::connect(proxy.addr, "app", "app", Some("nosuch"), CLASSIC, 45).await.err().unwrap();
    assert_eq!((e.code, e.sqlstate.as_str()), (1049, "42000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_sequence_id_is_refused_and_closes() {
    let proxy = start_proxy("").await;
    let mut c = RawClient::connect(proxy.addr, "app", "app", None, CLASSIC, 45).await.unwrap();
    c.io.write_packet(3, &[com::PING]).await.unwrap();
    let e = decode_err(&c.read().await.payload).unwrap();
    assert_eq!(e.code, 1156);
    assert!(c.io.read_packet().await.unwrap().is_none(), "connection closed after a framing error");
}
