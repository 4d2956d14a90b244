//! Scatter for statements that answer with OK: DML over several shards (affected rows summed), DDL fan-out
//! and broadcast writes (the first OK reported). When the session is in autocommit mode, a multi-shard DML
//! runs inside one transaction per data source, committed only if every shard succeeded, so an error on
//! one shard (a duplicate key, say) leaves no shard changed.

use std::sync::Arc;

use crate::error::SgError;
use crate::plan::planner::{Combine, Target};
use crate::protocol::packet::Packet;
use crate::protocol::response::{decode_ok, encode_ok, Ok};
use super::context::ExecCtx;
use crate::sharding::table::ShardedTable;

/// Data sources of `targets`, sorted by name.
pub fn data_sources(targets: &[Target]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in targets {
        if !out.contains(&t.data_source) {
            out.push(t.data_source.clone());
        }
    }
    // Every statement takes its connections in name order, so two statements never wait for each other's.
    out.sort();
    out
}

/// Sends every target's statement (pipelined per data source) and returns each reply's first packet, in
/// target order.
pub async fn send_all(ctx: &mut ExecCtx, targets: &[Target], prefix: Option<&str>) -> Result<Vec<Packet>, SgError> {
    let sources = data_sources(targets);
    for ds in &sources {
        let conn = ctx.conn(ds).await?;
        if let Some(p) = prefix {
            conn.queue_query(p);
        }
        let mine: Vec<&str> = targets.iter().filter(|t| &t.data_source == ds).map(|t| t.sql.as_str()).collect();
        super::warnings::queue_with_warnings(conn, mine.into_iter());
        conn.flush().await.map_err(|e| lost(ctx, ds, e))?;
    }
    let mut replies = Vec::with_capacity(targets.len());
    for ds in &sources {
        if prefix.is_some() {
            ctx.read_ok_reply(ds).await?;
        }
    }
    for (i, t) in targets.iter().enumerate() {
        let reply = ctx.read_ok_reply(&t.data_source).await?;
        if targets[i + 1..].iter().any(|later| later.data_source == t.data_source) {
            let conn = &mut ctx.backends.get_mut(&t.data_source).expect("pinned").conn;
            let notes = super::warnings::read_notes(conn).await;
            if reply.payload.first() == Some(&0x00) && decode_ok(&reply.payload).is_ok_and(|ok| ok.warnings > 0) {
                ctx.pending.notes.extend(notes);
            }
        }
        replies.push(reply);
    }
    Ok(replies)
}

fn lost(ctx: &mut ExecCtx, ds: &str, reason: String) -> SgError {
    ctx.backends.remove(ds);
    SgError::BackendLost(ds.to_string(), reason)
}

