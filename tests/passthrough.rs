//! A statement that goes to one backend is relayed without decoding its rows (ARCHITECTURE.md, Measurements). Alone in its
//! own test binary because the decoded-rows counter is per process.

mod common;

use mysql_async::prelude::*;
use shardgate::protocol::row_text::rows_decoded;
use shardgate::stats::Stats;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_rows_are_relayed_without_decoding() {
    let proxy = common::start_proxy("").await;
    let mut conn = mysql_async::Conn::new(common::opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    let relayed_before = Stats::get(&proxy.stats.rows_relayed);
    let decoded_before = rows_decoded();
    let rows: Vec<(u64, String)> = conn.query("SELECT seq, REPEAT('x', seq % 50) FROM seq_1_to_10000").await.unwrap();
    assert_eq!(rows.len(), 10_000);
    assert!(rows.iter().enumerate().all(|(i, (n, s))| *n == i as u64 + 1 && s.len() == (*n % 50) as usize));
    assert_eq!(Stats::get(&proxy.stats.rows_relayed) - relayed_before, 10_000, "every row went through the relay");
    assert_eq!(rows_decoded(), decoded_before, "the proxy decoded none of them");
    conn.disconnect().await.unwrap();
}
