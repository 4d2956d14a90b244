//! A reshard job: its persisted state, and the phases run in order — prepare, copy, catch up, cut over,
//! clean up — each resumable from the state last saved, so a proxy killed at any point and started again
//! from the same rules file carries on where it was (a chunk or a binlog transaction repeated is harmless:
//! copies are REPLACEs, and replaying changes in the source's order ends where the source is).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::binlog::{current, BinlogReader, Position};
use super::catchup::{catch_up_to, Applier};
use super::control::Control;
use super::copy::{prepare, Copier, CopyProgress};
use super::plan::{diff, TableMove};
use super::store::Store;
use crate::config::Rules;
use crate::server::Live;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    /// Creating the tables on the new nodes.
    Prepare,
    /// Copying the leaving rows.
    Copy,
    /// Applying the sources' binlog since the copy began.
    CatchUp,
    /// Holding the tables, draining, verifying.
    CutOver,
    /// Verified: merging staged rows, deleting the sources' residue, switching the rules (only forward
    /// from here, even after a crash).
    Switching,
    /// The new rules serve; the removed nodes' rows wait for `RESHARD CLEANUP` (or the job's flag).
    Cleanup,
    /// Finished.
    Done,
    /// Aborted before cut-over; the copied rows were removed.
    Aborted,
}

impl Phase {
    /// Every phase in order.
    pub const ALL: [Phase; 8] = [Phase::Prepare, Phase::Copy, Phase::CatchUp, Phase::CutOver, Phase::Switching, Phase::Cleanup, Phase::Done, Phase::Aborted];

    /// The phase's name as SHOW SHARDGATE RESHARD prints it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare",
            Phase::Copy => "copy",
            Phase::CatchUp => "catch_up",
            Phase::CutOver => "cut_over",
            Phase::Switching => "switching",
            Phase::Cleanup => "cleanup",
            Phase::Done => "done",
            Phase::Aborted => "aborted",
        }
    }

    /// Whether the job has nothing left to run.
    pub fn finished(self) -> bool {
        matches!(self, Phase::Done | Phase::Aborted)
    }
}

/// The copy of one source node of one table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceCopy {
    /// `schema.table`.
    pub table: String,
    /// Index of the node among the table's old nodes.
    pub from: usize,
    /// Rows the source holds (information_schema's estimate when the copy began).
    pub estimated: u64,
    /// How far it got.
    pub progress: CopyProgress,
}

/// Everything a job needs to resume; saved after every chunk and every catch-up round.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobState {
    /// The rules in force when the job began (TOML).
    pub source_rules: String,
    /// The new rules (TOML), and the file they were read from.
    pub target_rules: String,
    /// The file the new rules came from.
    pub target_path: PathBuf,
    /// The proxy's rules file, rewritten with the new rules at the switch (the old one kept beside it).
    pub rules_path: PathBuf,
    /// Where the job is.
    pub phase: Phase,
    /// The copies, per source node of each moving table.
    pub copies: Vec<SourceCopy>,
    /// Per source data source: where its binlog stood before the copy began, and how far it was applied.
    pub binlog: BTreeMap<String, (Position, Position)>,
    /// Rows read per second at most during the copy (0: unlimited).
    pub rate: u64,
    /// Delete the removed nodes' rows right after the switch.
    pub cleanup: bool,
    /// Row changes applied from the binlogs.
    pub applied: u64,
    /// How long writes to the moving tables waited at the cut-over.
    pub pause_ms: Option<u64>,
    /// Share of the tables' rows that moved.
    pub moved_share: Option<f64>,
    /// Times the job was resumed after a stop.
    pub resumed: u32,
    /// Seconds the copy and catch-up paused because the live workload's p99 rose.
    #[serde(default)]
    pub backoffs: u64,
    /// Milliseconds spent copying (pauses included), over every run of the job.
    #[serde(default)]
    pub copy_ms: u64,
    /// Why the job stopped, if it failed; `RESHARD RUN` again resumes it.
    pub error: Option<String>,
}

/// Parses rules text saved in a job.
pub fn rules_of(text: &str, path: &std::path::Path) -> Result<Rules, String> {
    crate::config::parse(text, path).map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
}

/// The moves of a job.
pub fn moves_of(old: &Rules, new: &Rules) -> Result<Vec<TableMove>, String> {
    diff(old, new).map_err(|r| r.join("; "))
}

