//! Packets of 16 MiB and more in both directions (issue 16): a 40 MiB BLOB goes into a sharded table and
//! comes back byte for byte, as a query's text and as a prepared statement's parameter, each split into
//! 0xFFFFFF-byte frames by the client and reassembled by the proxy (and the other way for the row).

mod common;

use common::{direct, ds0_port, ds1_port, opts, start_proxy_with, unique};
use mysql_async::prelude::*;

/// 40 MiB of bytes covering every value (a simple LCG, so a failure is reproducible).
fn blob() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..40 << 20)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

/// `bytes` as a hex literal (X'…'): arbitrary bytes in a text statement, as mysqldump --hex-blob writes them.
fn hex_literal(bytes: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(bytes.len() * 2 + 3);
    out.extend_from_slice(b"X'");
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
    out.push(b'\'');
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forty_mib_blob_round_trips_as_text_and_as_a_parameter() {
    let t = unique("big");
    // 96 MiB: room for the 80 MiB statement (the lab's servers allow 128 MiB).
    let p = start_proxy_with(|text| text.replacen("listen = \"127.0.0.1:0\"\n", "listen = \"127.0.0.1:0\"\nmax_allowed_packet = 100663296\n", 1) + &format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\nalgorithm = \"mod\"\n")).await;
    let mut c = mysql_async::Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, b LONGBLOB)")).await.unwrap();
    let data = blob();

    // Text protocol: the INSERT is an 80 MiB COM_QUERY (five frames); id 1 lives on ds_1.
    let mut sql = format!("INSERT INTO {t} (id, b) VALUES (1, ").into_bytes();
    sql.extend_from_slice(&hex_literal(&data));
    sql.push(b')');
    assert!(sql.len() > 4 * 0xFF_FFFF);
    c.query_drop(sql).await.unwrap();
    let back: Option<Vec<u8>> = c.query_first(format!("SELECT b FROM {t} WHERE id = 1")).await.unwrap();
    assert!(back.as_deref() == Some(&data[..]), "text: {} bytes back", back.map_or(0, |b| b.len()));

    // Binary protocol: the parameter (mysql_async sends it in the COM_STMT_EXECUTE, or as long data), and
    // the row comes back in the binary protocol; id 2 lives on ds_0.
    c.exec_drop(format!("INSERT INTO {t} (id, b) VALUES (?, ?)"), (2, data.clone())).await.unwrap();
    let back: Option<Vec<u8>> = c.exec_first(format!("SELECT b FROM {t} WHERE id = ?"), (2,)).await.unwrap();
    assert!(back.as_deref() == Some(&data[..]), "prepared: {} bytes back", back.map_or(0, |b| b.len()));

    // Each row is on its node, whole.
    let len0: Option<u64> = direct(ds0_port(), Some("demo")).await.query_first(format!("SELECT LENGTH(b) FROM {t} WHERE id = 2")).await.unwrap();
    let len1: Option<u64> = direct(ds1_port(), Some("demo")).await.query_first(format!("SELECT LENGTH(b) FROM {t} WHERE id = 1")).await.unwrap();
    assert_eq!((len0, len1), (Some(40 << 20), Some(40 << 20)));
    // Raw bytes that are not UTF-8 in a statement the proxy must rewrite would not survive the rewrite: refused
    // (1235, with what to do instead), nothing written, and the session goes on.
    let mut raw = format!("INSERT INTO {t} (id, b) VALUES (3, '").into_bytes();
    raw.extend_from_slice(b"\xff\xfe\x80')");
    let err = c.query_drop(raw).await.unwrap_err();
    let mysql_async::Error::Server(e) = err else { panic!("{err:?}") };
    assert_eq!(e.code, 1235, "{}", e.message);
    assert!(e.message.contains("X'"), "{}", e.message);
    let three: Option<i64> = c.query_first(format!("SELECT COUNT(*) FROM {t} WHERE id = 3")).await.unwrap();
    assert_eq!(three, Some(0));
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}
