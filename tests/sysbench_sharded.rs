//! sysbench with the sbtest tables sharded by id over both shards (text protocol): prepare through the key
//! generator, every id exactly once across the shards, then point selects, index updates, deletes and
//! inserts with no errors.

mod common;

use std::collections::BTreeSet;

use common::sysbench::{figure, run_clean, run_clean_threads, sysbench};
use common::{direct, ds0_port, ds1_port};
use mysql_async::prelude::*;

fn sharded_sbtest(text: String) -> String {
    // sysbench's read/write workloads run transactions over both shards: XA (the default transaction_mode).
    let mut text = text;
    for t in ["sbtest1", "sbtest2"] {
        text.push_str(&format!(
            "\n[schemas.sbtest.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\nkey_generator = \"sequence\"\n"
        ));
    }
    text
}

/// Copies the sharded sbtest1 into the reference instance and checks a sample of sysbench's range queries
/// through shardgate against it.
async fn compare_ranges_with_reference(proxy: &common::Proxy) {
    let mut reference = direct(common::lab_port() + 4, Some("sbtest")).await;
    reference.query_drop("DROP TABLE IF EXISTS sbtest1").await.unwrap();
    reference
        .query_drop("CREATE TABLE sbtest1 (id INT NOT NULL PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)")
        .await
        .unwrap();
    for port in [ds0_port(), ds1_port()] {
        let rows: Vec<(i64, i64, String, String)> = direct(port, Some("sbtest")).await.query("SELECT id, k, c, pad FROM sbtest1").await.unwrap();
        for chunk in rows.chunks(500) {
            let values: Vec<String> = chunk.iter().map(|(id, k, c, pad)| format!("({id}, {k}, '{c}', '{pad}')")).collect();
            reference.query_drop(format!("INSERT INTO sbtest1 VALUES {}", values.join(", "))).await.unwrap();
        }
    }
    let mut through = mysql_async::Conn::new(common::opts(proxy, "app", "app", Some("sbtest"))).await.unwrap();
    let (mut checked, mut with_rows) = (0, 0);
    for start in (1..10_000).step_by(997) {
        let end = start + 99;
        for (sql, ordered) in [
            (format!("SELECT c FROM sbtest1 WHERE id BETWEEN {start} AND {end}"), false),
            (format!("SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN {start} AND {end}"), true),
            (format!("SELECT c FROM sbtest1 WHERE id BETWEEN {start} AND {end} ORDER BY c"), true),
            (format!("SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN {start} AND {end} ORDER BY c"), true),
        ] {
            let mut want: Vec<Option<String>> = reference.query(&sql).await.unwrap();
            let mut got: Vec<Option<String>> = through.query(&sql).await.unwrap();
            // The delete workloads may have emptied a whole range; most ranges still hold rows.
            with_rows += usize::from(want.iter().any(Option::is_some));
            if !ordered {
                want.sort();
                got.sort();
            }
            assert_eq!(got, want, "{sql}");
            checked += 1;
        }
    }
    assert_eq!(checked, 44);
    assert!(with_rows >= 22, "only {with_rows} of 44 sampled queries found rows: the comparison must see data");
    reference.query_drop("DROP TABLE sbtest1").await.unwrap();
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
    // sysbench's default, prepared statements (binary protocol), 8 threads, every OLTP workload. The
    // workloads that delete rows run last: read_write and write_only delete and re-insert ids inside their
    // transactions, and on tables with holes InnoDB's gap locks make them deadlock (1213) on any MariaDB,
    // proxied or not.
    for script in [
        "oltp_point_select",
        "oltp_read_only",
        "oltp_read_write",
        "oltp_write_only",
        "oltp_update_index",
        "oltp_update_non_index",
        "oltp_insert",
        "oltp_delete",
    ] {
        run_clean_threads(&proxy, script, "auto", 10, 8).await;
    }
    // read_write in the text protocol too: its cross-shard transactions commit in two phases, atomically.
    run_clean_threads(&proxy, "oltp_read_write", "disable", 10, 8).await;
    let two_phase = shardgate::stats::Stats::get(&proxy.stats.xa_two_phase_commits);
    assert!(two_phase > 100, "sysbench's transactions over both shards committed with XA: {two_phase} two-phase commits");
    for port in [ds0_port(), ds1_port()] {
        let left: Vec<(i64, i64, i64, String)> = direct(port, None).await.query("XA RECOVER").await.unwrap();
        assert!(left.iter().all(|x| !x.3.starts_with("sg-")), "no XA branch left prepared on {port}: {left:?}");
    }
    // The text protocol, 4 threads (the sharding issue's workloads).
    for script in ["oltp_point_select", "oltp_update_index", "oltp_delete", "oltp_insert"] {
        run_clean(&proxy, script, "disable", 10, &[]).await;
    }
    // Range queries (BETWEEN with ORDER BY, DISTINCT, SUM) scatter to both shards and are merged.
    let report = run_clean(&proxy, "oltp_read_only", "disable", 10, &["--skip_trx=on"]).await;
    assert!(figure(&report, "read:") > 0, "{report}");
    compare_ranges_with_reference(&proxy).await;
    sysbench(&proxy, "oltp_point_select", &["cleanup"]).await;
    for port in [ds0_port(), ds1_port()] {
        let left: Vec<String> = direct(port, Some("sbtest")).await.query("SHOW TABLES LIKE 'sbtest%'").await.unwrap();
        assert!(left.is_empty(), "cleanup dropped every physical table: {left:?}");
    }
}
