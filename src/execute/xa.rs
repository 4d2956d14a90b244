//! The XA coordinator of one session (transaction_mode = "xa", schemas with sharding rules): a data source
//! joins the transaction with `XA START` when a statement first reaches it; COMMIT is `XA COMMIT … ONE
//! PHASE` when one data source joined, and otherwise `XA END` + `XA PREPARE` everywhere, the decision
//! fsync'd to the decision log, then `XA COMMIT` everywhere. Anything failing before the decision rolls
//! every branch back; a branch that cannot be committed after it is left to recovery, which commits it.
//!
//! Isolation: each branch is an InnoDB transaction at the session's isolation level on its shard. A reader
//! on another session can observe a two-phase commit half done (committed on one shard, not yet on the
//! other) for the moment between the first and last `XA COMMIT`; XA gives atomicity, not a cross-shard
//! snapshot (the same as Vitess's two-phase commit).

use std::time::Instant;

use crate::backend::commit_barrier::Side;
use crate::backend::xa_log::XaLog;
use crate::config::rules::TransactionMode;
use crate::error::SgError;
use crate::protocol::constants::status;
use super::context::ExecCtx;
use crate::stats::{Stats, XaStep};

/// The session's open XA transaction.
#[derive(Debug, Clone)]
pub struct XaTxn {
    /// Global transaction id (the same on every branch; the branch qualifier is the data source).
    pub gtrid: String,
    /// Data sources that joined, in order.
    pub branches: Vec<String>,
    /// Branches a statement that may write reached (the others only read).
    pub written: Vec<String>,
}

/// Whether this session's transactions are XA transactions.
pub fn applies(ctx: &ExecCtx) -> bool {
    applies_in(&ctx.shared, ctx.state.schema.as_deref())
}

/// Whether transactions in `schema` are XA transactions run by the proxy (xa mode, sharding rules).
pub fn applies_in(shared: &crate::shared::Shared, schema: Option<&str>) -> bool {
    shared.rules.transaction_mode == TransactionMode::Xa && shared.xa_log.is_some() && schema.and_then(|s| shared.layouts.get(s)).is_some_and(|l| l.has_rules())
}

/// Status bits the proxy decides itself in XA-managed sessions: each backend connection's transaction is
/// an XA branch (IN_TRANS from its XA START on), which says nothing of whether the client's transaction
/// is open as one MariaDB would see it.
pub const OWN_BITS: u16 = status::IN_TRANS | status::IN_TRANS_READONLY;

/// For relays in an XA-managed session: the status bits to write over the backend's (`(mask, value)`).
pub fn status_bits(ctx: &ExecCtx) -> Option<(u16, u16)> {
    applies(ctx).then_some((OWN_BITS, ctx.state.status & OWN_BITS))
}

/// The status a backend reported, with the proxy's own bits kept where it decides them (`bits`).
pub fn absorb(own: u16, backend: u16, bits: Option<(u16, u16)>) -> u16 {
    match bits {
        Some((mask, _)) => (backend & !mask) | (own & mask),
        None => backend,
    }
}

/// Whether an XA transaction has branches or was begun.
pub fn open(ctx: &ExecCtx) -> bool {
    ctx.xa.is_some()
}

/// The process's decision log (every XA-managed session has one).
pub(super) fn log(ctx: &ExecCtx) -> std::sync::Arc<XaLog> {
    ctx.shared.xa_log.clone().expect("xa sessions have a decision log")
}

/// The xid of `gtrid`'s branch on `ds`, as SQL.
fn xid(gtrid: &str, ds: &str) -> String {
    format!("'{}','{}'", gtrid.replace('\'', "''"), ds.replace('\'', "''"))
}

/// Makes every data source of `sources` a branch of one XA transaction, so a statement over them changes
/// all or none; if one cannot join, the transaction is rolled back.
pub async fn enlist_all(ctx: &mut ExecCtx, sources: &[impl AsRef<str>]) -> Result<(), SgError> {
    if let Err(e) = enlist_many(ctx, sources).await {
        rollback(ctx).await;
        return Err(e);
    }
    Ok(())
}

/// Makes `ds` a branch of the session's transaction (starting it if needed), noting whether the current
/// statement may write there.
pub async fn enlist(ctx: &mut ExecCtx, ds: &str) -> Result<(), SgError> {
    enlist_many(ctx, &[ds]).await
}

