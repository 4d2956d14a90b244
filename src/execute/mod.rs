//! Running plans: one file per primitive.

pub mod concat;
pub mod explain;
pub mod having;
pub mod insert_split;
pub mod limit;
pub mod merge;
pub mod passthrough;
pub mod rename_result;
pub mod scatter;
pub mod show_databases;
pub mod show_tables;
pub mod use_schema;
pub mod aggregate;
pub mod distinct;
pub mod merge_sort;
pub mod stream;
pub mod value;

use crate::error::SgError;
use crate::plan::planner::{data_source_for, Combine};
use crate::plan::Plan;
use crate::protocol::constants::com;
use crate::protocol::reply::ReplyKind;
use crate::session::session::Session;

/// Refuses statements that would leave the session's open transaction: until cross-shard transactions
/// (XA) land, a transaction lives on the schema's default data source only.
fn check_transaction(session: &Session, sources: &[&str]) -> Result<(), SgError> {
    if !session.in_transaction() {
        return Ok(());
    }
    let home = data_source_for(session.state.schema.as_deref(), &session.shared.rules);
    if sources.iter().any(|ds| *ds != home) {
        return Err(SgError::NotSupported(format!(
            "statements on data sources other than '{home}' inside a transaction (cross-shard transactions need XA); \
             commit first or run it with autocommit"
        )));
    }
    Ok(())
}

/// Runs the plan of a prepared statement's execution (its parameters bound into `sql`), answering with
/// binary-protocol rows: every result passes through the merge path, which re-encodes rows.
pub async fn run_binary(session: &mut Session, plan: Plan, sql: &str) -> Result<(), SgError> {
    use crate::plan::merge::MergeSpec;
    use crate::plan::planner::Target;
    match plan {
        Plan::Passthrough { data_source, sql: rewritten } => {
            check_transaction(session, &[&data_source])?;
            let targets = [Target { data_source, sql: rewritten.unwrap_or_else(|| sql.to_string()) }];
            merge::run(session, &targets, &MergeSpec::none(), true).await
        }
        Plan::Scatter { targets, combine: Combine::Concat, .. } => {
            check_transaction(session, &targets.iter().map(|t| t.data_source.as_str()).collect::<Vec<_>>())?;
            merge::run(session, &targets, &MergeSpec::none(), true).await
        }
        Plan::Merge { targets, spec } => {
            check_transaction(session, &targets.iter().map(|t| t.data_source.as_str()).collect::<Vec<_>>())?;
            merge::run(session, &targets, &spec, true).await
        }
        plan @ (Plan::Scatter { .. } | Plan::Insert(_) | Plan::Refuse(_)) => run(session, plan, &[]).await,
        _ => Err(SgError::UnsupportedPs("this statement as a prepared statement in a sharded schema; run it as plain SQL".into())),
    }
}

/// Runs the plan for one COM_QUERY whose packet payload is `command`.
pub async fn run(session: &mut Session, plan: Plan, command: &[u8]) -> Result<(), SgError> {
    match plan {
        Plan::Passthrough { data_source, sql: rewritten } => {
            check_transaction(session, &[&data_source])?;
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
            check_transaction(session, &[&data_source])?;
            rename_result::run(session, &data_source, &sql, &physical, &logical).await
        }
        Plan::Scatter { targets, combine, reset_sequences } => {
            check_transaction(session, &targets.iter().map(|t| t.data_source.as_str()).collect::<Vec<_>>())?;
            match combine {
                Combine::Concat => concat::run(session, &targets).await,
                _ => scatter::run(session, &targets, combine, None, &reset_sequences).await,
            }
        }
        Plan::Merge { targets, spec } => {
            check_transaction(session, &targets.iter().map(|t| t.data_source.as_str()).collect::<Vec<_>>())?;
            merge::run(session, &targets, &spec, false).await
        }
        Plan::Insert(p) => {
            let sources: Vec<&str> = p.table.nodes.iter().map(|n| n.data_source.as_str()).collect();
            check_transaction(session, &sources)?;
            insert_split::run(session, &p).await
        }
        Plan::UseSchema(name) => use_schema::run(session, &name).await,
        Plan::ShowDatabases { like } => show_databases::run(session, like.as_deref()).await,
        Plan::ShowTables { like } => show_tables::run(session, like.as_deref()).await,
        Plan::Explain(inner, inner_sql) => explain::run(session, &inner, &inner_sql).await,
        Plan::Refuse(reason) => Err(SgError::NotSupported(reason)),
    }
}
