//! The execution context: what an operator needs to run — the client to answer, the session's backend
//! connections, its transaction and XA state, its read-your-writes marks, the shared state in force — and
//! nothing of the command loop (prepared statements, multi-statement splitting, the reshard hold). The
//! session owns one and hands it to the executor with each plan (ARCHITECTURE.md, "The path of one
//! statement").

use std::collections::HashMap;
use std::sync::Arc;

use crate::backend::conn::BackendConn;
use crate::backend::registry::{Backends, SessionHandle};
use crate::error::SgError;
use crate::protocol::constants::com;
use crate::protocol::packet::PacketStream;
use crate::protocol::response::{encode_error, encode_ok, Ok as OkPacket};
use crate::shared::Shared;

use super::state::SessionState;

/// One client session's execution context.
pub struct ExecCtx {
    /// The client's socket.
    pub client: PacketStream,
    /// What the proxy knows about the session.
    pub state: SessionState,
    /// Backend connections pinned to this session, by data source.
    pub backends: Backends,
    /// This session as other sessions see it (KILL).
    pub handle: Arc<SessionHandle>,
    /// Rules, pools and counters (the version in force when the current statement started).
    pub shared: Arc<Shared>,
    /// Admin statements go there: the control plane, behind an interface the data path defines.
    pub control: Arc<dyn super::control::ControlPlane>,
    /// Route shape of the current statement (metrics::ROUTES), set by whoever plans it.
    pub route: usize,
    /// Rows the current statement sent (slow log).
    pub rows_out: u64,
    /// The code of a backend ERR the current statement relayed.
    pub last_error: Option<u16>,
    /// Whether the last relayed reply was a success (not an ERR packet).
    pub last_reply_ok: bool,
    /// Sequence id for the proxy's own reply to the current command.
    pub(crate) reply_seq: u8,
    /// Data sources that joined the open transaction (best_effort mode), besides the home one.
    pub enlisted: std::collections::BTreeSet<String>,
    /// The open XA transaction (transaction_mode = "xa" in schemas with sharding rules).
    pub xa: Option<super::xa::XaTxn>,
    /// The current statement runs outside any transaction even with autocommit off (it committed implicitly).
    pub outside_transaction: bool,
    /// Whether the current statement may write (anything but a plain read): XA branches it reaches commit in
    /// two phases only if more than one of them was written.
    pub statement_writes: bool,
    /// The current statement reads no table (`SELECT 1`): it opens no transaction, so joins no XA one.
    pub statement_tableless: bool,
    /// What the current statement's replies reported (warnings by data source, an ERR).
    pub pending: super::warnings::Pending,
    /// Savepoints of the open XA-managed transaction, oldest first (set again on every branch that joins).
    pub savepoints: Vec<String>,
    /// The open transaction is a local one (outside any schema with XA) that ran a statement which may write.
    pub local_txn_wrote: bool,
    /// The column names a prepared statement's execution answers with (set while it runs re-encoded).
    pub column_names: Option<Arc<Vec<String>>>,
    /// What the session last wrote on each data source with replicas (read-your-writes).
    pub writes: HashMap<String, super::read_split::WriteMark>,
    /// The (data source, text) a native prepared execution just used (the session remembers it to close).
    pub native_used: Option<(String, String)>,
    /// Why the session keeps its backend connections until it is reset or ends (no multiplexing).
    pub sticky: Option<&'static str>,
    /// The last statement wrote: keep its connections through the next one (LAST_INSERT_ID, ROW_COUNT).
    pub keep_next: bool,
    /// Data sources the current statement has used (connections it holds for itself).
    pub used: Vec<String>,
    /// A statement failed since the connections were taken: reset them when giving them back.
    pub dirty: bool,
    /// When the session's previous statement started (after a longer pause its held connections are probed).
    pub last_start: std::time::Instant,
    /// LOCK TABLES is in force (no transaction may start until UNLOCK TABLES).
    pub locked_tables: bool,
}

impl ExecCtx {
    /// A fresh context for a client that just logged in as `state`.
    pub fn new(client: PacketStream, state: SessionState, handle: Arc<SessionHandle>, shared: Arc<Shared>, control: Arc<dyn super::control::ControlPlane>) -> Self {
        ExecCtx {
            client,
            state,
            backends: Backends::new(handle.clone()),
            handle,
            shared,
            control,
            route: 3,
            rows_out: 0,
            last_error: None,
            last_reply_ok: true,
            reply_seq: 1,
            enlisted: Default::default(),
            xa: None,
            outside_transaction: false,
            statement_writes: true,
            statement_tableless: false,
            pending: Default::default(),
            savepoints: Vec::new(),
            local_txn_wrote: false,
            column_names: None,
            writes: HashMap::new(),
            native_used: None,
            sticky: None,
            keep_next: false,
            used: Vec::new(),
            dirty: false,
            last_start: std::time::Instant::now(),
            locked_tables: false,
        }
    }

