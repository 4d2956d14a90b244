//! Hot reload of the rules (SIGHUP, `RELOAD RULES`, a change of the rules file): read and validate the
//! file; if it is valid and changes nothing that cannot change live, build the new shared state (reusing
//! unchanged pools) and swap it in atomically. Sessions keep running and use the new rules from their next
//! statement; pools of removed data sources drain as their last connections come back. A bad file leaves
//! the old rules serving, with the errors (file:line:column) in the log and the reload metrics.
//!
//! Refused at reload (restart instead): another listen address, metrics address or XA log; a sharded table
//! whose placement changes (nodes, algorithm, sharding column, key type, virtual nodes, boundaries), since
//! its rows would then be looked up where they are not (moving data is resharding's job).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Rules;
use crate::server::Live;
use crate::shared::Shared;

fn placement_changes(old: &Rules, new: &Rules) -> Vec<String> {
    let mut out = Vec::new();
    if old.server.listen != new.server.listen {
        out.push(format!("server.listen ({} → {}) needs a restart", old.server.listen, new.server.listen));
    }
    if old.server.metrics_listen != new.server.metrics_listen {
        out.push("server.metrics_listen needs a restart".into());
    }
    if old.xa_log != new.xa_log {
        out.push("xa_log needs a restart (prepared transactions are recovered from the old one)".into());
    }
    for (schema, old_schema) in &old.schemas {
        let Some(new_schema) = new.schemas.get(schema) else { continue };
        for (table, a) in &old_schema.tables {
            let Some(b) = new_schema.tables.get(table) else { continue };
            let placement = |t: &crate::config::rules::TableRule| {
                format!("{:?} {:?} {} {:?} {} {:?}", t.actual_nodes.get_ref(), t.algorithm, t.sharding_column, t.key_type, t.virtual_nodes, t.boundaries)
            };
            if placement(a) != placement(b) {
                out.push(format!("schemas.{schema}.tables.{table}: its placement changed; rows would be looked up where they are not (reshard instead)"));
            }
        }
    }
    out
}

/// Reloads the rules of the state in force: the rules file, or for a fleet the document in etcd now.
/// `Ok` says what changed; `Err` why nothing did.
pub async fn reload(live: &Live) -> Result<String, String> {
    let old = live.load_full();
    if let Some(fleet) = live.fleet.clone() {
        return crate::fleet::watch::refresh(live, &fleet).await;
    }
    let read = || {
        let path = old.rules_path.clone().ok_or("this server was not started from a rules file")?;
        crate::config::load(&path).map(|r| (r, path.clone())).map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    };
    match read() {
        Ok((rules, path)) => install(live, rules, &path.display().to_string()).await,
        Err(e) => Err(refused(&old, e)),
    }
}

/// Counts and logs rules that were not taken (invalid, or changing what cannot change live); returns why.
pub fn refused(shared: &Shared, why: String) -> String {
    shared.metrics.reloads_failed.increment(1);
    tracing::error!(error = %why, "rules NOT reloaded; the previous rules keep serving");
    why
}

/// Swaps in `rules` (already validated) unless they change what cannot change live; `origin` names where
/// they came from in messages. Counts and logs the outcome.
pub async fn install(live: &Live, rules: Rules, origin: &str) -> Result<String, String> {
    install_with(live, rules, origin, true).await
}

/// A reshard's switch: swaps in `rules` whose tables may sit on other nodes, which is right only once the
/// rows are where the new rules look for them (the cut-over, under its gate).
pub async fn switch(live: &Live, rules: Rules, origin: &str) -> Result<String, String> {
    install_with(live, rules, origin, false).await
}

async fn install_with(live: &Live, rules: Rules, origin: &str, check_placement: bool) -> Result<String, String> {
    let old = live.load_full();
    let result = async {
        let refused = if check_placement { placement_changes(&old.rules, &rules) } else { Vec::new() };
        if !refused.is_empty() {
            return Err(format!("{origin}: {}", refused.join("; ")));
        }
        let summary = format!(
            "{} data sources, {} schemas, {} users (was {}, {}, {})",
            rules.data_sources.len(),
            rules.schemas.len(),
            rules.users.len(),
            old.rules.data_sources.len(),
            old.rules.schemas.len(),
            old.rules.users.len()
        );
        let new = Shared::build(rules, old.rules_path.clone(), Some(&old)).await.map_err(|e| e.to_string())?;
        live.store(Arc::new(new));
        Ok(summary)
    };
    match result.await {
        Ok(summary) => {
            old.metrics.reloads_ok.increment(1);
            tracing::info!(%summary, %origin, "rules reloaded");
            Ok(summary)
        }
        Err(e) => Err(refused(&old, e)),
    }
}

