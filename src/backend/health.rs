//! Replica health: a background checker per replica connects (with a timeout, so a server that accepts TCP
//! but never greets is caught), reads `SHOW SLAVE STATUS`, and keeps the verdict where routing reads it
//! with one atomic load. Uses mysql_async: this is the control plane, where decoding rows is fine.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::config::rules::DataSourceRule;

/// What the checker last found about one replica.
#[derive(Debug, Default)]
pub struct NodeHealth {
    up: AtomicBool,
    /// Seconds_Behind_Master, or -1 when unknown.
    lag: AtomicI64,
    max_lag: u64,
    reason: Mutex<String>,
    checks: AtomicU64,
    offline: AtomicBool,
}

impl NodeHealth {
    /// A replica not yet checked: it serves no reads until its first check passes.
    pub fn new(max_lag: u64) -> Self {
        NodeHealth {
            up: AtomicBool::new(false),
            lag: AtomicI64::new(-1),
            max_lag,
            reason: Mutex::new("not checked yet".into()),
            checks: AtomicU64::new(0),
            offline: AtomicBool::new(false),
        }
    }

    /// Whether reads may go to it: up, replicating, and within the lag bound.
    pub fn serving(&self) -> bool {
        !self.offline.load(Ordering::Relaxed)
            && self.up.load(Ordering::Relaxed)
            && u64::try_from(self.lag.load(Ordering::Relaxed)).is_ok_and(|l| l <= self.max_lag)
    }

    /// Takes the replica out of (or back into) read rotation by hand (`SET SHARDGATE NODE … OFFLINE`).
    pub fn set_offline(&self, offline: bool) {
        self.offline.store(offline, Ordering::Relaxed);
    }

    /// Whether an admin took it offline.
    pub fn offline(&self) -> bool {
        self.offline.load(Ordering::Relaxed)
    }

    /// (up, lag in seconds, reason when not serving, checks done) for the admin view.
    pub fn snapshot(&self) -> (bool, Option<u64>, String, u64) {
        let lag = u64::try_from(self.lag.load(Ordering::Relaxed)).ok();
        let reason = if self.offline() {
            "taken offline by an admin (SET SHARDGATE NODE … ONLINE returns it)".to_string()
        } else if self.serving() {
            String::new()
        } else {
            self.reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
        };
        (self.up.load(Ordering::Relaxed), lag, reason, self.checks.load(Ordering::Relaxed))
    }

    /// Takes the replica out of service at once (a read on it just failed); the checker returns it.
    /// Returns whether it was serving until now.
    pub fn mark_down(&self, reason: &str) -> bool {
        *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = reason.to_string();
        self.up.swap(false, Ordering::Relaxed)
    }

    /// Stores a check's verdict: the lag, or why the replica cannot serve.
    pub(crate) fn record(&self, verdict: Result<u64, String>) {
        self.checks.fetch_add(1, Ordering::Relaxed);
        match verdict {
            Ok(lag) => {
                if lag > self.max_lag {
                    *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = format!("{lag} s behind its primary (bound {} s)", self.max_lag);
                }
                self.lag.store(i64::try_from(lag).unwrap_or(i64::MAX), Ordering::Relaxed);
                self.up.store(true, Ordering::Relaxed);
            }
            Err(reason) => {
                *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = reason;
                self.lag.store(-1, Ordering::Relaxed);
                self.up.store(false, Ordering::Relaxed);
            }
        }
    }
}

/// What a replica's `SHOW SLAVE STATUS` says about serving reads.
#[derive(Debug, PartialEq, Eq)]
enum Status {
    /// Replicating: its lag.
    Lag(u64),
    /// Its IO thread is reconnecting to the primary, and everything it received is applied: as fresh as the
    /// primary's last event it saw. It may serve only if the primary is down for the proxy too.
    CaughtUpPrimaryGone,
}

