//! Distributed deadlock detection. A lock cycle that spans two data sources is invisible to each server's
//! own deadlock detector: each sees one wait only, so the cycle would last until `innodb_lock_wait_timeout`
//! (50 s by default) while every session behind it piles up.
//!
//! Every quarter of `deadlock_detect_ms` (`[server]`, default 200 ms; 0 turns it off), when two sessions or
//! more have had a statement running for longer than `deadlock_detect_ms`, the proxy reads each primary's lock
//! waits (`information_schema.INNODB_LOCK_WAITS` joined with `INNODB_TRX`; the backend user needs the PROCESS
//! privilege), maps the backend threads to its own sessions (the threads each session holds), and looks for
//! cycles among sessions. A cycle whose waits lie on two data sources or more, seen by two looks in a row, is
//! broken: the session in it
//! that has waited least (its statement started last) is the victim. Its waiting backend connection is
//! killed, so that server rolls the branch back and its locks go at once; the session answers the statement
//! with ER_LOCK_DEADLOCK (1213, SQLSTATE 40001) and rolls back the rest of its transaction, as one server
//! does for a deadlock, and drivers retry as they do for a local one. A cycle within one data source is that
//! server's own to break. Each instance of a fleet sees its own sessions only: a cycle through sessions of
//! two instances is left to the lock-wait timeout (README).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::conn::Variant;
use crate::shared::Shared;
use crate::stats::Stats;

/// One lock wait on one data source, with the proxy sessions its two threads work for (if they are the
/// proxy's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// Where the wait is.
    pub data_source: String,
    /// The backend thread waiting for a lock.
    pub waiting_thread: u32,
    /// The backend thread holding it.
    pub blocking_thread: u32,
    /// The proxy session of the waiting thread.
    pub waiting_session: Option<u32>,
    /// The proxy session of the blocking thread.
    pub blocking_session: Option<u32>,
    /// How long the thread has waited, in milliseconds.
    pub waited_ms: u64,
    /// The statement waiting, as the server shows it.
    pub query: String,
}

/// The lock waits of one server, with the waiting statement (MariaDB's information_schema; the tables exist
/// in every MariaDB version the proxy supports).
const WAITS: &str = "SELECT r.trx_mysql_thread_id, b.trx_mysql_thread_id, \
     CAST(TIMESTAMPDIFF(MICROSECOND, r.trx_wait_started, NOW(6)) DIV 1000 AS SIGNED), IFNULL(r.trx_query, '') \
     FROM information_schema.INNODB_LOCK_WAITS w \
     JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id \
     JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id";

/// Every lock wait on the primaries now, mapped to sessions.
pub async fn waits(shared: &Shared) -> Vec<Wait> {
    let mut owner: HashMap<(String, u32), u32> = HashMap::new();
    for h in shared.sessions.all() {
        for (pool, thread) in h.threads() {
            owner.insert((pool, thread), h.id);
        }
    }
    let mut out = Vec::new();
    for ds in shared.rules.data_sources.keys() {
        let Some(pool) = shared.pools.get(ds) else { continue };
        let Ok(mut control) = pool.get(Variant::CONTROL, None).await else { continue };
        let rows = match control.conn.query_rows(WAITS).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::debug!(data_source = %ds, error = %e, "cannot read lock waits (the backend user needs PROCESS)");
                continue;
            }
        };
        pool.put_clean(control);
        let text = |v: &Option<Vec<u8>>| v.as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        for r in rows {
            let (Ok(waiting), Ok(blocking)) = (text(&r[0]).parse::<u32>(), text(&r[1]).parse::<u32>()) else { continue };
            out.push(Wait {
                data_source: ds.clone(),
                waiting_thread: waiting,
                blocking_thread: blocking,
                waiting_session: owner.get(&(ds.clone(), waiting)).copied(),
                blocking_session: owner.get(&(ds.clone(), blocking)).copied(),
                waited_ms: text(&r[2]).parse().unwrap_or(0),
                query: text(&r[3]),
            });
        }
    }
    out
}

/// The cycles among sessions that `waits` form and that lie on two data sources or more, each as its waits
/// in order (each session of a cycle waits for the next). A cycle is reported once.
pub fn cycles(waits: &[Wait]) -> Vec<Vec<Wait>> {
    let mut edges: BTreeMap<u32, Vec<&Wait>> = BTreeMap::new();
    for w in waits {
        if let (Some(from), Some(to)) = (w.waiting_session, w.blocking_session) {
            if from != to {
                edges.entry(from).or_default().push(w);
            }
        }
    }
    let mut found: Vec<Vec<Wait>> = Vec::new();
    let mut seen: Vec<Vec<u32>> = Vec::new();
    // From each session, every simple path back to it (the graphs are a handful of sessions).
    fn walk<'a>(start: u32, at: u32, edges: &BTreeMap<u32, Vec<&'a Wait>>, path: &mut Vec<&'a Wait>, out: &mut Vec<Vec<&'a Wait>>) {
        for w in edges.get(&at).into_iter().flatten() {
            let next = w.blocking_session.expect("an edge between sessions");
            if next == start {
                path.push(w);
                out.push(path.clone());
                path.pop();
            } else if next > start && !path.iter().any(|p| p.waiting_session == Some(next)) && path.len() < 16 {
                path.push(w);
                walk(start, next, edges, path, out);
                path.pop();
            }
        }
    }
    for &start in edges.keys() {
        let mut paths = Vec::new();
        walk(start, start, &edges, &mut Vec::new(), &mut paths);
        for p in paths {
            let sessions: Vec<u32> = p.iter().filter_map(|w| w.waiting_session).collect();
            let sources = p.iter().map(|w| w.data_source.as_str()).collect::<std::collections::BTreeSet<_>>();
            if sources.len() >= 2 && !seen.contains(&sessions) {
                seen.push(sessions);
                found.push(p.into_iter().cloned().collect());
            }
        }
    }
    found
}

