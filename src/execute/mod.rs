//! The executor: runs a plan against an execution context ([`context::ExecCtx`]) and answers the client.
//! One file per primitive; [`run`] is the one entry, for every protocol a plan comes from ([`Exec`]).
//! Nothing here plans: the plan arrives complete (ARCHITECTURE.md).

pub mod aggregate;
pub mod compute;
pub mod concat;
pub mod context;
pub mod control;
pub mod distinct;
pub mod explain;
pub mod guard;
pub mod having;
pub mod insert_select;
pub mod insert_split;
pub mod keyed_write;
pub mod learn_columns;
pub mod limit;
pub mod limited_write;
pub mod load_data;
pub mod merge;
pub mod merge_sort;
pub mod move_rows;
pub mod multi_write;
pub mod native;
pub mod passthrough;
pub mod read_split;
pub mod rename_result;
pub mod scatter;
pub mod sharing;
pub mod snapshot;
pub mod show_databases;
pub mod show_tables;
pub mod state;
pub mod stream;
pub mod transaction;
pub mod use_schema;
pub mod value;
pub mod warnings;
pub mod xa;

#[cfg(test)]
pub(crate) mod fake_ctx;
#[cfg(test)]
mod merge_tests;

use crate::error::SgError;
use crate::plan::merge::MergeSpec;
use crate::plan::planner::{Combine, Target};
use crate::plan::Plan;
use crate::protocol::constants::com;
use crate::protocol::reply::ReplyKind;
use crate::protocol::row_binary::WireType;

use context::ExecCtx;
pub use transaction::check_transaction;

/// How a plan runs: the protocol of the statement it comes from.
pub enum Exec<'a> {
    /// A COM_QUERY with this packet payload.
    Text(&'a [u8]),
    /// A prepared statement's execution, parameters bound into this text, binary rows.
    Binary(&'a str),
    /// A prepared statement executed natively on one backend (a Passthrough plan).
    Native {
        /// Its text for that backend.
        text: &'a str,
        /// Its parameters' types (one per placeholder).
        types: &'a [WireType],
        /// The COM_STMT_EXECUTE body.
        body: &'a [u8],
    },
}

impl Exec<'_> {
    /// The statement as a COM_QUERY payload (a prepared one's with its values bound in).
    fn command(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Exec::Text(payload) => std::borrow::Cow::Borrowed(payload),
            Exec::Binary(sql) | Exec::Native { text: sql, .. } => std::borrow::Cow::Owned([&[com::QUERY][..], sql.as_bytes()].concat()),
        }
    }
}

/// The data sources a plan reaches directly, which must join the open transaction first.
pub(crate) fn reached(plan: &Plan) -> Option<Vec<&str>> {
    match plan {
        Plan::Passthrough { data_source, .. } | Plan::RenameResult { data_source, .. } => Some(vec![data_source.as_str()]),
        Plan::Scatter { targets, .. } | Plan::Merge { targets, .. } => Some(targets.iter().map(|t| t.data_source.as_str()).collect()),
        Plan::Compute(c) => Some(c.data_sources()),
        _ => None,
    }
}

/// Runs `plan` for the statement `how` describes and answers the client. Text statements are relayed
/// where they can be; a prepared statement's binary rows always pass through the merge path, which
/// re-encodes them.
pub async fn run(ctx: &mut ExecCtx, plan: Plan, how: &Exec<'_>) -> Result<(), SgError> {
    guard::run(ctx, plan, how).await
}

