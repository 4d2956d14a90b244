//! A snapshot across shards (operator for `Plan::Begin` with a snapshot; planned by plan/snapshot.rs).
//!
//! Every primary of the schema joins the XA transaction at once (one batch of `XA START`s), then, at the
//! commit barrier (backend/commit_barrier.rs), each takes its read view with one small consistent read.
//! No two-phase commit of this process is between its first and last `XA COMMIT` while the read views are
//! taken, so the transaction sees every cross-shard commit on all shards or on none of them. Commits of
//! other fleet instances do not pass this barrier (README, Transactions).

use std::time::Instant;

use crate::backend::commit_barrier::Side;
use crate::error::SgError;
use crate::plan::snapshot::SnapshotProbe;
use crate::stats::XaStep;

use super::context::ExecCtx;
use super::xa;

/// Opens the session's transaction with a snapshot across `probes`' data sources. On failure the
/// transaction is rolled back and the error says what to do.
pub async fn run(ctx: &mut ExecCtx, probes: &[SnapshotProbe]) -> Result<(), SgError> {
    let since = Instant::now();
    let sources: Vec<&str> = probes.iter().map(|p| p.data_source.as_str()).collect();
    if let Err(e) = xa::enlist_all(ctx, &sources).await {
        return Err(failed(e));
    }
    let log = xa::log(ctx);
    let pass = log.barrier().enter(Side::Snapshot).await;
    let taken = read_views(ctx, probes).await;
    drop(pass);
    ctx.shared.stats.xa_step(XaStep::Snapshot, since);
    if let Err(e) = taken {
        xa::rollback(ctx).await;
        return Err(failed(e));
    }
    Ok(())
}

fn failed(e: SgError) -> SgError {
    SgError::Failed(format!("START TRANSACTION WITH CONSISTENT SNAPSHOT could not take the snapshot on every shard ({e}); no transaction is open, retry it"))
}

/// Sends every probe to its data source before reading any reply; a data source's read view is taken when
/// one of its reads succeeds (a table named in the rules may not exist yet).
async fn read_views(ctx: &mut ExecCtx, probes: &[SnapshotProbe]) -> Result<(), SgError> {
    let mut failure = None;
    let mut sent = Vec::new();
    for p in probes {
        let Some(pooled) = ctx.backends.get_mut(&p.data_source) else {
            failure.get_or_insert_with(|| SgError::BackendLost(p.data_source.clone(), "its connection was lost".into()));
            continue;
        };
        for sql in &p.reads {
            pooled.conn.queue_query(sql);
        }
        match pooled.conn.flush().await {
            Ok(()) => sent.push(p),
            Err(e) => {
                ctx.backends.remove(&p.data_source);
                failure.get_or_insert(SgError::BackendLost(p.data_source.clone(), e));
            }
        }
    }
    for p in sent {
        let mut taken = false;
        let mut last = String::new();
        for _ in &p.reads {
            // A broken connection is dropped (its branch ends with it); the other data
            // sources' replies are still read, so no connection is left with replies nobody read.
            let Some(pooled) = ctx.backends.get_mut(&p.data_source) else { break };
            match pooled.conn.read_table().await {
                Ok(Err(err)) => last = crate::protocol::response::relayed_error(&err).to_string(),
                Ok(Ok(_)) => taken = true,
                Err(e) => {
                    ctx.backends.remove(&p.data_source);
                    last = e;
                    break;
                }
            }
        }
        if !taken {
            failure.get_or_insert_with(|| SgError::Failed(format!("no table of the schema could be read on data source '{}': {last}", p.data_source)));
        }
    }
    failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use crate::execute::fake_ctx::{err, ok, rows, Harness, SCHEMA};
    use crate::protocol::constants::status;

    /// `XA <verb> 'g','ds_<node>'` and the rest of node `node`'s expected queries.
    fn expected(node: usize, lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.replace("{b}", &format!("'g','ds_{node}'")).replace("{k}", &format!("k_{node}"))).collect()
    }

    #[tokio::test]
    async fn every_shard_joins_and_takes_its_read_view_before_the_ok() {
        let mut h = Harness::xa(SCHEMA).await;
        for fake in [&h.ds0, &h.ds1] {
            fake.on_prefix("XA ", ok(0));
            fake.on_prefix("SELECT 1 FROM `s`.`b`", rows(&["1"], &[&["1"]]));
        }
        // The sharded table's node does not exist on ds_1 yet: the broadcast table's read is enough there.
        h.ds0.on("SELECT 1 FROM `s`.`k_0` LIMIT 1", rows(&["1"], &[]));
        h.ds1.on("SELECT 1 FROM `s`.`k_1` LIMIT 1", err(1146, "Table 's.k_1' doesn't exist"));
        h.run("START TRANSACTION WITH CONSISTENT SNAPSHOT").await.unwrap();
        assert_eq!(h.read_reply().await.ok().status, status::AUTOCOMMIT | status::IN_TRANS);
        for node in [0, 1] {
            let reads = ["XA START {b}", "SELECT 1 FROM `s`.`{k}` LIMIT 1", "SELECT 1 FROM `s`.`b` LIMIT 1"];
            assert_eq!(h.xa_queries(node), expected(node, &reads));
        }
        assert_eq!(h.ctx.xa.as_ref().unwrap().branches, ["ds_0", "ds_1"]);
        assert_eq!(h.ctx.shared.stats.xa_step_count[crate::stats::XaStep::Snapshot as usize].load(std::sync::atomic::Ordering::Relaxed), 1);
        h.run("COMMIT").await.unwrap();
        h.read_reply().await.ok();
        assert!(h.ctx.xa.is_none());
    }

    #[tokio::test]
    async fn a_shard_where_nothing_can_be_read_fails_the_start_and_rolls_everything_back() {
        let mut h = Harness::xa(SCHEMA).await;
        for fake in [&h.ds0, &h.ds1] {
            fake.on_prefix("XA ", ok(0));
            fake.on_prefix("SELECT 1 ", rows(&["1"], &[]));
        }
        h.ds1.on_prefix("SELECT 1 FROM `s`.", err(1146, "Table doesn't exist"));
        let e = h.run("START TRANSACTION WITH CONSISTENT SNAPSHOT").await.unwrap_err();
        assert!(e.to_string().contains("could not take the snapshot on every shard") && e.to_string().contains("'ds_1'"), "{e}");
        assert!(h.ctx.xa.is_none());
        assert_eq!(h.ctx.state.status & status::IN_TRANS, 0, "no transaction is open");
        for node in [0, 1] {
            assert_eq!(h.xa_queries(node)[3..], expected(node, &["XA END {b}", "XA ROLLBACK {b}"]));
        }
    }
}
