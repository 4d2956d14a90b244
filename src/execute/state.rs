//! What the proxy remembers about one client session.

use crate::backend::conn::Variant;
use crate::protocol::constants::{cap, status};

/// Per-client session state.
#[derive(Debug, Clone)]
pub struct SessionState {
    /// Connection id given to the client.
    pub connection_id: u32,
    /// Logged-in user.
    pub user: String,
    /// Capabilities negotiated with the client.
    pub capabilities: u32,
    /// Connection collation, as sent to backends.
    pub collation: u8,
    /// Current logical schema.
    pub schema: Option<String>,
    /// Last server status flags seen (autocommit, transaction), echoed in the proxy's own OK packets.
    pub status: u16,
    /// SET statements the session ran, replayed on every backend connection it pins later.
    pub settings: Vec<String>,
    /// The scramble of the handshake (COM_CHANGE_USER from clients without plugin auth reuses it).
    pub scramble: Vec<u8>,
}

impl SessionState {
    /// A new session after login.
    pub fn new(connection_id: u32, user: String, capabilities: u32, collation: u8, schema: Option<String>) -> Self {
        SessionState { connection_id, user, capabilities, collation, schema, status: status::AUTOCOMMIT, settings: Vec::new(), scramble: Vec::new() }
    }

    /// Backend connections serving this session must match this variant.
    pub fn variant(&self) -> Variant {
        Variant { caps: self.capabilities & cap::REPLY_SHAPING, collation: self.collation }
    }

    /// Remembers a SET statement for replay (the latest of identical ones only, and a bounded number).
    pub fn remember_setting(&mut self, sql: &str) {
        // `SET TRANSACTION …` (no SESSION) concerns the next transaction only: replaying it later would not.
        let words: Vec<String> = sql.split_whitespace().take(2).map(str::to_ascii_uppercase).collect();
        if words.get(1).is_some_and(|w| w == "TRANSACTION") {
            return;
        }
        self.settings.retain(|s| s != sql);
        if self.settings.len() >= 64 {
            self.settings.remove(0);
        }
        self.settings.push(sql.to_string());
    }

    /// Fingerprint of `settings` (0 when there are none), compared with a pooled connection's.
    pub fn settings_fingerprint(&self) -> u64 {
        if self.settings.is_empty() {
            return 0;
        }
        use std::hash::{Hash, Hasher};
        let mut h = fnv::FnvHasher::default();
        self.settings.hash(&mut h);
        h.finish() | 1
    }

    /// Whether the client negotiated CLIENT_DEPRECATE_EOF.
    pub fn deprecate_eof(&self) -> bool {
        self.capabilities & cap::DEPRECATE_EOF != 0
    }
}
