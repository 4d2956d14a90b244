//! Learning a sharded table's columns (an INSERT without a column list needs them to find each row's
//! sharding key): `SHOW COLUMNS` on the table's first node, kept in the table's rules.

use crate::error::SgError;
use crate::sharding::table::ShardedTable;

use super::context::ExecCtx;

/// Learns `table`'s columns, in order, from its first node.
pub async fn run(ctx: &mut ExecCtx, table: &ShardedTable) -> Result<(), SgError> {
    let node = &table.nodes[0];
    ctx.ensure_backend(&node.data_source).await?;
    let conn = &mut ctx.backends.get_mut(&node.data_source).expect("pinned").conn;
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

