//! A client that inserts, updates and deletes rows of a table `checker (id BIGINT PRIMARY KEY, v BIGINT)`
//! with unique keys while something happens underneath (a reshard), recording every acknowledged write,
//! and the check that afterwards each acknowledged row is there exactly once with its last value.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

/// What the checker client saw acknowledged.
#[derive(Default)]
pub struct Checked {
    /// Last acknowledged value per id (`None`: deleted).
    pub acked: BTreeMap<i64, Option<i64>>,
    /// Ids whose last write failed (the proxy was killed under it): present at most once.
    pub uncertain: BTreeSet<i64>,
    /// Writes acknowledged.
    pub writes: u64,
    /// Writes that failed.
    pub errors: u64,
    /// The slowest acknowledged write.
    pub slowest: Duration,
}

/// Inserts, updates and deletes rows of `checker` with unique keys until `stop`, recording every
/// acknowledged write; reconnects when the proxy goes away.
pub async fn checker(opts: mysql_async::Opts, first_id: i64, stop: Arc<AtomicBool>) -> Checked {
    let mut out = Checked::default();
    let mut conn: Option<mysql_async::Conn> = None;
    let mut live: Vec<i64> = Vec::new();
    let mut next_id = first_id;
    let mut step = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match mysql_async::Conn::new(opts.clone()).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        step += 1;
        let (id, sql, after) = match step % 4 {
            0 | 1 => {
                next_id += 1;
                (next_id, format!("INSERT INTO checker (id, v) VALUES ({next_id}, {step})"), Some(step as i64))
            }
            2 if !live.is_empty() => {
                let id = live[(step as usize * 7) % live.len()];
                (id, format!("UPDATE checker SET v = {step} WHERE id = {id}"), Some(step as i64))
            }
            3 if live.len() > 10 => {
                let id = live.swap_remove((step as usize * 13) % live.len());
                (id, format!("DELETE FROM checker WHERE id = {id}"), None)
            }
            _ => continue,
        };
        let started = Instant::now();
        match c.query_drop(&sql).await {
            Ok(()) => {
                out.slowest = out.slowest.max(started.elapsed());
                out.writes += 1;
                out.uncertain.remove(&id);
                out.acked.insert(id, after);
                if after.is_some() && !live.contains(&id) {
                    live.push(id);
                }
            }
            Err(e) => {
                out.errors += 1;
                out.uncertain.insert(id);
                if matches!(e, mysql_async::Error::Server(_)) {
                    eprintln!("checker: {sql}: {e}");
                }
                conn = None;
            }
        }
    }
    out
}

/// Every acknowledged row of `checker` in database `db` is stored once (over the primaries at `ports`)
/// with its last value, and no deleted row is back.
pub async fn check_acknowledged(ports: &[u16], db: &str, checked: &Checked) {
    let mut stored: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for &port in ports {
        let mut c = super::direct(port, Some(db)).await;
        if c.query_first::<String, _>("SHOW TABLES LIKE 'checker'").await.unwrap().is_none() {
            continue;
        }
        let rows: Vec<(i64, i64)> = c.query("SELECT id, v FROM checker").await.unwrap();
        for (id, v) in rows {
            stored.entry(id).or_default().push(v);
        }
    }
    let mut present = 0;
    for (id, last) in &checked.acked {
        let got = stored.get(id).cloned().unwrap_or_default();
        if checked.uncertain.contains(id) {
            assert!(got.len() <= 1, "checker id {id} stored {} times", got.len());
            continue;
        }
        match last {
            Some(v) => {
                assert_eq!(got, vec![*v], "checker id {id}: acknowledged value {v}, stored {got:?}");
                present += 1;
            }
            None => assert!(got.is_empty(), "checker id {id} was deleted and is back: {got:?}"),
        }
    }
    assert!(present > 50, "the checker wrote too little to judge: {present} rows");
    println!("checker: {} writes acknowledged, {} failed (proxy killed), slowest {:?}, {present} rows checked", checked.writes, checked.errors, checked.slowest);
}

