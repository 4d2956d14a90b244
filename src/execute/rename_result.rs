//! For SHOW CREATE TABLE, SHOW INDEX and the like on a sharded table: ask the first node, then speak of the
//! logical table in the answer (t_order, not t_order_0). Such answers are small, so rows are decoded here.

use crate::error::SgError;
use crate::protocol::codec::Reader;
use crate::protocol::reply::ReplyKind;
use crate::protocol::resultset::encode_text_row;
use crate::protocol::row_text::decode_text_row;
use super::context::ExecCtx;

/// Replaces the physical name by the logical one in a cell: the whole cell, or a backquoted mention.
fn rename(cell: &[u8], physical: &str, logical: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(cell);
    if text == physical {
        return logical.as_bytes().to_vec();
    }
    text.replace(&format!("`{physical}`"), &format!("`{logical}`")).into_bytes()
}

/// Runs `sql` on `data_source` and relays its reply with `physical` renamed to `logical` in every row.
pub async fn run(ctx: &mut ExecCtx, data_source: &str, sql: &str, physical: &str, logical: &str) -> Result<(), SgError> {
    let deprecate_eof = ctx.state.deprecate_eof();
    let conn = ctx.conn(data_source).await?;
    conn.queue_query(sql);
    let read = async {
        conn.flush().await?;
        conn.read_reply(ReplyKind::ResultSets).await
    }
    .await;
    let packets: Vec<_> = match read {
        Ok(p) => p.into_iter().map(|p| p.payload).collect(),
        Err(reason) => {
            ctx.backends.remove(data_source);
            return Err(SgError::BackendLost(data_source.to_string(), reason));
        }
    };
    let columns = match packets[0].first() {
        Some(0x00) | Some(0xFF) => 0,
        _ => Reader::new(&packets[0]).lenenc_int()? as usize,
    };
    let header = 1 + columns + usize::from(columns > 0 && !deprecate_eof);
    let mut out = Vec::with_capacity(packets.len());
    for (i, p) in packets.iter().enumerate() {
        let is_row = columns > 0 && i >= header && i + 1 < packets.len() && p.first() != Some(&0xFF);
        if is_row {
            let cells = decode_text_row(p, columns)?;
            let renamed: Vec<Option<Vec<u8>>> = cells.iter().map(|c| c.map(|b| rename(b, physical, logical))).collect();
            out.push(encode_text_row(&renamed.iter().map(|c| c.as_deref()).collect::<Vec<_>>()));
        } else {
            out.push(p.to_vec());
        }
    }
    ctx.send_packets(&out).await?;
    if let Some(err) = out.last().filter(|p| p.first() == Some(&0xFF)).and_then(|p| crate::protocol::response::decode_err(p).ok()) {
        ctx.note_failure(err.code, err.message);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::rename;

    #[test]
    fn renames_whole_cells_and_quoted_mentions_only() {
        assert_eq!(rename(b"t_order_0", "t_order_0", "t_order"), b"t_order");
        assert_eq!(rename(b"CREATE TABLE `t_order_0` (\n  `t_order_0x` int)", "t_order_0", "t_order"), b"CREATE TABLE `t_order` (\n  `t_order_0x` int)");
        assert_eq!(rename(b"PRIMARY", "t_order_0", "t_order"), b"PRIMARY");
    }
}

#[cfg(test)]
mod over_fakes {
    use crate::execute::fake_ctx::{err, rows, table, Harness, SCHEMA};
    use crate::plan::Plan;

    const CREATE_K0: &str = "CREATE TABLE `k_0` (\n  `id` int NOT NULL,\n  `k_0x` int\n)";

    #[tokio::test]
    async fn show_create_table_asks_the_first_node_and_speaks_of_the_logical_table() {
        for classic in [false, true] {
            let mut h = Harness::new(SCHEMA).await;
            if classic {
                h.classic_eof();
            }
            assert!(matches!(h.plan("SHOW CREATE TABLE k"), Plan::RenameResult { .. }));
            h.ds0.on("SHOW CREATE TABLE `k_0`", rows(&["Table", "Create Table"], &[&["k_0", CREATE_K0]]));
            h.run("SHOW CREATE TABLE k").await.unwrap();
            let reply = h.read_reply().await;
            assert_eq!(reply.columns(), ["Table", "Create Table"]);
            assert_eq!(reply.rows(), table(&[&["k", "CREATE TABLE `k` (\n  `id` int NOT NULL,\n  `k_0x` int\n)"]]), "classic EOF: {classic}");
            h.nothing_more();
            assert_eq!(h.queries(0), ["SHOW CREATE TABLE `k_0`"]);
            assert!(h.queries(1).is_empty());
        }
    }

    #[tokio::test]
    async fn describe_keeps_cells_that_only_contain_the_physical_name() {
        let mut h = Harness::new(SCHEMA).await;
        h.ds0.on("DESCRIBE `k_0`", rows(&["Field", "Type", "Null"], &[&["id", "int", "NO"], &["k_0x", "int", "NULL"]]));
        h.run("DESCRIBE k").await.unwrap();
        assert_eq!(h.read_reply().await.rows(), table(&[&["id", "int", "NO"], &["k_0x", "int", "NULL"]]));
    }

    #[tokio::test]
    async fn a_backend_err_reaches_the_client() {
        let mut h = Harness::new(SCHEMA).await;
        h.ds0.on("SHOW INDEX FROM `k_0`", err(1146, "Table 'db.k_0' doesn't exist"));
        h.run("SHOW INDEX FROM k").await.unwrap();
        assert_eq!(h.read_reply().await.err(), (1146, "Table 'db.k_0' doesn't exist".to_string()));
        h.nothing_more();
    }

    /// A relayed ERR should count as a failed statement, as passthrough's does (`last_reply_ok`, `last_error`,
    /// `pending.error`: SHOW ERRORS, the deadlock roll-back, multiplexing's reset all read them).
    #[tokio::test]
    async fn a_relayed_err_marks_the_statement_failed() {
        let mut h = Harness::new(SCHEMA).await;
        h.ds0.on("SHOW INDEX FROM `k_0`", err(1146, "Table 'db.k_0' doesn't exist"));
        h.run("SHOW INDEX FROM k").await.unwrap();
        h.read_reply().await;
        assert_eq!((h.ctx.last_reply_ok, h.ctx.last_error), (false, Some(1146)));
        assert_eq!(h.ctx.pending.error.as_ref().map(|e| e.0), Some(1146));
    }
}
