//! The server side of the connection phase: greeting, capability negotiation, password check and the
//! initial schema.

use crate::config::Rules;
use crate::error::SgError;
use crate::protocol::caching_sha2::{self, CACHING_SHA2_PASSWORD};
use crate::protocol::auth::{new_scramble, parse_password_hash, double_sha1, verify_native, NATIVE_PASSWORD};
use crate::protocol::constants::{backend_collation, cap, status, UTF8MB4_GENERAL_CI};
use crate::protocol::handshake::{auth_switch_request, Greeting, HandshakeResponse, SSL_REQUEST_LEN};
use crate::protocol::packet::PacketStream;
use crate::protocol::response::{encode_error, encode_ok, Ok};
use crate::shared::Shared;
use crate::stats::Stats;

use crate::execute::state::SessionState;
use crate::execute::use_schema::{check_schema_access, unknown_schema};

/// What shardgate offers clients (SSL is added when TLS is configured). Not offered yet: SESSION_TRACK, which
/// changes packets the relay would have to understand. LOCAL_FILES: offered, as MySQL does; whether LOAD
/// DATA LOCAL runs is `[server] local_infile` (execute::load_data). COMPRESS: the framing
/// layer (de)compresses, the relay sees plain frames.
/// MULTI_STATEMENTS: the proxy splits the text and runs each statement on its own (session::multi).
pub const SERVER_CAPS: u32 = cap::LONG_PASSWORD
    | cap::FOUND_ROWS
    | cap::LONG_FLAG
    | cap::CONNECT_WITH_DB
    | cap::IGNORE_SPACE
    | cap::PROTOCOL_41
    | cap::INTERACTIVE
    | cap::TRANSACTIONS
    | cap::SECURE_CONNECTION
    | cap::MULTI_STATEMENTS
    | cap::COMPRESS
    | cap::LOCAL_FILES
    | cap::MULTI_RESULTS
    | cap::PS_MULTI_RESULTS
    | cap::PLUGIN_AUTH
    | cap::CONNECT_ATTRS
    | cap::PLUGIN_AUTH_LENENC_CLIENT_DATA
    | cap::DEPRECATE_EOF;

/// Runs the handshake. On failure the client has been sent an ERR packet (when it could be).
pub async fn login(client: &mut PacketStream, shared: &Shared, connection_id: u32) -> Result<SessionState, SgError> {
    let scramble = new_scramble();
    let greeting = Greeting {
        server_version: shared.server_version.clone(),
        connection_id,
        scramble: scramble.to_vec(),
        capabilities: if shared.tls.is_some() { SERVER_CAPS | cap::SSL } else { SERVER_CAPS },
        collation: UTF8MB4_GENERAL_CI,
        status: status::AUTOCOMMIT,
        auth_plugin: shared.rules.server.auth_plugin.name().to_string(),
    };
    client.write_packet(0, &greeting.encode()).await?;
    let Some(mut packet) = client.read_packet().await? else {
        return Err(SgError::malformed("client closed the connection during the handshake"));
    };
    if let (SSL_REQUEST_LEN, Some(tls)) = (packet.payload.len(), &shared.tls) {
        // SSLRequest: the TLS handshake, then the real HandshakeResponse inside it.
        client.start_tls(tls).await?;
        packet = client.read_packet().await?.ok_or_else(|| SgError::malformed("client closed the connection after starting TLS"))?;
    }
    let mut seq = packet.last_seq.wrapping_add(1);
    let result = negotiate(client, &packet.payload, &mut seq, &scramble, shared).await.and_then(|state| {
        if shared.rules.server.require_secure_transport && !client.is_tls() {
            return Err(SgError::InsecureTransport);
        }
        admit(shared, &state.user)?;
        Result::Ok(state)
    });
    match result {
        Result::Ok(state) => {
            let state = SessionState { connection_id, ..state };
            let ok = Ok { status: status::AUTOCOMMIT, ..Ok::default() };
            client.write_packet(seq, &encode_ok(&ok, 0)).await?;
            if state.capabilities & cap::COMPRESS != 0 {
                client.enable_compression();
            }
            Result::Ok(state)
        }
        Err(e) => {
            if !matches!(e, SgError::ClientIo(_)) {
                let _ = client.write_packet(seq, &encode_error(&e)).await;
            }
            Err(e)
        }
    }
}