    /// Records that the current statement's reply was the ERR `code` (SHOW ERRORS, the deadlock roll-back and
    /// multiplexing's reset after a failure read this).
    pub fn note_failure(&mut self, code: u16, message: String) {
        self.last_reply_ok = false;
        self.last_error = Some(code);
        self.pending.error = Some((code, message));
    }

    /// The data source of the current schema (the default one without a schema): where statements without
    /// sharding rules run, and where a local transaction lives.
    pub fn home(&self) -> String {
        crate::plan::planner::data_source_for(self.state.schema.as_deref(), &self.shared.rules)
    }

    /// The session's connection to `data_source`, checked out of its pool first if the session holds none.
    pub async fn conn(&mut self, data_source: &str) -> Result<&mut BackendConn, SgError> {
        self.ensure_backend(data_source).await?;
        Ok(&mut self.backends.get_mut(data_source).expect("ensure_backend pinned a connection").conn)
    }

    /// Runs `sql` on the session's connection to `data_source` and returns its column definitions and text
    /// rows; a backend's ERR is the error, relayed with its code; a broken connection is closed.
    #[allow(clippy::type_complexity)]
    pub async fn query_table(&mut self, data_source: &str, sql: &str) -> Result<(Vec<Vec<u8>>, Vec<Vec<Option<Vec<u8>>>>), SgError> {
        match self.conn(data_source).await?.query_table(sql).await {
            Ok(Ok(table)) => Ok(table),
            Ok(Err(err)) => Err(crate::protocol::response::relayed_error(&err)),
            Err(reason) => {
                self.backends.remove(data_source);
                Err(SgError::BackendLost(data_source.to_string(), reason))
            }
        }
    }

    /// Runs `sql` (a statement answered with OK) on the session's connection to `data_source` and decodes
    /// the OK; a backend's ERR is the error, relayed with its code; a broken connection is closed.
    pub async fn query_ok(&mut self, data_source: &str, sql: &str) -> Result<crate::protocol::response::Ok, SgError> {
        let conn = self.conn(data_source).await?;
        conn.queue_query(sql);
        if let Err(reason) = conn.flush().await {
            self.backends.remove(data_source);
            return Err(SgError::BackendLost(data_source.to_string(), reason));
        }
        let reply = self.read_ok_reply(data_source).await?;
        if reply.payload.first() == Some(&0xFF) {
            return Err(crate::protocol::response::relayed_error(&reply.payload));
        }
        crate::protocol::response::decode_ok(&reply.payload)
    }

    /// Makes sure the session has a connection to `data_source`, with the current schema's database
    /// selected (a sharded schema's database exists on every data source that holds its tables).
    pub async fn ensure_backend(&mut self, data_source: &str) -> Result<(), SgError> {
        if !self.used.iter().any(|d| d == data_source) {
            self.used.push(data_source.to_string());
        }
        if self.backends.contains_key(data_source) {
            return Ok(());
        }
        let database = self
            .state
            .schema
            .as_deref()
            .and_then(|name| self.shared.rules.schemas.get(name).map(|s| s.database.clone().unwrap_or_else(|| name.to_string())));
        self.pin_backend(data_source, database.as_deref()).await
    }

