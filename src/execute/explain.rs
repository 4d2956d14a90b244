//! EXPLAIN SHARDING <statement>: the data sources and SQL a statement would be sent to, as a result set.

use crate::error::SgError;
use crate::plan::Plan;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use super::context::ExecCtx;

/// Answers with one row per target: data source and SQL.
pub async fn run(ctx: &mut ExecCtx, plan: &Plan, sql: &str) -> Result<(), SgError> {
    let rows: Vec<Vec<Option<Vec<u8>>>> =
        plan.describe(sql).into_iter().map(|(ds, sql)| vec![Some(ds.into_bytes()), Some(sql.into_bytes())]).collect();
    let packets = encode_resultset(
        &[("data_source", ColumnType::Text), ("sql", ColumnType::Text)],
        &rows,
        ctx.state.deprecate_eof(),
        ctx.state.status,
    );
    ctx.send_packets(&packets).await
}