/// Waits until the XA transactions prepared on `ds` now are committed or rolled back: their changes were
/// logged before the catch-up's start position, so the copy (which starts after this) must see them done.
async fn settle_xa(rules: &Rules, ds: &str) -> Result<(), String> {
    use mysql_async::prelude::Queryable;
    let mut conn = super::connect(rules, ds).await?;
    let mut waiting: Vec<mysql_async::Row> = conn.query("XA RECOVER").await.map_err(|e| format!("{ds}: XA RECOVER: {e}"))?;
    let name = |r: &mysql_async::Row| r.get::<Vec<u8>, _>(3).unwrap_or_default();
    let before: std::collections::BTreeSet<Vec<u8>> = waiting.iter().map(name).collect();
    for _ in 0..600 {
        if waiting.iter().all(|r| !before.contains(&name(r))) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        waiting = conn.query("XA RECOVER").await.map_err(|e| format!("{ds}: XA RECOVER: {e}"))?;
    }
    Err(format!("{ds}: XA transactions stay prepared for 30 s ({} of them; XA RECOVER lists them); commit or roll them back, then RESHARD RUN again", waiting.len()))
}

/// The binlog server id a job's readers announce (unique per source, away from the lab's replicas).
fn server_id(i: usize) -> u32 {
    4_000_001 + i as u32
}

/// A running job: what it works on and where it reports.
pub struct Job {
    /// The proxy.
    pub live: Live,
    /// Where progress is shown.
    pub control: Arc<Control>,
    /// Where progress is saved.
    pub store: Store,
    /// The state.
    pub st: JobState,
    /// Watches the live workload's p99 while the job loads the backends.
    pub backoff: Option<super::pace::Backoff>,
}

impl Job {
    /// Saves the state and shows it.
    pub async fn save(&mut self) -> Result<(), String> {
        self.control.show(&self.st, &self.live.load().metrics);
        self.store.save(&self.st).await
    }

    /// Runs the job from its saved phase to the end.
    pub async fn run(&mut self) -> Result<(), String> {
        let old = rules_of(&self.st.source_rules, &self.st.rules_path)?;
        let new = rules_of(&self.st.target_rules, &self.st.target_path)?;
        let moves = moves_of(&old, &new)?;
        let tables: Vec<String> = moves.iter().map(|m| m.table.clone()).collect();
        match self.live.fleet.clone() {
            // Every instance installs it from etcd, this one too.
            Some(f) => super::fleet::install(&f, &tables).await?,
            None => self.live.load().reshard_gate.store(Some(Arc::new(crate::cutover_gate::Gate::with_rules(&tables, new.clone())))),
        }
        if self.st.phase == Phase::Prepare {
            self.prepare(&old, &new, &moves).await?;
        }
        if self.st.phase <= Phase::CatchUp {
            self.backoff = Some(super::pace::Backoff::measure(self.live.load().stats.clone()).await);
        }
        if self.st.phase == Phase::Copy {
            self.copy(&old, &new, &moves).await?;
        }
        if matches!(self.st.phase, Phase::CatchUp | Phase::CutOver | Phase::Switching) {
            super::cutover::run(self, &old, &new, &moves).await?;
        }
        match self.live.fleet.clone() {
            Some(f) => super::fleet::finish(&f).await?,
            None => self.live.load().reshard_gate.store(None),
        }
        if self.st.phase == Phase::Cleanup {
            if self.st.cleanup {
                super::control::clean_removed(&old, &moves).await?;
            }
            self.st.phase = Phase::Done;
            self.save().await?;
        }
        Ok(())
    }

    async fn prepare(&mut self, old: &Rules, new: &Rules, moves: &[TableMove]) -> Result<(), String> {
        for m in moves {
            let created = prepare(old, new, m).await?;
            tracing::info!(table = %m.table, ?created, "reshard: tables prepared");
            for (from, node) in m.old.nodes.iter().enumerate() {
                let estimated = super::estimate::table_rows(old, &m.database, node).await?;
                self.st.copies.push(SourceCopy { table: format!("{}.{}", m.schema, m.table), from, estimated, progress: CopyProgress::default() });
            }
        }
        // Before the first row is read: the catch-up replays everything from here.
        let mut sources: Vec<&str> = moves.iter().flat_map(|m| m.old.nodes.iter().map(|n| n.data_source.as_str())).collect();
        sources.sort();
        sources.dedup();
        for ds in sources {
            let at = current(ds, &old.data_sources[ds]).await?;
            settle_xa(old, ds).await?;
            self.st.binlog.insert(ds.to_string(), (at.clone(), at));
        }
        self.st.phase = Phase::Copy;
        self.save().await
    }