/// Replication lag of a `SHOW SLAVE STATUS` row, or why the replica cannot serve.
fn verdict(row: Option<mysql_async::Row>) -> Result<Status, String> {
    let row = row.ok_or("not a replica (SHOW SLAVE STATUS is empty)")?;
    let field = |name: &str| row.get::<Option<String>, _>(name).flatten().unwrap_or_default();
    let (io, sql) = (field("Slave_IO_Running"), field("Slave_SQL_Running"));
    let applied_all = field("Master_Log_File") == field("Relay_Master_Log_File") && field("Read_Master_Log_Pos") == field("Exec_Master_Log_Pos");
    if io == "Connecting" && sql == "Yes" && applied_all {
        return Ok(Status::CaughtUpPrimaryGone);
    }
    if io != "Yes" || sql != "Yes" {
        let error = [field("Last_IO_Error"), field("Last_SQL_Error")].join(" ");
        return Err(format!("replication stopped (IO thread {io}, SQL thread {sql}) {}", error.trim()).trim().to_string());
    }
    field("Seconds_Behind_Master").parse::<u64>().map(Status::Lag).map_err(|_| "Seconds_Behind_Master is NULL".to_string())
}

/// Whether the proxy cannot reach `primary` either (a TCP connection refused or not made within
/// `timeout`): then a replica that applied all it received is the freshest copy there is. A primary the
/// proxy reaches while its replica does not is a partition: the replica may be behind, so it serves nothing.
async fn primary_unreachable(primary: SocketAddr, timeout: Duration) -> bool {
    !matches!(tokio::time::timeout(timeout, tokio::net::TcpStream::connect(primary)).await, Ok(Ok(_)))
}

/// The health checker's TLS settings: the data source's `tls_mode`, as its data connections use it.
fn ssl_opts(rule: &DataSourceRule) -> Option<mysql_async::SslOpts> {
    use crate::config::rules::BackendTls;
    let roots = || rule.tls_ca.iter().map(|p| p.clone().into()).collect::<Vec<_>>();
    match rule.tls_mode {
        BackendTls::Disabled => None,
        BackendTls::Required => Some(mysql_async::SslOpts::default().with_danger_accept_invalid_certs(true)),
        BackendTls::VerifyCa => Some(mysql_async::SslOpts::default().with_root_certs(roots()).with_danger_skip_domain_validation(true)),
        BackendTls::VerifyIdentity => Some(mysql_async::SslOpts::default().with_root_certs(roots())),
    }
}

/// mysql_async options for a control-plane connection to `address` with the data source's login and TLS.
pub fn control_opts(address: SocketAddr, rule: &DataSourceRule) -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(address.ip().to_string())
        .tcp_port(address.port())
        .user(Some(rule.user.clone()))
        .pass(Some(rule.password.clone()))
        .prefer_socket(false)
        .ssl_opts(ssl_opts(rule))
}