/// Breaks `cycle`: its session that waited least is the victim (`busy`: when each session's statement
/// started). Returns the victim's id.
async fn break_cycle(shared: &Shared, cycle: &[Wait], busy: &BTreeMap<u32, Instant>) -> Option<u32> {
    let victim = cycle.iter().filter_map(|w| w.waiting_session).max_by_key(|s| busy.get(s).copied())?;
    let wait = cycle.iter().find(|w| w.waiting_session == Some(victim))?;
    let handle = shared.sessions.get(victim)?;
    handle.mark_victim();
    let pool = shared.pools.get(&wait.data_source)?;
    let killed = match pool.connect_outside().await {
        Ok(mut control) => control.query_ok(&format!("KILL CONNECTION {}", wait.waiting_thread)).await.map(|_| ()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = killed {
        tracing::warn!(session = victim, data_source = %wait.data_source, error = %e, "could not break a lock cycle across data sources");
        return None;
    }
    let waited = busy.get(&victim).map_or(0, |t| t.elapsed().as_millis() as u64);
    Stats::add(&shared.stats.deadlocks, 1);
    Stats::add(&shared.stats.deadlock_wait_ms, waited);
    let path: Vec<String> = cycle
        .iter()
        .map(|w| format!("session {} waits on {} (thread {}, {} ms: {}) for session {}", w.waiting_session.unwrap_or(0), w.data_source, w.waiting_thread, w.waited_ms, w.query, w.blocking_session.unwrap_or(0)))
        .collect();
    tracing::warn!(victim, cycle = %path.join("; "), "broke a lock cycle across data sources: the victim's transaction is rolled back with ER_LOCK_DEADLOCK");
    Some(victim)
}

/// The sessions of a cycle, as a key that is the same however the cycle was walked.
fn key(cycle: &[Wait]) -> Vec<(u32, String, u32)> {
    let mut k: Vec<(u32, String, u32)> = cycle.iter().map(|w| (w.waiting_session.unwrap_or(0), w.data_source.clone(), w.waiting_thread)).collect();
    k.sort();
    k
}

/// One look: breaks every cycle across data sources among the sessions whose statement has run longer
/// than `threshold` that the previous look saw too (`seen`, updated): the servers are read one after the
/// other, so one look could join a wait that just ended on one server with a new one on another.
pub async fn check(shared: &Shared, threshold: Duration, seen: &mut Vec<Vec<(u32, String, u32)>>) -> Vec<u32> {
    let busy: BTreeMap<u32, Instant> = shared.sessions.all().iter().filter_map(|h| h.busy_since().filter(|t| t.elapsed() >= threshold).map(|t| (h.id, t))).collect();
    if busy.len() < 2 {
        seen.clear();
        return Vec::new();
    }
    let found = cycles(&waits(shared).await);
    let previous = std::mem::replace(seen, found.iter().map(|c| key(c)).collect());
    let mut victims = Vec::new();
    for cycle in found.iter().filter(|c| previous.contains(&key(c))) {
        // A cycle through a victim already chosen is broken with it.
        if cycle.iter().any(|w| w.waiting_session.is_some_and(|s| victims.contains(&s))) {
            continue;
        }
        victims.extend(break_cycle(shared, cycle, &busy).await);
    }
    victims
}

/// Looks for cycles for as long as the server runs (`current` gives its rules and sessions of the moment).
pub fn spawn(current: impl Fn() -> Option<Arc<Shared>> + Send + 'static) {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            let Some(shared) = current() else { return };
            let ms = shared.rules.server.deadlock_detect_ms;
            if ms == 0 {
                drop(shared);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            check(&shared, Duration::from_millis(ms), &mut seen).await;
            drop(shared);
            tokio::time::sleep(Duration::from_millis((ms / 4).max(10))).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(ds: &str, from: u32, to: u32) -> Wait {
        Wait { data_source: ds.into(), waiting_thread: from * 10, blocking_thread: to * 10, waiting_session: Some(from), blocking_session: Some(to), waited_ms: 5, query: String::new() }
    }

    #[test]
    fn a_cycle_across_data_sources_is_found_once_and_one_within_a_server_is_left_to_it() {
        let found = cycles(&[wait("ds_0", 1, 2), wait("ds_1", 2, 1), wait("ds_0", 3, 1)]);
        assert_eq!(found, [vec![wait("ds_0", 1, 2), wait("ds_1", 2, 1)]]);
        assert!(cycles(&[wait("ds_0", 1, 2), wait("ds_0", 2, 1)]).is_empty(), "InnoDB breaks this one itself");
        let three = cycles(&[wait("ds_0", 4, 5), wait("ds_1", 5, 6), wait("ds_0", 6, 4), wait("ds_1", 7, 8)]);
        assert_eq!(three.len(), 1);
        assert_eq!(three[0].iter().map(|w| w.waiting_session.unwrap()).collect::<Vec<_>>(), [4, 5, 6]);
        // Threads that are not the proxy's (another client of the server) make no edge.
        let mut foreign = wait("ds_1", 2, 1);
        foreign.blocking_session = None;
        assert!(cycles(&[wait("ds_0", 1, 2), foreign]).is_empty());
    }
}
