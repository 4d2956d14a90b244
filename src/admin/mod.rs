//! The control plane as sessions reach it: admin statements, for users marked `admin = true` in the rules
//! (others get 1227) — the node view, the rules, the sessions, the counters, the fleet, RELOAD RULES, the
//! reshard job, taking a replica offline by hand — and KILL. [`Plane`] implements the executor's
//! `ControlPlane` interface, so the data path reaches all this without importing it.

pub mod deadlocks;
pub mod kill;
pub mod reshard_job;
pub mod show_nodes;

use crate::error::SgError;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use crate::execute::context::ExecCtx;
use crate::execute::control::{ControlPlane, Reply};
use crate::server::Live;
use crate::sql::lexer::Admin;
use crate::stats::Stats;

type Rows = Vec<Vec<Option<Vec<u8>>>>;

fn text(s: impl ToString) -> Option<Vec<u8>> {
    Some(s.to_string().into_bytes())
}

async fn table(ctx: &mut ExecCtx, columns: &[&str], rows: Rows) -> Result<(), SgError> {
    let columns: Vec<(&str, ColumnType)> = columns.iter().map(|c| (*c, ColumnType::Text)).collect();
    let packets = encode_resultset(&columns, &rows, ctx.state.deprecate_eof(), ctx.state.status);
    ctx.send_packets(&packets).await
}

/// The control plane of one server, as the executor calls it.
pub struct Plane(pub Live);

impl ControlPlane for Plane {
    fn admin<'a>(&'a self, ctx: &'a mut ExecCtx, admin: Admin) -> Reply<'a> {
        Box::pin(run(&self.0, ctx, admin))
    }

    fn kill<'a>(&'a self, ctx: &'a mut ExecCtx, query: bool, id: u32) -> Reply<'a> {
        Box::pin(kill::run(ctx, query, id))
    }
}

