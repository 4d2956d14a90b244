//! Read/write splitting: a plain read outside a transaction runs on a serving replica of each data source it
//! touches (chosen by weight), after making sure the replica has the session's own last write; if the
//! replica fails before anything reached the client, the read runs again on the primary.
//!
//! Guarantee (read_your_writes = "gtid", the default): a read that follows a write of the same session sees
//! that write — the replica first waits for the write's GTID (`@@last_gtid` of the session's primary
//! connection, `MASTER_GTID_WAIT` on the replica, at most `read_your_writes_ms`), and the read goes to the
//! primary when it does not get there in time. Reads of other sessions' writes are as fresh as replication.

use std::collections::HashMap;
use std::time::Instant;

use crate::config::rules::ReadYourWrites;
use crate::error::SgError;
use crate::plan::Plan;

use super::Exec;
use super::context::ExecCtx;

/// What a session wrote on one data source last.
#[derive(Debug, Clone)]
pub struct WriteMark {
    /// When.
    pub at: Instant,
    /// Its GTID on the primary, once looked up (empty: the session has written nothing replicated).
    pub gtid: Option<String>,
    /// Replicas known to have applied it.
    pub synced: Vec<String>,
}

/// Whether statement `sql` may run on replicas for this session now: outside a transaction, a plain read
/// or a SELECT hinted `read=replica`, not hinted `read=primary`.
pub fn wants_replica(ctx: &ExecCtx, sql: &str) -> bool {
    if ctx.shared.replicas.is_empty() || ctx.in_transaction() {
        return false;
    }
    match crate::sql::lexer::hint(sql) {
        Some(Ok(h)) if h.read_primary == Some(true) => false,
        Some(Ok(h)) if h.read_primary == Some(false) => {
            crate::sql::reads::is_plain_read(sql) || crate::sql::lexer::first_word(sql).eq_ignore_ascii_case("SELECT")
        }
        _ => crate::sql::reads::is_plain_read(sql),
    }
}

async fn execute(ctx: &mut ExecCtx, plan: Plan, how: &Exec<'_>) -> Result<(), SgError> {
    super::run(ctx, plan, how).await
}

/// Runs `plan` for statement `sql`: on replicas when it is a read that may go there, otherwise on
/// primaries, noting a possible write for read-your-writes.
pub async fn run_or_note(ctx: &mut ExecCtx, sql: &str, plan: Plan, how: Exec<'_>) -> Result<(), SgError> {
    if wants_replica(ctx, sql) {
        return run(ctx, plan, &how).await;
    }
    let writes = !matches!(
        plan,
        Plan::Set { .. } | Plan::UseSchema(_) | Plan::Admin(_) | Plan::Kill { .. } | Plan::ShowDatabases { .. } | Plan::ShowTables { .. } | Plan::Explain(..) | Plan::Refuse(_) | Plan::EndTransaction(false)
    );
    let result = execute(ctx, plan, &how).await;
    if writes {
        note_write(ctx);
    }
    result
}

/// Remembers that the session may have written on every primary it holds (a statement that is not a
/// plain read just ran): its next reads there must see it. Marked even where the data source has no
/// replica yet: a reload (or a fleet's new rules revision) may add one before the session's next read.
fn note_write(ctx: &mut ExecCtx) {
    let now = Instant::now();
    let ExecCtx { backends, writes, shared, .. } = ctx;
    for ds in backends.keys().filter(|ds| shared.rules.data_sources.contains_key(*ds)) {
        // Reuse the mark (no allocation per write on the hot path).
        match writes.get_mut(ds.as_str()) {
            Some(mark) => {
                mark.at = now;
                mark.gtid = None;
                mark.synced.clear();
            }
            None => {
                writes.insert(ds.clone(), WriteMark { at: now, gtid: None, synced: Vec::new() });
            }
        }
    }
}

/// The data sources a read plan sends to, or `None` for plans that are not reads of backends.
fn read_sources(plan: &Plan) -> Option<Vec<&str>> {
    match plan {
        // A scatter that is not a concatenation of result sets writes (or runs DDL).
        Plan::Scatter { combine, .. } if *combine != crate::plan::planner::Combine::Concat => None,
        _ => super::reached(plan),
    }
}

