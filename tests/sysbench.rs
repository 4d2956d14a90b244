//! sysbench oltp_read_write through shardgate against one data source: prepare, run, cleanup, no errors.

mod common;

use std::process::Output;

use common::{start_proxy, Proxy};

async fn sysbench(proxy: &Proxy, args: &[&str]) -> Output {
    let port = format!("--mysql-port={}", proxy.addr.port());
    let mut cmd = tokio::process::Command::new("sysbench");
    cmd.args(["oltp_read_write", "--mysql-host=127.0.0.1", &port, "--mysql-user=app", "--mysql-password=app"])
        .args(["--mysql-db=sbtest", "--tables=2", "--table-size=10000", "--mysql-ssl=off"])
        .args(args);
    let out = cmd.output().await.expect("sysbench is installed by tests/run.sh");
    assert!(
        out.status.success(),
        "sysbench {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The number after `label` in sysbench's report, e.g. "transactions:  1234  (123.40 per sec.)".
fn figure(report: &str, label: &str) -> u64 {
    let line = report.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no '{label}' in:\n{report}"));
    line[line.find(label).unwrap() + label.len()..].split_whitespace().next().unwrap().parse().unwrap()
}

async fn run_and_check(proxy: &Proxy, ps_mode: &str, seconds: u32) {
    let time = format!("--time={seconds}");
    let mode = format!("--db-ps-mode={ps_mode}");
    let out = sysbench(proxy, &["--threads=4", &time, &mode, "--report-interval=0", "run"]).await;
    let report = String::from_utf8_lossy(&out.stdout);
    let transactions = figure(&report, "transactions:");
    assert!(transactions > 0, "no transactions in:\n{report}");
    assert_eq!(figure(&report, "ignored errors:"), 0, "errors in:\n{report}");
    assert_eq!(figure(&report, "reconnects:"), 0, "reconnects in:\n{report}");
    // oltp_read_write: 18 queries per transaction (10 point selects, 4 ranges, 2 updates, delete, insert) + BEGIN/COMMIT.
    assert_eq!(figure(&report, "total:"), transactions * 20, "queries per transaction in:\n{report}");
    println!("ps-mode={ps_mode}: {transactions} transactions in {seconds} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oltp_read_write_through_one_data_source() {
    let proxy = start_proxy("").await;
    sysbench(&proxy, &["cleanup"]).await;
    sysbench(&proxy, &["prepare"]).await;
    run_and_check(&proxy, "disable", 10).await;
    // Prepared statements (sysbench's default) pass through to the session's pinned connection as well.
    run_and_check(&proxy, "auto", 5).await;
    sysbench(&proxy, &["cleanup"]).await;
    let mut backend = common::direct(common::ds0_port(), Some("sbtest")).await;
    use mysql_async::prelude::*;
    let left: Vec<String> = backend.query("SHOW TABLES LIKE 'sbtest%'").await.unwrap();
    assert!(left.is_empty(), "cleanup through the proxy dropped the tables: {left:?}");
}
