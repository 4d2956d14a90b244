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
    /// Statement latencies since resharding last looked.
    pub latency: crate::latency::LatencyWindow,
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