/// The plan with data sources renamed to the replicas in `map`.
fn remap(mut plan: Plan, map: &HashMap<String, String>) -> Plan {
    let swap = |ds: &mut String| {
        if let Some(r) = map.get(ds) {
            *ds = r.clone();
        }
    };
    match &mut plan {
        Plan::Passthrough { data_source, .. } | Plan::RenameResult { data_source, .. } => swap(data_source),
        Plan::Scatter { targets, .. } | Plan::Merge { targets, .. } => targets.iter_mut().for_each(|t| swap(&mut t.data_source)),
        Plan::Compute(c) => {
            // The copies are temporary tables, which a read-only replica takes too.
            swap(&mut c.data_source);
            c.tables.iter_mut().flat_map(|t| t.nodes.iter_mut()).for_each(|(ds, _)| swap(ds));
        }
        _ => {}
    }
    plan
}

/// Runs a read plan (see the module comment).
async fn run(ctx: &mut ExecCtx, plan: Plan, how: &Exec<'_>) -> Result<(), SgError> {
    let Some(sources) = read_sources(&plan) else { return execute(ctx, plan, how).await };
    let mut map = HashMap::new();
    // One read waits at most read_your_writes_ms in all for its writes to reach replicas, however many
    // data sources it reads (the waits share one deadline; a data source left without time reads its primary).
    let started = Instant::now();
    for ds in sources {
        if map.contains_key(ds) {
            continue;
        }
        if let Some(replica) = choose(ctx, ds, started).await {
            map.insert(ds.to_string(), replica);
        }
    }
    if map.is_empty() {
        return execute(ctx, plan, how).await;
    }
    let shared = ctx.shared.clone();
    let writes_before = ctx.client.writes();
    let attempt = {
        let run = execute(ctx, remap(plan.clone(), &map), how);
        tokio::pin!(run);
        loop {
            let ejected = shared.ejections.notified();
            tokio::select! {
                r = &mut run => break r,
                _ = ejected => {
                    let down = map.values().find(|r| !replica_serving(&shared, r));
                    if let Some(r) = down {
                        break Err(SgError::BackendLost(r.clone(), "the health check took the replica out of service".into()));
                    }
                }
            }
        }
    };
    let failed = match &attempt {
        Err(SgError::BackendLost(node, reason)) => Some((node.clone(), reason.clone())),
        Err(SgError::BackendUnreachable { ds, reason, .. }) => Some((ds.clone(), reason.clone())),
        _ => None,
    };
    match failed {
        Some((node, reason)) if ctx.client.writes() == writes_before && map.values().any(|r| *r == node) => {
            // Nothing reached the client: take the replica out until the checker sees it well, and read on
            // the primary. Connections to the chosen replicas are dropped (a query may still be running).
            if let Some(r) = find_replica(&shared, &node) {
                if r.health.mark_down(&format!("a read failed: {reason}")) {
                    tracing::warn!(replica = %node, %reason, "replica taken out of read rotation after a failed read; retrying on the primary");
                }
            }
            for r in map.values() {
                ctx.backends.remove(r);
            }
            execute(ctx, plan, how).await
        }
        _ => attempt,
    }
}

fn find_replica<'a>(shared: &'a crate::shared::Shared, node: &str) -> Option<&'a crate::backend::replicas::Replica> {
    let ds = node.split('/').next()?;
    shared.replicas.get(ds)?.get(node)
}

fn replica_serving(shared: &crate::shared::Shared, node: &str) -> bool {
    find_replica(shared, node).is_some_and(|r| r.health.serving())
}

/// Looks up and remembers the GTID of the session's last write on `ds`, from the primary connection that
/// made it.
async fn last_gtid(ctx: &mut ExecCtx, ds: &str) -> Option<String> {
    let conn = &mut ctx.backends.get_mut(ds)?.conn;
    let rows = conn.query_rows("SELECT @@last_gtid").await.ok()?;
    let g = rows.first().and_then(|r| r.first().cloned().flatten()).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    ctx.writes.get_mut(ds)?.gtid = Some(g.clone());
    Some(g)
}

