//! The connection-phase packets: the server greeting (HandshakeV10) and the client's HandshakeResponse41.
//! Both directions are here because shardgate is a server to its clients and a client to its backends.

use super::codec::{put_lenenc_bytes, Reader};
use super::constants::cap;
use crate::error::SgError;

/// The server's first packet (protocol version 10).
#[derive(Debug, Clone)]
pub struct Greeting {
    /// Version string clients see.
    pub server_version: String,
    /// Thread/connection id.
    pub connection_id: u32,
    /// The 20-byte nonce for authentication.
    pub scramble: Vec<u8>,
    /// Capabilities the server offers.
    pub capabilities: u32,
    /// Default collation id.
    pub collation: u8,
    /// Status flags.
    pub status: u16,
    /// Authentication plugin the server starts with.
    pub auth_plugin: String,
}

impl Greeting {
    /// Encodes the greeting payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        out.push(10);
        out.extend_from_slice(self.server_version.as_bytes());
        out.push(0);
        out.extend_from_slice(&self.connection_id.to_le_bytes());
        out.extend_from_slice(&self.scramble[..8]);
        out.push(0);
        out.extend_from_slice(&(self.capabilities as u16).to_le_bytes());
        out.push(self.collation);
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&((self.capabilities >> 16) as u16).to_le_bytes());
        out.push(self.scramble.len() as u8 + 1);
        // 6 reserved bytes + 4 bytes of MariaDB extended capabilities: zero, and CLIENT_MYSQL is set, so
        // MariaDB clients do not expect MariaDB-only protocol extensions.
        out.extend_from_slice(&[0u8; 10]);
        out.extend_from_slice(&self.scramble[8..]);
        out.push(0);
        out.extend_from_slice(self.auth_plugin.as_bytes());
        out.push(0);
        out
    }

    /// Decodes a greeting from a backend. An ERR packet here (e.g. too many connections) is reported by
    /// the caller before calling this.
    pub fn decode(payload: &[u8]) -> Result<Self, SgError> {
        let mut r = Reader::new(payload);
        let proto = r.u8()?;
        if proto != 10 {
            return Err(SgError::Malformed(format!("unsupported handshake protocol version {proto}")));
        }
        let server_version = String::from_utf8_lossy(r.nul_bytes()).into_owned();
        let connection_id = r.u32()?;
        let mut scramble = r.take(8)?.to_vec();
        r.u8()?;
        let cap_low = r.u16()?;
        let collation = r.u8()?;
        let status = r.u16()?;
        let cap_high = r.u16()?;
        let capabilities = u32::from(cap_low) | u32::from(cap_high) << 16;
        let auth_len = r.u8()?;
        r.take(10)?;
        if capabilities & cap::SECURE_CONNECTION != 0 {
            let n = (usize::from(auth_len).saturating_sub(8)).max(13);
            let part2 = r.take(n)?;
            // The last byte of part 2 is a NUL terminator, not part of the nonce.
            scramble.extend_from_slice(part2.strip_suffix(&[0]).unwrap_or(part2));
        }
        let auth_plugin = if capabilities & cap::PLUGIN_AUTH != 0 {
            String::from_utf8_lossy(r.nul_bytes()).into_owned()
        } else {
            super::auth::NATIVE_PASSWORD.to_string()
        };
        Ok(Greeting { server_version, connection_id, scramble, capabilities, collation, status, auth_plugin })
    }
}

/// The client's answer to the greeting.
#[derive(Debug, Clone, Default)]
pub struct HandshakeResponse {
    /// Capabilities the client wants.
    pub capabilities: u32,
    /// Largest packet the client accepts.
    pub max_packet: u32,
    /// Collation id for the connection.
    pub collation: u8,
    /// User name.
    pub user: String,
    /// Authentication data (the scrambled password token).
    pub auth: Vec<u8>,
    /// Default database, if any.
    pub database: Option<String>,
    /// Plugin the client's auth data was made with.
    pub auth_plugin: Option<String>,
}

/// Size of an SSLRequest packet: a HandshakeResponse cut after the filler.
pub const SSL_REQUEST_LEN: usize = 32;

