//! Runs a shard-key UPDATE (plan::move_rows): the UPDATE on each node that may hold matching rows, then every
//! row that now carries the new key on another node than its owner is read, deleted there and inserted on
//! the owner. All of it is one XA transaction (the session's, or its own in autocommit); if any step fails
//! the whole transaction is rolled back, so a row is never lost or doubled.

use crate::error::SgError;
use crate::plan::move_rows::MovePlan;
use crate::protocol::response::{decode_ok, encode_ok, Ok as OkPacket};
use super::context::ExecCtx;

use super::value::column;
use super::xa;

/// Runs one statement on `ds` (enlisted in the XA transaction): its OK, or its rows with column defs.
async fn query(ctx: &mut ExecCtx, ds: &str, sql: &str) -> Result<(Vec<Vec<u8>>, Vec<Vec<Option<Vec<u8>>>>), SgError> {
    xa::enlist(ctx, ds).await?;
    let conn = &mut ctx.backends.get_mut(ds).expect("enlisted").conn;
    match conn.query_table(sql).await {
        Ok(Ok(table)) => Ok(table),
        Ok(Err(err)) => Err(crate::protocol::response::relayed_error(&err)),
        Err(reason) => {
            ctx.backends.remove(ds);
            Err(SgError::BackendLost(ds.to_string(), reason))
        }
    }
}

async fn affected(ctx: &mut ExecCtx, ds: &str, sql: &str) -> Result<u64, SgError> {
    xa::enlist(ctx, ds).await?;
    let conn = &mut ctx.backends.get_mut(ds).expect("enlisted").conn;
    conn.queue_query(sql);
    if let Err(reason) = conn.flush().await {
        ctx.backends.remove(ds);
        return Err(SgError::BackendLost(ds.to_string(), reason));
    }
    let reply = ctx.read_ok_reply(ds).await?;
    if reply.payload.first() == Some(&0xFF) {
        return Err(crate::protocol::response::relayed_error(&reply.payload));
    }
    Ok(decode_ok(&reply.payload)?.affected_rows)
}

/// A text-protocol value as an SQL literal for its column: numbers as they are, everything else as a hex
/// string (exact bytes, any charset; MariaDB converts it for DATE, ENUM, BIT … columns).
fn literal(value: &Option<Vec<u8>>, type_byte: u8) -> String {
    match value {
        None => "NULL".into(),
        Some(v) if matches!(type_byte, 0 | 1 | 2 | 3 | 4 | 5 | 8 | 9 | 13 | 246) => String::from_utf8_lossy(v).into_owned(),
        Some(v) if v.is_empty() => "''".into(),
        Some(v) => format!("X'{}'", v.iter().map(|b| format!("{b:02X}")).collect::<String>()),
    }
}

async fn run_steps(ctx: &mut ExecCtx, plan: &MovePlan) -> Result<u64, SgError> {
    let mut total = 0;
    for (_, target) in &plan.updates {
        total += affected(ctx, &target.data_source, &target.sql).await?;
    }
    let owner = &plan.table.nodes[plan.target];
    let key = format!("`{}`", plan.table.column.replace('`', "``"));
    for (node, _) in plan.updates.iter().filter(|(n, _)| *n != plan.target) {
        let from = &plan.table.nodes[*node];
        let (defs, rows) = query(ctx, &from.data_source, &format!("SELECT * FROM `{}` WHERE {key} = {} FOR UPDATE", from.table, plan.new_key)).await?;
        if rows.is_empty() {
            continue;
        }
        let columns = defs.iter().map(|d| column(d)).collect::<Result<Vec<_>, _>>()?;
        affected(ctx, &from.data_source, &format!("DELETE FROM `{}` WHERE {key} = {}", from.table, plan.new_key)).await?;
        let names: Vec<String> = columns.iter().map(|c| format!("`{}`", c.name.replace('`', "``"))).collect();
        let values: Vec<String> = rows
            .iter()
            .map(|r| format!("({})", r.iter().zip(&columns).map(|(v, c)| literal(v, c.type_byte)).collect::<Vec<_>>().join(", ")))
            .collect();
        let insert = format!("INSERT INTO `{}` ({}) VALUES {}", owner.table, names.join(", "), values.join(", "));
        affected(ctx, &owner.data_source, &insert).await?;
    }
    Ok(total)
}

/// Runs the move and answers with the UPDATE's affected rows.
pub async fn run(ctx: &mut ExecCtx, plan: &MovePlan) -> Result<(), SgError> {
    let own = !ctx.in_transaction();
    match run_steps(ctx, plan).await {
        Ok(total) => {
            if own {
                xa::commit(ctx).await?;
            }
            let ok = OkPacket { affected_rows: total, status: ctx.state.status, ..OkPacket::default() };
            ctx.send_payload(&encode_ok(&ok, 0)).await
        }
        Err(e) => {
            // Some steps may have run: the only safe state is none of them, so the transaction goes.
            let was_open = !own;
            xa::rollback(ctx).await;
            if was_open {
                return Err(SgError::RolledBack(format!("moving rows to their new shard failed ({e}); the whole transaction was rolled back")));
            }
            Err(e)
        }
    }
}
