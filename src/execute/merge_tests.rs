//! Merge over the fake backend: the real planner's Merge plans (their shard SQL with the derived columns it
//! adds) answered by two fakes, the merged rows read back from the client's end.

use crate::backend::fake;
use crate::error::SgError;
use crate::execute::fake_ctx::{err, table, typed_rows, Harness, SCHEMA};
use crate::plan::Plan;

const LONGLONG: u8 = 0x08;
const NEWDECIMAL: u8 = 0xF6;
const VAR_STRING: u8 = 0xFD;

/// Scripts each target of `sql`'s Merge plan on its fake with `replies[node]`; returns the shards' SQL.
fn script(h: &Harness, sql: &str, replies: [fake::Reply; 2]) -> Vec<String> {
    let Plan::Merge { targets, .. } = h.plan(sql) else { panic!("{sql} is not a Merge: {:?}", h.plan(sql)) };
    let [r0, r1] = replies;
    for (t, reply) in targets.iter().zip([r0, r1]) {
        let fake = if t.data_source == "ds_0" { &h.ds0 } else { &h.ds1 };
        fake.on(&t.sql, reply);
    }
    targets.into_iter().map(|t| t.sql).collect()
}

/// `id` plus the two weight columns the planner derives for an ORDER BY key (NULL: compare by type).
fn ids(values: &[&str]) -> fake::Reply {
    let rows: Vec<Vec<&str>> = values.iter().map(|v| vec![*v, "NULL", "NULL"]).collect();
    typed_rows(&[("id", LONGLONG), ("__sg_w0", VAR_STRING), ("__sg_p0", VAR_STRING)], &rows.iter().map(Vec::as_slice).collect::<Vec<_>>())
}

const SORTED: &str = "SELECT id FROM k ORDER BY id LIMIT 3";

#[tokio::test]
async fn order_by_limit_merges_the_shards_in_order_and_applies_the_limit() {
    for classic in [false, true] {
        let mut h = Harness::new(SCHEMA).await;
        if classic {
            h.classic_eof();
        }
        let sent = script(&h, SORTED, [ids(&["2", "10", "12"]), ids(&["1", "9", "11"])]);
        h.run(SORTED).await.unwrap();
        let reply = h.read_reply().await;
        assert_eq!(reply.columns(), ["id"], "derived columns are not shown");
        assert_eq!(reply.rows(), table(&[&["1"], &["2"], &["9"]]), "numeric order, LIMIT 3 (classic EOF: {classic})");
        h.nothing_more();
        assert_eq!((h.queries(0), h.queries(1)), (vec![sent[0].clone()], vec![sent[1].clone()]));
        assert!(sent[0].contains("`k_0`") && sent[0].ends_with("ORDER BY id LIMIT 3"), "{}", sent[0]);
        assert!(h.ctx.backends.contains_key("ds_0") && h.ctx.backends.contains_key("ds_1"), "connections given back to the session");
    }
}

#[tokio::test]
async fn group_by_sums_counts_and_sums_across_shards() {
    let mut h = Harness::new(SCHEMA).await;
    let sql = "SELECT c, COUNT(*), SUM(v) FROM k GROUP BY c";
    let cols = [("c", VAR_STRING), ("COUNT(*)", LONGLONG), ("SUM(v)", NEWDECIMAL), ("__sg_g0", VAR_STRING), ("__sg_w1", VAR_STRING), ("__sg_p1", VAR_STRING)];
    let shard0 = typed_rows(&cols, &[&["a", "2", "10", "a", "NULL", "NULL"], &["b", "1", "3", "b", "NULL", "NULL"]]);
    let shard1 = typed_rows(&cols, &[&["a", "1", "4", "a", "NULL", "NULL"], &["c", "5", "1", "c", "NULL", "NULL"]]);
    script(&h, sql, [shard0, shard1]);
    h.run(sql).await.unwrap();
    let reply = h.read_reply().await;
    assert_eq!(reply.columns(), ["c", "COUNT(*)", "SUM(v)"]);
    assert_eq!(reply.rows(), table(&[&["a", "3", "14"], &["b", "1", "3"], &["c", "5", "1"]]));
}

#[tokio::test]
async fn count_without_group_by_adds_up_the_shards_counts() {
    let mut h = Harness::new(SCHEMA).await;
    let sql = "SELECT COUNT(*) FROM k";
    script(&h, sql, [typed_rows(&[("COUNT(*)", LONGLONG)], &[&["3"]]), typed_rows(&[("COUNT(*)", LONGLONG)], &[&["4"]])]);
    h.run(sql).await.unwrap();
    assert_eq!(h.read_reply().await.rows(), table(&[&["7"]]));
}

#[tokio::test]
async fn distinct_drops_values_seen_on_another_shard() {
    let mut h = Harness::new(SCHEMA).await;
    let sql = "SELECT DISTINCT c FROM k";
    let cols = [("c", VAR_STRING), ("__sg_w0", VAR_STRING), ("__sg_p0", VAR_STRING)];
    let shard0 = typed_rows(&cols, &[&["a", "NULL", "NULL"], &["b", "NULL", "NULL"]]);
    // "B" equals "b" under the connection's utf8mb4_general_ci.
    let shard1 = typed_rows(&cols, &[&["B", "NULL", "NULL"], &["c", "NULL", "NULL"], &["a", "NULL", "NULL"]]);
    script(&h, sql, [shard0, shard1]);
    h.run(sql).await.unwrap();
    assert_eq!(h.read_reply().await.rows(), table(&[&["a"], &["b"], &["c"]]));
}