/// [`run`] without the statement guard (execute/guard.rs), which calls it.
async fn run_plan(ctx: &mut ExecCtx, plan: Plan, how: &Exec<'_>) -> Result<(), SgError> {
    if let Exec::Native { text, types, body } = how {
        return native::run(ctx, plan, text, types, body).await;
    }
    let binary = matches!(how, Exec::Binary(_));
    // Outside a transaction there is nothing to join (and no list to build on the hot path).
    if ctx.in_transaction() {
        if let Some(sources) = reached(&plan).filter(|_| !(binary && matches!(plan, Plan::RenameResult { .. }))) {
            check_transaction(ctx, &sources).await?;
        }
    }
    match plan {
        Plan::Passthrough { data_source, sql } => match (how, sql) {
            (Exec::Text(payload), None) => passthrough::run(ctx, &data_source, payload, ReplyKind::ResultSets).await,
            (Exec::Text(_), Some(text)) => passthrough::run(ctx, &data_source, &[&[com::QUERY][..], text.as_bytes()].concat(), ReplyKind::ResultSets).await,
            (_, rewritten) => {
                let Exec::Binary(sql) = how else { unreachable!("native plans returned above") };
                let targets = [Target { data_source, sql: rewritten.unwrap_or_else(|| sql.to_string()) }];
                merge::run(ctx, &targets, &MergeSpec::none(), true).await
            }
        },
        Plan::Scatter { targets, combine: Combine::Concat, .. } if binary => merge::run(ctx, &targets, &MergeSpec::none(), true).await,
        Plan::Merge { targets, spec } => match (merge::run(ctx, &targets, &spec, binary).await, &spec.fallback) {
            // Nothing reached the client yet: the same statement runs over copies instead.
            (Err(SgError::Inexact(_)), Some(fallback)) => {
                if ctx.in_transaction() {
                    check_transaction(ctx, &fallback.data_sources()).await?;
                }
                compute::run(ctx, fallback, how).await
            }
            (result, _) => result,
        },
        Plan::Set { data_source } => transaction::set(ctx, &data_source, &how.command()).await,
        Plan::EndTransaction(commit) => {
            let command = match how {
                Exec::Text(payload) => payload.to_vec(),
                _ => [&[com::QUERY][..], if commit { b"COMMIT" } else { b"ROLLBACK" }].concat(),
            };
            transaction::end_transaction(ctx, commit, &command).await
        }
        Plan::Begin { read_only, snapshot: probes } => {
            // BEGIN inside a transaction commits it first, as MySQL does.
            xa::commit(ctx).await?;
            use crate::protocol::constants::status;
            ctx.state.status |= status::IN_TRANS | if read_only { status::IN_TRANS_READONLY } else { 0 };
            if let Some(probes) = probes {
                if let Err(e) = snapshot::run(ctx, &probes).await {
                    ctx.state.status &= !xa::OWN_BITS;
                    return Err(e);
                }
            }
            ctx.send_ok().await
        }
        Plan::Savepoint => transaction::savepoint(ctx, &how.command()).await,
        Plan::Scatter { targets, combine, reset_sequences } => match combine {
            Combine::Concat => concat::run(ctx, &targets).await,
            _ => scatter::run(ctx, &targets, combine, None, &reset_sequences).await,
        },
        Plan::Insert(p) => insert_split::run(ctx, &p).await,
        Plan::MoveRows(m) => move_rows::run(ctx, &m).await,
        Plan::Compute(c) => compute::run(ctx, &c, how).await,
        Plan::LimitedWrite(w) => limited_write::run(ctx, &w).await,
        Plan::InsertSelect(p) => insert_select::run(ctx, &p).await,
        Plan::KeyedWrite(k) => keyed_write::run(ctx, &k).await,
        Plan::MultiWrite(m) => multi_write::run(ctx, &m, how).await,
        Plan::Refuse(reason) => Err(SgError::NotSupported(reason)),
        _ if binary => Err(SgError::UnsupportedPs("this statement as a prepared statement in a sharded schema; run it as plain SQL".into())),
        Plan::RenameResult { data_source, sql, physical, logical } => rename_result::run(ctx, &data_source, &sql, &physical, &logical).await,
        Plan::UseSchema(name) => use_schema::run(ctx, &name).await,
        Plan::ShowDatabases { like } => show_databases::run(ctx, like.as_deref()).await,
        Plan::Admin(a) => {
            let control = ctx.control.clone();
            control.admin(ctx, a).await
        }
        Plan::Kill { query, id } => {
            let control = ctx.control.clone();
            control.kill(ctx, query, id).await
        }
        Plan::ShowTables { full, like } => show_tables::run(ctx, full, like.as_deref()).await,
        Plan::Explain(inner, inner_sql) => explain::run(ctx, &inner, &inner_sql).await,
        Plan::LoadData(p) => load_data::run(ctx, &p).await,
        Plan::LearnColumns(table) => Err(SgError::NotSupported(format!("an INSERT into '{}' whose columns were not learnt before it ran", table.name))),
    }
}
