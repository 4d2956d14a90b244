//! Admin statements, for users marked `admin = true` in the rules (others get 1227): the node view, the
//! rules, the sessions, the counters, RELOAD RULES, and taking a replica offline by hand.

use crate::error::SgError;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use crate::session::session::Session;
use crate::sql::lexer::Admin;
use crate::stats::Stats;

type Rows = Vec<Vec<Option<Vec<u8>>>>;

fn text(s: impl ToString) -> Option<Vec<u8>> {
    Some(s.to_string().into_bytes())
}

async fn table(session: &mut Session, columns: &[&str], rows: Rows) -> Result<(), SgError> {
    let columns: Vec<(&str, ColumnType)> = columns.iter().map(|c| (*c, ColumnType::Text)).collect();
    let packets = encode_resultset(&columns, &rows, session.state.deprecate_eof(), session.state.status);
    session.send_packets(&packets).await
}

/// Runs `admin` if the session's user may.
pub async fn run(session: &mut Session, admin: Admin) -> Result<(), SgError> {
    let user = session.state.user.clone();
    let allowed = session.shared.rules.users.iter().any(|u| u.get_ref().name == user && u.get_ref().admin);
    if !allowed {
        return Err(SgError::Backend {
            code: 1227,
            sqlstate: "42000".into(),
            message: format!("Access denied; you need the shardgate admin privilege for this operation (user '{user}' has no admin = true in the rules)"),
        });
    }
    match admin {
        Admin::Nodes => super::show_nodes::run(session).await,
        Admin::Rules => {
            let rules = &session.shared.rules;
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
            table(session, &["kind", "name", "detail"], rows).await
        }
        Admin::Sessions => {
            let rows = session
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
            table(session, &["id", "user", "backend_threads", "pinned_by"], rows).await
        }
        Admin::Stats => {
            let s = &session.shared.stats;
            let rows = [
                ("connections_accepted", &s.connections_accepted),
                ("sessions_active", &s.sessions_active),
                ("questions", &s.questions),
                ("rows_relayed", &s.rows_relayed),
                ("backend_connects", &s.backend_connects),
                ("backend_errors", &s.backend_errors),
                ("prepared_statements", &s.prepared_statements),
                ("xa_two_phase_commits", &s.xa_two_phase_commits),
                ("xa_recovered_commits", &s.xa_recovered_commits),
                ("xa_recovered_rollbacks", &s.xa_recovered_rollbacks),
            ]
            .into_iter()
            .map(|(name, v)| vec![text(name), text(Stats::get(v))])
            .collect();
            table(session, &["name", "value"], rows).await
        }
        Admin::Proxies => {
            let Some(fleet) = session.shared.fleet.clone() else {
                return Err(SgError::NotSupported("SHOW SHARDGATE PROXIES: this instance is not part of a fleet (start it with `shardgate serve --fleet FILE`)".into()));
            };
            let (newest, regs) = crate::fleet::membership::list(&fleet.client, &fleet.keys).await.map_err(|e| SgError::Backend {
                code: crate::error::code::UNKNOWN,
                sqlstate: "HY000".into(),
                message: format!("etcd is unreachable ({e}); this instance keeps serving rules revision {}", fleet.status().revision),
            })?;
            let rows = crate::fleet::membership::rows(newest, &regs).into_iter().map(|r| r.into_iter().map(text).collect()).collect();
            table(session, &["instance", "address", "version", "revision", "state", "since"], rows).await
        }
        Admin::Reshard | Admin::ReshardRun { .. } | Admin::ReshardAbort | Admin::ReshardCleanup => super::reshard_admin::run(session, admin).await,
        Admin::Reload => match crate::reload::reload(&session.live).await {
            Ok(summary) => table(session, &["reloaded"], vec![vec![text(summary)]]).await,
            Err(e) => Err(SgError::Backend { code: crate::error::code::UNKNOWN, sqlstate: "HY000".into(), message: format!("rules not reloaded (the previous rules keep serving): {e}") }),
        },
        Admin::Node(name, offline) => {
            let replica = session.shared.replicas.values().find_map(|set| set.get(&name));
            let Some(replica) = replica else {
                let known: Vec<String> = session.shared.replicas.values().flat_map(|s| s.replicas.iter().map(|r| r.name.clone())).collect();
                return Err(SgError::NotSupported(format!(
                    "taking '{name}' offline: only replicas can be ({}); a primary leaves with a reload of the rules",
                    known.join(", ")
                )));
            };
            replica.health.set_offline(offline);
            tracing::warn!(replica = %name, offline, "replica taken {} by an admin", if offline { "offline" } else { "online" });
            session.send_ok().await
        }
    }
}
