//! Concat: a SELECT over several shards with nothing to merge; the rows of every shard in turn, streamed.
//! Packets are re-sequenced (one reply to the client) but rows are not decoded.

use crate::error::SgError;
use crate::plan::planner::Target;
use crate::protocol::reply::{ReplyKind, ReplyScanner};
use crate::protocol::response::encode_end_of_rows_warned;
use super::context::ExecCtx;
use crate::stats::Stats;

use super::scatter::data_sources;

/// Runs every target and streams their rows as one result set.
pub async fn run(ctx: &mut ExecCtx, targets: &[Target]) -> Result<(), SgError> {
    for ds in data_sources(targets) {
        ctx.ensure_backend(&ds).await?;
        let conn = &mut ctx.backends.get_mut(&ds).expect("pinned").conn;
        let mine: Vec<&str> = targets.iter().filter(|t| t.data_source == ds).map(|t| t.sql.as_str()).collect();
        super::warnings::queue_with_warnings(conn, mine.into_iter());
        if let Err(e) = conn.flush().await {
            ctx.backends.remove(&ds);
            return Err(SgError::BackendLost(ds, e));
        }
    }
    let deprecate_eof = ctx.state.deprecate_eof();
    let mut seq = ctx.reply_seq();
    let mut header_sent = false;
    let mut failed = false;
    let mut rows = 0u64;
    let mut warnings = 0u16;
    let mut error: Option<Vec<u8>> = None;
    let cap = ctx.shared.rules.server.max_merge_rows;
    for (k, t) in targets.iter().enumerate() {
        let ExecCtx { backends, client, .. } = &mut *ctx;
        let conn = &mut backends.get_mut(&t.data_source).expect("pinned").conn;
        let mut scanner = ReplyScanner::new(ReplyKind::ResultSets, deprecate_eof);
        let mut columns_left: Option<u64> = None;
        let mut in_rows = false;
        while !scanner.is_done() {
            let packet = match conn.read_packet().await {
                Ok(p) => p,
                Err(e) => {
                    backends.remove(&t.data_source);
                    return Err(SgError::BackendLost(t.data_source.clone(), e));
                }
            };
            scanner.feed_packet(&packet.payload)?;
            let p = &packet.payload;
            if failed {
                continue; // draining this shard's reply after an earlier error
            }
            if p.first() == Some(&0xFF) {
                seq = client.queue_packet(seq, p);
                if !failed {
                    error = Some(p.to_vec());
                }
                failed = true;
                continue;
            }
            if columns_left.is_none() && !in_rows {
                // Column count: starts the result set (only the first shard's header reaches the client).
                let n = crate::protocol::codec::Reader::new(p).lenenc_int()?;
                columns_left = Some(n + u64::from(!deprecate_eof));
                if !header_sent {
                    seq = client.queue_packet(seq, p);
                }
                if n == 0 {
                    return Err(SgError::NotSupported("a statement over several shards that returns no result set".into()));
                }
                continue;
            }
            if let Some(left) = columns_left {
                if !header_sent {
                    seq = client.queue_packet(seq, p);
                }
                columns_left = if left > 1 { Some(left - 1) } else { None };
                in_rows = columns_left.is_none();
                continue;
            }
            if scanner.is_done() {
                break; // this shard's end marker: the client gets one at the very end
            }
            rows += 1;
            if cap.is_some_and(|c| rows > c) {
                // An ERR in place of the next row ends the result set; the rest of the replies is drained.
                seq = client.queue_packet(seq, &crate::protocol::response::encode_error(&super::merge::too_many_rows(cap.unwrap_or(0))));
                failed = true;
                continue;
            }
            seq = client.queue_packet(seq, p);
        }
        header_sent = true;
        client.flush().await?;
        let more_here = targets[k + 1..].iter().any(|later| later.data_source == t.data_source);
        if more_here {
            let conn = &mut ctx.backends.get_mut(&t.data_source).expect("pinned").conn;
            let notes = super::warnings::read_notes(conn).await;
            if scanner.warnings > 0 {
                ctx.pending.notes.extend(notes);
            }
        }
        if scanner.warnings > 0 {
            warnings = warnings.saturating_add(scanner.warnings);
            if !more_here {
                ctx.pending.warned.push((t.data_source.clone(), scanner.warnings));
            }
        }
        if !failed {
            let bits = super::xa::status_bits(ctx);
            ctx.state.status = super::xa::absorb(ctx.state.status, scanner.status.unwrap_or(ctx.state.status), bits);
        }
    }
    if !failed {
        let end = encode_end_of_rows_warned(deprecate_eof, ctx.state.status, warnings);
        ctx.client.queue_packet(seq, &end);
    }
    ctx.client.flush().await?;
    if let Some(err) = error.as_deref().and_then(|p| crate::protocol::response::decode_err(p).ok()) {
        // A relayed ERR: the session's error state (deadlock roll-back) and SHOW ERRORS see it.
        ctx.last_reply_ok = false;
        ctx.last_error = Some(err.code);
        ctx.pending.error = Some((err.code, err.message));
    }
    Stats::add(&ctx.shared.stats.rows_relayed, rows);
    Ok(())
}