    /// Checks a connection to `data_source` out of its pool and pins it to this session.
    pub async fn pin_backend(&mut self, data_source: &str, database: Option<&str>) -> Result<(), SgError> {
        let pool = self
            .shared
            .pools
            .get(data_source)
            .ok_or_else(|| SgError::NotSupported(format!("routing to unknown data source '{data_source}'")))?
            .clone();
        if !self.used.iter().any(|d| d == data_source) {
            self.used.push(data_source.to_string());
        }
        if pool.exhausted() {
            // About to wait: first give back what this statement has not used, so no two sessions wait for
            // each other's connections.
            self.give_back_unused().await;
        }
        // A pooled connection can die between its probe and its first use (a backend restart): nothing of
        // the client's statement has run on it yet, so another connection is taken instead (a new one at the
        // latest on the third try, when the pool's idle ones are all dead).
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = pool.get(self.state.variant(), database).await?;
            match self.prepare_pinned(&mut conn, data_source).await {
                Ok(()) => {
                    self.backends.insert(data_source.to_string(), conn);
                    return Ok(());
                }
                Err((e, true)) if attempt < 3 => {
                    tracing::info!(data_source = %data_source, error = %e, "a pooled connection was dead before use; taking another");
                    crate::stats::Stats::add(&self.shared.stats.backend_errors, 1);
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Gives a connection just taken from the pool the session's settings: session settings made earlier
    /// (SET NAMES, SET sql_mode, …) apply on every data source the session reaches, including ones it
    /// reaches only now; a connection another session left with other settings is reset first. On failure,
    /// whether the connection itself was dead (so another one may be tried).
    async fn prepare_pinned(&self, conn: &mut crate::backend::pool::PooledConn, data_source: &str) -> Result<(), (SgError, bool)> {
        let settings = self.state.settings_fingerprint();
        if conn.conn.settings == settings {
            return Ok(());
        }
        if conn.conn.settings != 0 {
            match conn.conn.command(&[com::RESET_CONNECTION]).await {
                Ok(reply) if reply.payload.first() == Some(&0x00) => {
                    conn.conn.statements.clear();
                    conn.conn.settings = 0;
                }
                Ok(reply) => return Err((SgError::BackendLost(data_source.to_string(), crate::backend::conn::describe_err(&reply.payload)), false)),
                Err(reason) => return Err((SgError::BackendLost(data_source.to_string(), reason), true)),
            }
        }
        conn.conn.settings = settings;
        for sql in &self.state.settings {
            let failed = |reason: String, dead: bool| (SgError::Failed(format!("replaying `{sql}` on data source '{data_source}': {reason}")), dead);
            conn.conn.queue_query(sql);
            // Only a broken connection may be retried; an ERR from the server is the setting's own failure.
            conn.conn.flush().await.map_err(|reason| failed(reason, true))?;
            let reply = conn.conn.read_ok_reply().await.map_err(|reason| failed(reason, true))?;
            if reply.payload.first() != Some(&0x00) {
                return Err(failed(crate::backend::conn::describe_err(&reply.payload), false));
            }
        }
        Ok(())
    }

    /// Whether a transaction is open (or autocommit is off, so the next statement opens one).
    pub fn in_transaction(&self) -> bool {
        use crate::protocol::constants::status;
        !self.outside_transaction && (self.state.status & status::IN_TRANS != 0 || self.state.status & status::AUTOCOMMIT == 0)
    }

    /// Reads a whole OK/ERR reply from the session's connection to `data_source`; a broken connection is
    /// dropped and reported as lost.
    pub async fn read_ok_reply(&mut self, data_source: &str) -> Result<crate::protocol::packet::Packet, SgError> {
        let conn = &mut self.backends.get_mut(data_source).expect("pinned").conn;
        match conn.read_ok_reply().await {
            Ok(p) => Ok(p),
            Err(reason) => {
                self.backends.remove(data_source);
                Err(SgError::BackendLost(data_source.to_string(), reason))
            }
        }
    }

    /// Sends one packet as the whole reply to the current command.
    pub async fn send_payload(&mut self, payload: &[u8]) -> Result<(), SgError> {
        self.client.write_packet(self.reply_seq, payload).await?;
        Ok(())
    }

    /// Relays a backend's ERR (or other single-packet reply) as the reply to the current command.
    pub async fn send_raw_reply(&mut self, payload: &[u8]) -> Result<(), SgError> {
        self.last_reply_ok = payload.first() != Some(&0xFF);
        // The code decides what happens to the transaction after the reply (a deadlock rolls it back).
        if !self.last_reply_ok {
            self.last_error = payload.get(1..3).map(|c| u16::from_le_bytes([c[0], c[1]]));
        }
        self.send_payload(payload).await
    }

    /// The next sequence id for the reply, for executors that stream several packets.
    pub fn reply_seq(&self) -> u8 {
        self.reply_seq
    }

    /// Sends the proxy's own OK packet.
    pub async fn send_ok(&mut self) -> Result<(), SgError> {
        let ok = OkPacket { status: self.state.status, ..OkPacket::default() };
        self.client.write_packet(self.reply_seq, &encode_ok(&ok, 0)).await?;
        Ok(())
    }

    /// Sends a list of payloads as consecutive packets of one reply, with one write.
    pub async fn send_packets(&mut self, packets: &[Vec<u8>]) -> Result<(), SgError> {
        let mut seq = self.reply_seq;
        for p in packets {
            seq = self.client.queue_packet(seq, p);
        }
        self.client.flush().await?;
        Ok(())
    }

    /// Sends `e` as the ERR reply to the current command.
    pub async fn send_error(&mut self, e: &SgError) -> std::io::Result<()> {
        self.last_reply_ok = false;
        self.client.write_packet(self.reply_seq, &encode_error(e)).await.map(|_| ())
    }

    /// Sets the sequence id the proxy's own reply packets start with (multi-statement replies renumber).
    pub(crate) fn set_reply_seq(&mut self, seq: u8) {
        self.reply_seq = seq;
    }

}
