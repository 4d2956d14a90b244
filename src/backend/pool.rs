//! Connections to one data source: a bounded set, idle ones kept per variant for reuse. A connection holds
//! its permit while idle too, so `max_connections` bounds every connection open to the data source.
//!
//! Checking a connection out takes a slot from a second, fair (first come, first served) semaphore of the
//! same size, so under contention sessions get connections in the order they asked — with multiplexing a
//! thousand clients may share a few dozen connections, and a wake-everyone scheme starves some of them past
//! the acquire timeout. A session that holds a slot always finds an idle connection or room for a new one.
//! A session that must wait wakes the sessions holding connections they could give back.

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
    /// One per open connection (busy or idle).
    permits: Arc<Semaphore>,
    /// One per checked-out connection; fair, so waiters are served in order.
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<PooledConn>>,
    /// Sessions waiting for a connection now.
    waiting: std::sync::atomic::AtomicUsize,
    stats: Arc<Stats>,
    /// Why the primary's health check says it is down (it does not answer), if it does.
    down: Mutex<Option<String>>,
    /// Set once a health checker watches this pool's server (only then is `down` meaningful).
    checked: std::sync::atomic::AtomicBool,
}

/// Wakes sessions that hold connections they could give back (multiplexing) whenever a session has to
/// wait for one: they give them back if their pool is the one wanted. One for the process, since pools
/// outlive rule reloads.
pub static CONNECTIONS_WANTED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Counts a session as waiting for a connection while it lives.
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
impl<'a> Waiting<'a> {
    fn new(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Waiting(count)
    }
}
impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A connection checked out of a pool; it holds one of the pool's permits until dropped or released.
pub struct PooledConn {
    /// The connection.
    pub conn: BackendConn,
    _permit: OwnedSemaphorePermit,
    /// The checkout slot, while checked out.
    slot: Option<OwnedSemaphorePermit>,
    /// When it was last put back idle.
    idle_since: std::time::Instant,
}

/// Idle time after which a pooled connection is probed (one non-blocking read) before it is handed out.
pub const PROBE_AFTER: Duration = Duration::from_millis(20);

impl Pool {
    /// An empty pool for `rule`.
    pub fn new(name: &str, rule: DataSourceRule, stats: Arc<Stats>) -> Arc<Self> {
        Arc::new(Pool {
            name: name.to_string(),
            permits: Arc::new(Semaphore::new(rule.max_connections)),
            slots: Arc::new(Semaphore::new(rule.max_connections)),
            rule,
            idle: Mutex::new(Vec::new()),
            waiting: Default::default(),
            stats,
            down: Mutex::new(None),
            checked: Default::default(),
        })
    }

    /// Why the server is down for its health check, if it is: checkouts then fail at once.
    pub fn down_reason(&self) -> Option<String> {
        self.down.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records a health check's verdict (`None`: answering); returns whether the state changed.
    pub fn set_down(&self, reason: Option<String>) -> bool {
        self.checked.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        let changed = down.is_some() != reason.is_some();
        *down = reason;
        changed
    }

    /// Whether statements on this pool's server are guarded (execute/guard.rs): a health checker watches it,
    /// or it has a query timeout.
    pub fn watched(&self) -> bool {
        self.checked.load(std::sync::atomic::Ordering::Relaxed) || self.rule.query_timeout_ms > 0
    }

    /// The pool's rule (health checker, statement timeouts).
    pub fn rule(&self) -> &DataSourceRule {
        &self.rule
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
    /// when possible. Waits (in turn) up to the data source's acquire timeout when all connections are busy.
    pub async fn get(&self, variant: Variant, database: Option<&str>) -> Result<PooledConn, SgError> {
        // A server its health check finds hung or gone fails statements at once instead of holding them.
        if self.checked.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(reason) = self.down_reason() {
                return Err(self.unreachable(format!("its health check finds it down ({reason}); statements on it fail until it answers again")));
            }
        }
        let timeout = Duration::from_millis(self.rule.acquire_timeout_ms);
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                let _waiting = Waiting::new(&self.waiting);
                CONNECTIONS_WANTED.notify_waiters();
                match tokio::time::timeout(timeout, self.slots.clone().acquire_owned()).await {
                    Ok(Ok(slot)) => slot,
                    _ => return Err(SgError::PoolExhausted(self.name.clone(), self.rule.max_connections)),
                }
            }
        };
        while let Some(mut pooled) = self.take_idle(variant, database) {
            // A connection back from a statement moments ago is not probed (a syscall per statement with
            // multiplexing); one that sat idle longer may have been closed by the server (wait_timeout, a
            // restart: no restart is over within PROBE_AFTER, so every connection it closed is probed).
            if pooled.idle_since.elapsed() > PROBE_AFTER && pooled.conn.is_closed() {
                Stats::add(&self.stats.backend_errors, 1);
                continue;
            }
            if pooled.conn.database.as_deref() != database {
                // `take_idle` only hands out a mismatch when a database is wanted: select it.
                if let Err(reason) = pooled.conn.init_db(database.unwrap_or_default()).await {
                    return Err(self.unreachable(reason));
                }
            }
            pooled.slot = Some(slot);
            return Ok(pooled);
        }
        // No idle connection of this kind: open one, making room by closing an idle one of another kind if
        // every permit is taken (with a slot in hand, busy connections number fewer than the permits).
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => match self.evict_idle() {
                Some(p) => p,
                // A connection being dropped right now frees its permit in a moment.
                None => match tokio::time::timeout(timeout, self.permits.clone().acquire_owned()).await {
                    Ok(Ok(p)) => p,
                    _ => return Err(SgError::PoolExhausted(self.name.clone(), self.rule.max_connections)),
                },
            },
        };
        let conn = BackendConn::connect(&self.name, &self.rule, variant, database).await.inspect_err(|_| {
            Stats::add(&self.stats.backend_errors, 1);
        })?;
        Stats::add(&self.stats.backend_connects, 1);
        Ok(PooledConn { conn, _permit: permit, slot: Some(slot), idle_since: std::time::Instant::now() })
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
                // The reset deallocated every statement prepared on it and undid every SET.
                pooled.conn.statements.clear();
                pooled.conn.settings = 0;
                self.put_clean(pooled);
            }
            _ => Stats::add(&self.stats.backend_errors, 1),
        }
    }

    /// Returns a connection that is known to be clean (no session state changed) without a reset.
    pub fn put_clean(&self, mut pooled: PooledConn) {
        let slot = pooled.slot.take();
        pooled.idle_since = std::time::Instant::now();
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(pooled);
        // The next waiter (if any) gets the slot only now, with the connection already idle for it.
        drop(slot);
    }

    fn unreachable(&self, reason: String) -> SgError {
        Stats::add(&self.stats.backend_errors, 1);
        SgError::BackendUnreachable { ds: self.name.clone(), addr: self.rule.primary.to_string(), reason }
    }

    /// Whether sessions are waiting for a connection of this pool.
    pub fn wanted(&self) -> bool {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    /// Whether a checkout would have to wait (every connection is checked out).
    pub fn exhausted(&self) -> bool {
        self.slots.available_permits() == 0
    }

    /// Idle connections right now (for tests and admin).
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
