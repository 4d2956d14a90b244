//! InsertSplit: generate ids where the rows need them, then send each node its rows and answer with one OK
//! (affected rows summed, LAST_INSERT_ID the first generated id, as MySQL reports it).

use crate::backend::conn::Variant;
use crate::error::SgError;
use crate::plan::insert::InsertPlan;
use crate::plan::planner::Combine;
use super::context::ExecCtx;
use crate::sharding::table::{KeyGenerator, ShardedTable};

/// The variant of the proxy's own control connections (sequences).

/// Runs a planned INSERT.
pub async fn run(ctx: &mut ExecCtx, plan: &InsertPlan) -> Result<(), SgError> {
    let ids = generate(ctx, &plan.table, plan.needs_id.len()).await?;
    let (targets, first_id) = plan.targets(&ids)?;
    super::check_transaction(ctx, &targets.iter().map(|t| t.data_source.as_str()).collect::<Vec<_>>()).await?;
    super::scatter::run(ctx, &targets, Combine::SumAffected, first_id, &[]).await
}

/// A control connection to the default data source of the schema that holds `table`, with its database
/// selected (the session's schema, or another one named in a qualified name).
async fn control_conn(ctx: &ExecCtx, table: &ShardedTable) -> Result<(std::sync::Arc<crate::backend::pool::Pool>, crate::backend::pool::PooledConn), SgError> {
    let holds = |l: &&crate::sharding::table::SchemaLayout| l.tables.get(&table.name).is_some_and(|t| std::ptr::eq(&**t, table));
    let layout = ctx.shared.layouts.values().find(holds).ok_or(SgError::NoDatabase)?;
    let pool = ctx.shared.pools[&layout.default_data_source].clone();
    let conn = pool.get(Variant::CONTROL, Some(&layout.database)).await?;
    Ok((pool, conn))
}

fn sequence_error(ctx: &ExecCtx, reason: String) -> SgError {
    let ds = ctx.state.schema.as_deref().map(|s| ctx.shared.layouts[s].default_data_source.clone()).unwrap_or_default();
    SgError::BackendUnreachable { ds, addr: "sequence table".into(), reason }
}

/// `n` ids from the table's key generator.
pub async fn generate(ctx: &ExecCtx, table: &ShardedTable, n: usize) -> Result<Vec<i64>, SgError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let Some((_, generator)) = &table.key_generator else { return Ok(Vec::new()) };
    let seq = match generator {
        KeyGenerator::Snowflake(s) => return Ok((0..n).map(|_| s.next()).collect()),
        KeyGenerator::Sequence(seq) => seq,
    };
    let mut ids = seq.take(n);
    while ids.len() < n {
        let (pool, mut pooled) = control_conn(ctx, table).await?;
        if !seq.initialised() {
            for sql in seq.init_sql() {
                pooled.conn.query_ok(&sql).await.map_err(|e| sequence_error(ctx, e))?;
            }
        }
        let want = seq.block.max((n - ids.len()) as u64);
        let ok = pooled.conn.query_ok(&seq.reserve_sql(want)).await.map_err(|e| sequence_error(ctx, e))?;
        pool.put_clean(pooled);
        seq.add_block(ok.last_insert_id as i64, want);
        ids.extend(seq.take(n - ids.len()));
    }
    Ok(ids)
}

/// Restarts a table's sequence at 1 (after DROP TABLE or TRUNCATE TABLE, as AUTO_INCREMENT would).
pub async fn reset_sequence(ctx: &ExecCtx, table: &ShardedTable) -> Result<(), SgError> {
    let Some((_, KeyGenerator::Sequence(seq))) = &table.key_generator else { return Ok(()) };
    seq.reset();
    let (pool, mut pooled) = control_conn(ctx, table).await?;
    // The sequence table may not exist yet; then there is nothing to reset.
    let _ = pooled.conn.query_ok(&seq.reset_sql()).await;
    pool.put_clean(pooled);
    Ok(())
}
