//! Passthrough: one statement, one backend, its reply relayed to the client packet by packet without
//! decoding rows.

use crate::backend::conn::RelayError;
use crate::error::SgError;
use crate::protocol::reply::ReplyKind;
use super::context::ExecCtx;
use crate::stats::Stats;

/// Sends `command` to `data_source` on the session's connection there and relays the reply.
pub async fn run(ctx: &mut ExecCtx, data_source: &str, command: &[u8], kind: ReplyKind) -> Result<(), SgError> {
    ctx.ensure_backend(data_source).await?;
    let bits = super::xa::status_bits(ctx);
    let ExecCtx { backends, client, state, shared, last_reply_ok, last_error, rows_out, pending, .. } = ctx;
    let pooled = backends.get_mut(data_source).expect("ensure_backend pinned a connection");
    match pooled.conn.relay(command, kind, client, bits).await {
        Ok(relayed) => {
            Stats::add(&shared.stats.rows_relayed, relayed.rows);
            *rows_out += relayed.rows;
            *last_reply_ok = !relayed.error;
            *last_error = relayed.error.then_some(relayed.error_code);
            if let Some(status) = relayed.status {
                state.status = super::xa::absorb(state.status, status, bits);
            }
            if relayed.warnings > 0 {
                pending.warned.push((data_source.to_string(), relayed.warnings));
            }
            if let Some(err) = relayed.error_packet.as_deref().and_then(|p| crate::protocol::response::decode_err(p).ok()) {
                pending.error = Some((err.code, err.message));
            }
            Ok(())
        }
        Err(RelayError::Client(e)) => {
            // The backend may still be sending: its connection is in an unknown state, so close it.
            backends.remove(data_source);
            Err(SgError::ClientIo(e))
        }
        Err(RelayError::Backend { reason, .. }) => {
            Stats::add(&shared.stats.backend_errors, 1);
            backends.remove(data_source);
            // Session state on that backend (transaction, variables) is gone; like a server that went
            // away, the client connection is closed after this error so nothing continues on a false premise.
            Err(SgError::BackendLost(data_source.to_string(), reason))
        }
    }
}

