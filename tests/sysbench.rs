//! sysbench oltp_read_write through shardgate against one data source: prepare, run, cleanup, no errors.

mod common;

use common::start_proxy;
use common::sysbench::{figure, run_clean, sysbench};
use mysql_async::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oltp_read_write_through_one_data_source() {
    let proxy = start_proxy("").await;
    sysbench(&proxy, "oltp_read_write", &["cleanup"]).await;
    sysbench(&proxy, "oltp_read_write", &["prepare"]).await;
    for (mode, seconds) in [("disable", 10), ("auto", 5)] {
        // Prepared statements (sysbench's default) pass through to the session's pinned connection as well.
        // Uniform rows: the default "special" distribution makes MariaDB itself deadlock now and then (1213,
        // which sysbench counts as an ignored error), direct or through any proxy.
        let report = run_clean(&proxy, "oltp_read_write", mode, seconds, &["--rand-type=uniform"]).await;
        // 18 queries per transaction (10 point selects, 4 ranges, 2 updates, delete, insert) + BEGIN/COMMIT.
        assert_eq!(figure(&report, "total:"), figure(&report, "transactions:") * 20, "queries per transaction in:\n{report}");
    }
    sysbench(&proxy, "oltp_read_write", &["cleanup"]).await;
    let mut backend = common::direct(common::ds0_port(), Some("sbtest")).await;
    let left: Vec<String> = backend.query("SHOW TABLES LIKE 'sbtest%'").await.unwrap();
    assert!(left.is_empty(), "cleanup through the proxy dropped the tables: {left:?}");
}