/// Checks one replica every `health_check_interval_ms` for as long as the process runs (or until `health`
/// has no other owner, i.e. the rules it belongs to were replaced). `ejections` is woken whenever a replica
/// leaves service, so reads in flight on it stop waiting for a server that will not answer.
pub fn spawn(name: String, address: SocketAddr, rule: &DataSourceRule, health: Arc<NodeHealth>, ejections: Arc<tokio::sync::Notify>) {
    let opts = control_opts(address, rule);
    let (primary, reads_while_primary_down) = (rule.primary, rule.reads_while_primary_down);
    let interval = Duration::from_millis(rule.health_check_interval_ms);
    let timeout = Duration::from_millis(rule.health_check_timeout_ms);
    let health = Arc::downgrade(&health);
    tokio::spawn(async move {
        let mut conn: Option<mysql_async::Conn> = None;
        loop {
            let Some(h) = health.upgrade() else { return };
            let check = async {
                if conn.is_none() {
                    conn = Some(mysql_async::Conn::new(opts.clone()).await.map_err(|e| format!("cannot connect: {e}"))?);
                }
                let c = conn.as_mut().expect("connected above");
                let row = c.query_first::<mysql_async::Row, _>("SHOW SLAVE STATUS").await.map_err(|e| format!("SHOW SLAVE STATUS failed: {e}"))?;
                Ok::<_, String>(row)
            };
            let answer = match tokio::time::timeout(timeout, check).await {
                Ok(answer) => answer,
                Err(_) => Err(format!("no answer within {} ms (health_check_timeout_ms): hung or overloaded", timeout.as_millis())),
            };
            // A connection that failed or timed out is in an unknown state: start afresh next time. One that
            // answered stays, even when the answer takes the replica out (lag, replication stopped).
            if answer.is_err() {
                conn = None;
            }
            let result = match answer.and_then(verdict) {
                Ok(Status::Lag(lag)) => Ok(lag),
                Ok(Status::CaughtUpPrimaryGone) if reads_while_primary_down && primary_unreachable(primary, timeout).await => {
                    Ok(0)
                }
                Ok(Status::CaughtUpPrimaryGone) => {
                    Err("replication is reconnecting to a primary the proxy reaches (a partition?): it may be behind".to_string())
                }
                Err(e) => Err(e),
            };
            let was = h.serving();
            h.record(result);
            match (was, h.serving()) {
                (true, false) => {
                    tracing::warn!(replica = %name, reason = %h.snapshot().2, "replica taken out of read rotation");
                    ejections.notify_waiters();
                }
                (false, true) => tracing::info!(replica = %name, "replica serving reads"),
                _ => {}
            }
            drop(h);
            tokio::time::sleep(interval).await;
        }
    });
}

/// Checks a primary every `health_check_interval_ms` for as long as its pool lives: a connection and a
/// COM_PING within `health_check_timeout_ms`. Two failed checks in a row (one slow answer under load is
/// not an outage) mark it down: checkouts from its pool fail at once and statements waiting on it are ended
/// (execute::run's guard, woken through `ejections`); one good check returns it to service.
pub fn spawn_primary(pool: &Arc<super::pool::Pool>, ejections: Arc<tokio::sync::Notify>) {
    let rule = pool.rule().clone();
    let opts = control_opts(rule.primary, &rule);
    let interval = Duration::from_millis(rule.health_check_interval_ms);
    let timeout = Duration::from_millis(rule.health_check_timeout_ms);
    let pool = Arc::downgrade(pool);
    tokio::spawn(async move {
        let mut conn: Option<mysql_async::Conn> = None;
        let mut failed_in_a_row = 0u32;
        loop {
            let Some(p) = pool.upgrade() else { return };
            let check = async {
                if conn.is_none() {
                    conn = Some(mysql_async::Conn::new(opts.clone()).await.map_err(|e| format!("cannot connect: {e}"))?);
                }
                // COM_PING: answered by a server that is alive and not hung, and counted in no Com_* status.
                conn.as_mut().expect("connected above").ping().await.map_err(|e| format!("ping failed: {e}"))
            };
            let failure = match tokio::time::timeout(timeout, check).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(format!("no answer within {} ms (health_check_timeout_ms): hung or overloaded", timeout.as_millis())),
            };
            if failure.is_some() {
                conn = None;
                failed_in_a_row += 1;
            } else {
                failed_in_a_row = 0;
            }
            let verdict = failure.filter(|_| failed_in_a_row >= 2);
            let down = verdict.is_some();
            if p.set_down(verdict.clone()) {
                if down {
                    tracing::warn!(data_source = %p.name, reason = %verdict.unwrap_or_default(), "primary down: statements on it fail until it answers again");
                    ejections.notify_waiters();
                } else {
                    tracing::info!(data_source = %p.name, "primary answering again");
                }
            }
            drop(p);
            tokio::time::sleep(interval).await;
        }
    });
}