/// Sends a command that gets no reply (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA) to the session's
/// connection on `data_source`, if it has one (a statement can only exist where it was prepared).
pub async fn send_only(ctx: &mut ExecCtx, data_source: &str, command: &[u8]) -> Result<(), SgError> {
    if let Some(pooled) = ctx.backends.get_mut(data_source) {
        if let Err(e) = pooled.conn.send(command).await {
            ctx.backends.remove(data_source);
            return Err(SgError::BackendLost(data_source.to_string(), e.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::error::SgError;
    use crate::execute::fake_ctx::{err, rows, table, Harness, Reply, SCHEMA};
    use crate::protocol::constants::status;

    #[tokio::test]
    async fn a_point_select_reaches_only_its_node_and_its_rows_reach_the_client() {
        let mut h = Harness::new(SCHEMA).await;
        h.ds1.on("SELECT id, c FROM `k_1` WHERE id = 3", rows(&["id", "c"], &[&["3", "x"], &["3", "NULL"]]));
        h.run("SELECT id, c FROM k WHERE id = 3").await.unwrap();
        let reply = h.read_reply().await;
        assert_eq!(reply.columns(), ["id", "c"]);
        assert_eq!(reply.rows(), table(&[&["3", "x"], &["3", "NULL"]]));
        h.nothing_more();
        assert_eq!(h.queries(1), ["SELECT id, c FROM `k_1` WHERE id = 3"]);
        assert!(h.queries(0).is_empty(), "ds_0 got {:?}", h.queries(0));
        assert_eq!((h.ctx.rows_out, h.ctx.last_reply_ok), (2, true));
    }

    #[tokio::test]
    async fn a_backend_err_is_relayed_with_its_code_and_message() {
        let mut h = Harness::new(SCHEMA).await;
        h.ds0.on("DELETE FROM `k_0` WHERE id = 4", err(1451, "Cannot delete a parent row"));
        h.run("DELETE FROM k WHERE id = 4").await.unwrap();
        assert_eq!(h.read_reply().await.err(), (1451, "Cannot delete a parent row".to_string()));
        assert!(!h.ctx.last_reply_ok);
        assert_eq!(h.ctx.last_error, Some(1451));
        assert_eq!(h.ctx.pending.error, Some((1451, "Cannot delete a parent row".to_string())));
        assert!(h.queries(1).is_empty());
    }

    #[tokio::test]
    async fn status_bits_of_the_backend_reach_the_session() {
        // ds_0 is the home data source: a transaction open there needs no other data source to join.
        let mut h = Harness::new(SCHEMA).await;
        h.ds0.set_status(status::AUTOCOMMIT | status::IN_TRANS);
        h.ds0.on("SELECT c FROM `k_0` WHERE id = 2", rows(&["c"], &[&["a"]]));
        h.run("SELECT c FROM k WHERE id = 2").await.unwrap();
        let Reply::Rows { status: seen, .. } = h.read_reply().await else { panic!("rows expected") };
        assert_eq!(seen, status::AUTOCOMMIT | status::IN_TRANS, "the end marker is relayed as the backend sent it");
        assert_eq!(h.ctx.state.status, status::AUTOCOMMIT | status::IN_TRANS);
        // And an OK's bits too: the backend ended its transaction.
        h.ds0.set_status(status::AUTOCOMMIT);
        h.ds0.on("UPDATE `k_0` SET c = 'b' WHERE id = 2", crate::execute::fake_ctx::ok(1));
        h.run("UPDATE k SET c = 'b' WHERE id = 2").await.unwrap();
        let ok = h.read_reply().await.ok();
        assert_eq!((ok.affected_rows, ok.status), (1, status::AUTOCOMMIT));
        assert_eq!(h.ctx.state.status, status::AUTOCOMMIT);
    }

    #[tokio::test]
    async fn in_an_xa_session_the_proxy_keeps_its_own_transaction_bits() {
        // Outside a transaction nothing is enlisted; a backend reporting IN_TRANS must not open one for the client.
        let mut h = Harness::xa(SCHEMA).await;
        h.ds1.set_status(status::AUTOCOMMIT | status::IN_TRANS);
        h.ds1.on("SELECT c FROM `k_1` WHERE id = 1", rows(&["c"], &[&["a"]]));
        h.run("SELECT c FROM k WHERE id = 1").await.unwrap();
        let Reply::Rows { status: seen, .. } = h.read_reply().await else { panic!("rows expected") };
        assert_eq!((seen, h.ctx.state.status), (status::AUTOCOMMIT, status::AUTOCOMMIT));
    }

    #[tokio::test]
    async fn an_unknown_data_source_is_refused_before_anything_is_sent() {
        let mut h = Harness::new(SCHEMA).await;
        let e = super::run(&mut h.ctx, "ds_9", b"\x03SELECT 1", crate::protocol::reply::ReplyKind::ResultSets).await.unwrap_err();
        assert!(matches!(&e, SgError::NotSupported(m) if m.contains("'ds_9'")), "{e:?}");
        assert!(h.queries(0).is_empty() && h.queries(1).is_empty());
    }

    #[tokio::test]
    async fn send_only_reaches_a_held_connection_and_skips_others() {
        let mut h = Harness::new(SCHEMA).await;
        // No connection held on ds_1: nothing to send to, no connection taken.
        super::send_only(&mut h.ctx, "ds_1", &[crate::protocol::constants::com::STMT_CLOSE, 1, 0, 0, 0]).await.unwrap();
        assert!(!h.ctx.backends.contains_key("ds_1"));
        assert_eq!(h.ds1.connections(), 0);
    }
}
