//! What every session of one server shares: the rules in force and what was built from them (layouts, pools,
//! replica sets), plus the parts that outlive a reload of the rules (counters, sessions, XA log, metrics).
//! A reload builds a new `Shared` from the new rules, reusing the old one's pools and replicas where their
//! rules did not change, and swaps it in (reload.rs). It holds nothing of the control plane (fleet, reshard
//! job, reloader): the data path (session, execute) reads it without importing those.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::backend::conn::Variant;
use crate::backend::pool::Pool;
use crate::backend::replicas::ReplicaSet;
use crate::config::rules::{DataSourceRule, TransactionMode};
use crate::config::Rules;
use crate::metrics::Metrics;
use crate::stats::Stats;

/// The state in force, as sessions see it: swapped whole by reloads, read at the start of each statement.
pub type Current = Arc<arc_swap::ArcSwap<Shared>>;

/// What every session of one server shares.
pub struct Shared {
    /// The rules in force.
    pub rules: Rules,
    /// Each schema's sharding layout.
    pub layouts: HashMap<String, crate::sharding::table::SchemaLayout>,
    /// Each schema's plan cache (statements by shape), new with every layout.
    pub plans: crate::plan::cache::PlanCaches,
    /// One pool per data source (its primary), and one per replica (`<data source>/replica<i>`).
    pub pools: HashMap<String, Arc<Pool>>,
    /// The replicas of each data source that has any.
    pub replicas: HashMap<String, Arc<ReplicaSet>>,
    /// Woken whenever a replica leaves service (reads in flight on it give up and retry elsewhere).
    pub ejections: Arc<tokio::sync::Notify>,
    /// Open sessions by client connection id (KILL).
    pub sessions: Arc<crate::backend::registry::Registry>,
    /// The XA decision log (transaction_mode = "xa" with sharding rules).
    pub xa_log: Option<Arc<crate::backend::xa_log::XaLog>>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Version string announced in greetings.
    pub server_version: String,
    /// Collations of backend columns, by "data_source/db.table.column" (MariaDB's result metadata does not
    /// carry them); cleared by any DDL the proxy fans out.
    pub collations: Arc<Mutex<HashMap<String, crate::protocol::collation::Collation>>>,
    /// When the server started (COM_STATISTICS uptime).
    pub started: Instant,
    /// TLS for clients, when the rules give a certificate and key.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The rules file, when the server was started from one (RELOAD RULES reads it again).
    pub rules_path: Option<std::path::PathBuf>,
    /// Where a fleet member records an XA commit decision before committing (etcd), when it is one; the
    /// fleet itself is the control plane's (server::Plane), out of the data path's reach.
    pub fleet_decisions: Option<Arc<dyn crate::backend::xa_log::FleetDecisions>>,
    /// Counts the rules installed in this process (0 at start): whatever was planned with an older
    /// generation is planned again.
    pub generation: u64,
    /// The cut-over gate of the reshard under way, if any (outlives reloads: the cut-over is one).
    pub reshard_gate: Arc<arc_swap::ArcSwapOption<crate::cutover_gate::Gate>>,
    /// Failed logins by user name (outlives reloads).
    pub login_guard: Arc<crate::login_guard::LoginGuard>,
    next_connection_id: Arc<AtomicU32>,
}

/// Used when neither the rules nor the default data source tell which version to announce.
const FALLBACK_VERSION: &str = "5.7.0-shardgate";

