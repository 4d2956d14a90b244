//! Distributed deadlock detection (src/admin/deadlocks.rs) against the real lab: two transactions that lock
//! a row on each shard in opposite orders form a cycle neither shard's InnoDB can see. shardgate breaks it
//! well before the servers' 50 s lock-wait timeout: the session that waited least gets ER_LOCK_DEADLOCK (1213,
//! SQLSTATE 40001) with its whole transaction rolled back, the other one proceeds and commits, and the
//! counters and SHOW SHARDGATE LOCKS show what happened.

mod common;

use std::time::{Duration, Instant};

use common::{opts, start_proxy_with, unique};
use mysql_async::prelude::*;
use mysql_async::Conn;

/// Table `t` sharded by id with `mod` over ds_0 and ds_1: even ids on ds_0, odd ones on ds_1.
fn rule(t: &str) -> String {
    format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\nalgorithm = \"mod\"\n")
}

async fn stat(c: &mut Conn, name: &str) -> u64 {
    let stats: Vec<(String, String)> = c.query("SHOW SHARDGATE STATS").await.unwrap();
    stats.iter().find(|(n, _)| n == name).map(|(_, v)| v.parse().unwrap()).unwrap_or_else(|| panic!("no {name} in {stats:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_cycle_across_shards_ends_in_a_deadlock_error_on_one_side_only() {
    let t = unique("dl");
    let tt = t.clone();
    let proxy = start_proxy_with(move |text| text + &rule(&tt)).await;
    let connect = || Conn::new(opts(&proxy, "app", "app", Some("demo")));
    let (mut a, mut b, mut watch) = (connect().await.unwrap(), connect().await.unwrap(), connect().await.unwrap());
    a.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, v INT NOT NULL)")).await.unwrap();
    a.query_drop(format!("INSERT INTO {t} VALUES (1, 0), (2, 0)")).await.unwrap();
    let before = stat(&mut watch, "deadlocks").await;

    // A plain wait (no cycle) is shown, with the sessions on both sides, and left alone.
    a.query_drop("BEGIN").await.unwrap();
    a.query_drop(format!("UPDATE {t} SET v = v + 1 WHERE id = 1")).await.unwrap();
    b.query_drop("BEGIN").await.unwrap();
    let (a_id, b_id) = (a.id(), b.id());
    let waiting = format!("UPDATE {t} SET v = v + 10 WHERE id = 1");
    let blocked = tokio::spawn(async move {
        let r = b.query_drop(&waiting).await;
        (b, r)
    });
    let mut shown = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let locks: Vec<(String, String, String, String, String, String, String)> = watch.query("SHOW SHARDGATE LOCKS").await.unwrap();
        shown = locks.into_iter().filter(|l| l.0 == b_id.to_string()).collect();
        if !shown.is_empty() {
            break;
        }
    }
    assert_eq!(shown.len(), 1, "b's wait is shown");
    assert_eq!((shown[0].2.as_str(), shown[0].4.as_str()), (a_id.to_string().as_str(), "ds_1"), "{shown:?}");
    assert!(shown[0].6.contains("v = v + 10"), "the waiting statement as the server shows it: {shown:?}");
    // Past the detector's threshold with no cycle: b still waits.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!blocked.is_finished(), "a plain wait is not a deadlock");

    a.query_drop("ROLLBACK").await.unwrap();
    let (mut b, r) = blocked.await.unwrap();
    r.unwrap();
    b.query_drop("ROLLBACK").await.unwrap();

    // Now a waits for b on ds_0 while b waits for a on ds_1: a cycle across the shards.
    a.query_drop("BEGIN").await.unwrap();
    b.query_drop("BEGIN").await.unwrap();
    a.query_drop(format!("UPDATE {t} SET v = v + 1 WHERE id = 1")).await.unwrap();
    b.query_drop(format!("UPDATE {t} SET v = v + 10 WHERE id = 2")).await.unwrap();
    let ta = t.clone();
    let first = tokio::spawn(async move {
        let r = a.query_drop(format!("UPDATE {ta} SET v = v + 1 WHERE id = 2")).await;
        (a, r)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let second = b.query_drop(format!("UPDATE {t} SET v = v + 10 WHERE id = 1")).await;
    let took = started.elapsed();
    let (mut a, first) = first.await.unwrap();

    // b waited least: it is the victim, within a second; a's statement goes on and commits.
    let e = match second {
        Err(mysql_async::Error::Server(e)) => e,
        other => panic!("b should be the victim: {other:?}"),
    };
    assert_eq!((e.code, e.state.as_str()), (1213, "40001"), "{}", e.message);
    eprintln!("deadlocks: the cycle was broken after {took:?}");
    assert!(took < Duration::from_secs(1), "the cycle was broken after {took:?}");
    first.unwrap();
    a.query_drop("COMMIT").await.unwrap();
    // b's whole transaction is gone (its first UPDATE too), and its session goes on outside a transaction.
    let rows: Vec<(i64, i64)> = b.query(format!("SELECT id, v FROM {t} ORDER BY id")).await.unwrap();
    assert_eq!(rows, [(1, 1), (2, 1)]);
    assert_eq!(b.query_first::<i64, _>("SELECT @@in_transaction").await.unwrap(), Some(0));
    b.query_drop(format!("UPDATE {t} SET v = v + 10 WHERE id IN (1, 2)")).await.unwrap();
    assert_eq!(stat(&mut watch, "deadlocks").await, before + 1);
    a.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}
