//! A prepared statement executed natively on one backend: prepared there once per connection (cached by
//! text), executed with the client's own parameter bytes, its binary reply relayed untouched.

use crate::error::SgError;
use crate::plan::Plan;
use crate::protocol::constants::com;
use crate::protocol::reply::ReplyKind;
use crate::protocol::row_binary::WireType;

use super::context::ExecCtx;

/// Runs a Passthrough plan of a prepared statement natively on its data source (`text` as that backend
/// receives it); notes the backend statement in `ctx.native_used` for the session to close it later.
pub async fn run(ctx: &mut ExecCtx, plan: Plan, text: &str, types: &[WireType], body: &[u8]) -> Result<(), SgError> {
    let Plan::Passthrough { data_source, .. } = plan else {
        return Err(SgError::NotSupported("a native prepared execution of a statement that is not for one data source".into()));
    };
    super::check_transaction(ctx, &[&data_source]).await?;
    ctx.native_used = Some((data_source.clone(), text.to_string()));
    native(ctx, &data_source, text, types, body).await
}

/// Executes `text` as a server-side prepared statement on the session's connection to `data_source`.
async fn native(ctx: &mut ExecCtx, data_source: &str, text: &str, types: &[WireType], body: &[u8]) -> Result<(), SgError> {
    ctx.ensure_backend(data_source).await?;
    let conn = &mut ctx.backends.get_mut(data_source).expect("pinned").conn;
    let backend_id = match conn.statements.get(text) {
        Some(id) => id,
        None => {
            let mut command = vec![com::STMT_PREPARE];
            command.extend_from_slice(text.as_bytes());
            let prepared: Result<Result<u32, Vec<u8>>, String> = async {
                conn.send_queued(&command).await?;
                let first = conn.read_reply(ReplyKind::Prepare).await?.swap_remove(0);
                if first.payload.first() != Some(&0x00) {
                    return Ok(Err(first.payload.to_vec()));
                }
                let id = u32::from_le_bytes(first.payload[1..5].try_into().expect("4 bytes"));
                if let Some(evicted) = conn.statements.insert(text.to_string(), id) {
                    let mut close = vec![com::STMT_CLOSE];
                    close.extend_from_slice(&evicted.to_le_bytes());
                    conn.send_queued(&close).await?;
                }
                Ok(Ok(id))
            }
            .await;
            match prepared {
                Ok(Ok(id)) => id,
                Ok(Err(err)) => return ctx.send_raw_reply(&err).await,
                Err(reason) => {
                    ctx.backends.remove(data_source);
                    return Err(SgError::BackendLost(data_source.to_string(), reason));
                }
            }
        }
    };
    // The client's parameters as they are, with the types always included (the backend statement may be
    // new to this connection) and no cursor (answers are plain result sets, as on the text path).
    let n = types.len();
    let mut payload = Vec::with_capacity(body.len() + 2 * n + 5);
    payload.push(com::STMT_EXECUTE);
    payload.extend_from_slice(&backend_id.to_le_bytes());
    payload.push(0);
    payload.extend_from_slice(body.get(1..5).ok_or_else(|| SgError::malformed("short COM_STMT_EXECUTE"))?);
    if n > 0 {
        let nb = n.div_ceil(8);
        let bitmap = body.get(5..5 + nb).ok_or_else(|| SgError::malformed("short COM_STMT_EXECUTE"))?;
        let bound = body.get(5 + nb).copied().unwrap_or(0);
        let values_at = 5 + nb + 1 + if bound == 1 { 2 * n } else { 0 };
        payload.extend_from_slice(bitmap);
        payload.push(1);
        for t in types {
            payload.extend([t.type_byte, if t.unsigned { 0x80 } else { 0 }]);
        }
        payload.extend_from_slice(body.get(values_at..).unwrap_or_default());
    }
    super::passthrough::run(ctx, data_source, &payload, ReplyKind::ResultSets).await
}

