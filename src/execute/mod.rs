//! Running plans: one file per primitive.

pub mod concat;
pub mod explain;
pub mod having;
pub mod insert_split;
pub mod kill;
pub mod limit;
pub mod load_data;
pub mod merge;
pub mod passthrough;
pub mod read_split;
pub mod rename_result;
pub mod scatter;
pub mod show_databases;
pub mod show_nodes;
pub mod show_tables;
pub mod use_schema;
pub mod admin;
pub mod reshard_admin;
pub mod aggregate;
pub mod distinct;
pub mod merge_sort;
pub mod move_rows;
pub mod stream;
pub mod value;
pub mod xa;

use crate::error::SgError;
use crate::config::rules::TransactionMode;
use crate::plan::planner::{data_source_for, Combine};
use crate::plan::Plan;
use crate::protocol::constants::com;
use crate::protocol::reply::ReplyKind;
use crate::session::session::Session;

/// Inside a transaction, a statement may reach data sources other than the session's home one only in
/// best_effort mode, where they join the transaction (BEGIN there) on first use; otherwise it is refused.
pub(crate) async fn check_transaction(session: &mut Session, sources: &[&str]) -> Result<(), SgError> {
    if !session.in_transaction() {
        return Ok(());
    }
    if xa::applies(session) {
        if session.statement_tableless && session.xa.is_none() {
            return Ok(());
        }
        for ds in sources {
            xa::enlist(session, ds).await?;
        }
        return Ok(());
    }
    let home = data_source_for(session.state.schema.as_deref(), &session.shared.rules);
    let joining: Vec<String> = sources.iter().filter(|ds| **ds != home && !session.enlisted.contains(**ds)).map(|ds| ds.to_string()).collect();
    if joining.is_empty() {
        return Ok(());
    }
    if session.shared.rules.transaction_mode != TransactionMode::BestEffort {
        return Err(SgError::NotSupported(format!(
            "statements on data sources other than '{home}' inside a transaction (cross-shard transactions need XA, or \
             transaction_mode = \"best_effort\" in the rules); commit first or run it with autocommit"
        )));
    }
    for ds in joining {
        session.ensure_backend(&ds).await?;
        let conn = &mut session.backends.get_mut(&ds).expect("pinned").conn;
        if let Err(reason) = conn.query_ok("BEGIN").await {
            session.backends.remove(&ds);
            return Err(SgError::BackendLost(ds, reason));
        }
        session.enlisted.insert(ds);
    }
    Ok(())
}

/// COMMIT or ROLLBACK: first on every data source that joined the transaction, then on the home one. If a
/// joined data source fails to commit, the home one is rolled back and the client gets the error.
async fn end_transaction(session: &mut Session, commit: bool, command: &[u8]) -> Result<(), SgError> {
    if xa::applies(session) {
        if commit {
            xa::commit(session).await?;
        } else {
            xa::rollback(session).await;
        }
        return session.send_ok().await;
    }
    let word = if commit { "COMMIT" } else { "ROLLBACK" };
    let mut failure = None;
    for ds in std::mem::take(&mut session.enlisted) {
        let Some(pooled) = session.backends.get_mut(&ds) else { continue };
        let end = if failure.is_some() { "ROLLBACK" } else { word };
        if let Err(reason) = pooled.conn.query_ok(end).await {
            failure.get_or_insert(format!("{end} failed on data source '{ds}': {reason}"));
        }
    }
    let home = data_source_for(session.state.schema.as_deref(), &session.shared.rules);
    match failure {
        None => passthrough::run(session, &home, command, ReplyKind::ResultSets).await,
        Some(reason) => {
            session.ensure_backend(&home).await?;
            let _ = session.backends.get_mut(&home).expect("pinned").conn.query_ok("ROLLBACK").await;
            session.state.status &= !crate::protocol::constants::status::IN_TRANS;
            Err(SgError::Backend {
                code: crate::error::code::UNKNOWN,
                sqlstate: "HY000".into(),
                message: format!("{reason}; the transaction was rolled back where it had not committed yet (best_effort mode is not atomic across data sources)"),
            })
        }
    }
}

