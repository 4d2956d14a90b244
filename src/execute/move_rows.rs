//! Runs a shard-key UPDATE (plan::move_rows): the UPDATE on each node that may hold matching rows, then every
//! row that now carries the new key on another node than its owner is read, deleted there and inserted on
//! the owner. All of it is one XA transaction (the session's, or its own in autocommit); if any step fails
//! the whole transaction is rolled back, so a row is never lost or doubled.

use crate::error::SgError;
use crate::plan::move_rows::MovePlan;
use super::context::ExecCtx;

use super::value::{column, sql_literal as literal};
use super::xa;

async fn run_steps(ctx: &mut ExecCtx, plan: &MovePlan) -> Result<u64, SgError> {
    let mut total = 0;
    for (_, target) in &plan.updates {
        total += xa::enlisted_affected(ctx, &target.data_source, &target.sql).await?;
    }
    let owner = &plan.table.nodes[plan.target];
    let key = format!("`{}`", plan.table.column.replace('`', "``"));
    for (node, _) in plan.updates.iter().filter(|(n, _)| *n != plan.target) {
        let from = &plan.table.nodes[*node];
        let (defs, rows) = xa::enlisted_rows(ctx, &from.data_source, &format!("SELECT * FROM `{}` WHERE {key} = {} FOR UPDATE", from.table, plan.new_key)).await?;
        if rows.is_empty() {
            continue;
        }
        let columns = defs.iter().map(|d| column(d)).collect::<Result<Vec<_>, _>>()?;
        xa::enlisted_affected(ctx, &from.data_source, &format!("DELETE FROM `{}` WHERE {key} = {}", from.table, plan.new_key)).await?;
        let names: Vec<String> = columns.iter().map(|c| format!("`{}`", c.name.replace('`', "``"))).collect();
        let values: Vec<String> = rows
            .iter()
            .map(|r| format!("({})", r.iter().zip(&columns).map(|(v, c)| literal(v, c.type_byte)).collect::<Vec<_>>().join(", ")))
            .collect();
        let insert = format!("INSERT INTO `{}` ({}) VALUES {}", owner.table, names.join(", "), values.join(", "));
        xa::enlisted_affected(ctx, &owner.data_source, &insert).await?;
    }
    Ok(total)
}

/// Runs the move and answers with the UPDATE's affected rows.
pub async fn run(ctx: &mut ExecCtx, plan: &MovePlan) -> Result<(), SgError> {
    let own = !ctx.in_transaction();
    let steps = run_steps(ctx, plan).await;
    xa::finish_write(ctx, own, steps, "moving rows to their new shard").await
}

#[cfg(test)]
mod tests {
    use crate::error::SgError;
    use crate::execute::fake_ctx::{err, ok, typed_rows, Harness, SCHEMA};
    use crate::plan::Plan;
    use crate::protocol::constants::status;

    const MOVE: &str = "UPDATE k SET id = 4 WHERE id = 3";

    fn script(h: &Harness) {
        for fake in [&h.ds0, &h.ds1] {
            fake.on_prefix("XA ", ok(0));
        }
        h.ds1.on("UPDATE `k_1` SET id = 4 WHERE id = 3", ok(1));
        h.ds1.on("SELECT * FROM `k_1` WHERE `id` = 4 FOR UPDATE", typed_rows(&[("id", 0x08), ("c", 0xFD)], &[&["4", "a'b"]]));
        h.ds1.on("DELETE FROM `k_1` WHERE `id` = 4", ok(1));
        h.ds0.on("INSERT INTO `k_0` (`id`, `c`) VALUES (4, X'612762')", ok(1));
    }

    #[tokio::test]
    async fn a_key_update_moves_the_row_to_its_new_node_in_one_xa_transaction() {
        let mut h = Harness::xa(SCHEMA).await;
        assert!(matches!(h.plan(MOVE), Plan::MoveRows(_)), "{:?}", h.plan(MOVE));
        script(&h);
        h.run(MOVE).await.unwrap();
        let reply = h.read_reply().await.ok();
        assert_eq!((reply.affected_rows, reply.status), (1, status::AUTOCOMMIT));
        assert_eq!(h.xa_queries(1), [
            "XA START 'g','ds_1'",
            "UPDATE `k_1` SET id = 4 WHERE id = 3",
            "SELECT * FROM `k_1` WHERE `id` = 4 FOR UPDATE",
            "DELETE FROM `k_1` WHERE `id` = 4",
            "XA END 'g','ds_1'",
            "XA PREPARE 'g','ds_1'",
            "XA COMMIT 'g','ds_1'",
        ]);
        assert_eq!(h.xa_queries(0), [
            "XA START 'g','ds_0'",
            "INSERT INTO `k_0` (`id`, `c`) VALUES (4, X'612762')",
            "XA END 'g','ds_0'",
            "XA PREPARE 'g','ds_0'",
            "XA COMMIT 'g','ds_0'",
        ]);
        assert!(h.ctx.xa.is_none());
    }

    #[tokio::test]
    async fn a_failed_step_rolls_everything_back() {
        let mut h = Harness::xa(SCHEMA).await;
        script(&h);
        h.ds0.on("INSERT INTO `k_0` (`id`, `c`) VALUES (4, X'612762')", err(1062, "Duplicate entry '4' for key 'PRIMARY'"));
        let e = h.run(MOVE).await.unwrap_err();
        assert!(matches!(&e, SgError::Backend { code: 1062, .. }), "{e:?}");
        assert_eq!(h.xa_queries(0)[2..], ["XA END 'g','ds_0'", "XA ROLLBACK 'g','ds_0'"]);
        assert_eq!(h.xa_queries(1)[4..], ["XA END 'g','ds_1'", "XA ROLLBACK 'g','ds_1'"]);
        assert!(h.ctx.xa.is_none());
        h.nothing_more();
    }

}