/// Before the session gives its primary connections back (multiplexing): learns the GTID of every write
/// whose GTID is not known yet, while the connection that made it is still at hand.
pub async fn settle_writes(ctx: &mut ExecCtx) {
    if ctx.writes.is_empty() {
        return;
    }
    let open: Vec<String> = ctx
        .writes
        .iter()
        .filter(|(ds, mark)| mark.gtid.is_none() && ctx.backends.contains_key(ds.as_str()))
        // No replica to read from (yet): no round trip; should one be added, reads there find the GTID
        // unknown and go to the primary.
        .filter(|(ds, _)| ctx.shared.replicas.contains_key(ds.as_str()))
        .filter(|(ds, _)| ctx.shared.rules.data_sources.get(ds.as_str()).is_some_and(|r| r.read_your_writes == ReadYourWrites::Gtid))
        .map(|(ds, _)| ds.clone())
        .collect();
    for ds in open {
        // Not learnt (the connection broke): the mark stays unresolved and reads there go to the primary.
        let _ = last_gtid(ctx, &ds).await;
    }
}

/// The replica a read on `ds` goes to for this ctx, or `None` for the primary; a wait for the session's
/// write there ends read_your_writes_ms after `started` (the statement's first wait).
async fn choose(ctx: &mut ExecCtx, ds: &str, started: Instant) -> Option<String> {
    let set = ctx.shared.replicas.get(ds)?.clone();
    let rule = ctx.shared.rules.data_sources.get(ds)?;
    let (mode, full) = (rule.read_your_writes, std::time::Duration::from_millis(rule.read_your_writes_ms));
    let limit = full.saturating_sub(started.elapsed());
    let replica = set.choose(None)?.name.clone();
    let Some(mark) = ctx.writes.get(ds) else { return Some(replica) };
    match mode {
        ReadYourWrites::Off => return Some(replica),
        ReadYourWrites::Window => return (mark.at.elapsed() >= full).then_some(replica),
        ReadYourWrites::Gtid if mark.synced.contains(&replica) => return Some(replica),
        ReadYourWrites::Gtid => {}
    }
    let gtid = match mark.gtid.clone() {
        Some(g) => g,
        // The primary connection that wrote is still held (it is given back only after settle_writes); if
        // not, play safe.
        None => last_gtid(ctx, ds).await?,
    };
    if !gtid.is_empty() {
        if limit.is_zero() {
            return None;
        }
        ctx.ensure_backend(&replica).await.ok()?;
        let wait = format!("SELECT MASTER_GTID_WAIT('{}', {:.3})", gtid.replace('\'', ""), limit.as_secs_f64());
        let conn = &mut ctx.backends.get_mut(&replica)?.conn;
        match conn.query_rows(&wait).await {
            Ok(rows) if rows.first().and_then(|r| r.first()).is_some_and(|v| v.as_deref() == Some(b"0")) => {}
            Ok(_) => return None, // not there in time: the primary has it
            Err(_) => {
                ctx.backends.remove(&replica);
                return None;
            }
        }
    }
    ctx.writes.get_mut(ds)?.synced.push(replica.clone());
    Some(replica)
}

#[cfg(test)]
mod tests {
    //! Replicas here are fakes put into `Shared` by the harness, serving from the start; no health-check
    //! task runs (it would dial TCP).

    use crate::execute::fake_ctx::{ok, rows, table, Harness, SCHEMA};
    use crate::protocol::constants::status;

    const READ: &str = "SELECT c FROM k WHERE id = 3";
    const READ_1: &str = "SELECT c FROM `k_1` WHERE id = 3";
    const WRITE: &str = "UPDATE k SET c = 'x' WHERE id = 3";
    const WRITE_1: &str = "UPDATE `k_1` SET c = 'x' WHERE id = 3";

    #[tokio::test]
    async fn which_statements_may_go_to_a_replica() {
        let mut h = Harness::new(SCHEMA).await;
        assert!(!super::wants_replica(&h.ctx, READ), "no replicas at all");
        h.add_replica("ds_1");
        assert!(super::wants_replica(&h.ctx, READ));
        assert!(!super::wants_replica(&h.ctx, WRITE));
        assert!(!super::wants_replica(&h.ctx, "SELECT c FROM k WHERE id = 3 FOR UPDATE"));
        assert!(!super::wants_replica(&h.ctx, "/* shardgate: read=primary */ SELECT c FROM k WHERE id = 3"));
        assert!(super::wants_replica(&h.ctx, "/* shardgate: read=replica */ SELECT c FROM k WHERE id = 3 FOR UPDATE"));
        h.ctx.state.status |= status::IN_TRANS;
        assert!(!super::wants_replica(&h.ctx, READ), "inside a transaction reads stay on the primary");
        h.ctx.state.status = 0;
        assert!(!super::wants_replica(&h.ctx, READ), "autocommit off: the next statement opens a transaction");
    }

