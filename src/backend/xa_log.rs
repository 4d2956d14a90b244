//! The XA decision log: one append-only file per shardgate instance. A commit decision is written and
//! fsync'd before the first `XA COMMIT` is sent, so after a crash recovery commits exactly the prepared
//! branches whose transaction was decided and rolls back the rest.
//!
//! Format (text, one record per line): `shardgate-xa-log 1 <prefix>` first, then `C <gtrid>` (commit
//! decided) and `D <gtrid>` (every branch committed). The prefix, random at creation, starts every gtrid
//! this instance makes (`sg-<prefix>-<n>`), so recovery never touches another instance's transactions.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::commit_barrier::CommitBarrier;

/// An open decision log.
#[derive(Debug)]
pub struct XaLog {
    path: PathBuf,
    prefix: String,
    file: Mutex<File>,
    next: AtomicU64,
    /// gtrids of transactions this process is running: recovery leaves them alone.
    in_flight: Mutex<HashSet<String>>,
    /// Decided commits whose branches may not all be committed yet (from the file, and this run's).
    decided: Mutex<HashSet<String>>,
    /// The current file's size, and the size past which it is compacted while running (0: never).
    bytes: AtomicU64,
    max_bytes: AtomicU64,
    compactions: AtomicU64,
    /// Group commit: records appended so far, the number known durable, and the one fsync at a time.
    appended: AtomicU64,
    durable: AtomicU64,
    syncs: AtomicU64,
    syncing: Mutex<()>,
    /// Commit phases against cross-shard snapshot starts (every session of the process shares this log).
    barrier: CommitBarrier,
}

/// The default `xa_log_max_bytes`: about 16,000 two-phase commits between compactions.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 20;

