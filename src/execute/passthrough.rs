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
