//! A COM_QUERY holding several statements (CLIENT_MULTI_STATEMENTS): each is planned and routed on its own
//! — they may reach different shards, the default data source or a replica — and the replies are chained
//! into one multi-result reply. As in MySQL, a statement that fails ends the reply and the ones after it
//! do not run. Each statement's reply is held in memory until it is complete (to renumber and flag it), so
//! one statement's result should stay reasonable; a lone statement streams as usual.

use crate::error::SgError;
use crate::protocol::constants::com;
use crate::protocol::multi_result::chain;
use crate::protocol::response::encode_error;

use super::session::Session;

/// Runs `statements` (from one COM_QUERY) in order and answers with their chained replies.
pub async fn run(session: &mut Session, statements: &[&str]) -> Result<(), SgError> {
    let mut seq = session.reply_seq();
    let deprecate_eof = session.state.deprecate_eof();
    for (i, sql) in statements.iter().enumerate() {
        let payload = [&[com::QUERY][..], sql.as_bytes()].concat();
        session.client.start_capture();
        // Replies are produced as for a lone statement (sequence ids from 1), then renumbered below.
        session.set_reply_seq(1);
        session.last_reply_ok = true;
        let outcome = session.query(&payload).await;
        let mut closing = None;
        if let Err(e) = outcome {
            if let SgError::ClientIo(_) = e {
                session.client.take_capture();
                return Err(e);
            }
            session.shared.metrics.error(e.code());
            session.last_reply_ok = false;
            // Still capturing: the ERR joins this statement's reply, numbered with it below.
            session.client.write_packet(1, &encode_error(&e)).await?;
            if !e.keeps_session() {
                closing = Some(e);
            }
        }
        let mut reply = session.client.take_capture();
        let last = i + 1 == statements.len();
        let chained = chain(&mut reply, seq, !last, deprecate_eof);
        seq = chained.next_seq;
        session.client.write_raw(&reply).await.map_err(SgError::ClientIo)?;
        if let Some(e) = closing {
            // The client has its ERR; returning the error ends the session as a lone statement would.
            return Err(SgError::ClientIo(std::io::Error::other(e.to_string())));
        }
        if chained.error {
            break;
        }
    }
    Ok(())
}
