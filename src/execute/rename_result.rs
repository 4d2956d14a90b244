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
    ctx.ensure_backend(data_source).await?;
    let deprecate_eof = ctx.state.deprecate_eof();
    let conn = &mut ctx.backends.get_mut(data_source).expect("pinned").conn;
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
    ctx.send_packets(&out).await
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
