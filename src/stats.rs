//! Counters of one server instance. Plain atomics on the hot path (a few ns each); the Prometheus exporter
//! will read these rather than call `counter!()` per statement (ARCHITECTURE.md, Measurements).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by every session of one server.
#[derive(Debug, Default)]
pub struct Stats {
    /// Client connections accepted.
    pub connections_accepted: AtomicU64,
    /// Client sessions currently open (logged in or logging in).
    pub sessions_active: AtomicU64,
    /// Commands received from clients.
    pub questions: AtomicU64,
    /// Result rows relayed from backends without decoding.
    pub rows_relayed: AtomicU64,
    /// Connections the proxy opened to backends.
    pub backend_connects: AtomicU64,
    /// Backend connections that failed or broke.
    pub backend_errors: AtomicU64,
    /// Statements prepared through the proxy and not yet closed.
    pub prepared_statements: AtomicU64,
    /// XA transactions committed in two phases.
    pub xa_two_phase_commits: AtomicU64,
    /// Prepared XA branches recovery committed.
    pub xa_recovered_commits: AtomicU64,
    /// Prepared XA branches recovery rolled back.
    pub xa_recovered_rollbacks: AtomicU64,
    /// Lock cycles across data sources the deadlock detector broke.
    pub deadlocks: AtomicU64,
    /// How long the victims of those cycles had waited, in all (milliseconds).
    pub deadlock_wait_ms: AtomicU64,
    /// Logins refused for a wrong password or unknown user.
    pub logins_failed: AtomicU64,
    /// Users blocked by `max_password_errors`, and logins refused while blocked.
    pub logins_blocked: AtomicU64,
    /// Times each step of the XA coordinator ran ([`XaStep`]), and the microseconds it took in all.
    pub xa_step_count: [AtomicU64; XA_STEPS.len()],
    /// See `xa_step_count`.
    pub xa_step_us: [AtomicU64; XA_STEPS.len()],
    /// Statement latencies since resharding last looked.
    pub latency: crate::latency::LatencyWindow,
}

/// The steps of the XA coordinator whose cost is counted, by [`XaStep`] index: what one transaction
/// pays for atomicity across shards (bench/README.md, XA).
pub const XA_STEPS: [&str; 6] = ["start", "one_phase_commit", "prepare", "decision", "commit", "snapshot"];

/// One step of the XA coordinator (index into [`XA_STEPS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XaStep {
    /// Branches joining: `XA START` on each data source a statement first reaches (one batch).
    Start = 0,
    /// COMMIT where at most one branch wrote: `XA END` + `XA COMMIT … ONE PHASE` on every branch.
    OnePhaseCommit = 1,
    /// `XA END` + `XA PREPARE` on every branch.
    Prepare = 2,
    /// The commit decision made durable (the decision log's fsync; a fleet member's etcd record).
    Decision = 3,
    /// `XA COMMIT` on every branch (including the wait at the snapshot barrier).
    Commit = 4,
    /// A snapshot across shards: the barrier, every primary joining and taking its read view.
    Snapshot = 5,
}

impl Stats {
    /// Counts one run of `step` that began at `since`.
    pub fn xa_step(&self, step: XaStep, since: std::time::Instant) {
        let i = step as usize;
        self.xa_step_count[i].fetch_add(1, Ordering::Relaxed);
        self.xa_step_us[i].fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
