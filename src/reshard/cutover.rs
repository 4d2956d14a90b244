//! Catch-up and cut-over of a job. The binlogs are applied in rounds until a round is short; every move is
//! verified (rows and checksums) at a consistent point per source; then the gate is held (sessions finish
//! their transactions on the moving tables, new ones wait), the last changes are drained, staged rows join
//! their live tables, the sources' copies of the moved rows are deleted, the replicas are waited for, the
//! new rules are switched in and written to the rules file (for a fleet: pushed to etcd, applied by every
//! holding instance) — then the held sessions carry on, on the new rules. A failed verification stops the
//! job before the hold, with the old rules serving.
//!
//! The sources' residue on nodes that stay is deleted inside the hold, not later: those nodes keep serving
//! scattered reads, which would return each moved row twice. A removed node is read no more, so its rows
//! wait for the clean-up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use super::cleanup::delete_foreign;
use super::ident;
use super::job::{Job, Phase};
use super::plan::TableMove;
use super::binlog::Position;
use super::catchup::catch_up_to;
use super::job::Stream;
use super::verify::{differences, snapshot, sources_in, targets};
use futures_util::future::try_join_all;
use crate::config::Rules;

/// How long one attempt to hold the gate waits for open transactions before catching up and trying again.
const HOLD_WAIT: Duration = Duration::from_secs(2);
/// A catch-up round this short means the target is close behind: time to cut over.
const CLOSE_ENOUGH: Duration = Duration::from_millis(300);

/// Runs the catch-up (if not done) and the cut-over of `job`.
pub async fn run(job: &mut Job, old: &Rules, new: &Rules, moves: &[TableMove]) -> Result<(), String> {
    if job.st.phase == Phase::Switching {
        // A crash after verification: only forward. The hold keeps sessions out while it finishes.
        let hold = hold(job, Duration::from_secs(30)).await?;
        switch_over(job, old, new, moves).await?;
        drop(hold);
        job.st.phase = Phase::Cleanup;
        return job.save().await;
    }
    let mut streams = job.streams(old, new, moves).await?;
    if job.st.phase == Phase::CatchUp {
        for _ in 0..1000 {
            let round = Instant::now();
            job.catch_up(old, &mut streams, true).await?;
            if round.elapsed() < CLOSE_ENOUGH {
                break;
            }
        }
        job.st.phase = Phase::CutOver;
        job.save().await?;
    }
    let mut tries = 0;
    let wrong = loop {
        tries += 1;
        match verify(job, old, new, moves, &mut streams).await {
            Err(e) if tries < 3 => tracing::warn!(error = %e, "reshard: verifying again"),
            other => break other?,
        }
    };
    if !wrong.is_empty() {
        return Err(format!("verification failed, the old rules keep serving (RESHARD RUN retries, RESHARD ABORT gives up): {}", wrong.join("; ")));
    }
    let verified_at = Instant::now();
    // What changed while verifying, so the drain under the hold is short.
    job.catch_up(old, &mut streams, false).await?;
    for attempt in 1.. {
        let asked = Instant::now();
        let Some(hold) = hold(job, HOLD_WAIT).await? else {
            tracing::warn!(attempt, "reshard: a transaction on a moving table stayed open through the hold's wait; catching up and trying again");
            job.catch_up(old, &mut streams, true).await?;
            continue;
        };
        let held = asked.elapsed();
        job.catch_up(old, &mut streams, false).await?;
        let drained = asked.elapsed();
        // An XA transaction on a moving table prepared and not completed (in doubt, waiting for recovery)
        // would commit on its old node after the switch: not now.
        let in_doubt: Vec<(String, String)> =
            streams.iter().flat_map(|s| s.reader.pending_tables().into_iter().filter(|(db, t)| s.appliers.iter().any(|a| a.matches(db, t)))).collect();
        if !in_doubt.is_empty() {
            tracing::warn!(?in_doubt, attempt, "reshard: a prepared XA transaction on a moving table is not completed; letting go and trying again");
            release(job, hold).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            job.catch_up(old, &mut streams, true).await?;
            continue;
        }
        job.st.phase = Phase::Switching;
        job.save().await?;
        let steps = switch_over(job, old, new, moves).await?;
        drop(hold);
        let pause = asked.elapsed();
        tracing::info!(?pause, ?held, ?drained, ?steps, since_verified = ?verified_at.elapsed(), "reshard: switched to the new rules (times since the hold was asked for)");
        job.st.pause_ms = Some(pause.as_millis() as u64);
        job.st.phase = Phase::Cleanup;
        job.save().await?;
        break;
    }
    Ok(())
}