/// Runs the plan of a prepared statement's execution (its parameters bound into `sql`), answering with
/// binary-protocol rows: every result passes through the merge path, which re-encodes rows.
pub async fn run_binary(session: &mut Session, plan: Plan, sql: &str) -> Result<(), SgError> {
    use crate::plan::merge::MergeSpec;
    use crate::plan::planner::Target;
    match plan {
        Plan::Passthrough { data_source, sql: rewritten } => {
            check_transaction(session, &[&data_source]).await?;
            let targets = [Target { data_source, sql: rewritten.unwrap_or_else(|| sql.to_string()) }];
            merge::run(session, &targets, &MergeSpec::none(), true).await
        }
        Plan::Scatter { targets, combine: Combine::Concat, .. } => {
            check_transaction(session, &targets.iter().map(|t| t.data_source.as_str()).collect::<Vec<_>>()).await?;
            merge::run(session, &targets, &MergeSpec::none(), true).await
        }
        Plan::Merge { targets, spec } => {
            check_transaction(session, &targets.iter().map(|t| t.data_source.as_str()).collect::<Vec<_>>()).await?;
            merge::run(session, &targets, &spec, true).await
        }
        Plan::Set { data_source } => {
            let mut command = vec![com::QUERY];
            command.extend_from_slice(sql.as_bytes());
            set(session, &data_source, &command).await
        }
        Plan::EndTransaction(commit) => {
            let mut command = vec![com::QUERY];
            command.extend_from_slice(if commit { b"COMMIT" } else { b"ROLLBACK" });
            end_transaction(session, commit, &command).await
        }
        plan @ (Plan::Scatter { .. } | Plan::Insert(_) | Plan::MoveRows(_) | Plan::Refuse(_)) => run(session, plan, &[]).await,
        plan @ (Plan::Begin { .. } | Plan::Savepoint) => {
            let mut command = vec![com::QUERY];
            command.extend_from_slice(sql.as_bytes());
            run(session, plan, &command).await
        }
        _ => Err(SgError::UnsupportedPs("this statement as a prepared statement in a sharded schema; run it as plain SQL".into())),
    }
}

/// Runs the plan for one COM_QUERY whose packet payload is `command`.
pub async fn run(session: &mut Session, plan: Plan, command: &[u8]) -> Result<(), SgError> {
    match plan {
        Plan::Passthrough { data_source, sql: rewritten } => {
            check_transaction(session, &[&data_source]).await?;
            match rewritten {
                None => passthrough::run(session, &data_source, command, ReplyKind::ResultSets).await,
                Some(text) => {
                    let mut payload = Vec::with_capacity(1 + text.len());
                    payload.push(com::QUERY);
                    payload.extend_from_slice(text.as_bytes());
                    passthrough::run(session, &data_source, &payload, ReplyKind::ResultSets).await
                }
            }
        }
        Plan::RenameResult { data_source, sql, physical, logical } => {
            check_transaction(session, &[&data_source]).await?;
            rename_result::run(session, &data_source, &sql, &physical, &logical).await
        }
        Plan::Scatter { targets, combine, reset_sequences } => {
            check_transaction(session, &targets.iter().map(|t| t.data_source.as_str()).collect::<Vec<_>>()).await?;
            match combine {
                Combine::Concat => concat::run(session, &targets).await,
                _ => scatter::run(session, &targets, combine, None, &reset_sequences).await,
            }
        }
        Plan::Merge { targets, spec } => {
            check_transaction(session, &targets.iter().map(|t| t.data_source.as_str()).collect::<Vec<_>>()).await?;
            merge::run(session, &targets, &spec, false).await
        }
        Plan::Insert(p) => insert_split::run(session, &p).await,
        Plan::MoveRows(m) => move_rows::run(session, &m).await,
        Plan::UseSchema(name) => use_schema::run(session, &name).await,
        Plan::ShowDatabases { like } => show_databases::run(session, like.as_deref()).await,
        Plan::Admin(a) => admin::run(session, a).await,
        Plan::Kill { query, id } => kill::run(session, query, id).await,
        Plan::ShowTables { full, like } => show_tables::run(session, full, like.as_deref()).await,
        Plan::Explain(inner, inner_sql) => explain::run(session, &inner, &inner_sql).await,
        Plan::EndTransaction(commit) => end_transaction(session, commit, command).await,
        Plan::Begin { read_only } => {
            // BEGIN inside a transaction commits it first, as MySQL does.
            xa::commit(session).await?;
            use crate::protocol::constants::status;
            session.state.status |= status::IN_TRANS | if read_only { status::IN_TRANS_READONLY } else { 0 };
            session.send_ok().await
        }
        Plan::Savepoint => savepoint(session, command).await,
        Plan::Set { data_source } => set(session, &data_source, command).await,
        Plan::LoadData(p) => load_data::run(session, &p).await,
        Plan::LearnColumns(table) => {
            learn_columns(session, &table).await?;
            let sql = String::from_utf8_lossy(&command[1..]).into_owned();
            let shared = session.shared.clone();
            match crate::plan::planner::plan(crate::sql::lexer::classify(&sql), &sql, session.state.schema.as_deref(), &shared.rules, &shared.layouts) {
                Plan::LearnColumns(t) => Err(SgError::NotSupported(format!("an INSERT whose columns could not be learnt from table '{}'", t.name))),
                plan => Box::pin(run(session, plan, command)).await,
            }
        }
        Plan::Refuse(reason) => Err(SgError::NotSupported(reason)),
    }
}