impl Shared {
    /// A fresh connection id for a client.
    pub fn next_connection_id(&self) -> u32 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Builds the state for `rules`; with `previous` (a reload), pools, replica sets and everything that
    /// outlives a reload are taken over from it where their rules are unchanged.
    pub async fn build(rules: Rules, path: Option<std::path::PathBuf>, previous: Option<&Shared>) -> io::Result<Shared> {
        let stats = previous.map_or_else(|| Arc::new(Stats::default()), |p| p.stats.clone());
        let ejections = previous.map_or_else(|| Arc::new(tokio::sync::Notify::new()), |p| p.ejections.clone());
        let same_rule = |name: &str, rule: &DataSourceRule| {
            previous.and_then(|p| p.rules.data_sources.get(name)).is_some_and(|old| format!("{old:?}") == format!("{rule:?}"))
        };
        let mut pools: HashMap<String, Arc<Pool>> = HashMap::new();
        let mut replicas = HashMap::new();
        for (name, ds) in &rules.data_sources {
            let reuse = same_rule(name, ds).then(|| previous.expect("same_rule implies previous"));
            match reuse {
                Some(p) => {
                    pools.insert(name.clone(), p.pools[name].clone());
                    if let Some(set) = p.replicas.get(name) {
                        for r in &set.replicas {
                            pools.insert(r.name.clone(), p.pools[&r.name].clone());
                        }
                        replicas.insert(name.clone(), set.clone());
                    }
                }
                None => {
                    let pool = Pool::new(name, ds.clone(), stats.clone());
                    if ds.health_check_primary {
                        crate::backend::health::spawn_primary(&pool, ejections.clone());
                    }
                    pools.insert(name.clone(), pool);
                    if ds.replicas.is_empty() {
                        continue;
                    }
                    let set = ReplicaSet::new(name, ds);
                    for r in &set.replicas {
                        // A replica is reached like a primary of its own with the data source's login.
                        let rule = DataSourceRule { primary: r.address, replicas: Vec::new(), ..ds.clone() };
                        pools.insert(r.name.clone(), Pool::new(&r.name, rule, stats.clone()));
                        crate::backend::health::spawn(r.name.clone(), r.address, ds, r.health.clone(), ejections.clone());
                    }
                    replicas.insert(name.clone(), Arc::new(set));
                }
            }
        }
        let server_version = match (&rules.server.server_version, previous) {
            (Some(v), _) => v.clone(),
            (None, Some(p)) => p.server_version.clone(),
            (None, None) => probe_version(&pools, rules.default_data_source()).await,
        };
        let layouts = crate::sharding::table::build(&rules)
            .map_err(|p| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid sharding rules: {}", p[0].message)))?;
        let sharded = layouts.values().any(|l| l.has_rules());
        let xa_log = match previous.and_then(|p| p.xa_log.clone()) {
            Some(log) => Some(log),
            None if rules.transaction_mode == TransactionMode::Xa && sharded => Some(open_xa_log(&rules, &pools, &stats).await?),
            None => None,
        };
        let metrics = match previous {
            Some(p) => p.metrics.clone(),
            None => Metrics::new(rules.server.metrics_listen)?,
        };
        let tls = match (&rules.server.tls_cert, &rules.server.tls_key) {
            (Some(cert), Some(key)) => Some(crate::protocol::transport::acceptor(cert, key)?),
            (None, None) => None,
            _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, "server.tls_cert and server.tls_key go together")),
        };
        let plans = layouts.keys().map(|name| (name.clone(), Default::default())).collect();
        Ok(Shared {
            tls,
            plans,
            layouts,
            pools,
            replicas,
            ejections,
            xa_log,
            sessions: previous.map_or_else(Default::default, |p| p.sessions.clone()),
            stats,
            metrics,
            server_version,
            collations: previous.map_or_else(Default::default, |p| p.collations.clone()),
            started: previous.map_or_else(Instant::now, |p| p.started),
            rules_path: path,
            fleet_decisions: previous.and_then(|p| p.fleet_decisions.clone()),
            reshard_gate: previous.map_or_else(Default::default, |p| p.reshard_gate.clone()),
            login_guard: previous.map_or_else(Default::default, |p| p.login_guard.clone()),
            generation: previous.map_or(0, |p| p.generation + 1),
            next_connection_id: previous.map_or_else(|| Arc::new(AtomicU32::new(1)), |p| p.next_connection_id.clone()),
            rules,
        })
    }
}

/// Opens the XA decision log, finishes what an earlier run of this instance left prepared (before any new
/// transaction), and starts the periodic recovery.
async fn open_xa_log(rules: &Rules, pools: &HashMap<String, Arc<Pool>>, stats: &Arc<Stats>) -> io::Result<Arc<crate::backend::xa_log::XaLog>> {
    let log = crate::backend::xa_log::XaLog::open(&rules.xa_log)
        .map_err(|e| io::Error::new(e.kind(), format!("XA decision log {}: {e}", rules.xa_log.display())))?;
    log.set_max_bytes(rules.xa_log_max_bytes);
    let primaries: Vec<String> = rules.data_sources.keys().cloned().collect();
    let done = crate::backend::xa_recovery::recover(&log, pools, &primaries, stats).await;
    if done != Default::default() {
        tracing::warn!(committed = done.committed.len(), rolled_back = done.rolled_back.len(), unreachable = ?done.unreachable, "XA recovery at start-up");
    }
    let interval = std::time::Duration::from_millis(rules.xa_recovery_interval_ms.max(1));
    crate::backend::xa_recovery::spawn(&log, pools.clone(), primaries, stats.clone(), interval);
    Ok(log)
}

async fn probe_version(pools: &HashMap<String, Arc<Pool>>, ds: &str) -> String {
    let Some(pool) = pools.get(ds) else { return FALLBACK_VERSION.into() };
    match pool.get(Variant::CONTROL, None).await {
        Ok(conn) => {
            let v = format!("{}-shardgate", conn.conn.server_version);
            pool.put_clean(conn);
            v
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the default data source's version; announcing {FALLBACK_VERSION}");
            FALLBACK_VERSION.into()
        }
    }
}