/// Makes each of `sources` a branch of the session's transaction. The new branches start together: each
/// one's `XA START` (with what must precede or follow it) is sent to all of them before any reply is read,
/// so joining n data sources costs one round trip, not n. On failure the branches that did start stay in
/// the transaction (the caller decides whether to roll it back) and the first failure is returned.
pub async fn enlist_many(ctx: &mut ExecCtx, sources: &[impl AsRef<str>]) -> Result<(), SgError> {
    let writes = ctx.statement_writes;
    let mut joining: Vec<String> = Vec::new();
    for ds in sources.iter().map(AsRef::as_ref) {
        if let Some(t) = ctx.xa.as_mut().filter(|t| t.branches.iter().any(|b| b == ds)) {
            if writes && !t.written.iter().any(|w| w == ds) {
                t.written.push(ds.to_string());
            }
        } else if !joining.iter().any(|j| j == ds) {
            joining.push(ds.to_string());
        }
    }
    if joining.is_empty() {
        return Ok(());
    }
    for ds in &joining {
        ctx.ensure_backend(ds).await?;
    }
    let gtrid = match &ctx.xa {
        Some(t) => t.gtrid.clone(),
        None => {
            let g = log(ctx).begin();
            ctx.xa = Some(XaTxn { gtrid: g.clone(), branches: Vec::new(), written: Vec::new() });
            g
        }
    };
    let read_only = ctx.state.status & status::IN_TRANS_READONLY != 0;
    let savepoints: Vec<String> = ctx.savepoints.iter().map(|name| crate::sql::tokens::quote_ident(name, None)).collect();
    let since = Instant::now();
    let started = each(ctx, &joining, |ds| {
        // START TRANSACTION READ ONLY: XA START takes no characteristics, but starts the next transaction's.
        let mut sqls: Vec<String> = read_only.then(|| "SET TRANSACTION READ ONLY".to_string()).into_iter().collect();
        sqls.push(format!("XA START {}", xid(&gtrid, ds)));
        // The transaction's savepoints, so that rolling back to one undoes everything this branch does.
        sqls.extend(savepoints.iter().map(|name| format!("SAVEPOINT {name}")));
        sqls
    })
    .await;
    ctx.shared.stats.xa_step(XaStep::Start, since);
    let mut failed = None;
    for (ds, failure) in started {
        match failure {
            None => {
                // A statement that reaches a table opens the transaction, as it does on MariaDB with autocommit off.
                ctx.state.status |= status::IN_TRANS;
                let t = ctx.xa.as_mut().expect("set above");
                t.branches.push(ds.clone());
                if writes {
                    t.written.push(ds);
                }
            }
            Some(reason) => {
                // Dropping the connection ends whatever part of the branch did start.
                ctx.backends.remove(&ds);
                failed.get_or_insert(SgError::Failed(format!("XA START on data source '{ds}' failed: {reason}")));
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

/// Sends `sqls` to each branch (pipelined per data source, every data source's batch sent before any reply
/// is read, so n branches cost one round trip) and returns, per branch, the first failure.
pub(super) async fn each(ctx: &mut ExecCtx, branches: &[String], sqls: impl Fn(&str) -> Vec<String>) -> Vec<(String, Option<String>)> {
    let mut sent = Vec::new();
    for ds in branches {
        let Some(pooled) = ctx.backends.get_mut(ds) else {
            sent.push((ds.clone(), Some("its connection was lost".to_string()), 0));
            continue;
        };
        let list = sqls(ds);
        for sql in &list {
            pooled.conn.queue_query(sql);
        }
        match pooled.conn.flush().await {
            Ok(()) => sent.push((ds.clone(), None, list.len())),
            Err(e) => {
                ctx.backends.remove(ds);
                sent.push((ds.clone(), Some(e), 0));
            }
        }
    }
    let mut out = Vec::new();
    for (ds, mut failure, n) in sent {
        for _ in 0..n {
            match ctx.read_ok_reply(&ds).await {
                Ok(p) if p.payload.first() == Some(&0xFF) => {
                    failure.get_or_insert(crate::protocol::response::relayed_error(&p.payload).to_string());
                }
                Ok(_) => {}
                Err(e) => {
                    failure.get_or_insert(e.to_string());
                    break;
                }
            }
        }
        out.push((ds, failure));
    }
    out
}

/// Test-only fault points (documented in README): `SHARDGATE_TEST_FAULT=exit_after_prepare`,
/// `exit_after_decision`, or `pause_after_decision_ms=N`.
fn fault(point: &str) {
    static FAULT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let Some(f) = FAULT.get_or_init(|| std::env::var("SHARDGATE_TEST_FAULT").ok()) else { return };
    if f == &format!("exit_{point}") {
        eprintln!("shardgate: SHARDGATE_TEST_FAULT={f}: exiting now");
        std::process::exit(86);
    }
    if let Some(ms) = f.strip_prefix(&format!("pause_{point}_ms=")).and_then(|m| m.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Ends a write of several steps (a row move, a limited write) that ran in the session's XA transaction
/// (`own`: one it opened itself, in autocommit) and answers with `steps`' affected rows. A failed step
/// rolls everything back: some steps may have run, and the only safe state is none of them; inside the
/// client's transaction that is the whole transaction, said with ER_XA_RBROLLBACK-style `RolledBack`.
pub async fn finish_write(ctx: &mut ExecCtx, own: bool, steps: Result<u64, SgError>, what: &str) -> Result<(), SgError> {
    finish_counted(ctx, own, steps.map(|affected| (affected, 0)), what).await
}

/// [`finish_write`] for steps that also counted warnings: (affected rows, warnings) go into the OK.
pub async fn finish_counted(ctx: &mut ExecCtx, own: bool, steps: Result<(u64, u16), SgError>, what: &str) -> Result<(), SgError> {
    match steps {
        Ok((total, warnings)) => {
            if own {
                commit(ctx).await?;
            }
            let ok = crate::protocol::response::Ok { affected_rows: total, status: ctx.state.status, warnings, ..Default::default() };
            ctx.send_payload(&crate::protocol::response::encode_ok(&ok, 0)).await
        }
        Err(e) => {
            rollback(ctx).await;
            if own {
                return Err(e);
            }
            Err(SgError::RolledBack(format!("{what} failed ({e}); the whole transaction was rolled back")))
        }
    }
}

#[allow(clippy::type_complexity)]
/// Runs one statement on `ds` (enlisted in the XA transaction): its OK, or its rows with column defs.
pub async fn enlisted_rows(ctx: &mut ExecCtx, ds: &str, sql: &str) -> Result<(Vec<Vec<u8>>, Vec<Vec<Option<Vec<u8>>>>), SgError> {
    enlist(ctx, ds).await?;
    ctx.query_table(ds, sql).await
}

/// Runs one statement on `ds` (enlisted in the XA transaction) and returns its affected rows.
pub async fn enlisted_affected(ctx: &mut ExecCtx, ds: &str, sql: &str) -> Result<u64, SgError> {
    enlist(ctx, ds).await?;
    Ok(ctx.query_ok(ds, sql).await?.affected_rows)
}

/// Commits the session's transaction (if any) and leaves the session outside a transaction.
pub async fn commit(ctx: &mut ExecCtx) -> Result<(), SgError> {
    ctx.state.status &= !OWN_BITS;
    ctx.savepoints.clear();
    let Some(txn) = ctx.xa.take() else { return Ok(()) };
    let log = log(ctx);
    let g = txn.gtrid.clone();
    let x = |ds: &str| xid(&g, ds);
    // At most one branch wrote: nothing needs two phases (the read-only optimisation of 2PC). Every branch
    // commits in one phase, the readers first; only the writer's commit can change anything.
    if txn.written.len() <= 1 && !txn.branches.is_empty() {
        let mut order: Vec<String> = txn.branches.iter().filter(|b| !txn.written.contains(b)).cloned().collect();
        order.extend(txn.written.iter().cloned());
        let since = Instant::now();
        let result = each(ctx, &order, |ds| vec![format!("XA END {}", x(ds)), format!("XA COMMIT {} ONE PHASE", x(ds))]).await;
        ctx.shared.stats.xa_step(XaStep::OnePhaseCommit, since);
        log.finished(&g, true);
        return match result.into_iter().find_map(|(ds, f)| f.map(|f| (ds, f))) {
            None => Ok(()),
            Some((ds, failure)) => {
                let _ = each(ctx, &order, |ds| vec![format!("XA ROLLBACK {}", x(ds))]).await;
                Err(SgError::RolledBack(format!("COMMIT failed on data source '{ds}' and the transaction was rolled back: {failure}")))
            }
        };
    }
    if txn.branches.is_empty() {
        log.finished(&g, false);
        return Ok(());
    }
    let since = Instant::now();
    let prepared = each(ctx, &txn.branches, |ds| vec![format!("XA END {}", x(ds)), format!("XA PREPARE {}", x(ds))]).await;
    ctx.shared.stats.xa_step(XaStep::Prepare, since);
    if let Some((ds, Some(failure))) = prepared.iter().find(|(_, f)| f.is_some()) {
        let message = format!("COMMIT failed: data source '{ds}' could not prepare ({failure}); the transaction was rolled back on every data source");
        roll_back(ctx, &txn.branches, &g).await;
        log.finished(&g, false);
        return Err(SgError::RolledBack(message));
    }
    fault("after_prepare");
    let since = Instant::now();
    // A fleet member records the decision in etcd first, where a peer finds it should this instance die.
    if let Some(fleet) = ctx.shared.fleet_decisions.clone() {
        if let Err(e) = fleet.decide(&g).await {
            roll_back(ctx, &txn.branches, &g).await;
            log.finished(&g, false);
            let message = format!("COMMIT failed: the fleet's decision record could not be written ({e}); the transaction was rolled back");
            return Err(SgError::RolledBack(message));
        }
    }
    // The fsync runs off the async workers; concurrent commits share it (group commit, xa_log.rs).
    let decided = {
        let (log, g) = (log.clone(), g.clone());
        tokio::task::spawn_blocking(move || log.decide_commit(&g)).await.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
    };
    ctx.shared.stats.xa_step(XaStep::Decision, since);
    if let Err(e) = decided {
        roll_back(ctx, &txn.branches, &g).await;
        log.finished(&g, false);
        let message = format!("COMMIT failed: the decision log {} could not be written ({e}); the transaction was rolled back", log.path().display());
        return Err(SgError::RolledBack(message));
    }
    fault("after_decision");
    let since = Instant::now();
    // From the first XA COMMIT to the last reply the commit is visible on some shards only: no snapshot
    // across shards may start meanwhile (backend/commit_barrier.rs).
    let phase = log.barrier().enter(Side::Commit).await;
    let committed = each(ctx, &txn.branches, |ds| vec![format!("XA COMMIT {}", x(ds))]).await;
    drop(phase);
    ctx.shared.stats.xa_step(XaStep::Commit, since);
    let pending: Vec<String> = committed.iter().filter_map(|(ds, f)| f.as_ref().map(|f| format!("'{ds}' ({f})"))).collect();
    log.finished(&g, pending.is_empty());
    if let (true, Some(fleet)) = (pending.is_empty(), &ctx.shared.fleet_decisions) {
        fleet.forget(&g);
    }
    Stats::add(&ctx.shared.stats.xa_two_phase_commits, 1);
    if pending.is_empty() {
        return Ok(());
    }
    tracing::warn!(gtrid = %g, pending = %pending.join(", "), "XA COMMIT incomplete; recovery will finish it");
    Err(SgError::Failed(format!(
        "COMMIT is decided and will complete, but data sources {} have not confirmed it yet; shardgate's recovery \
         commits them when they are reachable — do not retry the transaction",
        pending.join(", ")
    )))
}

async fn roll_back(ctx: &mut ExecCtx, branches: &[String], gtrid: &str) {
    // XA END fails on a branch already ended (or rolled back by a deadlock): its ROLLBACK still applies.
    each(ctx, branches, |ds| vec![format!("XA END {}", xid(gtrid, ds))]).await;
    let result = each(ctx, branches, |ds| vec![format!("XA ROLLBACK {}", xid(gtrid, ds))]).await;
    for (ds, failure) in result {
        if failure.is_some() {
            // Leave nothing in an unknown state on the connection: a fresh one comes next time.
            ctx.backends.remove(&ds);
        }
    }
}

/// Rolls the session's transaction back on every branch.
pub async fn rollback(ctx: &mut ExecCtx) {
    ctx.state.status &= !OWN_BITS;
    ctx.savepoints.clear();
    let Some(txn) = ctx.xa.take() else { return };
    roll_back(ctx, &txn.branches, &txn.gtrid).await;
    log(ctx).finished(&txn.gtrid, false);
}

#[cfg(test)]
mod tests {
    use crate::error::SgError;
    use crate::execute::fake_ctx::{err, ok, rows, Harness, SCHEMA};
    use crate::plan::Plan;
    use crate::protocol::constants::status;

    const UPDATE: &str = "UPDATE k SET c = 'x'";

    async fn harness() -> Harness {
        let h = Harness::xa(SCHEMA).await;
        for (fake, table) in [(&h.ds0, "k_0"), (&h.ds1, "k_1")] {
            fake.on_prefix("XA ", ok(0));
            fake.on(&format!("UPDATE `{table}` SET c = 'x'"), ok(1));
        }
        h
    }

    /// `XA <verb> 'g','ds_<node>'` and the rest of the expected queries of node `node`.
    fn xa(node: usize, lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.replace("{b}", &format!("'g','ds_{node}'"))).collect()
    }

    #[tokio::test]
    async fn begin_write_on_both_nodes_commit_runs_two_phases_in_order() {
        let mut h = harness().await;
        assert!(matches!(h.plan("BEGIN"), Plan::Begin { read_only: false, snapshot: None }));
        h.run("BEGIN").await.unwrap();
        assert_eq!(h.read_reply().await.ok().status, status::AUTOCOMMIT | status::IN_TRANS);
        assert_ne!(h.ctx.state.status & status::IN_TRANS, 0);
        assert!(h.queries(0).is_empty() && h.queries(1).is_empty(), "data sources join on first use");
        h.run(UPDATE).await.unwrap();
        let update = h.read_reply().await.ok();
        assert_eq!((update.affected_rows, update.status), (2, status::AUTOCOMMIT | status::IN_TRANS));
        let gtrid = h.ctx.xa.as_ref().expect("an XA transaction").gtrid.clone();
        assert_eq!(h.ctx.xa.as_ref().unwrap().branches, ["ds_0", "ds_1"]);
        h.run("COMMIT").await.unwrap();
        assert_eq!(h.read_reply().await.ok().status, status::AUTOCOMMIT);
        assert_eq!(h.ctx.state.status & status::IN_TRANS, 0);
        assert!(h.ctx.xa.is_none());
        let steps = ["XA START {b}", "UPDATE `k_N` SET c = 'x'", "XA END {b}", "XA PREPARE {b}", "XA COMMIT {b}"];
        for node in [0, 1] {
            let expected: Vec<String> = xa(node, &steps).into_iter().map(|q| q.replace("k_N", &format!("k_{node}"))).collect();
            assert_eq!(h.xa_queries(node), expected);
        }
        let log = std::fs::read_to_string(&h.ctx.shared.rules.xa_log).unwrap();
        assert_eq!(log.lines().filter(|l| l.ends_with(&gtrid)).collect::<Vec<_>>(), [format!("C {gtrid}"), format!("D {gtrid}")], "decided, then done");
    }

    #[tokio::test]
    async fn rollback_ends_and_rolls_back_every_branch() {
        let mut h = harness().await;
        h.run("BEGIN").await.unwrap();
        h.read_reply().await.ok();
        h.run(UPDATE).await.unwrap();
        h.read_reply().await.ok();
        h.run("ROLLBACK").await.unwrap();
        assert_eq!(h.read_reply().await.ok().status, status::AUTOCOMMIT);
        for node in [0, 1] {
            let update = format!("UPDATE `k_{node}` SET c = 'x'");
            assert_eq!(h.xa_queries(node), xa(node, &["XA START {b}", &update, "XA END {b}", "XA ROLLBACK {b}"]));
        }
        assert!(h.ctx.xa.is_none());
        assert_eq!(h.ctx.state.status & status::IN_TRANS, 0);
    }

    #[tokio::test]
    async fn one_branch_that_wrote_commits_in_one_phase_after_the_readers() {
        let mut h = harness().await;
        h.ds0.on("SELECT c FROM `k_0` WHERE id = 2", rows(&["c"], &[&["a"]]));
        h.ds1.on("UPDATE `k_1` SET c = 'x' WHERE id = 3", ok(1));
        for sql in ["BEGIN", "SELECT c FROM k WHERE id = 2", "UPDATE k SET c = 'x' WHERE id = 3", "COMMIT"] {
            h.run(sql).await.unwrap();
            h.read_reply().await;
        }
        assert_eq!(h.xa_queries(0), xa(0, &["XA START {b}", "SELECT c FROM `k_0` WHERE id = 2", "XA END {b}", "XA COMMIT {b} ONE PHASE"]));
        assert_eq!(h.xa_queries(1), xa(1, &["XA START {b}", "UPDATE `k_1` SET c = 'x' WHERE id = 3", "XA END {b}", "XA COMMIT {b} ONE PHASE"]));
    }

    #[tokio::test]
    async fn a_branch_that_cannot_prepare_rolls_every_branch_back() {
        let mut h = harness().await;
        h.ds1.on_prefix("XA PREPARE", err(1614, "Transaction branch was rolled back: deadlock was detected"));
        h.run("BEGIN").await.unwrap();
        h.read_reply().await.ok();
        h.run(UPDATE).await.unwrap();
        h.read_reply().await.ok();
        let e = h.run("COMMIT").await.unwrap_err();
        let expected = "COMMIT failed: data source 'ds_1' could not prepare (Transaction branch was rolled back: deadlock was detected); \
                        the transaction was rolled back on every data source";
        assert!(matches!(&e, SgError::RolledBack(m) if m == expected), "{e:?}");
        for node in [0, 1] {
            let update = format!("UPDATE `k_{node}` SET c = 'x'");
            let steps = ["XA START {b}", &update, "XA END {b}", "XA PREPARE {b}", "XA END {b}", "XA ROLLBACK {b}"];
            assert_eq!(h.xa_queries(node), xa(node, &steps));
        }
        assert!(h.ctx.xa.is_none());
        assert_eq!(h.ctx.state.status & status::IN_TRANS, 0);
        h.nothing_more();
    }

    #[tokio::test]
    async fn start_transaction_read_only_sets_each_branch_read_only_first() {
        let mut h = harness().await;
        h.ds1.on("SET TRANSACTION READ ONLY", ok(0));
        h.ds1.on("SELECT c FROM `k_1` WHERE id = 1", rows(&["c"], &[]));
        h.run("START TRANSACTION READ ONLY").await.unwrap();
        assert_eq!(h.read_reply().await.ok().status, status::AUTOCOMMIT | status::IN_TRANS | status::IN_TRANS_READONLY);
        h.run("SELECT c FROM k WHERE id = 1").await.unwrap();
        h.read_reply().await.rows();
        assert_eq!(h.xa_queries(1), xa(1, &["SET TRANSACTION READ ONLY", "XA START {b}", "SELECT c FROM `k_1` WHERE id = 1"]));
    }

    #[tokio::test]
    async fn begin_inside_a_transaction_commits_it_first() {
        let mut h = harness().await;
        h.ds1.on("UPDATE `k_1` SET c = 'x' WHERE id = 1", ok(1));
        for sql in ["BEGIN", "UPDATE k SET c = 'x' WHERE id = 1", "BEGIN"] {
            h.run(sql).await.unwrap();
            h.read_reply().await.ok();
        }
        assert_eq!(h.xa_queries(1), xa(1, &["XA START {b}", "UPDATE `k_1` SET c = 'x' WHERE id = 1", "XA END {b}", "XA COMMIT {b} ONE PHASE"]));
        assert!(h.ctx.xa.is_none());
        assert_ne!(h.ctx.state.status & status::IN_TRANS, 0, "the new transaction is open");
    }

    #[test]
    fn absorb_keeps_the_proxys_bits_only_where_it_decides_them() {
        let backend = status::AUTOCOMMIT | status::IN_TRANS;
        assert_eq!(super::absorb(status::AUTOCOMMIT, backend, None), backend);
        assert_eq!(super::absorb(status::AUTOCOMMIT, backend, Some((super::OWN_BITS, 0))), status::AUTOCOMMIT);
        assert_eq!(super::absorb(status::IN_TRANS | status::IN_TRANS_READONLY, status::AUTOCOMMIT, Some((super::OWN_BITS, 0))), status::AUTOCOMMIT | status::IN_TRANS | status::IN_TRANS_READONLY);
        assert_eq!(super::xid("a'b", "ds_0"), "'a''b','ds_0'");
    }
}
