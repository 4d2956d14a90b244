//! A proxy's control of its reshard job: start or resume it (`RESHARD RUN`, and at start-up for a job a
//! killed proxy left unfinished), abort it, clean up after it, and show it (`SHOW SHARDGATE RESHARD`,
//! metrics). The job runs inside the proxy, because the cut-over holds the proxy's own sessions; the
//! `shardgate reshard run` command is a client of these statements.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::job::{moves_of, rules_of, Job, JobState, Phase};
use super::plan::TableMove;
use super::store::Store;
use crate::config::Rules;
use crate::metrics::Metrics;
use crate::server::Live;

/// The job of one proxy, if any; outlives reloads.
#[derive(Default)]
pub struct Control {
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    shown: std::sync::Mutex<Shown>,
    /// A fleet member holding its gate for the cut-over takes rules whose placement changed.
    switch_ok: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Shown {
    state: Option<JobState>,
    /// When this process first saw the job and how many rows it had read then (for the rate).
    since: Option<(Instant, u64)>,
}

/// The figures of SHOW SHARDGATE RESHARD.
pub const COLUMNS: [&str; 14] = [
    "phase",
    "tables",
    "rows_estimated",
    "rows_scanned",
    "rows_copied",
    "rows_per_s",
    "eta_s",
    "copy_s",
    "changes_applied",
    "pause_ms",
    "moved_share",
    "backoffs",
    "resumed",
    "error",
];

fn scanned(st: &JobState) -> (u64, u64, u64) {
    st.copies.iter().fold((0, 0, 0), |(e, s, c), x| (e + x.estimated, s + x.progress.scanned, c + x.progress.copied))
}

impl Control {
    /// Records `st` for SHOW SHARDGATE RESHARD and publishes its figures as metrics.
    pub fn show(&self, st: &JobState, metrics: &Metrics) {
        let (_, rows, copied) = scanned(st);
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        shown.since.get_or_insert((Instant::now(), rows));
        shown.state = Some(st.clone());
        metrics.gauge("shardgate_reshard_rows_scanned", &[], rows as f64);
        metrics.gauge("shardgate_reshard_rows_copied", &[], copied as f64);
        metrics.gauge("shardgate_reshard_changes_applied", &[], st.applied as f64);
        metrics.gauge("shardgate_reshard_backoffs", &[], st.backoffs as f64);
        for p in Phase::ALL {
            metrics.gauge("shardgate_reshard_phase", &[("phase", p.name().to_string())], if p == st.phase { 1.0 } else { 0.0 });
        }
        if let Some(p) = st.pause_ms {
            metrics.gauge("shardgate_reshard_cutover_pause_ms", &[], p as f64);
        }
    }

    /// The row of SHOW SHARDGATE RESHARD, if a job was seen.
    pub fn row(&self) -> Option<Vec<String>> {
        let shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        let st = shown.state.as_ref()?;
        let (estimated, rows, copied) = scanned(st);
        let rate = shown.since.map_or(0.0, |(at, r0)| (rows - r0.min(rows)) as f64 / at.elapsed().as_secs_f64().max(0.001));
        let eta = if st.phase <= Phase::Copy && rate > 0.0 { format!("{:.0}", estimated.saturating_sub(rows) as f64 / rate) } else { String::new() };
        let mut tables: Vec<&str> = st.copies.iter().map(|c| c.table.as_str()).collect();
        tables.dedup();
        Some(vec![
            st.phase.name().to_string(),
            tables.join(","),
            estimated.to_string(),
            rows.to_string(),
            copied.to_string(),
            format!("{rate:.0}"),
            eta,
            format!("{:.1}", st.copy_ms as f64 / 1000.0),
            st.applied.to_string(),
            st.pause_ms.map(|p| p.to_string()).unwrap_or_default(),
            st.moved_share.map(|s| format!("{s:.4}")).unwrap_or_default(),
            st.backoffs.to_string(),
            st.resumed.to_string(),
            st.error.clone().unwrap_or_default(),
        ])
    }