    #[tokio::test]
    async fn a_read_goes_to_the_replica_and_leaves_the_primary_alone() {
        let mut h = Harness::new(SCHEMA).await;
        let replica = h.add_replica("ds_1");
        replica.on(READ_1, rows(&["c"], &[&["from replica"]]));
        h.run(READ).await.unwrap();
        assert_eq!(h.read_reply().await.rows(), table(&[&["from replica"]]));
        assert_eq!(replica.queries(), [READ_1]);
        assert!(h.queries(1).is_empty());
        assert_eq!(h.ds1.connections(), 0);
    }

    #[tokio::test]
    async fn after_a_write_the_replica_waits_for_its_gtid() {
        let mut h = Harness::new(SCHEMA).await;
        let replica = h.add_replica("ds_1");
        h.ds1.on(WRITE_1, ok(1));
        h.ds1.on("SELECT @@last_gtid", rows(&["@@last_gtid"], &[&["0-1-42"]]));
        replica.on_prefix("SELECT MASTER_GTID_WAIT('0-1-42', ", rows(&["w"], &[&["0"]]));
        replica.on(READ_1, rows(&["c"], &[&["x"]]));
        h.run(WRITE).await.unwrap();
        h.read_reply().await.ok();
        assert!(h.ctx.writes.contains_key("ds_1"), "the write is noted");
        h.run(READ).await.unwrap();
        assert_eq!(h.read_reply().await.rows(), table(&[&["x"]]));
        assert_eq!(h.queries(1), [WRITE_1, "SELECT @@last_gtid"]);
        let seen = replica.queries();
        assert_eq!(seen.len(), 2);
        assert!(seen[0].starts_with("SELECT MASTER_GTID_WAIT('0-1-42', "), "{seen:?}");
        assert_eq!(seen[1], READ_1);
        assert_eq!(h.ctx.writes["ds_1"].synced, ["ds_1/replica1"]);
        // Known to be synced: the next read asks nothing more.
        h.run(READ).await.unwrap();
        h.read_reply().await.rows();
        assert_eq!((h.queries(1).len(), replica.queries().len()), (2, 3));
    }

    #[tokio::test]
    async fn a_replica_that_is_not_there_in_time_leaves_the_read_to_the_primary() {
        let mut h = Harness::new(SCHEMA).await;
        let replica = h.add_replica("ds_1");
        h.ds1.on(WRITE_1, ok(1));
        h.ds1.on("SELECT @@last_gtid", rows(&["@@last_gtid"], &[&["0-1-42"]]));
        h.ds1.on(READ_1, rows(&["c"], &[&["from primary"]]));
        replica.on_prefix("SELECT MASTER_GTID_WAIT(", rows(&["w"], &[&["-1"]]));
        h.run(WRITE).await.unwrap();
        h.read_reply().await.ok();
        h.run(READ).await.unwrap();
        assert_eq!(h.read_reply().await.rows(), table(&[&["from primary"]]));
        assert_eq!(replica.queries().len(), 1, "only the wait");
    }

    #[tokio::test]
    async fn a_replica_that_cannot_be_reached_is_taken_out_and_the_read_retried_on_the_primary() {
        let mut h = Harness::new(SCHEMA).await;
        drop(h.add_replica("ds_1"));
        h.ds1.on(READ_1, rows(&["c"], &[&["from primary"]]));
        h.run(READ).await.unwrap();
        assert_eq!(h.read_reply().await.rows(), table(&[&["from primary"]]));
        h.nothing_more();
        assert_eq!(h.queries(1), [READ_1]);
        let set = h.ctx.shared.replicas["ds_1"].clone();
        assert!(!set.replicas[0].health.serving(), "out of rotation until a health check passes");
        assert!(!h.ctx.backends.contains_key("ds_1/replica1"));
    }
}