/// Runs `targets` and answers with one OK (or the first ERR). `insert_id` overrides LAST_INSERT_ID (ids
/// the proxy generated).
pub async fn run(
    ctx: &mut ExecCtx,
    targets: &[Target],
    combine: Combine,
    insert_id: Option<i64>,
    reset_sequences: &[Arc<ShardedTable>],
) -> Result<(), SgError> {
    let sources = data_sources(targets);
    if combine == Combine::First {
        // DDL may change column collations the merge has cached, and tables' column lists.
        ctx.shared.collations.lock().unwrap_or_else(|e| e.into_inner()).clear();
        for layout in ctx.shared.layouts.values() {
            layout.tables.values().for_each(|t| t.forget_columns());
        }
    }
    // Under LOCK TABLES MySQL allows no transaction (BEGIN would unlock, XA START fails): each data source's
    // part commits alone, as a statement does on MySQL with autocommit; the README says so.
    let atomic = matches!(combine, Combine::SumAffected | Combine::Mirror) && sources.len() > 1 && !ctx.in_transaction() && !ctx.locked_tables;
    let xa = atomic && super::xa::applies(ctx);
    if xa {
        super::xa::enlist_all(ctx, &sources).await?;
    }
    let replies = match send_all(ctx, targets, (atomic && !xa).then_some("BEGIN")).await {
        Ok(r) => r,
        Err(e) => {
            super::xa::rollback(ctx).await;
            return Err(e);
        }
    };
    let error = replies.iter().find(|p| p.payload.first() != Some(&0x00)).cloned();
    if xa {
        match error {
            None => super::xa::commit(ctx).await?,
            Some(_) => super::xa::rollback(ctx).await,
        }
    } else if atomic {
        let end = if error.is_none() { "COMMIT" } else { "ROLLBACK" };
        let ends: Vec<Target> = sources.iter().map(|ds| Target { data_source: ds.clone(), sql: end.into() }).collect();
        let results = send_all(ctx, &ends, None).await?;
        if let Some(bad) = results.into_iter().find(|p| p.payload.first() != Some(&0x00)) {
            // A COMMIT failed after others succeeded: report it; cross-shard atomicity of the commit itself
            // needs XA (not yet).
            return ctx.send_raw_reply(&bad.payload).await;
        }
    }
    if let Some(err) = error {
        if let Ok(e) = crate::protocol::response::decode_err(&err.payload) {
            ctx.pending.error = Some((e.code, e.message));
        }
        return ctx.send_raw_reply(&err.payload).await;
    }
    let oks: Vec<Ok> = replies.iter().map(|p| decode_ok(&p.payload)).collect::<Result<_, _>>()?;
    // The last statement on each connection: its warnings are read after the statement (the others' were).
    for (i, (t, ok)) in targets.iter().zip(&oks).enumerate() {
        if ok.warnings > 0 && !targets[i + 1..].iter().any(|later| later.data_source == t.data_source) {
            ctx.pending.warned.push((t.data_source.clone(), ok.warnings));
        }
    }
    let mut ok = match combine {
        Combine::SumAffected | Combine::Concat => Ok {
            affected_rows: oks.iter().map(|o| o.affected_rows).sum(),
            last_insert_id: oks.iter().map(|o| o.last_insert_id).find(|&i| i != 0).unwrap_or(0),
            warnings: oks.iter().map(|o| o.warnings).fold(0u16, u16::saturating_add),
            status: oks.last().map_or(0, |o| o.status),
        },
        Combine::First | Combine::Mirror => oks[0],
    };
    if let Some(id) = insert_id {
        ok.last_insert_id = id as u64;
    }
    ok.status = ctx.state.status;
    for table in reset_sequences {
        super::insert_split::reset_sequence(ctx, table).await?;
    }
    ctx.send_payload(&encode_ok(&ok, 0)).await
}

#[cfg(test)]
mod tests {
    use crate::execute::fake_ctx::{err, ok, Harness, SCHEMA};
    use crate::plan::planner::Combine;
    use crate::plan::Plan;
    use crate::protocol::constants::status;

    const UPDATE: &str = "UPDATE k SET c = 'x' WHERE c = 'y'";
    const UPDATE_0: &str = "UPDATE `k_0` SET c = 'x' WHERE c = 'y'";
    const UPDATE_1: &str = "UPDATE `k_1` SET c = 'x' WHERE c = 'y'";

    fn script(h: &Harness) {
        for fake in [&h.ds0, &h.ds1] {
            fake.on("BEGIN", ok(0));
            fake.on("COMMIT", ok(0));
            fake.on("ROLLBACK", ok(0));
        }
        h.ds0.on(UPDATE_0, ok(2));
        h.ds1.on(UPDATE_1, ok(3));
    }

    #[tokio::test]
    async fn an_update_without_key_reaches_both_nodes_in_one_transaction_each_and_sums_affected_rows() {
        let mut h = Harness::new(SCHEMA).await;
        assert!(matches!(h.plan(UPDATE), Plan::Scatter { combine: Combine::SumAffected, .. }));
        script(&h);
        h.run(UPDATE).await.unwrap();
        let reply = h.read_reply().await.ok();
        assert_eq!((reply.affected_rows, reply.last_insert_id, reply.status), (5, 0, status::AUTOCOMMIT));
        h.nothing_more();
        assert_eq!(h.queries(0), ["BEGIN", UPDATE_0, "COMMIT"]);
        assert_eq!(h.queries(1), ["BEGIN", UPDATE_1, "COMMIT"]);
    }

