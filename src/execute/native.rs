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
    let conn = ctx.conn(data_source).await?;
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

#[cfg(test)]
mod tests {
    //! The fake backend answers COM_STMT_PREPARE with a plain OK (backend/fake.rs serves no prepared
    //! statements), which is not a valid prepare reply: the prepare step is tested on that error path, the
    //! execute step with a statement already in the connection's cache.

    use crate::error::SgError;
    use crate::execute::fake_ctx::{Harness, SCHEMA};
    use crate::execute::Exec;
    use crate::plan::Plan;
    use crate::protocol::constants::status;

    const TEXT: &str = "SELECT c FROM `k_1` WHERE id = 3";
    /// COM_STMT_EXECUTE after the statement id: no cursor, one iteration, no parameters.
    const BODY: [u8; 5] = [0, 1, 0, 0, 0];

    fn plan() -> Plan {
        Plan::Passthrough { data_source: "ds_1".into(), sql: None }
    }

    #[tokio::test]
    async fn a_malformed_prepare_reply_drops_the_connection() {
        let mut h = Harness::new(SCHEMA).await;
        let e = crate::execute::run(&mut h.ctx, plan(), &Exec::Native { text: TEXT, types: &[], body: &BODY }).await.unwrap_err();
        assert!(matches!(&e, SgError::BackendLost(ds, _) if ds == "ds_1"), "{e:?}");
        assert!(!h.ctx.backends.contains_key("ds_1"), "a connection in an unknown state is not kept");
        assert_eq!(h.ctx.native_used, Some(("ds_1".to_string(), TEXT.to_string())));
        assert!(h.queries(1).is_empty(), "nothing went as COM_QUERY");
        h.nothing_more();
    }

    #[tokio::test]
    async fn a_cached_statement_is_executed_and_its_reply_relayed() {
        let mut h = Harness::new(SCHEMA).await;
        h.ctx.ensure_backend("ds_1").await.unwrap();
        h.ctx.backends.get_mut("ds_1").unwrap().conn.statements.insert(TEXT.to_string(), 7);
        crate::execute::run(&mut h.ctx, plan(), &Exec::Native { text: TEXT, types: &[], body: &BODY }).await.unwrap();
        // The fake answers COM_STMT_EXECUTE with an OK; it is relayed as it came.
        let ok = h.read_reply().await.ok();
        assert_eq!((ok.affected_rows, ok.status), (0, status::AUTOCOMMIT));
        assert!(h.ctx.last_reply_ok);
        assert!(h.queries(1).is_empty());
        assert_eq!(h.ds1.connections(), 1, "the same connection");
    }

    #[tokio::test]
    async fn only_single_data_source_plans_run_natively() {
        let mut h = Harness::new(SCHEMA).await;
        let scatter = h.plan("SELECT c FROM k");
        let e = crate::execute::run(&mut h.ctx, scatter, &Exec::Native { text: TEXT, types: &[], body: &BODY }).await.unwrap_err();
        assert!(matches!(&e, SgError::NotSupported(m) if m.contains("not for one data source")), "{e:?}");
        assert!(h.ctx.native_used.is_none());
    }
}
