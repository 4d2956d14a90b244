//! Runs an UPDATE/DELETE of a sharded table whose WHERE clause reads other sharded tables
//! (plan/keyed_write.rs): the rows to change are found over copies (the written table's locked as they are
//! read), then each node changes its own by primary key, all in one XA transaction.

use std::collections::BTreeMap;

use super::context::ExecCtx;
use super::value::{column, key_literal, sql_literal, Kind};
use super::xa;
use crate::error::SgError;
use crate::plan::keyed_write::KeyedWrite;
use crate::sql::tokens::quote_ident;

async fn steps(ctx: &mut ExecCtx, plan: &KeyedWrite) -> Result<u64, SgError> {
    let first = &plan.table.nodes[0];
    let (ds, physical) = (first.data_source.clone(), first.table.clone());
    xa::enlist(ctx, &ds).await?;
    let key_cols = super::limited_write::primary_key(ctx, &ds, &physical).await?;
    let alias = quote_ident(&plan.alias, None);
    let qualified: Vec<String> = key_cols.iter().map(|c| format!("{alias}.{}", quote_ident(c, None))).collect();
    let (defs, rows) = super::compute::capture(ctx, &plan.compute, &plan.select.replace("{key}", &qualified.join(", "))).await?;
    let columns: Vec<_> = defs.iter().map(|d| column(d)).collect::<Result<_, _>>()?;
    let (keys, shard) = columns.split_at(key_cols.len());
    if keys.iter().any(|c| c.kind != Kind::Int) {
        return Err(SgError::NotSupported("an UPDATE or DELETE over several shards of a table whose primary key is not an integer".into()));
    }
    let mut by_node: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for row in &rows {
        let literals: Vec<String> = row[..keys.len()].iter().zip(keys).map(|(v, c)| sql_literal(v, c.type_byte)).collect();
        let literal = key_literal(row[keys.len()].as_deref(), &shard[0]);
        let node = plan.table.node_for(&literal).ok_or_else(|| SgError::NotSupported(format!("a row whose sharding column '{}' is not a key", plan.table.column)))?;
        by_node.entry(node).or_default().push(format!("({})", literals.join(", ")));
    }
    let names: Vec<String> = key_cols.iter().map(|c| quote_ident(c, None)).collect();
    let mut total = 0;
    for (node, keys) in by_node {
        let sql = format!("{} WHERE ({}) IN ({})", plan.writes[node], names.join(", "), keys.join(", "));
        total += xa::enlisted_affected(ctx, &plan.table.nodes[node].data_source.clone(), &sql).await?;
    }
    Ok(total)
}

/// Runs the two steps and answers with the affected rows.
pub async fn run(ctx: &mut ExecCtx, plan: &KeyedWrite) -> Result<(), SgError> {
    let own = !ctx.in_transaction();
    let result = steps(ctx, plan).await;
    xa::finish_write(ctx, own, result, "an UPDATE or DELETE reading other sharded tables").await
}
