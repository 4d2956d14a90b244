//! Transaction control as the executor runs it: who may join the open transaction, COMMIT and ROLLBACK
//! (XA-managed or local), savepoints on every branch, and SET, which every held connection takes.

use crate::config::rules::TransactionMode;
use crate::error::SgError;
use crate::protocol::reply::ReplyKind;

use super::context::ExecCtx;
use super::{passthrough, xa};

/// Inside a transaction, a statement may reach data sources other than the session's home one only in
/// best_effort mode, where they join the transaction (BEGIN there) on first use; otherwise it is refused.
pub async fn check_transaction(ctx: &mut ExecCtx, sources: &[&str]) -> Result<(), SgError> {
    if !ctx.in_transaction() {
        return Ok(());
    }
    if xa::applies(ctx) {
        if ctx.statement_tableless && ctx.xa.is_none() {
            return Ok(());
        }
        return xa::enlist_many(ctx, sources).await;
    }
    let home = ctx.home();
    let joining: Vec<String> = sources.iter().filter(|ds| **ds != home && !ctx.enlisted.contains(**ds)).map(|ds| ds.to_string()).collect();
    if joining.is_empty() {
        return Ok(());
    }
    if ctx.shared.rules.transaction_mode != TransactionMode::BestEffort {
        return Err(SgError::NotSupported(format!(
            "statements on data sources other than '{home}' inside a transaction (cross-shard transactions need XA, or \
             transaction_mode = \"best_effort\" in the rules); commit first or run it with autocommit"
        )));
    }
    for ds in joining {
        let conn = ctx.conn(&ds).await?;
        if let Err(reason) = conn.query_ok("BEGIN").await {
            ctx.backends.remove(&ds);
            return Err(SgError::BackendLost(ds, reason));
        }
        ctx.enlisted.insert(ds);
    }
    Ok(())
}

/// Rolls the session's transaction back everywhere without answering the client (a deadlock victim's):
/// every XA branch, or in the other modes each data source that joined it and the home one.
pub(crate) async fn abort(ctx: &mut ExecCtx) {
    if ctx.xa.is_some() || xa::applies(ctx) {
        xa::rollback(ctx).await;
    } else {
        let mut sources: Vec<String> = std::mem::take(&mut ctx.enlisted).into_iter().collect();
        sources.push(ctx.home());
        for ds in sources {
            if let Some(pooled) = ctx.backends.get_mut(&ds) {
                let _ = pooled.conn.query_ok("ROLLBACK").await;
            }
        }
    }
    ctx.state.status &= !crate::protocol::constants::status::IN_TRANS;
}

/// COMMIT or ROLLBACK: first on every data source that joined the transaction, then on the home one. If a
/// joined data source fails to commit, the home one is rolled back and the client gets the error.
pub(crate) async fn end_transaction(ctx: &mut ExecCtx, commit: bool, command: &[u8]) -> Result<(), SgError> {
    if xa::applies(ctx) {
        if commit {
            xa::commit(ctx).await?;
        } else {
            xa::rollback(ctx).await;
        }
        return ctx.send_ok().await;
    }
    let word = if commit { "COMMIT" } else { "ROLLBACK" };
    let mut failure = None;
    for ds in std::mem::take(&mut ctx.enlisted) {
        let Some(pooled) = ctx.backends.get_mut(&ds) else { continue };
        let end = if failure.is_some() { "ROLLBACK" } else { word };
        if let Err(reason) = pooled.conn.query_ok(end).await {
            failure.get_or_insert(format!("{end} failed on data source '{ds}': {reason}"));
        }
    }
    let home = ctx.home();
    match failure {
        None => passthrough::run(ctx, &home, command, ReplyKind::ResultSets).await,
        Some(reason) => {
            let _ = ctx.conn(&home).await?.query_ok("ROLLBACK").await;
            ctx.state.status &= !crate::protocol::constants::status::IN_TRANS;
            Err(SgError::Failed(format!(
                "{reason}; the transaction was rolled back where it had not committed yet (best_effort mode is not atomic across data sources)"
            )))
        }
    }
}

