//! One connection from the proxy to a backend: login as a MySQL client, then send commands and relay
//! replies to a client frame by frame.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::config::rules::DataSourceRule;
use crate::error::SgError;

use crate::protocol::constants::{cap, com};
use crate::protocol::handshake::{Greeting, HandshakeResponse};
use crate::protocol::packet::{frame_header, Packet, PacketStream};
use crate::protocol::reply::{ReplyKind, ReplyScanner};
use crate::protocol::response::decode_err;

/// The settings that must match between a client and the backend connection serving it, so the backend's
/// reply bytes are valid for the client as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Variant {
    /// The client's values of the reply-shaping capability flags (`cap::REPLY_SHAPING`).
    pub caps: u32,
    /// Connection collation id (as MariaDB knows it).
    pub collation: u8,
}

impl Variant {
    /// What the proxy's own connections use (sequences, XA recovery, probes): no client reads their replies.
    pub const CONTROL: Variant = Variant {
        caps: cap::DEPRECATE_EOF | cap::MULTI_RESULTS | cap::PS_MULTI_RESULTS,
        collation: crate::protocol::constants::UTF8MB4_GENERAL_CI,
    };
}

/// Capabilities the proxy always asks a backend for.
const BASE_CAPS: u32 = cap::LOCAL_FILES // the proxy feeds LOAD DATA LOCAL itself (execute::load_data)
    | cap::LONG_PASSWORD
    | cap::LONG_FLAG
    | cap::PROTOCOL_41
    | cap::TRANSACTIONS
    | cap::SECURE_CONNECTION
    | cap::PLUGIN_AUTH
    | cap::PLUGIN_AUTH_LENENC_CLIENT_DATA;

/// What a relayed reply looked like.
#[derive(Debug, Clone)]
pub struct Relayed {
    /// Rows forwarded.
    pub rows: u64,
    /// Final status flags, if the reply carried any.
    pub status: Option<u16>,
    /// Whether it ended in an ERR packet.
    pub error: bool,
    /// That ERR packet's code.
    pub error_code: u16,
    /// Warnings its OK/EOF packets reported.
    pub warnings: u16,
    /// The ERR packet, when it ended in one.
    pub error_packet: Option<Vec<u8>>,
}

/// Why a relay stopped early.
#[derive(Debug)]
pub enum RelayError {
    /// The backend failed; `forwarded` tells whether part of its reply already reached the client.
    Backend {
        /// What went wrong.
        reason: String,
        /// Whether the client already got some bytes of the reply.
        forwarded: bool,
    },
    /// Writing to the client failed.
    Client(std::io::Error),
}

/// An open, logged-in backend connection.
pub struct BackendConn {
    io: PacketStream,
    /// The client-visible settings this connection was opened with.
    pub variant: Variant,
    /// The backend database currently selected on it.
    pub database: Option<String>,
    /// The backend's version string.
    pub server_version: String,
    /// The backend's connection id (for KILL).
    pub connection_id: u32,
    /// Statements prepared on this connection for executions routed here.
    pub statements: super::statements::StatementCache,
    /// Fingerprint of the SET statements applied on it since it was opened or reset (0: none), so a session
    /// with the same settings takes it as it is.
    pub settings: u64,
}