#[tokio::test]
async fn a_prepared_execution_gets_binary_rows() {
    let mut h = Harness::new(SCHEMA).await;
    script(&h, SORTED, [ids(&["2", "10"]), ids(&["1", "9"])]);
    h.run_binary(SORTED).await.unwrap();
    let reply = h.read_binary_reply().await;
    assert_eq!(reply.rows(), table(&[&["1"], &["2"], &["9"]]));
    let rows = &h.last_packets[2..h.last_packets.len() - 1];
    assert_eq!(rows.len(), 3);
    for row in rows {
        // 0x00 header, a one-byte NULL bitmap, the LONGLONG's 8 bytes.
        assert_eq!((row[0], row.len()), (0x00, 10), "{row:?}");
    }
}

#[tokio::test]
async fn a_prepared_point_select_is_re_encoded_too() {
    let mut h = Harness::new(SCHEMA).await;
    assert!(matches!(h.plan("SELECT id, c FROM k WHERE id = 3"), Plan::Passthrough { .. }));
    h.ds1.on("SELECT id, c FROM `k_1` WHERE id = 3", typed_rows(&[("id", LONGLONG), ("c", VAR_STRING)], &[&["3", "NULL"], &["3", "z"]]));
    h.run_binary("SELECT id, c FROM k WHERE id = 3").await.unwrap();
    assert_eq!(h.read_binary_reply().await.rows(), table(&[&["3", "NULL"], &["3", "z"]]));
    let first_row = &h.last_packets[3];
    assert_eq!(&first_row[..2], &[0x00, 0b0000_1000], "header, then NULL bit of column 1 (offset 2)");
    assert!(h.queries(0).is_empty());
}

#[tokio::test]
async fn an_err_from_a_shard_before_any_row_is_the_statements_error() {
    let mut h = Harness::new(SCHEMA).await;
    script(&h, SORTED, [ids(&["2"]), err(1146, "Table 'k_1' doesn't exist")]);
    let e = h.run(SORTED).await.unwrap_err();
    assert!(matches!(&e, SgError::Backend { code: 1146, message, .. } if message == "Table 'k_1' doesn't exist"), "{e:?}");
    h.nothing_more();
    // The other shard's reply was drained: its connection serves the next statement.
    h.ds0.on("SELECT id FROM `k_0` WHERE id = 2", ids(&["2"]));
    h.run("SELECT id FROM k WHERE id = 2").await.unwrap();
    assert_eq!(h.read_reply().await.rows(), table(&[&["2", "NULL", "NULL"]]));
}

#[tokio::test]
async fn shards_with_different_columns_are_refused() {
    let mut h = Harness::new(SCHEMA).await;
    let two = typed_rows(&[("id", LONGLONG), ("__sg_w0", VAR_STRING)], &[&["1", "NULL"]]);
    script(&h, SORTED, [ids(&["2"]), two]);
    let e = h.run(SORTED).await.unwrap_err();
    assert!(matches!(&e, SgError::NotSupported(m) if m.contains("different columns")), "{e:?}");
}

#[tokio::test]
async fn max_merge_rows_ends_the_merged_rows_with_an_err() {
    let mut h = Harness::new(SCHEMA).await;
    std::sync::Arc::get_mut(&mut h.ctx.shared).unwrap().rules.server.max_merge_rows = Some(2);
    let sql = "SELECT DISTINCT c FROM k";
    let cols = [("c", VAR_STRING), ("__sg_w0", VAR_STRING), ("__sg_p0", VAR_STRING)];
    script(&h, sql, [typed_rows(&cols, &[&["a", "NULL", "NULL"], &["b", "NULL", "NULL"]]), typed_rows(&cols, &[&["c", "NULL", "NULL"]])]);
    h.run(sql).await.unwrap();
    let (code, message) = h.read_reply().await.err();
    assert!(message.contains("more than 2 rows"), "{code} {message}");
    assert_eq!(h.last_packets.len(), 1 + 1 + 2 + 1, "count, definition, two rows, the ERR");
}

/// The client got an ERR, so the statement failed: the session's diagnostics (SHOW ERRORS), its metrics and
/// multiplexing's reset read `last_reply_ok`; concat and scatter set it when they relay a shard's ERR.
#[tokio::test]
async fn an_err_after_the_column_definitions_marks_the_statement_failed() {
    let mut h = Harness::new(SCHEMA).await;
    std::sync::Arc::get_mut(&mut h.ctx.shared).unwrap().rules.server.max_merge_rows = Some(1);
    script(&h, SORTED, [ids(&["2"]), ids(&["1"])]);
    h.run(SORTED).await.unwrap();
    h.read_reply().await.err();
    assert!(!h.ctx.last_reply_ok);
}