    /// Lets (or stops letting) rules from etcd change placement: only while this fleet member holds its
    /// gate for a reshard's cut-over.
    pub fn allow_switch(&self, yes: bool) {
        self.switch_ok.store(yes, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether rules from etcd may change placement now.
    pub fn switch_allowed(&self) -> bool {
        self.switch_ok.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn state(&self) -> Option<JobState> {
        self.shown.lock().unwrap_or_else(|e| e.into_inner()).state.clone()
    }

    /// Starts the reshard to the rules in `target` (a file the proxy can read), or resumes the unfinished
    /// job to the same rules, or attaches to the one running; says which.
    pub async fn start(self: &Arc<Self>, live: &Live, target: &std::path::Path, rate: Option<u64>, cleanup: bool) -> Result<String, String> {
        let started = self.start_here(live, target, rate, cleanup).await;
        if let (Err(_), Some(f)) = (&started, &live.fleet) {
            // Nothing runs here: let another instance take a job to run.
            if !self.task.lock().await.as_ref().is_some_and(|t| !t.is_finished()) {
                super::fleet::unclaim(f).await;
            }
        }
        started
    }

    async fn start_here(self: &Arc<Self>, live: &Live, target: &std::path::Path, rate: Option<u64>, cleanup: bool) -> Result<String, String> {
        let (mut store, rules_path) = where_saved(live)?;
        let target_text = std::fs::read_to_string(target).map_err(|e| format!("cannot read {}: {e}", target.display()))?;
        let mut task = self.task.lock().await;
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return match self.state() {
                Some(st) if st.target_rules == target_text => Ok("attached to the reshard running to these rules".into()),
                _ => Err("another reshard is running; wait for it or RESHARD ABORT it".into()),
            };
        }
        if let Some(f) = &live.fleet {
            let runner = super::fleet::claim(f).await?;
            if runner != f.boot.instance() {
                return Err(format!("the fleet's reshard runs on instance {runner}; follow it there (SHOW SHARDGATE RESHARD)"));
            }
        }
        let (st, said) = match store.load().await? {
            Some(mut st) if !st.phase.finished() => {
                if st.target_rules != target_text {
                    return Err(format!("an unfinished reshard to other rules ({}) is saved; RESHARD RUN those or RESHARD ABORT it", st.target_path.display()));
                }
                st.resumed += 1;
                st.error = None;
                st.rate = rate.unwrap_or(st.rate);
                st.cleanup |= cleanup;
                let said = format!("resumed at {}", st.phase.name());
                (st, said)
            }
            _ => {
                let source_text = match &live.fleet {
                    Some(f) => crate::fleet::rules_store::get(&f.client, &f.keys.rules(), None)
                        .await
                        .map_err(|e| format!("etcd: {e}"))?
                        .ok_or("etcd has no rules document")?
                        .text,
                    None => std::fs::read_to_string(&rules_path).map_err(|e| format!("cannot read {}: {e}", rules_path.display()))?,
                };
                let old = rules_of(&source_text, &rules_path)?;
                let new = rules_of(&target_text, target)?;
                let moves = moves_of(&old, &new)?;
                let refused = super::estimate::estimate(&old, &moves).await.refused;
                if !refused.is_empty() {
                    return Err(refused.join("; "));
                }
                let st = JobState {
                    source_rules: source_text,
                    target_rules: target_text,
                    target_path: target.to_path_buf(),
                    rules_path,
                    phase: Phase::Prepare,
                    copies: Vec::new(),
                    binlog: Default::default(),
                    rate: rate.unwrap_or(0),
                    cleanup,
                    applied: 0,
                    pause_ms: None,
                    moved_share: None,
                    resumed: 0,
                    backoffs: 0,
                    copy_ms: 0,
                    error: None,
                };
                (st, format!("started: {} table(s) to reshard", moves.len()))
            }
        };
        *task = Some(self.spawn(live, store, st));
        Ok(said)
    }

    fn spawn(self: &Arc<Self>, live: &Live, store: Store, st: JobState) -> tokio::task::JoinHandle<()> {
        let mut job = Job { live: live.clone(), control: self.clone(), store, st, backoff: None };
        job.control.show(&job.st, &live.load().metrics);
        tokio::spawn(async move {
            if let Err(e) = job.run().await {
                tracing::error!(error = %e, phase = job.st.phase.name(), "reshard stopped; RESHARD RUN resumes it, RESHARD ABORT gives up");
                job.st.error = Some(e);
                let _ = job.save().await;
                if let Some(f) = job.live.fleet.clone() {
                    let _ = super::fleet::let_go(&f).await;
                } else if job.st.phase < Phase::Switching {
                    job.live.load().reshard_gate.store(None);
                }
            }
        })
    }

    /// Resumes the job a stopped proxy started from the same rules file left unfinished (not one that
    /// failed: that waits for RESHARD RUN or ABORT).
    pub async fn resume_at_start(self: Arc<Self>, live: Live) {
        let shared = live.load_full();
        let Some(path) = shared.rules_path.clone() else { return };
        let Ok(mut store) = Store::new(&shared.rules, &path) else { return };
        match store.load().await {
            Ok(Some(st)) if !st.phase.finished() && st.error.is_none() => {
                let mut st = st;
                st.resumed += 1;
                tracing::warn!(phase = st.phase.name(), "resuming the reshard this proxy left unfinished");
                *self.task.lock().await = Some(self.spawn(&live, store, st));
            }
            Ok(Some(st)) => self.show(&st, &shared.metrics),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the reshard progress; RESHARD RUN resumes an unfinished job"),
        }
    }

    /// A fleet member's check, once a second: resumes the fleet's unfinished job if its runner is gone.
    pub async fn take_over(self: &Arc<Self>, live: &Live, fleet: &Arc<crate::fleet::Fleet>) {
        let mut task = self.task.lock().await;
        if task.as_ref().is_some_and(|t| !t.is_finished()) || fleet.lease().is_none() {
            return;
        }
        let mut store = Store::Fleet(fleet.clone());
        let Ok(Some(mut st)) = store.load().await else { return };
        if st.phase.finished() || st.error.is_some() {
            return;
        }
        if super::fleet::claim(fleet).await.ok().as_deref() != Some(fleet.boot.instance()) {
            return;
        }
        st.resumed += 1;
        tracing::warn!(phase = st.phase.name(), "resuming the fleet's reshard, whose runner is gone");
        *task = Some(self.spawn(live, store, st));
    }

    /// Aborts the job before its switch: stops it, removes what was copied and the staging tables, and
    /// leaves the old layout serving.
    pub async fn abort(self: &Arc<Self>, live: &Live) -> Result<String, String> {
        let shared = live.load_full();
        let (mut store, _) = where_saved(live)?;
        if let Some(f) = &live.fleet {
            let runner = super::fleet::claim(f).await?;
            if runner != f.boot.instance() {
                return Err(format!("the fleet's reshard runs on instance {runner}; abort it there"));
            }
        }
        let mut task = self.task.lock().await;
        if let Some(t) = task.take() {
            t.abort();
            let _ = t.await;
        }
        let Some(mut st) = store.load().await? else { return Err("no reshard to abort".into()) };
        if st.phase >= Phase::Switching {
            let phase = st.phase;
            if !phase.finished() {
                *task = Some(self.spawn(live, store, st));
            }
            return Err(format!("too late to abort: the reshard is at {} (the switch had begun); it goes on", phase.name()));
        }
        live.load().reshard_gate.store(None);
        let old = rules_of(&st.source_rules, &st.rules_path)?;
        let new = rules_of(&st.target_rules, &st.target_path)?;
        let moves = moves_of(&old, &new)?;
        let mut removed = 0;
        for m in &moves {
            for node in m.added() {
                removed += super::cleanup::delete_foreign(&new, m, node, &m.old, 5000, Duration::from_millis(5)).await?;
            }
            for to in m.staged() {
                let staging = m.landing(to);
                let mut conn = super::connect(&new, &staging.data_source).await?;
                mysql_async::prelude::Queryable::query_drop(&mut conn, format!("DROP TABLE IF EXISTS {}.{}", super::ident(&m.database), super::ident(&staging.table)))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        st.phase = Phase::Aborted;
        store.save(&st).await?;
        if let Some(f) = &live.fleet {
            super::fleet::finish(f).await?;
        }
        self.show(&st, &shared.metrics);
        Ok(format!("aborted: {removed} copied rows removed, the old rules keep serving"))
    }

    /// Deletes the rows left on the nodes the last finished reshard removed.
    pub async fn cleanup(self: &Arc<Self>, live: &Live) -> Result<String, String> {
        let (mut store, _) = where_saved(live)?;
        let st = store.load().await?.ok_or("no reshard to clean up after")?;
        if st.phase < Phase::Cleanup || st.phase == Phase::Aborted {
            return Err(format!("the reshard is at {}; its sources are cleaned once the new rules serve", st.phase.name()));
        }
        let old = rules_of(&st.source_rules, &st.rules_path)?;
        let moves = moves_of(&old, &rules_of(&st.target_rules, &st.target_path)?)?;
        let n = clean_removed(&old, &moves).await?;
        Ok(format!("{n} rows deleted from the removed nodes"))
    }
}

/// Where this proxy's job is saved, and the path its rules are known by (for a fleet, the etcd key).
fn where_saved(live: &Live) -> Result<(Store, std::path::PathBuf), String> {
    let shared = live.load_full();
    if let Some(f) = &live.fleet {
        return Ok((Store::Fleet(f.clone()), format!("etcd:{}", f.keys.rules()).into()));
    }
    let path = shared.rules_path.clone().ok_or("this proxy was not started from a rules file, which the reshard rewrites at its switch")?;
    Ok((Store::new(&shared.rules, &path)?, path))
}

/// Deletes, throttled, every row on the nodes `moves` removed (reached with the old rules); returns how many.
pub async fn clean_removed(old: &Rules, moves: &[TableMove]) -> Result<u64, String> {
    let mut n = 0;
    for m in moves {
        for node in m.removed() {
            n += super::cleanup::delete_foreign(old, m, node, &m.new, 1000, Duration::from_millis(10)).await?;
        }
    }
    Ok(n)
}