/// SAVEPOINT, ROLLBACK TO SAVEPOINT and RELEASE SAVEPOINT in an XA-managed session: on every branch. A
/// branch that joins later gets every savepoint still set right after its XA START, so rolling back to one
/// undoes all it did since (it had done nothing when the savepoint was set).
pub(crate) async fn savepoint(ctx: &mut ExecCtx, command: &[u8]) -> Result<(), SgError> {
    let sql = String::from_utf8_lossy(&command[1..]).into_owned();
    let Some((verb, name)) = crate::sql::transaction::savepoint_of(&sql) else {
        return Err(SgError::NotSupported(format!("a savepoint statement shardgate cannot read: {sql}")));
    };
    let branches = ctx.xa.as_ref().map(|t| t.branches.clone()).unwrap_or_default();
    if verb != crate::sql::transaction::SavepointVerb::Set && !ctx.savepoints.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
        return Err(SgError::NoSavepoint(name));
    }
    for ds in &branches {
        let Some(pooled) = ctx.backends.get_mut(ds) else {
            return Err(SgError::BackendLost(ds.clone(), format!("the transaction's connection is gone (held: {:?})", ctx.backends.keys().collect::<Vec<_>>())));
        };
        let conn = &mut pooled.conn;
        if let Err(reason) = conn.query_ok(&sql).await {
            return Err(SgError::Failed(format!("`{sql}` failed on data source '{ds}': {reason}")));
        }
    }
    let at = ctx.savepoints.iter().position(|s| s.eq_ignore_ascii_case(&name));
    match verb {
        // Setting a savepoint again moves it to the end, as on MariaDB.
        crate::sql::transaction::SavepointVerb::Set => {
            if let Some(i) = at {
                ctx.savepoints.remove(i);
            }
            ctx.savepoints.push(name);
            ctx.state.status |= crate::protocol::constants::status::IN_TRANS;
        }
        // Later savepoints are gone; ROLLBACK TO keeps the one named, RELEASE removes it too.
        crate::sql::transaction::SavepointVerb::RollbackTo => ctx.savepoints.truncate(at.map_or(0, |i| i + 1)),
        crate::sql::transaction::SavepointVerb::Release => ctx.savepoints.truncate(at.unwrap_or(0)),
    }
    ctx.send_ok().await
}