    #[tokio::test]
    async fn an_err_on_one_node_rolls_every_node_back_and_reaches_the_client() {
        let mut h = Harness::new(SCHEMA).await;
        script(&h);
        h.ds1.on(UPDATE_1, err(1062, "Duplicate entry 'x' for key 'c'"));
        h.run(UPDATE).await.unwrap();
        assert_eq!(h.read_reply().await.err(), (1062, "Duplicate entry 'x' for key 'c'".to_string()));
        h.nothing_more();
        assert_eq!(h.queries(0), ["BEGIN", UPDATE_0, "ROLLBACK"]);
        assert_eq!(h.queries(1), ["BEGIN", UPDATE_1, "ROLLBACK"]);
        assert_eq!((h.ctx.last_reply_ok, h.ctx.last_error), (false, Some(1062)));
        assert_eq!(h.ctx.pending.error, Some((1062, "Duplicate entry 'x' for key 'c'".to_string())));
    }

    #[tokio::test]
    async fn in_xa_mode_an_autocommit_update_on_two_nodes_commits_in_two_phases() {
        let mut h = Harness::xa(SCHEMA).await;
        h.ds0.on_prefix("XA ", ok(0));
        h.ds1.on_prefix("XA ", ok(0));
        h.ds0.on(UPDATE_0, ok(1));
        h.ds1.on(UPDATE_1, ok(1));
        h.run(UPDATE).await.unwrap();
        assert_eq!(h.read_reply().await.ok().affected_rows, 2);
        for (node, update) in [(0, UPDATE_0), (1, UPDATE_1)] {
            let b = format!("'g','ds_{node}'");
            let expected = [format!("XA START {b}"), update.to_string(), format!("XA END {b}"), format!("XA PREPARE {b}"), format!("XA COMMIT {b}")];
            assert_eq!(h.xa_queries(node), expected);
        }
        assert!(h.ctx.xa.is_none());
        assert_eq!(h.ctx.state.status & status::IN_TRANS, 0, "autocommit: no transaction is left open");
    }

    #[tokio::test]
    async fn ddl_is_sent_to_every_node_and_the_first_ok_reported() {
        let mut h = Harness::new(SCHEMA).await;
        let sql = "ALTER TABLE k ADD COLUMN z INT";
        assert!(matches!(h.plan(sql), Plan::Scatter { combine: Combine::First, .. }));
        h.ds0.on("ALTER TABLE `k_0` ADD COLUMN z INT", crate::backend::fake::Reply::Ok { affected: 0, last_insert_id: 0, warnings: 1 });
        h.ds1.on("ALTER TABLE `k_1` ADD COLUMN z INT", ok(0));
        h.run(sql).await.unwrap();
        let reply = h.read_reply().await.ok();
        assert_eq!((reply.affected_rows, reply.warnings), (0, 1));
        assert_eq!((h.queries(0).len(), h.queries(1).len()), (1, 1), "DDL runs outside any BEGIN");
        assert_eq!(h.ctx.pending.warned, [("ds_0".to_string(), 1)]);
    }

    #[tokio::test]
    async fn a_broadcast_write_changes_every_copy_or_none_and_reports_the_first() {
        let mut h = Harness::new(SCHEMA).await;
        let sql = "INSERT INTO b (k, v) VALUES (1, 2)";
        assert!(matches!(h.plan(sql), Plan::Scatter { combine: Combine::Mirror, .. }), "{:?}", h.plan(sql));
        script(&h);
        h.ds0.on(sql, crate::backend::fake::Reply::Ok { affected: 1, last_insert_id: 5, warnings: 0 });
        h.ds1.on(sql, crate::backend::fake::Reply::Ok { affected: 1, last_insert_id: 9, warnings: 0 });
        h.run(sql).await.unwrap();
        let reply = h.read_reply().await.ok();
        assert_eq!((reply.affected_rows, reply.last_insert_id), (1, 5), "the first copy's OK, not a sum");
        assert_eq!(h.queries(0), ["BEGIN", sql, "COMMIT"]);
        assert_eq!(h.queries(1), ["BEGIN", sql, "COMMIT"]);
    }

    #[test]
    fn data_sources_are_deduplicated_and_sorted() {
        let t = |ds: &str| crate::plan::planner::Target { data_source: ds.into(), sql: String::new() };
        assert_eq!(super::data_sources(&[t("ds_1"), t("ds_0"), t("ds_1")]), ["ds_0", "ds_1"]);
    }
}