/// Reloads on SIGHUP and when the rules file changes (its directory is watched: editors and config tools
/// replace files by rename, which a watch on the file itself loses; events are debounced).
pub fn watch(live: &Live, path: &Path) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let file: PathBuf = path.file_name().map(PathBuf::from).unwrap_or_default();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let on_change = tx.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(e) = event {
            if e.kind.is_modify() || e.kind.is_create() {
                if e.paths.iter().any(|p| p.file_name() == Some(file.as_os_str())) {
                    let _ = on_change.send(());
                }
            }
        }
    });
    let watcher = match watcher.and_then(|mut w| notify::Watcher::watch(&mut w, &dir, notify::RecursiveMode::NonRecursive).map(|()| w)) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the rules directory; reload with SIGHUP or RELOAD RULES");
            None
        }
    };
    #[cfg(unix)]
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
            while hup.recv().await.is_some() {
                if tx.send(()).is_err() {
                    return;
                }
            }
        });
    }
    let live = Arc::downgrade(live);
    tokio::spawn(async move {
        let _watcher = watcher; // lives as long as this task
        while rx.recv().await.is_some() {
            // Debounce: a save is often several events (truncate, write, rename).
            tokio::time::sleep(Duration::from_millis(300)).await;
            while rx.try_recv().is_ok() {}
            let Some(live) = live.upgrade() else { return };
            let _ = reload(&live).await;
        }
    });
}

/// Publishes, once a second, what is counted elsewhere: `Stats`, sessions, pools, replica health and lag.
pub fn publish_metrics(live: &Live) {
    let live = Arc::downgrade(live);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Some(live) = live.upgrade() else { return };
            let s = live.load_full();
            let fleet = live.fleet.clone();
            drop(live);
            let m = &s.metrics;
            let st = &s.stats;
            use crate::stats::Stats as S;
            m.gauge("shardgate_client_sessions", &[], S::get(&st.sessions_active) as f64);
            m.counter_at("shardgate_client_connections_total", &[], S::get(&st.connections_accepted));
            m.counter_at("shardgate_rows_relayed_total", &[], S::get(&st.rows_relayed));
            m.counter_at("shardgate_backend_connects_total", &[], S::get(&st.backend_connects));
            m.counter_at("shardgate_backend_errors_total", &[], S::get(&st.backend_errors));
            m.counter_at("shardgate_xa_commits_total", &[("phases", "two".into())], S::get(&st.xa_two_phase_commits));
            m.counter_at("shardgate_deadlocks_total", &[], S::get(&st.deadlocks));
            m.counter_at("shardgate_logins_failed_total", &[], S::get(&st.logins_failed));
            m.counter_at("shardgate_logins_blocked_total", &[], S::get(&st.logins_blocked));
            for (i, step) in crate::stats::XA_STEPS.iter().enumerate() {
                m.counter_at("shardgate_xa_steps_total", &[("step", step.to_string())], S::get(&st.xa_step_count[i]));
                m.counter_at("shardgate_xa_step_microseconds_total", &[("step", step.to_string())], S::get(&st.xa_step_us[i]));
            }
            m.counter_at("shardgate_deadlock_wait_seconds_total", &[], S::get(&st.deadlock_wait_ms) / 1000);
            m.counter_at("shardgate_xa_recovered_total", &[("outcome", "commit".into())], S::get(&st.xa_recovered_commits));
            m.counter_at("shardgate_xa_recovered_total", &[("outcome", "rollback".into())], S::get(&st.xa_recovered_rollbacks));
            m.gauge("shardgate_prepared_statements", &[], S::get(&st.prepared_statements) as f64);
            if let Some(fleet) = &fleet {
                let f = fleet.status();
                m.gauge("shardgate_rules_revision", &[], f.revision as f64);
                m.gauge("shardgate_rules_rejected_revision", &[], f.rejected.as_ref().map_or(0.0, |r| r.0 as f64));
                m.gauge("shardgate_etcd_up", &[], f64::from(u8::from(f.etcd_up)));
            }
            for (name, pool) in &s.pools {
                let (in_use, idle, waiting) = pool.counts();
                for (state, v) in [("in_use", in_use), ("idle", idle), ("waiting", waiting)] {
                    m.gauge("shardgate_pool_connections", &[("node", name.clone()), ("state", state.into())], v as f64);
                }
            }
            for set in s.replicas.values() {
                for r in &set.replicas {
                    let (_, lag, _, _) = r.health.snapshot();
                    m.gauge("shardgate_replica_serving", &[("node", r.name.clone())], f64::from(u8::from(r.health.serving())));
                    m.gauge("shardgate_replica_lag_seconds", &[("node", r.name.clone())], lag.map_or(-1.0, |l| l as f64));
                }
            }
        }
    });
}