/// The cut-over's hold: this proxy's gate, or every fleet instance's through etcd (which the instances let
/// go of as they apply the new rules).
enum Held {
    Proxy(#[allow(dead_code)] crate::cutover_gate::Hold),
    Fleet,
}

/// Lets go of a hold without switching (for a fleet, the instances let their sessions go).
async fn release(job: &Job, held: Held) -> Result<(), String> {
    match (held, job.live.fleet.clone()) {
        (Held::Fleet, Some(f)) => super::fleet::let_go(&f).await,
        _ => Ok(()),
    }
}

async fn hold(job: &Job, within: Duration) -> Result<Option<Held>, String> {
    if let Some(f) = job.live.fleet.clone() {
        return Ok(super::fleet::hold_all(&f, within).await?.then_some(Held::Fleet));
    }
    let gate = job.live.load().reshard_gate.load_full().ok_or("the reshard gate is not installed")?;
    Ok(gate.hold(within).await.map(Held::Proxy))
}

/// Verifies every move at one consistent point per source, without holding writes: each source is read
/// in a snapshot, its binlog is applied exactly up to the snapshot's position (and no further while the
/// targets are read), then the targets are read and compared. What changes after that point reaches the
/// targets through the same catch-up, drained under the hold.
async fn verify(job: &mut Job, old: &Rules, new: &Rules, moves: &[TableMove], streams: &mut [Stream<'_>]) -> Result<Vec<String>, String> {
    let mut views = BTreeMap::new();
    let mut points: BTreeMap<String, Position> = BTreeMap::new();
    for s in streams.iter() {
        let (view, at) = snapshot(old, &s.ds).await?;
        views.insert(s.ds.clone(), view);
        points.insert(s.ds.clone(), at);
    }
    let mut left = Vec::new();
    for m in moves {
        left.push(sources_in(&mut views, m).await?);
    }
    drop(views);
    for s in streams.iter_mut() {
        let point = &points[&s.ds];
        if s.at > *point {
            return Err(format!("{}: the catch-up ({:?}) is past the snapshot ({point:?})", s.ds, s.at));
        }
        s.at = catch_up_to(&mut s.reader, &mut s.appliers, &s.at, point, None, None).await?;
        if s.at != *point {
            return Err(format!("{}: the catch-up stopped at {:?}, not at the snapshot {point:?}", s.ds, s.at));
        }
        if let Some(e) = job.st.binlog.get_mut(&s.ds) {
            e.1 = s.reader.resume_from();
        }
    }
    let arrived = try_join_all(moves.iter().map(|m| targets(new, m))).await?;
    Ok(moves.iter().zip(left.iter().zip(&arrived)).flat_map(|(m, (s, t))| differences(m, s, t)).collect())
}

/// Everything after verification, each step repeatable: staged rows into their live tables, the sources'
/// residue deleted on the nodes that stay, replicas caught up, the rules switched, the rules file rewritten.
/// Returns how long the merge and residue deletion, the replica wait and the switch took.
async fn switch_over(job: &mut Job, old: &Rules, new: &Rules, moves: &[TableMove]) -> Result<[Duration; 3], String> {
    let began = Instant::now();
    // Every node at once: the hold lasts as long as the slowest.
    let staged = moves.iter().flat_map(|m| m.staged().into_iter().map(move |to| (m, to)));
    try_join_all(staged.map(|(m, to)| merge_staged(new, m, to))).await?;
    let staying = moves.iter().flat_map(|m| m.old.nodes.iter().filter(|n| m.new.nodes.contains(n)).map(move |n| (m, n)));
    try_join_all(staying.map(|(m, node)| delete_foreign(old, m, node, &m.new, 5000, Duration::ZERO))).await?;
    let moved = began.elapsed();
    let touched: BTreeSet<&str> = moves.iter().flat_map(|m| m.old.nodes.iter().chain(m.new.nodes.iter()).map(|n| n.data_source.as_str())).collect();
    try_join_all(touched.into_iter().map(|ds| wait_for_replicas(if new.data_sources.contains_key(ds) { new } else { old }, ds))).await?;
    let waited = began.elapsed();
    match job.live.fleet.clone() {
        Some(f) => drop(super::fleet::publish(&f, &job.st.target_rules).await?),
        None => {
            // Switched before the file is rewritten, so the rules watcher reading the new file finds them
            // in force.
            crate::reload::switch(&job.live, new.clone(), "the reshard's cut-over").await?;
            write_rules(&job.st.rules_path, &job.st.target_rules)?;
        }
    }
    Ok([moved, waited, began.elapsed()])
}

/// Moves the rows staged for new node `to` into its live table and drops the staging table (if it is
/// still there: a resumed switch may find it done).
async fn merge_staged(new: &Rules, m: &TableMove, to: usize) -> Result<(), String> {
    let (node, staging) = (&m.new.nodes[to], m.landing(to));
    let mut conn = super::connect(new, &node.data_source).await?;
    let exists: Option<String> = conn
        .exec_first("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", (&m.database, &staging.table))
        .await
        .map_err(|e| e.to_string())?;
    if exists.is_some() {
        let (db, live, stage) = (ident(&m.database), ident(&node.table), ident(&staging.table));
        conn.query_drop(format!("REPLACE INTO {db}.{live} SELECT * FROM {db}.{stage}")).await.map_err(|e| format!("{}: merging the staged rows: {e}", node.data_source))?;
        conn.query_drop(format!("DROP TABLE {db}.{stage}")).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Waits (up to 5 s each) until every replica of `ds` has applied what its primary has logged, so a read
/// sent there after the switch sees the moved rows and not their residue.
async fn wait_for_replicas(rules: &Rules, ds: &str) -> Result<(), String> {
    let rule = &rules.data_sources[ds];
    if rule.replicas.is_empty() {
        return Ok(());
    }
    let mut primary = super::connect(rules, ds).await?;
    let pos: Option<String> = primary.query_first("SELECT @@gtid_binlog_pos").await.map_err(|e| e.to_string())?;
    let pos = pos.unwrap_or_default();
    for r in &rule.replicas {
        let mut conn = match mysql_async::Conn::new(crate::backend::health::control_opts(r.address, rule)).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(replica = %r.address, error = %e, "reshard: replica unreachable at the cut-over; its health check keeps reads away");
                continue;
            }
        };
        let waited: Option<i64> = conn.exec_first("SELECT MASTER_GTID_WAIT(?, 5)", (&pos,)).await.map_err(|e| e.to_string())?;
        if waited != Some(0) {
            tracing::warn!(replica = %r.address, %pos, "reshard: replica still behind after 5 s at the cut-over; the lag bound keeps reads from it");
        }
    }
    Ok(())
}

/// Replaces the rules file with `text`, keeping the old one beside it (`.before-reshard`); atomic (rename).
fn write_rules(path: &std::path::Path, text: &str) -> Result<(), String> {
    let now = std::fs::read_to_string(path).unwrap_or_default();
    if now == text {
        return Ok(());
    }
    let mut backup = path.as_os_str().to_owned();
    backup.push(".before-reshard");
    std::fs::write(&backup, now).map_err(|e| format!("keeping the old rules: {e}"))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".reshard-tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("writing the new rules: {e}"))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("installing the new rules file: {e}"))
}