    async fn copy(&mut self, old: &Rules, new: &Rules, moves: &[TableMove]) -> Result<(), String> {
        let mut pace = super::pace::Pace::new(self.st.rate);
        for i in 0..self.st.copies.len() {
            if self.st.copies[i].progress.done {
                continue;
            }
            let name = self.st.copies[i].table.clone();
            let m = moves.iter().find(|m| format!("{}.{}", m.schema, m.table) == name).ok_or_else(|| format!("{name} is no longer resharded"))?;
            let mut copier = Copier::open(old, new, m, self.st.copies[i].from).await?;
            let chunk = if self.st.rate == 0 { 2000 } else { (self.st.rate as usize).clamp(50, 2000) };
            loop {
                let chunk_began = std::time::Instant::now();
                self.wait_for_replicas(new, m).await;
                self.back_off().await;
                let mut progress = self.st.copies[i].progress.clone();
                let before = progress.scanned;
                let more = copier.chunk(&mut progress, chunk).await?;
                let read = progress.scanned - before;
                self.st.copies[i].progress = progress;
                self.save().await?;
                pace.step(read).await;
                self.st.copy_ms += chunk_began.elapsed().as_millis() as u64;
                if !more {
                    break;
                }
            }
        }
        let (copied, scanned) = self.st.copies.iter().fold((0, 0), |(c, s), x| (c + x.progress.copied, s + x.progress.scanned));
        self.st.moved_share = (scanned > 0).then(|| copied as f64 / scanned as f64);
        self.st.phase = Phase::CatchUp;
        self.save().await
    }

    /// Waits while the live workload's p99 is up (counted in the state).
    pub async fn back_off(&mut self) {
        if let Some(b) = self.backoff.as_mut() {
            if b.check().await {
                self.st.backoffs += 1;
            }
        }
    }

    /// Backs off while a replica of a node receiving rows lags over half its bound (reads there would go
    /// to the primary otherwise, and the copy is what makes it lag).
    async fn wait_for_replicas(&self, new: &Rules, m: &TableMove) {
        for _ in 0..60 {
            let shared = self.live.load();
            let lagging = m.new.nodes.iter().any(|n| {
                let bound = new.data_sources.get(&n.data_source).map_or(u64::MAX, |d| d.max_replication_lag / 2);
                shared.replicas.get(&n.data_source).is_some_and(|set| set.replicas.iter().any(|r| r.health.snapshot().1.is_some_and(|lag| lag > bound.max(1))))
            });
            if !lagging {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Opens one binlog stream per source data source at the position applied so far, with the appliers
    /// of every moving table's node there.
    pub async fn streams<'a>(&self, old: &Rules, new: &'a Rules, moves: &'a [TableMove]) -> Result<Vec<Stream<'a>>, String> {
        let mut out = Vec::new();
        for (i, (ds, (_, applied))) in self.st.binlog.iter().enumerate() {
            let mut appliers = Vec::new();
            for m in moves {
                for (from, node) in m.old.nodes.iter().enumerate() {
                    if &node.data_source == ds {
                        appliers.push(Applier::open(old, new, m, from).await?);
                    }
                }
            }
            let reader = BinlogReader::open(ds, &old.data_sources[ds], applied, server_id(i)).await?;
            out.push(Stream { ds: ds.clone(), reader, appliers, at: applied.clone() });
        }
        Ok(out)
    }

    /// Applies every stream's changes up to where its primary is now (at the job's rate when `paced`);
    /// saves the positions.
    pub async fn catch_up(&mut self, old: &Rules, streams: &mut [Stream<'_>], paced: bool) -> Result<u64, String> {
        let mut pace = super::pace::Pace::new(self.st.rate);
        let mut applied = 0;
        for s in streams.iter_mut() {
            let until = current(&s.ds, &old.data_sources[&s.ds]).await?;
            // In batches, each saved: a restart resumes near where it stopped, and the figures move.
            while s.at < until {
                if paced {
                    self.back_off().await;
                }
                let before: u64 = s.appliers.iter().map(|a| a.applied).sum();
                s.at = catch_up_to(&mut s.reader, &mut s.appliers, &s.at, &until, paced.then_some(&mut pace), Some(2000)).await?;
                let batch = s.appliers.iter().map(|a| a.applied).sum::<u64>() - before;
                applied += batch;
                self.st.applied += batch;
                if let Some(e) = self.st.binlog.get_mut(&s.ds) {
                    e.1 = s.reader.resume_from();
                }
                self.save().await?;
            }
        }
        Ok(applied)
    }
}

/// One source data source's binlog and what applies it.
pub struct Stream<'a> {
    /// The data source.
    pub ds: String,
    /// Its binlog.
    pub reader: BinlogReader,
    /// The appliers of the moving tables' nodes on it.
    pub appliers: Vec<Applier<'a>>,
    /// Where it was applied to.
    pub at: Position,
}
