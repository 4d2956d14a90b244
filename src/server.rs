//! The listener: accepts clients and runs one session task per connection over shared pools and rules.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;

use crate::backend::conn::Variant;
use crate::backend::pool::Pool;
use crate::backend::replicas::ReplicaSet;
use crate::config::Rules;
use crate::stats::Stats;

/// What every session of one server shares.
pub struct Shared {
    /// The rules in force.
    pub rules: Rules,
    /// Each schema's sharding layout.
    pub layouts: HashMap<String, crate::sharding::table::SchemaLayout>,
    /// One pool per data source (its primary), and one per replica (`<data source>/replica<i>`).
    pub pools: HashMap<String, Arc<Pool>>,
    /// The replicas of each data source that has any.
    pub replicas: HashMap<String, Arc<ReplicaSet>>,
    /// Woken whenever a replica leaves service (reads in flight on it give up and retry elsewhere).
    pub ejections: Arc<tokio::sync::Notify>,
    /// Open sessions by client connection id (KILL).
    pub sessions: crate::session::registry::Registry,
    /// The XA decision log (transaction_mode = "xa" with sharding rules).
    pub xa_log: Option<Arc<crate::backend::xa_log::XaLog>>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Version string announced in greetings.
    pub server_version: String,
    /// Collations of backend columns, by "data_source/db.table.column" (MariaDB's result metadata does not
    /// carry them); cleared by any DDL the proxy fans out.
    pub collations: std::sync::Mutex<HashMap<String, crate::execute::value::Collation>>,
    /// When the server started (COM_STATISTICS uptime).
    pub started: Instant,
    next_connection_id: AtomicU32,
}

impl Shared {
    /// A fresh connection id for a client.
    pub fn next_connection_id(&self) -> u32 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// A bound, not yet serving, shardgate server.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

/// Used when neither the rules nor the default data source tell which version to announce.
const FALLBACK_VERSION: &str = "5.7.0-shardgate";

impl Server {
    /// Binds the listen address of `rules` (port 0 picks a free port) and prepares the pools. The announced
    /// version comes from the rules or from one login to the default data source; if that data source is down,
    /// the server still starts.
    pub async fn bind(rules: Rules) -> io::Result<Server> {
        let listener = TcpListener::bind(rules.server.listen).await?;
        let stats = Arc::new(Stats::default());
        let mut pools: HashMap<String, Arc<Pool>> = rules
            .data_sources
            .iter()
            .map(|(name, ds)| (name.clone(), Pool::new(name, ds.clone(), stats.clone())))
            .collect();
        let ejections = Arc::new(tokio::sync::Notify::new());
        let mut replicas = HashMap::new();
        for (name, ds) in rules.data_sources.iter().filter(|(_, ds)| !ds.replicas.is_empty()) {
            let set = ReplicaSet::new(name, ds);
            for r in &set.replicas {
                // A replica is reached like a primary of its own with the data source's login.
                let rule = crate::config::rules::DataSourceRule { primary: r.address, replicas: Vec::new(), ..ds.clone() };
                pools.insert(r.name.clone(), Pool::new(&r.name, rule, stats.clone()));
                crate::backend::health::spawn(r.name.clone(), r.address, ds, r.health.clone(), ejections.clone());
            }
            replicas.insert(name.clone(), Arc::new(set));
        }
        let server_version = match &rules.server.server_version {
            Some(v) => v.clone(),
            None => probe_version(&pools, rules.default_data_source()).await,
        };
        let layouts = crate::sharding::table::build(&rules)
            .map_err(|p| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid sharding rules: {}", p[0].message)))?;
        let sharded = layouts.values().any(|l| !l.tables.is_empty() || !l.broadcast.is_empty());
        let xa_log = if rules.transaction_mode == crate::config::rules::TransactionMode::Xa && sharded {
            let log = crate::backend::xa_log::XaLog::open(&rules.xa_log)
                .map_err(|e| io::Error::new(e.kind(), format!("XA decision log {}: {e}", rules.xa_log.display())))?;
            // Finish what an earlier run of this instance left prepared, before taking new transactions.
            let primaries: Vec<String> = rules.data_sources.keys().cloned().collect();
            let done = crate::backend::xa_recovery::recover(&log, &pools, &primaries, &stats).await;
            if done != Default::default() {
                tracing::warn!(committed = done.committed.len(), rolled_back = done.rolled_back.len(), unreachable = ?done.unreachable, "XA recovery at start-up");
            }
            let interval = std::time::Duration::from_millis(rules.xa_recovery_interval_ms.max(1));
            crate::backend::xa_recovery::spawn(&log, pools.clone(), primaries, stats.clone(), interval);
            Some(log)
        } else {
            None
        };
        let shared = Arc::new(Shared {
            layouts,
            rules,
            pools,
            replicas,
            ejections,
            xa_log,
            sessions: Default::default(),
            stats,
            server_version,
            collations: std::sync::Mutex::new(HashMap::new()),
            started: Instant::now(),
            next_connection_id: AtomicU32::new(1),
        });
        Ok(Server { listener, shared })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    /// The server's counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.shared.stats.clone()
    }

    /// Serves clients until `shutdown` completes.
    pub async fn serve_until(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        Stats::add(&self.shared.stats.connections_accepted, 1);
                        tokio::spawn(crate::session::session::run(stream, self.shared.clone()));
                    }
                    Err(e) => {
                        // EMFILE and friends: back off briefly rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }

    /// Serves clients forever.
    pub async fn serve(self) {
        self.serve_until(std::future::pending()).await
    }
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