impl BackendConn {
    /// Connects and logs in, all within the data source's connect timeout.
    pub async fn connect(ds: &str, rule: &DataSourceRule, variant: Variant, database: Option<&str>) -> Result<Self, SgError> {
        let unreachable = |reason: String| SgError::BackendUnreachable { ds: ds.to_string(), addr: rule.primary.to_string(), reason };
        let limit = Duration::from_millis(rule.connect_timeout_ms);
        match tokio::time::timeout(limit, Self::login(rule, variant, database)).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(reason)) => Err(unreachable(reason)),
            Err(_) => Err(unreachable(format!("no handshake within {} ms; is the server stopped or overloaded?", rule.connect_timeout_ms))),
        }
    }

    async fn login(rule: &DataSourceRule, variant: Variant, database: Option<&str>) -> Result<Self, String> {
        // Unit tests' fake backends live at addresses of their own; everything after the dial is the same code.
        #[cfg(test)]
        if let Some(stream) = super::fake::dial(rule.primary) {
            let io = PacketStream::over(crate::protocol::transport::Transport::Memory(stream));
            return Self::login_over(io, rule, variant, database).await;
        }
        let stream = TcpStream::connect(rule.primary).await.map_err(|e| e.to_string())?;
        Self::login_over(PacketStream::new(stream), rule, variant, database).await
    }

    /// The login proper (greeting, optional TLS, HandshakeResponse, authentication) on a connected stream.
    async fn login_over(mut io: PacketStream, rule: &DataSourceRule, variant: Variant, database: Option<&str>) -> Result<Self, String> {
        let first = read(&mut io).await?;
        if first.payload.first() == Some(&0xFF) {
            return Err(describe_err(&first.payload));
        }
        let greeting = Greeting::decode(&first.payload).map_err(|e| e.to_string())?;
        let mut caps = (BASE_CAPS | variant.caps) & (greeting.capabilities | cap::LONG_PASSWORD);
        if database.is_some() {
            caps |= cap::CONNECT_WITH_DB;
        }
        let missing = variant.caps & !caps;
        if missing != 0 {
            return Err(format!("backend lacks capabilities {missing:#x} the client negotiated"));
        }
        if rule.compress {
            if greeting.capabilities & cap::COMPRESS == 0 {
                return Err("the data source asks for compression but the server does not offer it".into());
            }
            caps |= cap::COMPRESS;
        }
        let connector = super::tls::connector(rule)?;
        if connector.is_some() {
            if greeting.capabilities & cap::SSL == 0 {
                return Err("the data source's tls_mode asks for TLS but the server does not offer it (set ssl_cert and ssl_key in its configuration)".into());
            }
            caps |= cap::SSL;
        }
        let (plugin, token) = super::auth::first_token(&greeting.auth_plugin, rule.password.as_bytes(), &greeting.scramble);
        let response = HandshakeResponse {
            capabilities: caps,
            max_packet: 1 << 30,
            collation: variant.collation,
            user: rule.user.clone(),
            auth: token,
            database: database.map(str::to_string),
            auth_plugin: Some(plugin.to_string()),
        };
        let mut seq = first.seq.wrapping_add(1);
        let encoded = response.encode();
        if let Some(connector) = connector {
            // SSLRequest: the response's fixed part, then TLS, then the whole response over it.
            io.write_packet(seq, &encoded[..crate::protocol::handshake::SSL_REQUEST_LEN]).await.map_err(|e| e.to_string())?;
            seq = seq.wrapping_add(1);
            let server = rustls::pki_types::ServerName::IpAddress(rule.primary.ip().into());
            io.start_tls_client(&connector, server).await.map_err(|e| format!("TLS handshake failed: {e}"))?;
        }
        io.write_packet(seq, &encoded).await.map_err(|e| e.to_string())?;
        let tls = io.is_tls();
        super::auth::finish(&mut io, rule.password.as_bytes(), plugin, greeting.scramble.clone(), tls, describe_err).await?;
        if caps & cap::COMPRESS != 0 {
            io.enable_compression();
        }
        Ok(BackendConn {
            io,
            variant,
            database: database.map(str::to_string),
            server_version: greeting.server_version,
            connection_id: greeting.connection_id,
            statements: Default::default(),
            settings: 0,
        })
    }

    /// Whether replies end result sets with OK instead of EOF.
    pub fn deprecate_eof(&self) -> bool {
        self.variant.caps & cap::DEPRECATE_EOF != 0
    }

    /// True if the backend has closed this idle connection (restart, wait_timeout): checked without
    /// blocking before an idle connection is reused.
    pub fn is_closed(&mut self) -> bool {
        !self.io.read_buffer().is_empty() || self.io.peer_closed()
    }

    /// Sends a command that gets no reply (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA).
    pub async fn send(&mut self, command: &[u8]) -> std::io::Result<()> {
        self.io.write_packet(0, command).await.map(|_| ())
    }

    /// Sends a command and reads its single-packet reply (COM_INIT_DB, COM_RESET_CONNECTION, COM_PING).
    pub async fn command(&mut self, command: &[u8]) -> Result<Packet, String> {
        self.io.write_packet(0, command).await.map_err(|e| e.to_string())?;
        read(&mut self.io).await
    }

    /// Queues a COM_QUERY without sending it (several can be pipelined, then flushed together).
    pub fn queue_query(&mut self, sql: &str) {
        let mut payload = Vec::with_capacity(1 + sql.len());
        payload.push(com::QUERY);
        payload.extend_from_slice(sql.as_bytes());
        self.io.queue_packet(0, &payload);
    }

    /// Queues one packet with sequence id `seq` (a LOAD DATA file's data); returns the next id.
    pub fn queue_packet(&mut self, seq: u8, payload: &[u8]) -> u8 {
        self.io.queue_packet(seq, payload)
    }

    /// Sends one command packet (sequence id 0) right away.
    pub async fn send_queued(&mut self, payload: &[u8]) -> Result<(), String> {
        self.io.queue_packet(0, payload);
        self.flush().await
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> Result<(), String> {
        self.io.flush().await.map_err(|e| e.to_string())
    }

    /// Reads one packet of a reply.
    pub async fn read_packet(&mut self) -> Result<Packet, String> {
        read(&mut self.io).await
    }

    /// Reads a whole reply that is expected to be OK or ERR; a result set, should one come, is read to its
    /// end and its first packet returned.
    pub async fn read_ok_reply(&mut self) -> Result<Packet, String> {
        let packets = self.read_reply(ReplyKind::ResultSets).await?;
        Ok(packets.into_iter().next().expect("a reply has at least one packet"))
    }

    /// Reads a whole reply of `kind` into memory (small answers only: control queries, prepare replies).
    pub async fn read_reply(&mut self, kind: ReplyKind) -> Result<Vec<Packet>, String> {
        let mut scanner = ReplyScanner::new(kind, self.deprecate_eof());
        let mut packets = Vec::new();
        while !scanner.is_done() {
            let p = self.read_packet().await?;
            scanner.feed_packet(&p.payload).map_err(|e| e.to_string())?;
            packets.push(p);
        }
        Ok(packets)
    }

    /// Runs a statement that returns no rows and decodes its OK; a backend ERR becomes `Err` with its text.
    pub async fn query_ok(&mut self, sql: &str) -> Result<crate::protocol::response::Ok, String> {
        self.queue_query(sql);
        self.flush().await?;
        let reply = self.read_ok_reply().await?;
        match reply.payload.first() {
            Some(0x00) => crate::protocol::response::decode_ok(&reply.payload).map_err(|e| e.to_string()),
            _ => Err(describe_err(&reply.payload)),
        }
    }

    /// Runs a query and returns its text rows (control-plane lookups with small answers).
    pub async fn query_rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<Vec<u8>>>>, String> {
        match self.query_table(sql).await? {
            Ok((_, rows)) => Ok(rows),
            Err(err) => Err(describe_err(&err)),
        }
    }

    /// Runs a query and returns its column definitions and text rows, or the backend's ERR payload (so
    /// callers can relay its code); the outer `Err` is a broken connection or a malformed reply.
    #[allow(clippy::type_complexity)]
    pub async fn query_table(&mut self, sql: &str) -> Result<Result<(Vec<Vec<u8>>, Vec<Vec<Option<Vec<u8>>>>), Vec<u8>>, String> {
        self.queue_query(sql);
        self.flush().await?;
        self.read_table().await
    }

    /// Reads the reply of a query already sent (pipelined) as [`Self::query_table`] returns it.
    #[allow(clippy::type_complexity)]
    pub async fn read_table(&mut self) -> Result<Result<(Vec<Vec<u8>>, Vec<Vec<Option<Vec<u8>>>>), Vec<u8>>, String> {
        let packets: Vec<_> = self.read_reply(ReplyKind::ResultSets).await?.into_iter().map(|p| p.payload).collect();
        if packets[packets.len() - 1].first() == Some(&0xFF) {
            return Ok(Err(packets[packets.len() - 1].to_vec()));
        }
        let Some(first) = packets.first() else { return Ok(Ok((Vec::new(), Vec::new()))) };
        if first.first() == Some(&0x00) {
            return Ok(Ok((Vec::new(), Vec::new())));
        }
        let columns = crate::protocol::codec::Reader::new(first).lenenc_int().map_err(|e| e.to_string())? as usize;
        let defs = packets.get(1..1 + columns).unwrap_or(&[]).iter().map(|p| p.to_vec()).collect();
        let skip = 1 + columns + usize::from(!self.deprecate_eof());
        let rows = packets.get(skip..packets.len() - 1).unwrap_or(&[]);
        let rows = rows
            .iter()
            .map(|p| {
                crate::protocol::row_text::decode_text_row(p, columns)
                    .map(|r| r.into_iter().map(|v| v.map(<[u8]>::to_vec)).collect())
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        Ok(Ok((defs, rows)))
    }

    /// Selects `database` on the backend.
    pub async fn init_db(&mut self, database: &str) -> Result<(), String> {
        let mut cmd = vec![com::INIT_DB];
        cmd.extend_from_slice(database.as_bytes());
        let reply = self.command(&cmd).await?;
        if reply.payload.first() == Some(&0xFF) {
            return Err(describe_err(&reply.payload));
        }
        self.database = Some(database.to_string());
        Ok(())
    }

    /// Sends `command` and forwards the backend's reply to `client` as it arrives, without decoding rows:
    /// complete frames are scanned for the end of the reply and written out in the chunks they were read in.
    /// With `bits = Some((mask, value))`, the status flags of every OK/EOF relayed have the `mask` bits set to
    /// `value` (the proxy's own transaction state, where it differs from the backend connection's).
    pub async fn relay(&mut self, command: &[u8], kind: ReplyKind, client: &mut PacketStream, bits: Option<(u16, u16)>) -> Result<Relayed, RelayError> {
        let backend_err = |reason: String, forwarded: bool| RelayError::Backend { reason, forwarded };
        self.io.write_packet(0, command).await.map_err(|e| backend_err(e.to_string(), false))?;
        let mut scanner = ReplyScanner::new(kind, self.deprecate_eof());
        let mut forwarded = false;
        loop {
            let buf = self.io.read_buffer();
            let mut pos = 0;
            while !scanner.is_done() {
                let Some((len, _)) = frame_header(&buf[pos..]) else { break };
                if buf.len() - pos < 4 + len {
                    buf.reserve(4 + len - (buf.len() - pos));
                    break;
                }
                scanner.feed(&buf[pos + 4..pos + 4 + len]).map_err(|e| backend_err(e.to_string(), forwarded))?;
                if let (Some((mask, value)), Some(at)) = (bits, scanner.status_at) {
                    let at = pos + 4 + at;
                    let status = (u16::from_le_bytes([buf[at], buf[at + 1]]) & !mask) | (value & mask);
                    buf[at..at + 2].copy_from_slice(&status.to_le_bytes());
                }
                pos += 4 + len;
            }
            if pos > 0 {
                client.write_raw(&self.io.read_buffer()[..pos]).await.map_err(RelayError::Client)?;
                bytes::Buf::advance(self.io.read_buffer(), pos);
                forwarded = true;
            }
            if scanner.is_done() {
                return Ok(Relayed {
                    rows: scanner.rows,
                    status: scanner.status,
                    error: scanner.error,
                    error_code: scanner.error_code,
                    warnings: scanner.warnings,
                    error_packet: scanner.error_packet.take(),
                });
            }
            match self.io.read_more().await {
                Ok(0) => return Err(backend_err("backend closed the connection".into(), forwarded)),
                Ok(_) => {}
                Err(e) => return Err(backend_err(e.to_string(), forwarded)),
            }
        }
    }
}

async fn read(io: &mut PacketStream) -> Result<Packet, String> {
    match io.read_packet().await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err("backend closed the connection".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A backend ERR packet as one line of text for an error message.
pub fn describe_err(payload: &[u8]) -> String {
    match decode_err(payload) {
        Ok(e) => format!("backend error {} ({}): {}", e.code, e.sqlstate, e.message),
        Err(_) => "malformed error packet from backend".into(),
    }
}
