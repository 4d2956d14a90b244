//! Transaction control as the executor runs it: who may join the open transaction, COMMIT and ROLLBACK
//! (XA-managed or local), savepoints on every branch, and SET, which every held connection takes.

use crate::config::rules::TransactionMode;
use crate::error::SgError;
use crate::plan::planner::data_source_for;
use crate::protocol::reply::ReplyKind;

use super::context::ExecCtx;
use super::{passthrough, xa};

/// Inside a transaction, a statement may reach data sources other than the session's home one only in
/// best_effort mode, where they join the transaction (BEGIN there) on first use; otherwise it is refused.
pub async fn check_transaction(ctx: &mut ExecCtx, sources: &[&str]) -> Result<(), SgError> {
    if !ctx.in_transaction() {
        return Ok(());
    }
    if xa::applies(ctx) {
        if ctx.statement_tableless && ctx.xa.is_none() {
            return Ok(());
        }
        for ds in sources {
            xa::enlist(ctx, ds).await?;
        }
        return Ok(());
    }
    let home = data_source_for(ctx.state.schema.as_deref(), &ctx.shared.rules);
    let joining: Vec<String> = sources.iter().filter(|ds| **ds != home && !ctx.enlisted.contains(**ds)).map(|ds| ds.to_string()).collect();
    if joining.is_empty() {
        return Ok(());
    }
    if ctx.shared.rules.transaction_mode != TransactionMode::BestEffort {
        return Err(SgError::NotSupported(format!(
            "statements on data sources other than '{home}' inside a transaction (cross-shard transactions need XA, or \
             transaction_mode = \"best_effort\" in the rules); commit first or run it with autocommit"
        )));
    }
    for ds in joining {
        ctx.ensure_backend(&ds).await?;
        let conn = &mut ctx.backends.get_mut(&ds).expect("pinned").conn;
        if let Err(reason) = conn.query_ok("BEGIN").await {
            ctx.backends.remove(&ds);
            return Err(SgError::BackendLost(ds, reason));
        }
        ctx.enlisted.insert(ds);
    }
    Ok(())
}

/// COMMIT or ROLLBACK: first on every data source that joined the transaction, then on the home one. If a
/// joined data source fails to commit, the home one is rolled back and the client gets the error.
pub(crate) async fn end_transaction(ctx: &mut ExecCtx, commit: bool, command: &[u8]) -> Result<(), SgError> {
    if xa::applies(ctx) {
        if commit {
            xa::commit(ctx).await?;
        } else {
            xa::rollback(ctx).await;
        }
        return ctx.send_ok().await;
    }
    let word = if commit { "COMMIT" } else { "ROLLBACK" };
    let mut failure = None;
    for ds in std::mem::take(&mut ctx.enlisted) {
        let Some(pooled) = ctx.backends.get_mut(&ds) else { continue };
        let end = if failure.is_some() { "ROLLBACK" } else { word };
        if let Err(reason) = pooled.conn.query_ok(end).await {
            failure.get_or_insert(format!("{end} failed on data source '{ds}': {reason}"));
        }
    }
    let home = data_source_for(ctx.state.schema.as_deref(), &ctx.shared.rules);
    match failure {
        None => passthrough::run(ctx, &home, command, ReplyKind::ResultSets).await,
        Some(reason) => {
            ctx.ensure_backend(&home).await?;
            let _ = ctx.backends.get_mut(&home).expect("pinned").conn.query_ok("ROLLBACK").await;
            ctx.state.status &= !crate::protocol::constants::status::IN_TRANS;
            Err(SgError::Failed(format!(
                "{reason}; the transaction was rolled back where it had not committed yet (best_effort mode is not atomic across data sources)"
            )))
        }
    }
}

/// SAVEPOINT, ROLLBACK TO SAVEPOINT and RELEASE SAVEPOINT in an XA-managed session: on every branch. A
/// branch that joins later gets every savepoint still set right after its XA START, so rolling back to one
/// undoes all it did since (it had done nothing when the savepoint was set).
pub(crate) async fn savepoint(ctx: &mut ExecCtx, command: &[u8]) -> Result<(), SgError> {
    let sql = String::from_utf8_lossy(&command[1..]).into_owned();
    let Some((verb, name)) = crate::sql::transaction::savepoint_of(&sql) else {
        return Err(SgError::NotSupported(format!("a savepoint statement shardgate cannot read: {sql}")));
    };
    let branches = ctx.xa.as_ref().map(|t| t.branches.clone()).unwrap_or_default();
    if verb != crate::sql::transaction::SavepointVerb::Set && !ctx.savepoints.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
        return Err(SgError::NoSavepoint(name));
    }
    for ds in &branches {
        let Some(pooled) = ctx.backends.get_mut(ds) else {
            return Err(SgError::BackendLost(ds.clone(), format!("the transaction's connection is gone (held: {:?})", ctx.backends.keys().collect::<Vec<_>>())));
        };
        let conn = &mut pooled.conn;
        if let Err(reason) = conn.query_ok(&sql).await {
            return Err(SgError::Failed(format!("`{sql}` failed on data source '{ds}': {reason}")));
        }
    }
    let at = ctx.savepoints.iter().position(|s| s.eq_ignore_ascii_case(&name));
    match verb {
        // Setting a savepoint again moves it to the end, as on MariaDB.
        crate::sql::transaction::SavepointVerb::Set => {
            if let Some(i) = at {
                ctx.savepoints.remove(i);
            }
            ctx.savepoints.push(name);
            ctx.state.status |= crate::protocol::constants::status::IN_TRANS;
        }
        // Later savepoints are gone; ROLLBACK TO keeps the one named, RELEASE removes it too.
        crate::sql::transaction::SavepointVerb::RollbackTo => ctx.savepoints.truncate(at.map_or(0, |i| i + 1)),
        crate::sql::transaction::SavepointVerb::Release => ctx.savepoints.truncate(at.unwrap_or(0)),
    }
    ctx.send_ok().await
}

/// SET in a sharded schema: every other data source the session holds takes it first (a failure there is
/// the answer, and the home data source is left untouched), then the home data source answers; the statement
/// is remembered for data sources reached later.
pub(crate) async fn set(ctx: &mut ExecCtx, home: &str, command: &[u8]) -> Result<(), SgError> {
    let sql = String::from_utf8_lossy(&command[1..]).into_owned();
    let others: Vec<String> = ctx.backends.keys().filter(|ds| *ds != home).cloned().collect();
    for ds in others {
        let conn = &mut ctx.backends.get_mut(&ds).expect("pinned").conn;
        if let Err(reason) = conn.query_ok(&sql).await {
            return Err(SgError::Failed(format!("`{sql}` failed on data source '{ds}': {reason}")));
        }
    }
    passthrough::run(ctx, home, command, ReplyKind::ResultSets).await?;
    if ctx.last_reply_ok {
        ctx.state.remember_setting(&sql);
    }
    Ok(())
}