async fn negotiate(
    client: &mut PacketStream,
    payload: &[u8],
    seq: &mut u8,
    scramble: &[u8],
    shared: &Shared,
) -> Result<SessionState, SgError> {
    let rules = &shared.rules;
    if payload.len() == SSL_REQUEST_LEN {
        return Err(SgError::NotSupported("TLS from clients (connect with --ssl-mode=DISABLED or ssl=false)".into()));
    }
    let response = HandshakeResponse::decode(payload)?;
    let capabilities = response.capabilities & SERVER_CAPS;
    let mut token = response.auth.clone();
    let plugin = response.auth_plugin.as_deref().unwrap_or(NATIVE_PASSWORD);
    // caching_sha2_password (MySQL 8 clients' default) is checked on its fast path when the rules hold the
    // user's password in plain text; with only a native hash, the client is switched to native passwords.
    let plain = rules.users.iter().map(|u| u.get_ref()).find(|u| u.name == response.user).and_then(|u| u.password.clone());
    let sha2 = plugin == CACHING_SHA2_PASSWORD && capabilities & cap::PLUGIN_AUTH != 0 && plain.is_some();
    if plugin != NATIVE_PASSWORD && capabilities & cap::PLUGIN_AUTH != 0 && !sha2 {
        client.write_packet(*seq, &auth_switch_request(NATIVE_PASSWORD, scramble)).await?;
        let Some(reply) = client.read_packet().await? else {
            return Err(SgError::malformed("client closed the connection during authentication"));
        };
        *seq = reply.last_seq.wrapping_add(1);
        token = reply.payload.to_vec();
    }
    let host = client.peer_ip();
    guarded(shared, &response.user, &host, || {
        if sha2 && !caching_sha2::verify(&token, scramble, plain.as_deref().unwrap_or_default().as_bytes()) {
            return Err(SgError::AccessDenied { user: response.user.clone(), host: host.clone(), using_password: !token.is_empty() });
        }
        if sha2 {
            return Result::Ok(());
        }
        check_password(rules, &response.user, &token, scramble, &host)
    })?;
    if sha2 {
        *seq = client.write_packet(*seq, &[0x01, caching_sha2::FAST_AUTH_SUCCESS]).await?;
    }
    if let Some(db) = &response.database {
        if !rules.schemas.contains_key(db) {
            return Err(unknown_schema(db, rules));
        }
        check_schema_access(rules, &response.user, db)?;
    }
    let mut state = SessionState::new(0, response.user.clone(), capabilities, backend_collation(response.collation), response.database.clone());
    state.scramble = scramble.to_vec();
    Result::Ok(state)
}

/// Runs a password check under the login throttle (login_guard.rs): a blocked user is refused before its
/// password is looked at; a wrong one counts towards `max_password_errors`, a right one clears the count.
pub fn guarded(shared: &Shared, user: &str, host: &str, check: impl FnOnce() -> Result<(), SgError>) -> Result<(), SgError> {
    let blocked = |left: std::time::Duration| {
        Stats::add(&shared.stats.logins_blocked, 1);
        SgError::UserBlocked { user: user.to_string(), seconds: left.as_secs() + 1 }
    };
    shared.login_guard.check(user).map_err(blocked)?;
    match check() {
        Result::Ok(()) => {
            shared.login_guard.succeeded(user);
            Result::Ok(())
        }
        Err(e @ SgError::AccessDenied { .. }) => {
            Stats::add(&shared.stats.logins_failed, 1);
            let server = &shared.rules.server;
            let lock = std::time::Duration::from_millis(server.password_lock_time_ms);
            if shared.login_guard.failed(user, server.max_password_errors, lock) {
                Stats::add(&shared.stats.logins_blocked, 1);
                tracing::warn!(user = %user, host = %host, failures = server.max_password_errors, lock_ms = server.password_lock_time_ms, "login: user blocked after failed logins in a row");
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Checks a mysql_native_password `token` made with `scramble` for `user` of the rules.
pub fn check_password(rules: &Rules, user: &str, token: &[u8], scramble: &[u8], host: &str) -> Result<(), SgError> {
    let denied = || SgError::AccessDenied { user: user.to_string(), host: host.to_string(), using_password: !token.is_empty() };
    let rule = rules.users.iter().map(|u| u.get_ref()).find(|u| u.name == user).ok_or_else(denied)?;
    let stored = match (&rule.password, &rule.password_hash) {
        (Some(p), _) if p.is_empty() => None,
        (Some(p), _) => Some(double_sha1(p.as_bytes())),
        (None, Some(h)) => parse_password_hash(h),
        (None, None) => None,
    };
    if verify_native(token, scramble, stored.as_ref()) {
        Result::Ok(())
    } else {
        Err(denied())
    }
}

/// The connection limits of the rules: the whole server's, and the user's own.
pub fn admit(shared: &Shared, user: &str) -> Result<(), SgError> {
    let server = &shared.rules.server;
    if let Some(max) = server.max_client_connections {
        // This session is counted in sessions_active already.
        if Stats::get(&shared.stats.sessions_active) as usize > max {
            return Err(SgError::TooManyConnections(max));
        }
    }
    let limit = shared.rules.users.iter().map(|u| u.get_ref()).find(|u| u.name == user).and_then(|u| u.max_connections);
    if let Some(max) = limit {
        if shared.sessions.all().iter().filter(|h| *h.user.lock().unwrap_or_else(|e| e.into_inner()) == user).count() >= max {
            return Err(SgError::UserConnectionLimit(user.to_string(), max));
        }
    }
    Result::Ok(())
}
