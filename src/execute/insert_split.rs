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

#[cfg(test)]
mod tests {
    use crate::execute::fake_ctx::{err, ok, Harness, SCHEMA};
    use crate::plan::Plan;

    const INSERT: &str = "INSERT INTO k (id, c) VALUES (1, 'a'), (2, 'b'), (3, 'c')";
    const INSERT_0: &str = "INSERT INTO `k_0` (id, c) VALUES (2, 'b')";
    const INSERT_1: &str = "INSERT INTO `k_1` (id, c) VALUES (1, 'a'), (3, 'c')";

    fn script(h: &Harness) {
        for fake in [&h.ds0, &h.ds1] {
            for word in ["BEGIN", "COMMIT", "ROLLBACK"] {
                fake.on(word, ok(0));
            }
        }
        h.ds0.on(INSERT_0, ok(1));
        h.ds1.on(INSERT_1, ok(2));
    }

    #[tokio::test]
    async fn each_node_receives_only_its_rows_and_the_client_one_ok() {
        let mut h = Harness::new(SCHEMA).await;
        assert!(matches!(h.plan(INSERT), Plan::Insert(_)));
        script(&h);
        h.run(INSERT).await.unwrap();
        let reply = h.read_reply().await.ok();
        assert_eq!((reply.affected_rows, reply.last_insert_id), (3, 0));
        h.nothing_more();
        assert_eq!(h.queries(0), ["BEGIN", INSERT_0, "COMMIT"]);
        assert_eq!(h.queries(1), ["BEGIN", INSERT_1, "COMMIT"]);
    }

    #[tokio::test]
    async fn rows_for_one_node_go_there_alone() {
        let mut h = Harness::new(SCHEMA).await;
        let sql = "INSERT INTO k (id, c) VALUES (1, 'a'), (3, 'c')";
        h.ds1.on(INSERT_1, ok(2));
        h.run(sql).await.unwrap();
        assert_eq!(h.read_reply().await.ok().affected_rows, 2);
        assert_eq!(h.queries(1), [INSERT_1], "one node: no transaction of the proxy's");
        assert!(h.queries(0).is_empty());
    }

    #[tokio::test]
    async fn a_duplicate_on_one_node_rolls_both_back() {
        let mut h = Harness::new(SCHEMA).await;
        script(&h);
        h.ds0.on(INSERT_0, err(1062, "Duplicate entry '2' for key 'PRIMARY'"));
        h.run(INSERT).await.unwrap();
        assert_eq!(h.read_reply().await.err(), (1062, "Duplicate entry '2' for key 'PRIMARY'".to_string()));
        assert_eq!(h.queries(0), ["BEGIN", INSERT_0, "ROLLBACK"]);
        assert_eq!(h.queries(1), ["BEGIN", INSERT_1, "ROLLBACK"]);
    }

    #[tokio::test]
    async fn no_ids_are_generated_without_a_key_generator() {
        let h = Harness::new(SCHEMA).await;
        let table = h.ctx.shared.layouts["s"].tables["k"].clone();
        assert!(super::generate(&h.ctx, &table, 0).await.unwrap().is_empty());
        assert!(super::generate(&h.ctx, &table, 3).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn sequence_ids_are_reserved_on_the_default_data_source_and_split_by_node() {
        let schema = "[schemas.s]\ndata_source = \"ds_0\"\n[schemas.s.tables.g]\nsharding_column = \"id\"\nalgorithm = \"mod\"\n\
            actual_nodes = \"ds_0.g_0,ds_1.g_1\"\nkey_generator = \"sequence\"\nsequence_block = 10\n";
        let mut h = Harness::new(schema).await;
        h.ds0.on_prefix("CREATE TABLE IF NOT EXISTS shardgate_sequence", ok(0));
        h.ds0.on_prefix("INSERT IGNORE INTO shardgate_sequence", ok(1));
        // The block [41, 51): next_id was 41.
        h.ds0.on_prefix("UPDATE shardgate_sequence", crate::backend::fake::Reply::Ok { affected: 1, last_insert_id: 51, warnings: 0 });
        for fake in [&h.ds0, &h.ds1] {
            fake.on("BEGIN", ok(0));
            fake.on("COMMIT", ok(0));
        }
        h.ds0.on_prefix("INSERT INTO `g_0`", ok(1));
        h.ds1.on_prefix("INSERT INTO `g_1`", ok(2));
        h.run("INSERT INTO g (c) VALUES ('a'), ('b'), ('c')").await.unwrap();
        let reply = h.read_reply().await.ok();
        assert_eq!((reply.affected_rows, reply.last_insert_id), (3, 41), "LAST_INSERT_ID is the first generated id");
        let q0 = h.queries(0);
        assert_eq!(q0[..3], [
            "CREATE TABLE IF NOT EXISTS shardgate_sequence (name VARCHAR(191) PRIMARY KEY, next_id BIGINT NOT NULL)".to_string(),
            "INSERT IGNORE INTO shardgate_sequence (name, next_id) VALUES ('s.g', 1)".to_string(),
            "UPDATE shardgate_sequence SET next_id = LAST_INSERT_ID(next_id + 10) WHERE name = 's.g'".to_string(),
        ]);
        assert_eq!(q0[3..], ["BEGIN".to_string(), "INSERT INTO `g_0` (`id`, c) VALUES (42, 'b')".to_string(), "COMMIT".to_string()]);
        assert_eq!(h.queries(1), ["BEGIN", "INSERT INTO `g_1` (`id`, c) VALUES (41, 'a'), (43, 'c')", "COMMIT"]);
        // The rest of the block is used without a round trip.
        let table = h.ctx.shared.layouts["s"].tables["g"].clone();
        assert_eq!(super::generate(&h.ctx, &table, 2).await.unwrap(), [44, 45]);
        assert_eq!(h.queries(0).len(), 6);
    }
}
