//! sysbench with the sbtest tables sharded by id over both shards (text protocol): prepare through the key
//! generator, every id exactly once across the shards, then point selects, index updates, deletes and
//! inserts with no errors.

mod common;

use std::collections::BTreeSet;

use common::sysbench::{run_clean, sysbench};
use common::{direct, ds0_port, ds1_port};
use mysql_async::prelude::*;

fn sharded_sbtest(text: String) -> String {
    let mut text = text;
    for t in ["sbtest1", "sbtest2"] {
        text.push_str(&format!(
            "\n[schemas.sbtest.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\nkey_generator = \"sequence\"\n"
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysbench_over_two_shards() {
    let proxy = common::start_proxy_with(sharded_sbtest).await;
    sysbench(&proxy, "oltp_point_select", &["cleanup"]).await;
    sysbench(&proxy, "oltp_point_select", &["prepare"]).await;
    for t in ["sbtest1", "sbtest2"] {
        let mut ids = Vec::new();
        for port in [ds0_port(), ds1_port()] {
            let on: Vec<i64> = direct(port, Some("sbtest")).await.query(format!("SELECT id FROM {t}")).await.unwrap();
            assert!(on.len() > 3000, "{t} on port {port} holds only {} rows", on.len());
            ids.extend(on);
        }
        let unique: BTreeSet<i64> = ids.iter().copied().collect();
        assert_eq!(ids.len(), 10_000, "{t}: every row stored once");
        assert_eq!(unique, (1..=10_000).collect(), "{t}: ids 1..10000 across the shards");
    }
    for script in ["oltp_point_select", "oltp_update_index", "oltp_delete", "oltp_insert"] {
        run_clean(&proxy, script, "disable", 10).await;
    }
    // sysbench's default prepared mode: shardgate answers COM_STMT_PREPARE on sharded tables with
    // ER_UNSUPPORTED_PS, on which libmysql clients like sysbench fall back to emulated prepares.
    run_clean(&proxy, "oltp_point_select", "auto", 5).await;
    sysbench(&proxy, "oltp_point_select", &["cleanup"]).await;
    for port in [ds0_port(), ds1_port()] {
        let left: Vec<String> = direct(port, Some("sbtest")).await.query("SHOW TABLES LIKE 'sbtest%'").await.unwrap();
        assert!(left.is_empty(), "cleanup dropped every physical table: {left:?}");
    }
}
