//! EXPLAIN SHARDING <statement>: the data sources and SQL a statement would be sent to, as a result set.

use crate::error::SgError;
use crate::plan::Plan;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use super::context::ExecCtx;

/// Answers with one row per target: data source and SQL.
pub async fn run(ctx: &mut ExecCtx, plan: &Plan, sql: &str) -> Result<(), SgError> {
    let rows: Vec<Vec<Option<Vec<u8>>>> =
        plan.describe(sql).into_iter().map(|(ds, sql)| vec![Some(ds.into_bytes()), Some(sql.into_bytes())]).collect();
    let packets = encode_resultset(
        &[("data_source", ColumnType::Text), ("sql", ColumnType::Text)],
        &rows,
        ctx.state.deprecate_eof(),
        ctx.state.status,
    );
    ctx.send_packets(&packets).await
}

#[cfg(test)]
mod tests {
    use crate::execute::fake_ctx::{table, Harness, SCHEMA};

    #[tokio::test]
    async fn explain_sharding_answers_with_the_targets_without_running_them() {
        let mut h = Harness::new(SCHEMA).await;
        h.run("EXPLAIN SHARDING SELECT * FROM k WHERE id = 3").await.unwrap();
        let reply = h.read_reply().await;
        assert_eq!(reply.columns(), ["data_source", "sql"]);
        assert_eq!(reply.rows(), table(&[&["ds_1", "SELECT * FROM `k_1` WHERE id = 3"]]));
        h.run("EXPLAIN SHARDING UPDATE k SET c = 1").await.unwrap();
        assert_eq!(h.read_reply().await.rows(), table(&[&["ds_0", "UPDATE `k_0` SET c = 1"], &["ds_1", "UPDATE `k_1` SET c = 1"]]));
        h.nothing_more();
        assert!(h.queries(0).is_empty() && h.queries(1).is_empty());
        assert_eq!((h.ds0.connections(), h.ds1.connections()), (1, 0), "only the start-up probe connected");
    }
}