/// SET in a sharded schema: every other data source the session holds takes it first (a failure there is
/// the answer, and the home data source is left untouched), then the home data source answers; the statement
/// is remembered for data sources reached later.
pub(crate) async fn set(ctx: &mut ExecCtx, home: &str, command: &[u8]) -> Result<(), SgError> {
    let sql = String::from_utf8_lossy(&command[1..]).into_owned();
    let others: Vec<String> = ctx.backends.keys().filter(|ds| *ds != home).cloned().collect();
    for ds in others {
        let conn = &mut ctx.backends.get_mut(&ds).expect("pinned").conn;
        if let Err(reason) = conn.query_ok(&sql).await {
            return Err(SgError::Failed(format!("`{sql}` failed on data source '{ds}': {reason}")));
        }
    }
    passthrough::run(ctx, home, command, ReplyKind::ResultSets).await?;
    if ctx.last_reply_ok {
        ctx.state.remember_setting(&sql);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::error::SgError;
    use crate::execute::fake_ctx::{err, ok, rows, Harness, SCHEMA};
    use crate::plan::Plan;
    use crate::protocol::constants::status;

    async fn xa_harness() -> Harness {
        let h = Harness::xa(SCHEMA).await;
        for fake in [&h.ds0, &h.ds1] {
            fake.on_prefix("XA ", ok(0));
            fake.on_prefix("SAVEPOINT ", ok(0));
            fake.on_prefix("ROLLBACK TO ", ok(0));
            fake.on_prefix("RELEASE SAVEPOINT ", ok(0));
        }
        h.ds0.on("UPDATE `k_0` SET c = 'x' WHERE id = 2", ok(1));
        h.ds1.on("UPDATE `k_1` SET c = 'x' WHERE id = 3", ok(1));
        h
    }

    async fn run_ok(h: &mut Harness, sql: &str) {
        h.run(sql).await.unwrap();
        h.read_reply().await.ok();
    }

    #[tokio::test]
    async fn savepoints_reach_every_branch() {
        let mut h = xa_harness().await;
        assert!(matches!(h.plan("SAVEPOINT a"), Plan::Savepoint));
        for sql in ["BEGIN", "UPDATE k SET c = 'x' WHERE id = 2", "UPDATE k SET c = 'x' WHERE id = 3", "SAVEPOINT a", "ROLLBACK TO a"] {
            run_ok(&mut h, sql).await;
        }
        assert_eq!(h.ctx.savepoints, ["a"]);
        for node in [0, 1] {
            let q = h.xa_queries(node);
            assert_eq!(q[2..], ["SAVEPOINT a", "ROLLBACK TO a"], "node {node}: {q:?}");
        }
        run_ok(&mut h, "RELEASE SAVEPOINT a").await;
        assert!(h.ctx.savepoints.is_empty());
        assert_eq!(h.queries(1).last().map(String::as_str), Some("RELEASE SAVEPOINT a"));
        assert_ne!(h.ctx.state.status & status::IN_TRANS, 0);
    }

    #[tokio::test]
    async fn a_branch_that_joins_later_gets_the_savepoints_set_before() {
        let mut h = xa_harness().await;
        for sql in ["BEGIN", "UPDATE k SET c = 'x' WHERE id = 2", "SAVEPOINT a", "UPDATE k SET c = 'x' WHERE id = 3", "ROLLBACK TO a"] {
            run_ok(&mut h, sql).await;
        }
        assert_eq!(h.xa_queries(0), ["XA START 'g','ds_0'", "UPDATE `k_0` SET c = 'x' WHERE id = 2", "SAVEPOINT a", "ROLLBACK TO a"]);
        assert_eq!(h.xa_queries(1), ["XA START 'g','ds_1'", "SAVEPOINT `a`", "UPDATE `k_1` SET c = 'x' WHERE id = 3", "ROLLBACK TO a"]);
    }

    #[tokio::test]
    async fn rollback_to_an_unknown_savepoint_is_refused_before_reaching_a_branch() {
        let mut h = xa_harness().await;
        for sql in ["BEGIN", "UPDATE k SET c = 'x' WHERE id = 2", "SAVEPOINT a"] {
            run_ok(&mut h, sql).await;
        }
        let before = h.queries(0).len();
        let e = h.run("ROLLBACK TO SAVEPOINT b").await.unwrap_err();
        assert!(matches!(&e, SgError::NoSavepoint(name) if name == "b"), "{e:?}");
        assert_eq!(h.queries(0).len(), before);
        h.nothing_more();
    }

    #[tokio::test]
    async fn a_savepoint_failing_on_a_branch_is_the_statements_error() {
        let mut h = xa_harness().await;
        h.ds0.on("SAVEPOINT a", err(1305, "nope"));
        for sql in ["BEGIN", "UPDATE k SET c = 'x' WHERE id = 2"] {
            run_ok(&mut h, sql).await;
        }
        let e = h.run("SAVEPOINT a").await.unwrap_err();
        assert!(matches!(&e, SgError::Failed(m) if m.contains("`SAVEPOINT a` failed on data source 'ds_0'")), "{e:?}");
        assert!(h.ctx.savepoints.is_empty());
    }

    #[tokio::test]
    async fn set_reaches_every_held_connection_and_later_ones() {
        let mut h = Harness::new(SCHEMA).await;
        h.ds1.on("SELECT c FROM `k_1` WHERE id = 1", rows(&["c"], &[]));
        h.run("SELECT c FROM k WHERE id = 1").await.unwrap();
        h.read_reply().await.rows();
        for fake in [&h.ds0, &h.ds1] {
            fake.on("SET @x = 1", ok(0));
        }
        assert!(matches!(h.plan("SET @x = 1"), Plan::Set { ref data_source } if data_source == "ds_0"));
        h.run("SET @x = 1").await.unwrap();
        h.read_reply().await.ok();
        assert_eq!(h.queries(1), ["SELECT c FROM `k_1` WHERE id = 1", "SET @x = 1"]);
        assert_eq!(h.queries(0), ["SET @x = 1"], "the home data source answers");
        assert_eq!(h.ctx.state.settings, ["SET @x = 1"]);
        // A connection taken later (here: after ds_1's went away) is given the setting first.
        h.ctx.backends.remove("ds_1");
        h.run("SELECT c FROM k WHERE id = 1").await.unwrap();
        h.read_reply().await.rows();
        assert_eq!(h.queries(1)[2..], ["SET @x = 1", "SELECT c FROM `k_1` WHERE id = 1"]);
    }

    #[tokio::test]
    async fn set_failing_on_another_data_source_leaves_the_home_one_alone() {
        let mut h = Harness::new(SCHEMA).await;
        h.ds1.on("SELECT c FROM `k_1` WHERE id = 1", rows(&["c"], &[]));
        h.run("SELECT c FROM k WHERE id = 1").await.unwrap();
        h.read_reply().await.rows();
        h.ds1.on("SET sql_mode = 'x'", err(1231, "Variable 'sql_mode' can't be set to the value of 'x'"));
        let e = h.run("SET sql_mode = 'x'").await.unwrap_err();
        assert!(matches!(&e, SgError::Failed(m) if m.contains("failed on data source 'ds_1'")), "{e:?}");
        assert!(h.queries(0).is_empty());
        assert!(h.ctx.state.settings.is_empty());
    }

    #[tokio::test]
    async fn best_effort_other_data_sources_join_with_begin_and_commit_before_the_home_one() {
        let mut h = Harness::new(SCHEMA).await;
        for fake in [&h.ds0, &h.ds1] {
            fake.on("BEGIN", ok(0));
            fake.on("COMMIT", ok(0));
        }
        h.ds1.on("UPDATE `k_1` SET c = 'x' WHERE id = 3", ok(1));
        assert!(matches!(h.plan("BEGIN"), Plan::Passthrough { .. }), "no XA: the home data source runs BEGIN");
        h.ds0.set_status(status::AUTOCOMMIT | status::IN_TRANS);
        run_ok(&mut h, "BEGIN").await;
        assert_ne!(h.ctx.state.status & status::IN_TRANS, 0);
        run_ok(&mut h, "UPDATE k SET c = 'x' WHERE id = 3").await;
        assert!(h.ctx.enlisted.contains("ds_1"));
        h.ds0.set_status(status::AUTOCOMMIT);
        run_ok(&mut h, "COMMIT").await;
        assert_eq!(h.queries(1), ["BEGIN", "UPDATE `k_1` SET c = 'x' WHERE id = 3", "COMMIT"]);
        assert_eq!(h.queries(0), ["BEGIN", "COMMIT"]);
        assert!(h.ctx.enlisted.is_empty());
        assert_eq!(h.ctx.state.status, status::AUTOCOMMIT);
    }

    #[tokio::test]
    async fn best_effort_a_failed_commit_rolls_the_home_data_source_back() {
        let mut h = Harness::new(SCHEMA).await;
        for fake in [&h.ds0, &h.ds1] {
            fake.on("BEGIN", ok(0));
            fake.on("ROLLBACK", ok(0));
        }
        h.ds1.on("COMMIT", err(1180, "Got error 6 during COMMIT"));
        h.ds1.on("UPDATE `k_1` SET c = 'x' WHERE id = 3", ok(1));
        h.ds0.set_status(status::AUTOCOMMIT | status::IN_TRANS);
        run_ok(&mut h, "BEGIN").await;
        run_ok(&mut h, "UPDATE k SET c = 'x' WHERE id = 3").await;
        let e = h.run("COMMIT").await.unwrap_err();
        assert!(matches!(&e, SgError::Failed(m) if m.starts_with("COMMIT failed on data source 'ds_1'")), "{e:?}");
        assert_eq!(h.queries(0), ["BEGIN", "ROLLBACK"]);
        assert_eq!(h.ctx.state.status & status::IN_TRANS, 0);
    }

    #[tokio::test]
    async fn single_source_refuses_a_second_data_source_inside_a_transaction() {
        let mut h = Harness::build("transaction_mode = \"single_source\"\n", SCHEMA).await;
        h.ds0.on("BEGIN", ok(0));
        h.ds0.set_status(status::AUTOCOMMIT | status::IN_TRANS);
        run_ok(&mut h, "BEGIN").await;
        let e = h.run("UPDATE k SET c = 'x' WHERE id = 3").await.unwrap_err();
        assert!(matches!(&e, SgError::NotSupported(m) if m.contains("other than 'ds_0' inside a transaction")), "{e:?}");
        assert_eq!(h.ds1.connections(), 0);
    }
}
