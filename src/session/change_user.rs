//! COM_CHANGE_USER: re-authenticate as another (or the same) user and start a fresh session on the same
//! connection, as MySQL does — open transaction rolled back, settings, prepared statements and backend
//! connections dropped, the new default schema selected. The proxy always asks for the password again with
//! a fresh scramble (an AuthSwitchRequest), unless the client cannot switch plugins.

use crate::error::SgError;
use crate::protocol::auth::{new_scramble, NATIVE_PASSWORD};
use crate::protocol::codec::Reader;
use crate::protocol::constants::{backend_collation, cap, status};
use crate::protocol::handshake::auth_switch_request;
use crate::protocol::response::{encode_error, encode_ok, Ok};

use super::login::check_password;
use crate::execute::use_schema::{check_schema_access, unknown_schema};
use super::session::Session;

fn cstr(r: &mut Reader<'_>) -> Result<String, SgError> {
    Result::Ok(String::from_utf8_lossy(r.nul_bytes()).into_owned())
}

/// Handles one COM_CHANGE_USER (`payload` after the command byte). Returns false when the client must be
/// disconnected (authentication failed: the session belongs to nobody now).
pub async fn run(session: &mut Session, payload: &[u8], mut seq: u8) -> Result<bool, SgError> {
    let mut r = Reader::new(payload);
    let user = cstr(&mut r)?;
    let caps = session.state.capabilities;
    let mut token = if caps & cap::SECURE_CONNECTION != 0 {
        let n = usize::from(r.u8()?);
        r.take(n)?.to_vec()
    } else {
        cstr(&mut r)?.into_bytes()
    };
    let database = Some(cstr(&mut r)?).filter(|d| !d.is_empty());
    let collation = if r.remaining().len() >= 2 { Some(r.u16()?) } else { None };
    let mut scramble = session.state.scramble.clone();
    if caps & cap::PLUGIN_AUTH != 0 {
        scramble = new_scramble().to_vec();
        session.client.write_packet(seq, &auth_switch_request(NATIVE_PASSWORD, &scramble)).await?;
        let Some(reply) = session.client.read_packet().await? else { return Result::Ok(false) };
        seq = reply.last_seq.wrapping_add(1);
        token = reply.payload.to_vec();
    }
    let rules = &session.shared.rules;
    let host = session.client.peer_ip();
    let verdict = super::login::guarded(&session.shared, &user, &host, || check_password(rules, &user, &token, &scramble, &host))
        .and_then(|()| match &database {
            Some(db) if !rules.schemas.contains_key(db) => Err(unknown_schema(db, rules)),
            Some(db) => check_schema_access(rules, &user, db),
            None => Result::Ok(()),
        });
    if let Err(e) = verdict {
        let _ = session.client.write_packet(seq, &encode_error(&e)).await;
        return Result::Ok(false);
    }
    session.reset().await;
    *session.handle.user.lock().unwrap_or_else(|e| e.into_inner()) = user.clone();
    session.state.user = user;
    session.state.schema = database;
    session.state.scramble = scramble;
    if let Some(c) = collation {
        session.state.collation = backend_collation(c as u8);
    }
    let ok = Ok { status: status::AUTOCOMMIT, ..Ok::default() };
    session.client.write_packet(seq, &encode_ok(&ok, 0)).await?;
    Result::Ok(true)
}