/// Runs `admin` if the session's user may.
pub async fn run(live: &Live, ctx: &mut ExecCtx, admin: Admin) -> Result<(), SgError> {
    let user = ctx.state.user.clone();
    let allowed = ctx.shared.rules.users.iter().any(|u| u.get_ref().name == user && u.get_ref().admin);
    if !allowed {
        return Err(SgError::AdminDenied(user));
    }
    match admin {
        Admin::Nodes => show_nodes::run(ctx).await,
        Admin::Rules => {
            let rules = &ctx.shared.rules;
            let mut rows: Rows = Vec::new();
            for (name, ds) in &rules.data_sources {
                let replicas: Vec<String> = ds.replicas.iter().map(|r| format!("{} (weight {})", r.address, r.weight)).collect();
                rows.push(vec![text("data_source"), text(name), text(format!("primary {}; replicas [{}]; max_connections {}", ds.primary, replicas.join(", "), ds.max_connections))]);
            }
            for (name, schema) in &rules.schemas {
                rows.push(vec![text("schema"), text(name), text(format!("default data source {}", schema.data_source.get_ref()))]);
                for (t, rule) in &schema.tables {
                    rows.push(vec![
                        text("sharded_table"),
                        text(format!("{name}.{t}")),
                        text(format!("by {} ({:?}, {:?}) on {:?}", rule.sharding_column, rule.algorithm, rule.key_type, rule.actual_nodes.get_ref())),
                    ]);
                }
                for b in &schema.broadcast_tables {
                    rows.push(vec![text("broadcast_table"), text(format!("{name}.{}", b.get_ref())), text("a copy on every data source")]);
                }
            }
            rows.push(vec![text("transaction_mode"), text(format!("{:?}", rules.transaction_mode)), text(rules.xa_log.display())]);
            table(ctx, &["kind", "name", "detail"], rows).await
        }
        Admin::Sessions => {
            let rows = ctx
                .shared
                .sessions
                .all()
                .iter()
                .map(|h| {
                    let threads: Vec<String> = h.threads().iter().map(|(pool, t)| format!("{pool}:{t}")).collect();
                    let pinned = h.pinned.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or("");
                    vec![text(h.id), text(h.user.lock().unwrap_or_else(|e| e.into_inner()).clone()), text(threads.join(", ")), text(pinned)]
                })
                .collect();
            table(ctx, &["id", "user", "backend_threads", "pinned_by"], rows).await
        }
        Admin::Stats => {
            let s = &ctx.shared.stats;
            let rows = [
                ("connections_accepted", &s.connections_accepted),
                ("sessions_active", &s.sessions_active),
                ("questions", &s.questions),
                ("rows_relayed", &s.rows_relayed),
                ("backend_connects", &s.backend_connects),
                ("backend_errors", &s.backend_errors),
                ("prepared_statements", &s.prepared_statements),
                ("xa_two_phase_commits", &s.xa_two_phase_commits),
                ("deadlocks", &s.deadlocks),
                ("deadlock_wait_ms", &s.deadlock_wait_ms),
                ("logins_failed", &s.logins_failed),
                ("logins_blocked", &s.logins_blocked),
                ("xa_recovered_commits", &s.xa_recovered_commits),
                ("xa_recovered_rollbacks", &s.xa_recovered_rollbacks),
            ]
            .into_iter()
            .map(|(name, v)| vec![text(name), text(Stats::get(v))])
            .chain(xa_steps(&ctx.shared).into_iter().map(|(name, v)| vec![text(name), text(v)]))
            .collect();
            table(ctx, &["name", "value"], rows).await
        }
        Admin::Proxies => {
            let Some(fleet) = live.fleet.clone() else {
                return Err(SgError::NotSupported("SHOW SHARDGATE PROXIES: this instance is not part of a fleet (start it with `shardgate serve --fleet FILE`)".into()));
            };
            let (newest, regs) = crate::fleet::membership::list(&fleet.client, &fleet.keys).await.map_err(|e| SgError::Failed(format!("etcd is unreachable ({e}); this instance keeps serving rules revision {}", fleet.status().revision)))?;
            let rows = crate::fleet::membership::rows(newest, &regs).into_iter().map(|r| r.into_iter().map(text).collect()).collect();
            table(ctx, &["instance", "address", "version", "revision", "state", "since"], rows).await
        }
        Admin::Locks => {
            let opt = |s: Option<u32>| s.map_or_else(|| text("-"), text);
            let rows = deadlocks::waits(&ctx.shared.clone())
                .await
                .into_iter()
                .map(|w| vec![opt(w.waiting_session), text(w.waiting_thread), opt(w.blocking_session), text(w.blocking_thread), text(&w.data_source), text(w.waited_ms), text(&w.query)])
                .collect();
            table(ctx, &["waiting_session", "waiting_thread", "blocking_session", "blocking_thread", "data_source", "waited_ms", "query"], rows).await
        }
        Admin::Reshard | Admin::ReshardRun { .. } | Admin::ReshardAbort | Admin::ReshardCleanup => reshard_job::run(live, ctx, admin).await,
        Admin::Reload => match crate::reload::reload(live).await {
            Ok(summary) => table(ctx, &["reloaded"], vec![vec![text(summary)]]).await,
            Err(e) => Err(SgError::Failed(format!("rules not reloaded (the previous rules keep serving): {e}"))),
        },
        Admin::Node(name, offline) => {
            let replica = ctx.shared.replicas.values().find_map(|set| set.get(&name));
            let Some(replica) = replica else {
                let known: Vec<String> = ctx.shared.replicas.values().flat_map(|s| s.replicas.iter().map(|r| r.name.clone())).collect();
                return Err(SgError::NotSupported(format!(
                    "taking '{name}' offline: only replicas can be ({}); a primary leaves with a reload of the rules",
                    known.join(", ")
                )));
            };
            replica.health.set_offline(offline);
            tracing::warn!(replica = %name, offline, "replica taken {} by an admin", if offline { "offline" } else { "online" });
            ctx.send_ok().await
        }
        Admin::Unblock(user) => {
            // Affected rows: 1 if the user was blocked, 0 if not.
            let was = ctx.shared.login_guard.unblock(&user);
            tracing::warn!(user = %user, was_blocked = was, "login block lifted by an admin");
            let ok = crate::protocol::response::Ok { affected_rows: u64::from(was), status: ctx.state.status, ..Default::default() };
            ctx.send_payload(&crate::protocol::response::encode_ok(&ok, 0)).await
        }
    }
}

/// The XA coordinator's steps as SHOW SHARDGATE STATS rows: `xa_<step>_count` and `xa_<step>_us` (time in
/// all), and the decision log's fsyncs (fewer than decisions when commits share one).
fn xa_steps(shared: &crate::shared::Shared) -> Vec<(String, u64)> {
    let s = &shared.stats;
    let mut rows = Vec::new();
    for (i, step) in crate::stats::XA_STEPS.iter().enumerate() {
        rows.push((format!("xa_{step}_count"), Stats::get(&s.xa_step_count[i])));
        rows.push((format!("xa_{step}_us"), Stats::get(&s.xa_step_us[i])));
    }
    if let Some(log) = &shared.xa_log {
        let (decisions, syncs) = log.decisions_and_syncs();
        rows.push(("xa_decisions".into(), decisions));
        rows.push(("xa_decision_syncs".into(), syncs));
        let (bytes, compactions) = log.size_and_compactions();
        rows.push(("xa_log_bytes".into(), bytes));
        rows.push(("xa_log_compactions".into(), compactions));
    }
    rows
}
