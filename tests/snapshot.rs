//! A snapshot across shards (issue 26; src/execute/snapshot.rs, src/backend/commit_barrier.rs), proven with a
//! bank against the real lab: accounts sharded over two shards, writers moving money between an account on
//! each shard in two-phase commits, readers summing every balance in a transaction. The total never
//! changes, so every reader's sum must be the constant total — unless the reader's snapshot on one shard
//! saw a transfer that its snapshot on the other did not.
//!
//! With `consistent_snapshot = "off"` the test must see such a sum (each shard's snapshot is taken when the
//! transaction first reads there), so the check can fail; with snapshots on, it runs
//! `SHARDGATE_SNAPSHOT_SECONDS` (60 by default) and must see none.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{opts, start_proxy_with, unique, Proxy};
use mysql_async::prelude::*;
use mysql_async::Conn;

const ACCOUNTS: i64 = 20;
const BALANCE: i64 = 1000;
const WRITERS: usize = 6;

/// Table `t` sharded by id with `mod` over ds_0 and ds_1 (even ids on ds_0), and the snapshot mode.
fn rules(t: &str, mode: &str) -> impl FnOnce(String) -> String {
    let (t, mode) = (t.to_string(), mode.to_string());
    move |text| {
        let text = text.replacen("xa_log = ", &format!("consistent_snapshot = \"{mode}\"\nxa_log = "), 1);
        text + &format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\nalgorithm = \"mod\"\n")
    }
}

/// What one run of the bank saw.
#[derive(Debug, Default)]
struct Seen {
    commits: AtomicU64,
    reads: AtomicU64,
    differing: AtomicU64,
}

/// Runs writers and readers for up to `budget`, stopping early at the first differing sum if `stop_early`.
async fn bank(proxy: &Proxy, t: &str, begins: &[&'static str], budget: Duration, stop_early: bool) -> Arc<Seen> {
    let connect = || Conn::new(opts(proxy, "app", "app", Some("demo")));
    let mut setup = connect().await.unwrap();
    setup.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)")).await.unwrap();
    let values: Vec<String> = (0..ACCOUNTS).map(|id| format!("({id}, {BALANCE})")).collect();
    setup.query_drop(format!("INSERT INTO {t} VALUES {}", values.join(", "))).await.unwrap();
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let until = Instant::now() + budget;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (mut c, seen, stop, t) = (connect().await.unwrap(), seen.clone(), stop.clone(), t.to_string());
        tasks.push(tokio::spawn(async move {
            let mut n = w as i64;
            while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                n += 7;
                // An even account (ds_0) and an odd one (ds_1), always locked in that order: no lock cycles.
                let (from, to) = ((n * 2) % ACCOUNTS, (n * 3 % ACCOUNTS) | 1);
                let amount = if n % 2 == 0 { 5 } else { -5 };
                let transfer = async {
                    c.query_drop("BEGIN").await?;
                    c.query_drop(format!("UPDATE {t} SET balance = balance - {amount} WHERE id = {from}")).await?;
                    c.query_drop(format!("UPDATE {t} SET balance = balance + {amount} WHERE id = {to}")).await?;
                    c.query_drop("COMMIT").await
                };
                match transfer.await {
                    Ok(()) => {
                        seen.commits.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(mysql_async::Error::Server(e)) if e.code == 1213 || e.code == 1205 => {
                        let _ = c.query_drop("ROLLBACK").await;
                    }
                    Err(e) => panic!("transfer failed: {e}"),
                }
            }
        }));
    }
    for (r, &begin) in begins.iter().enumerate() {
        let (mut c, seen, stop, t) = (connect().await.unwrap(), seen.clone(), stop.clone(), t.to_string());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                c.query_drop(begin).await.unwrap();
                let sum: i64 = c.query_first(format!("SELECT SUM(balance) FROM {t}")).await.unwrap().unwrap();
                c.query_drop("COMMIT").await.unwrap();
                seen.reads.fetch_add(1, Ordering::Relaxed);
                if sum != ACCOUNTS * BALANCE {
                    eprintln!("snapshot: reader {r} ({begin}) summed {sum}, not {}", ACCOUNTS * BALANCE);
                    seen.differing.fetch_add(1, Ordering::Relaxed);
                    if stop_early {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total: i64 = setup.query_first(format!("SELECT CAST(SUM(balance) AS SIGNED) FROM {t}")).await.unwrap().unwrap();
    assert_eq!(total, ACCOUNTS * BALANCE, "no transfer was lost or half-applied");
    setup.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    eprintln!("snapshot: {seen:?}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_snapshots_a_reader_sees_a_transfer_on_one_shard_only() {
    let t = unique("bank_off");
    let proxy = start_proxy_with(rules(&t, "off")).await;
    let begins = ["START TRANSACTION WITH CONSISTENT SNAPSHOT", "START TRANSACTION READ ONLY", "BEGIN"];
    let seen = bank(&proxy, &t, &begins, Duration::from_secs(30), true).await;
    assert!(seen.commits.load(Ordering::Relaxed) > 0);
    assert!(seen.differing.load(Ordering::Relaxed) > 0, "30 s of reads never saw a transfer half done; the test could not fail: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_snapshots_every_reader_sums_the_constant_total() {
    let seconds: u64 = std::env::var("SHARDGATE_SNAPSHOT_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let t = unique("bank_on");
    // read_only: START TRANSACTION READ ONLY takes the snapshot too, besides WITH CONSISTENT SNAPSHOT.
    let proxy = start_proxy_with(rules(&t, "read_only")).await;
    let begins = ["START TRANSACTION WITH CONSISTENT SNAPSHOT", "START TRANSACTION READ ONLY", "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"];
    let seen = bank(&proxy, &t, &begins, Duration::from_secs(seconds), false).await;
    let (commits, reads) = (seen.commits.load(Ordering::Relaxed), seen.reads.load(Ordering::Relaxed));
    assert!(commits >= 10 * seconds && reads >= 10 * seconds, "too little happened to prove anything: {seen:?}");
    assert_eq!(seen.differing.load(Ordering::Relaxed), 0, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_for_the_exact_fallback_in_a_read_only_transaction_is_refused_with_the_reason() {
    let t = unique("ro_fallback");
    let proxy = start_proxy_with(rules(&t, "explicit")).await;
    let mut c = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)")).await.unwrap();
    c.query_drop(format!("INSERT INTO {t} VALUES (1, 5), (2, 7)")).await.unwrap();
    // CAST over an aggregate is answered over copies (temporary tables), which MariaDB refuses read-only.
    let sql = format!("SELECT CAST(SUM(balance) AS SIGNED) FROM {t}");
    c.query_drop("START TRANSACTION READ ONLY").await.unwrap();
    match c.query_first::<i64, _>(&sql).await {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, 1235, "{}", e.message);
            assert!(e.message.contains("READ ONLY transaction") && e.message.contains("READ WRITE"), "{}", e.message);
        }
        other => panic!("expected a refusal: {other:?}"),
    }
    // The transaction and the connection go on; the same query answers in a read-write transaction.
    assert_eq!(c.query_first::<i64, _>(format!("SELECT SUM(balance) FROM {t}")).await.unwrap(), Some(12));
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop("START TRANSACTION READ WRITE").await.unwrap();
    assert_eq!(c.query_first::<i64, _>(&sql).await.unwrap(), Some(12));
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}
