//! Running sysbench against a test proxy and reading its report.

use std::process::Output;

use super::Proxy;

/// Runs `sysbench <script> …` against the proxy's sbtest schema (2 tables of 10,000 rows); fails the test
/// if sysbench fails.
pub async fn sysbench(proxy: &Proxy, script: &str, args: &[&str]) -> Output {
    let port = format!("--mysql-port={}", proxy.addr.port());
    let mut cmd = tokio::process::Command::new("sysbench");
    cmd.args([script, "--mysql-host=127.0.0.1", &port, "--mysql-user=app", "--mysql-password=app"])
        .args(["--mysql-db=sbtest", "--tables=2", "--table-size=10000", "--mysql-ssl=off"])
        .args(args);
    let out = cmd.output().await.expect("sysbench is installed by tests/run.sh");
    assert!(
        out.status.success(),
        "sysbench {script} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The number after `label` in sysbench's report, e.g. "transactions:  1234  (123.40 per sec.)".
pub fn figure(report: &str, label: &str) -> u64 {
    let line = report.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no '{label}' in:\n{report}"));
    line[line.find(label).unwrap() + label.len()..].split_whitespace().next().unwrap().parse().unwrap()
}

/// Runs `script` for `seconds` with 4 threads and checks it did work with no errors and no reconnects;
/// returns the report.
pub async fn run_clean(proxy: &Proxy, script: &str, ps_mode: &str, seconds: u32, extra: &[&str]) -> String {
    run_with(proxy, script, ps_mode, seconds, 4, extra, 0).await
}

/// [`run_clean`] with `threads` threads and uniformly random rows: sysbench's default "special"
/// distribution concentrates writes on a few hot rows, where its read/write transactions deadlock (1213)
/// against each other on MariaDB itself at 8 threads on small tables.
///
/// Even uniformly, 8 concurrent read/write transactions that each delete and re-insert a row can meet in
/// one shard's InnoDB deadlock detector, and cross-shard (XA) transactions hold their locks a few round
/// trips longer than on one server, so a rare 1213 is the answer one MariaDB would also give (the client
/// retries it, as sysbench does). Only 1213 is tolerated, at under 1 % of the transactions: a lock-wait
/// timeout (1205) or any other error fails the run, since sysbench is told to ignore no other code.
pub async fn run_clean_threads(proxy: &Proxy, script: &str, ps_mode: &str, seconds: u32, threads: u32) -> String {
    run_with(proxy, script, ps_mode, seconds, threads, &["--rand-type=uniform", "--mysql-ignore-errors=1213"], 100).await
}

async fn run_with(proxy: &Proxy, script: &str, ps_mode: &str, seconds: u32, threads: u32, extra: &[&str], deadlock_one_in: u64) -> String {
    let time = format!("--time={seconds}");
    let mode = format!("--db-ps-mode={ps_mode}");
    let threads = format!("--threads={threads}");
    let mut args = vec![threads.as_str(), &time, &mode, "--report-interval=0"];
    args.extend_from_slice(extra);
    args.push("run");
    let out = sysbench(proxy, script, &args).await;
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let transactions = figure(&report, "transactions:");
    assert!(transactions > 0, "no transactions in:\n{report}");
    let ignored = figure(&report, "ignored errors:");
    // deadlock_one_in == 0: no error at all; otherwise fewer than one deadlock in that many transactions.
    let allowed = if deadlock_one_in == 0 { 0 } else { transactions / deadlock_one_in };
    assert!(ignored <= allowed, "{ignored} errors (at most {allowed} deadlocks allowed) in:\n{report}");
    assert_eq!(figure(&report, "reconnects:"), 0, "reconnects in:\n{report}");
    println!("{script} ps-mode={ps_mode}: {} transactions in {seconds} s", figure(&report, "transactions:"));
    report
}
