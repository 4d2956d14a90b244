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
        let conn = ctx.conn(&ds).await?;
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
        ctx.note_failure(err.code, err.message);
    } else if failed {
        let e = super::merge::too_many_rows(cap.unwrap_or(0));
        ctx.note_failure(e.code(), e.to_string());
    }
    Stats::add(&ctx.shared.stats.rows_relayed, rows);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::execute::fake_ctx::{err, rows, table, Harness, Reply, SCHEMA};
    use crate::plan::planner::Combine;
    use crate::plan::Plan;
    use crate::protocol::constants::status;

    fn script(h: &Harness) {
        h.ds0.on("SELECT id, c FROM `k_0`", rows(&["id", "c"], &[&["2", "b"], &["4", "NULL"]]));
        h.ds1.on("SELECT id, c FROM `k_1`", rows(&["id", "c"], &[&["1", "a"]]));
    }

    #[tokio::test]
    async fn a_scatter_read_gets_every_nodes_rows_in_node_order() {
        for classic in [false, true] {
            let mut h = Harness::new(SCHEMA).await;
            if classic {
                h.classic_eof();
            }
            assert!(matches!(h.plan("SELECT id, c FROM k"), Plan::Scatter { combine: Combine::Concat, .. }));
            script(&h);
            h.run("SELECT id, c FROM k").await.unwrap();
            let reply = h.read_reply().await;
            assert_eq!(reply.columns(), ["id", "c"], "one header (classic EOF: {classic})");
            assert_eq!(reply.rows(), table(&[&["2", "b"], &["4", "NULL"], &["1", "a"]]));
            h.nothing_more();
            assert_eq!((h.queries(0), h.queries(1)), (vec!["SELECT id, c FROM `k_0`".to_string()], vec!["SELECT id, c FROM `k_1`".to_string()]));
            assert!(h.ctx.last_reply_ok);
        }
    }

    #[tokio::test]
    async fn the_end_marker_carries_the_last_nodes_status() {
        let mut h = Harness::new(SCHEMA).await;
        script(&h);
        h.ds1.set_status(status::AUTOCOMMIT | status::IN_TRANS);
        h.run("SELECT id, c FROM k").await.unwrap();
        let Reply::Rows { status: seen, warnings, .. } = h.read_reply().await else { panic!("rows expected") };
        assert_eq!((seen, warnings), (status::AUTOCOMMIT | status::IN_TRANS, 0));
        assert_eq!(h.ctx.state.status, status::AUTOCOMMIT | status::IN_TRANS);
    }

    #[tokio::test]
    async fn max_merge_rows_ends_the_result_set_with_an_err() {
        let mut h = Harness::new(SCHEMA).await;
        std::sync::Arc::get_mut(&mut h.ctx.shared).unwrap().rules.server.max_merge_rows = Some(2);
        script(&h);
        h.run("SELECT id, c FROM k").await.unwrap();
        let (code, message) = h.read_reply().await.err();
        assert!(message.contains("more than 2 rows"), "{code} {message}");
        assert_eq!(h.last_packets.len(), 1 + 2 + 2 + 1, "header, two rows, the ERR");
        h.nothing_more();
    }

    #[tokio::test]
    async fn an_err_on_one_node_ends_the_result_set_and_marks_the_statement_failed() {
        let mut h = Harness::new(SCHEMA).await;
        script(&h);
        h.ds1.on("SELECT id, c FROM `k_1`", err(1054, "Unknown column 'c'"));
        h.run("SELECT id, c FROM k").await.unwrap();
        assert_eq!(h.read_reply().await.err(), (1054, "Unknown column 'c'".to_string()));
        // The first node's header and rows came before the ERR.
        assert_eq!(h.last_packets.len(), 1 + 2 + 2 + 1);
        h.nothing_more();
        assert_eq!((h.ctx.last_reply_ok, h.ctx.last_error), (false, Some(1054)));
        assert_eq!(h.ctx.pending.error, Some((1054, "Unknown column 'c'".to_string())));
    }

    #[tokio::test]
    async fn an_err_on_the_first_node_is_the_whole_reply() {
        let mut h = Harness::new(SCHEMA).await;
        script(&h);
        h.ds0.on("SELECT id, c FROM `k_0`", err(1146, "Table 'k_0' doesn't exist"));
        h.run("SELECT id, c FROM k").await.unwrap();
        assert_eq!(h.read_reply().await.err(), (1146, "Table 'k_0' doesn't exist".to_string()));
        assert_eq!(h.last_packets.len(), 1);
        h.nothing_more();
        // ds_1's reply was drained: its connection serves the next statement.
        h.ds1.on("SELECT c FROM `k_1` WHERE id = 1", rows(&["c"], &[&["a"]]));
        h.run("SELECT c FROM k WHERE id = 1").await.unwrap();
        assert_eq!(h.read_reply().await.rows(), table(&[&["a"]]));
    }
}
