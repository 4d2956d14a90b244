//! The statement guard around every plan that names its data sources (`super::reached`): a statement
//! waiting on a data source whose health check marks it down (backend/health.rs, `spawn_primary`), or
//! running past that data source's `query_timeout_ms`, is ended instead of holding its client until the
//! server answers. Its connections there are dropped (a reply may still come) and the query is killed on
//! the server (`KILL QUERY` on a fresh connection, retried until the server answers); an open transaction
//! is rolled back everywhere, since one of its branches is gone.
//!
//! Statements that do not reach that data source never wait for it: the guard looks at the statement's own
//! data sources only. Plans the executor runs in several steps (an INSERT split per node, row moves, writes
//! over copies, COMMIT) are not cut short: they wait for the server, as one MariaDB would.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::pool::Pool;
use crate::error::SgError;
use crate::plan::Plan;

use super::context::ExecCtx;
use super::Exec;

/// Why a statement was stopped.
enum Stop {
    /// Its data source's health check marked it down.
    Down { ds: String, reason: String },
    /// It ran past `ms`, its data source's query_timeout_ms.
    Timeout { ds: String, ms: u64 },
}

/// Runs `plan` (through `super::run_plan`) under the guard.
pub(super) async fn run(ctx: &mut ExecCtx, plan: Plan, how: &Exec<'_>) -> Result<(), SgError> {
    let watched: Vec<Arc<Pool>> = match super::reached(&plan) {
        Some(sources) => sources.iter().filter_map(|ds| ctx.shared.pools.get(*ds)).filter(|p| p.watched()).cloned().collect(),
        None => Vec::new(),
    };
    if watched.is_empty() {
        return super::run_plan(ctx, plan, how).await;
    }
    let timeout = watched.iter().map(|p| (p.rule().query_timeout_ms, p.name.clone())).filter(|(ms, _)| *ms > 0).min();
    let shared = ctx.shared.clone();
    let sent_before = ctx.client.writes();
    let stop = {
        let run = super::run_plan(ctx, plan, how);
        tokio::pin!(run);
        let deadline = async {
            match &timeout {
                Some((ms, _)) => tokio::time::sleep(Duration::from_millis(*ms)).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        loop {
            let woke = shared.ejections.notified();
            tokio::select! {
                result = &mut run => return result,
                () = &mut deadline => {
                    let (ms, ds) = timeout.clone().expect("a deadline only with a timeout");
                    break Stop::Timeout { ds, ms };
                }
                () = woke => {
                    if let Some((ds, reason)) = watched.iter().find_map(|p| p.down_reason().map(|r| (p.name.clone(), r))) {
                        break Stop::Down { ds, reason };
                    }
                }
            }
        }
    };
    abandon(ctx, &watched, stop, sent_before).await
}

/// Ends a stopped statement: its connections to the watched data sources are dropped and their queries
/// killed, an open transaction is rolled back, and the error says what is known.
async fn abandon(ctx: &mut ExecCtx, watched: &[Arc<Pool>], stop: Stop, sent_before: u64) -> Result<(), SgError> {
    for pool in watched {
        if let Some(pooled) = ctx.backends.remove(&pool.name) {
            kill_later(pool.clone(), pooled.conn.connection_id);
        }
    }
    ctx.dirty = true;
    let in_transaction = ctx.xa.is_some() || ctx.in_transaction();
    if in_transaction {
        super::transaction::abort(ctx).await;
    }
    let outcome = if in_transaction { "; the whole transaction was rolled back" } else { "" };
    let (ds, what) = match &stop {
        Stop::Down { ds, reason } => (ds.clone(), format!("its health check finds it down ({reason})")),
        Stop::Timeout { ds, ms } => (ds.clone(), format!("query_timeout_ms = {ms} passed")),
    };
    tracing::warn!(session = ctx.state.connection_id, data_source = %ds, reason = %what, "statement ended before its data source answered");
    if ctx.client.writes() != sent_before {
        // Part of the answer reached the client: no ERR can follow it cleanly; the session ends.
        return Err(SgError::BackendLost(ds, format!("{what} while its answer was being sent")));
    }
    match stop {
        Stop::Timeout { ds, ms } => Err(SgError::StatementTimeout { ds, ms, outcome: outcome.to_string() }),
        Stop::Down { ds, .. } => {
            let addr = watched.iter().find(|p| p.name == ds).map(|p| p.rule().primary.to_string()).unwrap_or_default();
            Err(SgError::BackendUnreachable { ds, addr, reason: format!("{what} while the statement waited for it; its outcome there is unknown{outcome}") })
        }
    }
}

/// Kills backend thread `id`'s query on `pool`'s server from a fresh connection, retrying once a second for
/// a minute while the server does not answer (a frozen one answers when it thaws).
fn kill_later(pool: Arc<Pool>, id: u32) {
    tokio::spawn(async move {
        for _ in 0..60 {
            if let Ok(Ok(mut conn)) = tokio::time::timeout(Duration::from_secs(2), pool.connect_outside()).await {
                // Any answer ends it: OK, or 1094 (unknown thread: the query is gone with its connection).
                if tokio::time::timeout(Duration::from_secs(2), conn.query_ok(&format!("KILL QUERY {id}"))).await.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tracing::warn!(data_source = %pool.name, thread = id, "could not kill an abandoned statement's query within a minute");
    });
}