impl HandshakeResponse {
    /// Decodes a client's response. Only the 4.1 protocol is accepted.
    pub fn decode(payload: &[u8]) -> Result<Self, SgError> {
        let mut r = Reader::new(payload);
        let capabilities = r.u32()?;
        if capabilities & cap::PROTOCOL_41 == 0 {
            return Err(SgError::malformed("clients older than the 4.1 protocol are not supported"));
        }
        let max_packet = r.u32()?;
        let collation = r.u8()?;
        r.take(23)?;
        let user = String::from_utf8_lossy(r.nul_bytes()).into_owned();
        let auth = if capabilities & cap::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            r.lenenc_bytes()?.to_vec()
        } else if capabilities & cap::SECURE_CONNECTION != 0 {
            let n = r.u8()?;
            r.take(usize::from(n))?.to_vec()
        } else {
            r.nul_bytes().to_vec()
        };
        let mut database = None;
        if capabilities & cap::CONNECT_WITH_DB != 0 && !r.is_empty() {
            let db = r.nul_bytes();
            if !db.is_empty() {
                database = Some(String::from_utf8_lossy(db).into_owned());
            }
        }
        let mut auth_plugin = None;
        if capabilities & cap::PLUGIN_AUTH != 0 && !r.is_empty() {
            auth_plugin = Some(String::from_utf8_lossy(r.nul_bytes()).into_owned());
        }
        // Connection attributes (CLIENT_CONNECT_ATTRS) follow; shardgate does not use them.
        Ok(HandshakeResponse { capabilities, max_packet, collation, user, auth, database, auth_plugin })
    }

    /// Encodes the response (the proxy logging in to a backend).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&self.capabilities.to_le_bytes());
        out.extend_from_slice(&self.max_packet.to_le_bytes());
        out.push(self.collation);
        out.extend_from_slice(&[0u8; 23]);
        out.extend_from_slice(self.user.as_bytes());
        out.push(0);
        if self.capabilities & cap::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            put_lenenc_bytes(&mut out, &self.auth);
        } else {
            out.push(self.auth.len() as u8);
            out.extend_from_slice(&self.auth);
        }
        if self.capabilities & cap::CONNECT_WITH_DB != 0 {
            out.extend_from_slice(self.database.as_deref().unwrap_or("").as_bytes());
            out.push(0);
        }
        if self.capabilities & cap::PLUGIN_AUTH != 0 {
            out.extend_from_slice(self.auth_plugin.as_deref().unwrap_or("").as_bytes());
            out.push(0);
        }
        out
    }
}

/// An AuthSwitchRequest asking the client to redo authentication with `plugin` and a new scramble.
pub fn auth_switch_request(plugin: &str, scramble: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + plugin.len() + scramble.len() + 1);
    out.push(0xFE);
    out.extend_from_slice(plugin.as_bytes());
    out.push(0);
    out.extend_from_slice(scramble);
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_round_trips() {
        let g = Greeting {
            server_version: "5.5.5-10.11.6-MariaDB-shardgate".into(),
            connection_id: 42,
            scramble: b"abcdefghijklmnopqrst".to_vec(),
            capabilities: cap::PROTOCOL_41 | cap::SECURE_CONNECTION | cap::PLUGIN_AUTH | cap::DEPRECATE_EOF,
            collation: 45,
            status: 2,
            auth_plugin: "mysql_native_password".into(),
        };
        let d = Greeting::decode(&g.encode()).unwrap();
        assert_eq!(d.server_version, g.server_version);
        assert_eq!(d.scramble, g.scramble);
        assert_eq!(d.capabilities, g.capabilities);
        assert_eq!((d.connection_id, d.collation, d.status), (42, 45, 2));
        assert_eq!(d.auth_plugin, g.auth_plugin);
    }

    #[test]
    fn response_round_trips_in_both_auth_encodings() {
        for extra in [0, cap::PLUGIN_AUTH_LENENC_CLIENT_DATA] {
            let r = HandshakeResponse {
                capabilities: cap::PROTOCOL_41 | cap::SECURE_CONNECTION | cap::PLUGIN_AUTH | cap::CONNECT_WITH_DB | extra,
                max_packet: 1 << 24,
                collation: 255,
                user: "app".into(),
                auth: vec![1; 20],
                database: Some("demo".into()),
                auth_plugin: Some("mysql_native_password".into()),
            };
            let d = HandshakeResponse::decode(&r.encode()).unwrap();
            assert_eq!((d.user.as_str(), d.auth.len(), d.collation), ("app", 20, 255));
            assert_eq!(d.database.as_deref(), Some("demo"));
            assert_eq!(d.auth_plugin.as_deref(), Some("mysql_native_password"));
        }
    }

    #[test]
    fn truncated_response_is_rejected() {
        assert!(HandshakeResponse::decode(&[0xff, 0xff, 0, 0, 0]).is_err());
        assert!(Greeting::decode(&[9, b'x', 0]).is_err());
    }
}