/// Learns `table`'s columns, in order, from its first node.
async fn learn_columns(session: &mut Session, table: &crate::sharding::table::ShardedTable) -> Result<(), SgError> {
    let node = &table.nodes[0];
    session.ensure_backend(&node.data_source).await?;
    let conn = &mut session.backends.get_mut(&node.data_source).expect("pinned").conn;
    let rows = conn
        .query_rows(&format!("SHOW COLUMNS FROM {}", crate::sql::tokens::quote_ident(&node.table, None)))
        .await
        .map_err(|e| SgError::BackendLost(node.data_source.clone(), e))?;
    let columns: Vec<String> = rows.into_iter().filter_map(|r| r.into_iter().next().flatten()).map(|b| String::from_utf8_lossy(&b).into_owned()).collect();
    if columns.is_empty() {
        return Err(SgError::NotSupported(format!("an INSERT without a column list into '{}', whose columns could not be read", table.name)));
    }
    table.set_columns(columns);
    Ok(())
}

/// SAVEPOINT, ROLLBACK TO SAVEPOINT and RELEASE SAVEPOINT in an XA-managed session: on every branch. A
/// branch that joins later gets every savepoint still set right after its XA START, so rolling back to one
/// undoes all it did since (it had done nothing when the savepoint was set).
async fn savepoint(session: &mut Session, command: &[u8]) -> Result<(), SgError> {
    let sql = String::from_utf8_lossy(&command[1..]).into_owned();
    let Some((verb, name)) = crate::sql::transaction::savepoint_of(&sql) else {
        return Err(SgError::NotSupported(format!("a savepoint statement shardgate cannot read: {sql}")));
    };
    let branches = session.xa.as_ref().map(|t| t.branches.clone()).unwrap_or_default();
    if verb != crate::sql::transaction::SavepointVerb::Set && !session.savepoints.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
        return Err(SgError::Backend { code: 1305, sqlstate: "42000".into(), message: format!("SAVEPOINT {name} does not exist") });
    }
    for ds in &branches {
        let Some(pooled) = session.backends.get_mut(ds) else {
            return Err(SgError::BackendLost(ds.clone(), format!("the transaction's connection is gone (held: {:?})", session.backends.keys().collect::<Vec<_>>())));
        };
        let conn = &mut pooled.conn;
        if let Err(reason) = conn.query_ok(&sql).await {
            return Err(SgError::Backend { code: crate::error::code::UNKNOWN, sqlstate: "HY000".into(), message: format!("`{sql}` failed on data source '{ds}': {reason}") });
        }
    }
    let at = session.savepoints.iter().position(|s| s.eq_ignore_ascii_case(&name));
    match verb {
        // Setting a savepoint again moves it to the end, as on MariaDB.
        crate::sql::transaction::SavepointVerb::Set => {
            if let Some(i) = at {
                session.savepoints.remove(i);
            }
            session.savepoints.push(name);
            session.state.status |= crate::protocol::constants::status::IN_TRANS;
        }
        // Later savepoints are gone; ROLLBACK TO keeps the one named, RELEASE removes it too.
        crate::sql::transaction::SavepointVerb::RollbackTo => session.savepoints.truncate(at.map_or(0, |i| i + 1)),
        crate::sql::transaction::SavepointVerb::Release => session.savepoints.truncate(at.unwrap_or(0)),
    }
    session.send_ok().await
}

/// SET in a sharded schema: every other data source the session holds takes it first (a failure there is
/// the answer, and the home data source is left untouched), then the home data source answers; the statement
/// is remembered for data sources reached later.
async fn set(session: &mut Session, home: &str, command: &[u8]) -> Result<(), SgError> {
    let sql = String::from_utf8_lossy(&command[1..]).into_owned();
    let others: Vec<String> = session.backends.keys().filter(|ds| *ds != home).cloned().collect();
    for ds in others {
        let conn = &mut session.backends.get_mut(&ds).expect("pinned").conn;
        if let Err(reason) = conn.query_ok(&sql).await {
            return Err(SgError::Backend {
                code: crate::error::code::UNKNOWN,
                sqlstate: "HY000".into(),
                message: format!("`{sql}` failed on data source '{ds}': {reason}"),
            });
        }
    }
    passthrough::run(session, home, command, ReplyKind::ResultSets).await?;
    if session.last_reply_ok {
        session.state.remember_setting(&sql);
    }
    Ok(())
}