/// Writes a log holding `prefix`'s header and the `open` decisions to `<path>.tmp`, fsyncs it, renames it
/// over `path`, fsyncs the directory, and returns an append handle on it with its size. `running`: a
/// compaction while serving (where the test fault points apply), not the one at start-up.
fn rewrite(path: &Path, prefix: &str, open: &HashSet<String>, running: bool) -> std::io::Result<(File, u64)> {
    let tmp = path.with_extension("tmp");
    let mut text = format!("shardgate-xa-log 1 {prefix}\n");
    for g in open {
        text.push_str(&format!("C {g}\n"));
    }
    {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    if running {
        test_fault("exit_in_compaction");
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    if running {
        test_fault("exit_after_compaction");
    }
    Ok((OpenOptions::new().append(true).open(path)?, text.len() as u64))
}

/// Test-only crash points of compaction (`SHARDGATE_TEST_FAULT`, README): the process exits with 86.
fn test_fault(point: &str) {
    static FAULT: OnceLock<Option<String>> = OnceLock::new();
    if FAULT.get_or_init(|| std::env::var("SHARDGATE_TEST_FAULT").ok()).as_deref() == Some(point) {
        eprintln!("shardgate: SHARDGATE_TEST_FAULT={point}: exiting now");
        std::process::exit(86);
    }
}

/// Servers of one process that name the same file share one log (and one set of transactions in flight).
fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<XaLog>>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, Weak<XaLog>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

impl XaLog {
    /// Opens (or creates) the log at `path`, keeping only decisions not known to be done.
    pub fn open(path: &Path) -> std::io::Result<Arc<XaLog>> {
        Self::open_as(path, None)
    }

    /// Like [`XaLog::open`]; a new log takes `prefix` (a fleet member's id) instead of a random one. An
    /// existing log keeps its own: its open decisions are under it.
    pub fn open_as(path: &Path, prefix: Option<&str>) -> std::io::Result<Arc<XaLog>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        if !path.exists() {
            File::create(path)?;
        }
        let canonical = path.canonicalize()?;
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(log) = reg.get(&canonical).and_then(Weak::upgrade) {
            return Ok(log);
        }
        let wanted = prefix;
        let mut prefix = None;
        let mut decided = HashSet::new();
        for line in BufReader::new(File::open(&canonical)?).lines() {
            let line = line?;
            match line.split_once(' ') {
                Some(("shardgate-xa-log", rest)) => prefix = rest.split(' ').nth(1).map(str::to_string),
                Some(("C", g)) => {
                    decided.insert(g.to_string());
                }
                Some(("D", g)) => {
                    decided.remove(g);
                }
                _ => {} // a torn last line from a crash: that decision was never acknowledged
            }
        }
        let prefix = prefix.unwrap_or_else(|| wanted.map_or_else(|| format!("{:08x}", rand::random::<u32>()), str::to_string));
        let (file, bytes) = rewrite(&canonical, &prefix, &decided, false)?;
        let log = Arc::new(XaLog {
            path: canonical.clone(),
            prefix,
            file: Mutex::new(file),
            next: AtomicU64::new(1),
            in_flight: Mutex::new(HashSet::new()),
            decided: Mutex::new(decided),
            bytes: AtomicU64::new(bytes),
            max_bytes: AtomicU64::new(DEFAULT_MAX_BYTES),
            compactions: AtomicU64::new(0),
            appended: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            syncing: Mutex::new(()),
            barrier: CommitBarrier::default(),
        });
        reg.insert(canonical, Arc::downgrade(&log));
        Ok(log)
    }

    /// The prefix of this instance's gtrids (`sg-<prefix>-…`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `gtrid` was made by this instance (this or an earlier run with the same log).
    pub fn owns(&self, gtrid: &str) -> bool {
        gtrid.strip_prefix("sg-").and_then(|r| r.strip_prefix(self.prefix.as_str())).is_some_and(|r| r.starts_with('-'))
    }

    /// A fresh gtrid, registered as in flight until [`XaLog::finished`].
    pub fn begin(&self) -> String {
        // A start-time component keeps ids unique across restarts with the same log.
        static RUN: OnceLock<u64> = OnceLock::new();
        let run = RUN.get_or_init(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64));
        let gtrid = format!("sg-{}-{run:x}-{}", self.prefix, self.next.fetch_add(1, Ordering::Relaxed));
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(gtrid.clone());
        gtrid
    }

    /// Whether this process is running `gtrid` right now.
    pub fn in_flight(&self, gtrid: &str) -> bool {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).contains(gtrid)
    }

    /// Records, durably, that `gtrid` commits. Only after this returns may any branch commit.
    ///
    /// Group commit: concurrent decisions share one fsync. Each record is appended first; then one caller
    /// at a time syncs everything appended so far, and a caller whose record an earlier sync already
    /// covered returns without a sync of its own. Blocking: call it off the async workers.
    pub fn decide_commit(&self, gtrid: &str) -> std::io::Result<()> {
        self.decided.lock().unwrap_or_else(|e| e.into_inner()).insert(gtrid.to_string());
        let mine = {
            let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
            let line = format!("C {gtrid}\n");
            f.write_all(line.as_bytes())?;
            self.bytes.fetch_add(line.len() as u64, Ordering::Relaxed);
            self.appended.fetch_add(1, Ordering::SeqCst) + 1
        };
        let _one_at_a_time = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
        if self.durable.load(Ordering::SeqCst) >= mine {
            return Ok(());
        }
        // Everything appended before this point is in the file: one fsync makes all of it durable. The sync
        // runs on its own handle of the current file, so that appending never waits for it (a compaction
        // meanwhile made every open decision durable in the new file anyway).
        let upto = self.appended.load(Ordering::SeqCst);
        let handle = self.file.lock().unwrap_or_else(|e| e.into_inner()).try_clone()?;
        handle.sync_data()?;
        self.durable.fetch_max(upto, Ordering::SeqCst);
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Commit decisions recorded and the fsyncs that made them durable, since the log was opened: with
    /// concurrent two-phase commits there are fewer syncs than decisions.
    pub fn decisions_and_syncs(&self) -> (u64, u64) {
        (self.appended.load(Ordering::Relaxed), self.syncs.load(Ordering::Relaxed))
    }

    /// The barrier between this process's commit phases and its snapshot starts.
    pub fn barrier(&self) -> &CommitBarrier {
        &self.barrier
    }

    /// Whether `gtrid` was decided to commit.
    pub fn committed(&self, gtrid: &str) -> bool {
        self.decided.lock().unwrap_or_else(|e| e.into_inner()).contains(gtrid)
    }

    /// The transaction is over in this process; `all_committed` records that no branch is left to commit.
    pub fn finished(&self, gtrid: &str, all_committed: bool) {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(gtrid);
        if all_committed && self.decided.lock().unwrap_or_else(|e| e.into_inner()).remove(gtrid) {
            let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
            // Not fsync'd: if lost, recovery finds nothing prepared under this gtrid and does nothing.
            let line = format!("D {gtrid}\n");
            if f.write_all(line.as_bytes()).is_ok() {
                self.bytes.fetch_add(line.len() as u64, Ordering::Relaxed);
            }
            let max = self.max_bytes.load(Ordering::Relaxed);
            if max > 0 && self.bytes.load(Ordering::Relaxed) > max {
                if let Err(e) = self.compact(&mut f) {
                    tracing::warn!(log = %self.path.display(), error = %e, "XA decision log: compaction failed; appending to the old file");
                }
            }
        }
    }

    /// Sets the size past which the file is compacted while running (`xa_log_max_bytes`; 0: only at start).
    pub fn set_max_bytes(&self, max: u64) {
        self.max_bytes.store(max, Ordering::Relaxed);
    }

    /// The current file's size in bytes and how many times it was compacted while running.
    pub fn size_and_compactions(&self) -> (u64, u64) {
        (self.bytes.load(Ordering::Relaxed), self.compactions.load(Ordering::Relaxed))
    }

    /// Rewrites the file with only the decisions still open, while holding the append lock (`f`), and
    /// continues appending to the new file. Crash-safe at every point: the new file is complete and
    /// fsync'd before it replaces the old one by rename, and either file holds every open decision.
    fn compact(&self, f: &mut File) -> std::io::Result<()> {
        let open = self.decided.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (file, bytes) = rewrite(&self.path, &self.prefix, &open, true)?;
        *f = file;
        self.bytes.store(bytes, Ordering::Relaxed);
        // Every decision appended so far is either open (and durable in the new file) or done.
        self.durable.fetch_max(self.appended.load(Ordering::SeqCst), Ordering::SeqCst);
        self.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_survive_reopening_and_done_ones_are_dropped() {
        let dir = std::env::temp_dir().join(format!("sg-xa-log-{}", std::process::id()));
        let path = dir.join("xa.log");
        let _ = std::fs::remove_file(&path);
        let (a, b, prefix) = {
            let log = XaLog::open(&path).unwrap();
            let (a, b) = (log.begin(), log.begin());
            assert!(log.owns(&a) && log.in_flight(&a) && !log.owns("sg-other-1"));
            log.decide_commit(&a).unwrap();
            log.decide_commit(&b).unwrap();
            log.finished(&b, true);
            assert!(!log.in_flight(&b));
            (a, b, log.prefix.clone())
        };
        // A torn line at the end (a crash mid-write) is ignored.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"C sg-torn").unwrap();
        let log = XaLog::open(&path).unwrap();
        assert_eq!(log.prefix, prefix, "the instance keeps its prefix across restarts");
        assert!(log.committed(&a) && !log.committed(&b) && !log.in_flight(&a));
        assert!(log.committed("sg-torn"), "an unterminated last record still names a decision that was written");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn concurrent_decisions_are_all_written_and_synced() {
        let dir = std::env::temp_dir().join(format!("sg-xa-group-{}", std::process::id()));
        let path = dir.join("xa.log");
        let _ = std::fs::remove_file(&path);
        let log = XaLog::open(&path).unwrap();
        let gtrids: Vec<String> = (0..64).map(|_| log.begin()).collect();
        std::thread::scope(|s| {
            for chunk in gtrids.chunks(8) {
                let log = &log;
                s.spawn(move || chunk.iter().for_each(|g| log.decide_commit(g).unwrap()));
            }
        });
        let (decisions, syncs) = log.decisions_and_syncs();
        assert_eq!(decisions, 64);
        assert!((1..=64).contains(&syncs), "{syncs} syncs");
        assert_eq!(log.durable.load(Ordering::SeqCst), 64, "the last sync covered every record");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(gtrids.iter().all(|g| text.lines().any(|l| l == format!("C {g}"))));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_file_is_compacted_while_running_and_keeps_every_open_decision() {
        let dir = std::env::temp_dir().join(format!("sg-xa-compact-{}", std::process::id()));
        let path = dir.join("xa.log");
        let _ = std::fs::remove_file(&path);
        let log = XaLog::open(&path).unwrap();
        log.set_max_bytes(4096);
        let mut open = Vec::new();
        let mut largest = 0;
        for n in 0..5000 {
            let g = log.begin();
            log.decide_commit(&g).unwrap();
            // Every 500th decision stays open (its branches not all committed): compaction must keep it.
            if n % 500 == 0 {
                open.push(g.clone());
                log.finished(&g, false);
            } else {
                log.finished(&g, true);
            }
            largest = largest.max(std::fs::metadata(&path).unwrap().len());
        }
        let (size, compactions) = log.size_and_compactions();
        assert!(compactions >= 50, "{compactions} compactions");
        // The bound: the threshold plus one record, plus the open decisions a compaction must carry.
        assert!(largest <= 4096 + 200 + 60 * open.len() as u64, "the file reached {largest} bytes");
        assert_eq!(size, std::fs::metadata(&path).unwrap().len(), "the size kept is the file's");
        drop(log);
        let log = XaLog::open(&path).unwrap();
        assert!(open.iter().all(|g| log.committed(g)), "every open decision survived the compactions");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1 + open.len(), "after reopening: the header and the open decisions");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Where a fleet member records an XA commit decision before it commits (etcd), so a peer finds it should
/// this instance die; the fleet implements it (fleet/xa.rs), the XA coordinator only calls it.
pub trait FleetDecisions: Send + Sync {
    /// Records that `gtrid` commits; an error means it must be rolled back.
    fn decide<'a>(&'a self, gtrid: &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;
    /// Forgets `gtrid`'s record once every branch committed.
    fn forget(&self, gtrid: &str);
}
