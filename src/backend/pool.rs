//! Connections to one data source: a bounded set, idle ones kept per variant for reuse. A connection holds
//! its permit while idle too, so `max_connections` bounds every connection open to the data source.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::conn::{BackendConn, Variant};
use crate::config::rules::DataSourceRule;
use crate::error::SgError;
use crate::protocol::constants::com;
use crate::stats::Stats;

/// The pool of one data source.
pub struct Pool {
    /// Data source name.
    pub name: String,
    rule: DataSourceRule,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<PooledConn>>,
    /// Wakes sessions waiting for a connection when one is returned idle.
    returned: tokio::sync::Notify,
    /// Sessions waiting for a connection now.
    waiting: std::sync::atomic::AtomicUsize,
    stats: Arc<Stats>,
}

/// A connection checked out of a pool; it holds one of the pool's permits until dropped or released.
pub struct PooledConn {
    /// The connection.
    pub conn: BackendConn,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    /// An empty pool for `rule`.
    pub fn new(name: &str, rule: DataSourceRule, stats: Arc<Stats>) -> Arc<Self> {
        Arc::new(Pool {
            name: name.to_string(),
            permits: Arc::new(Semaphore::new(rule.max_connections)),
            rule,
            idle: Mutex::new(Vec::new()),
            returned: tokio::sync::Notify::new(),
            waiting: Default::default(),
            stats,
        })
    }

    /// (in use, idle, waiting) connections and sessions, for metrics and the admin view.
    pub fn counts(&self) -> (usize, usize, usize) {
        let open = self.rule.max_connections - self.permits.available_permits();
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).len();
        (open.saturating_sub(idle), idle, self.waiting.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// A connection that does not count against `max_connections` and is not kept: for KILL, which must
    /// work when every pooled connection is busy (MySQL keeps a spare connection for the same reason).
    pub async fn connect_outside(&self) -> Result<BackendConn, SgError> {
        BackendConn::connect(&self.name, &self.rule, super::conn::Variant::CONTROL, None).await
    }

    /// Checks out a connection of `variant` with `database` selected (or none selected), reusing an idle one
    /// when possible. Waits up to the data source's acquire timeout when all connections are busy.
    pub async fn get(&self, variant: Variant, database: Option<&str>) -> Result<PooledConn, SgError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.rule.acquire_timeout_ms);
        let permit = loop {
            // Register for "a connection came back" before looking, so a return between the look and the
            // wait is not missed.
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            while let Some(mut pooled) = self.take_idle(variant, database) {
                if pooled.conn.is_closed() {
                    Stats::add(&self.stats.backend_errors, 1);
                    continue;
                }
                if pooled.conn.database.as_deref() != database {
                    // `take_idle` only hands out a mismatch when a database is wanted: select it.
                    if let Err(reason) = pooled.conn.init_db(database.unwrap_or_default()).await {
                        return Err(self.unreachable(reason));
                    }
                }
                return Ok(pooled);
            }
            if let Ok(p) = self.permits.clone().try_acquire_owned() {
                break p;
            }
            if let Some(p) = self.evict_idle() {
                break p;
            }
            // All connections are busy: wait for a permit or for one to come back idle (it keeps its permit).
            self.waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let outcome = tokio::select! {
                p = self.permits.clone().acquire_owned() => Some(p.ok()),
                _ = &mut returned => None,
                _ = tokio::time::sleep_until(deadline) => Some(None),
            };
            self.waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            match outcome {
                None => continue,
                Some(Some(p)) => break p,
                Some(None) => return Err(SgError::PoolExhausted(self.name.clone(), self.rule.max_connections)),
            }
        };
        let conn = BackendConn::connect(&self.name, &self.rule, variant, database).await.inspect_err(|_| {
            Stats::add(&self.stats.backend_errors, 1);
        })?;
        Stats::add(&self.stats.backend_connects, 1);
        Ok(PooledConn { conn, _permit: permit })
    }

    /// Closes the longest-idle connection (of a variant nobody asked for) to free its permit.
    fn evict_idle(&self) -> Option<OwnedSemaphorePermit> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.is_empty() {
            return None;
        }
        Some(idle.remove(0)._permit)
    }

    /// An idle connection of `variant`: one with the same database first; failing that, when a database is
    /// wanted, any (COM_INIT_DB fixes it). A session without a database never gets one that has a database
    /// selected, because no command can unselect it.
    fn take_idle(&self, variant: Variant, database: Option<&str>) -> Option<PooledConn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let exact = idle.iter().rposition(|p| p.conn.variant == variant && p.conn.database.as_deref() == database);
        let any = || idle.iter().rposition(|p| p.conn.variant == variant && database.is_some());
        let i = exact.or_else(any)?;
        Some(idle.swap_remove(i))
    }

    /// Returns a connection after a session is done with it: COM_RESET_CONNECTION clears its session state
    /// (variables, temporary tables, prepared statements, open transaction); a connection that fails the
    /// reset is closed instead.
    pub async fn release(&self, mut pooled: PooledConn) {
        match pooled.conn.command(&[com::RESET_CONNECTION]).await {
            Ok(reply) if reply.payload.first() == Some(&0x00) => {
                // The reset deallocated every statement prepared on it.
                pooled.conn.statements.clear();
                self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(pooled);
                self.returned.notify_waiters();
            }
            _ => Stats::add(&self.stats.backend_errors, 1),
        }
    }

    /// Returns a connection that is known to be clean (no session state changed) without a reset.
    pub fn put_clean(&self, pooled: PooledConn) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(pooled);
        self.returned.notify_waiters();
    }

    fn unreachable(&self, reason: String) -> SgError {
        Stats::add(&self.stats.backend_errors, 1);
        SgError::BackendUnreachable { ds: self.name.clone(), addr: self.rule.primary.to_string(), reason }
    }

    /// Idle connections right now (for tests and admin).
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
