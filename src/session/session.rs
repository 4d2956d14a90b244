//! The per-client loop: read a command, plan it, execute it, until the client quits.
//!
//! A session holds one backend connection per data source a statement uses and keeps it between statements;
//! when another session waits for one of its pool's connections it gives it back (multiplexing, see
//! `sharing`) unless session state lives on it. On exit the connections are reset and returned.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::net::TcpStream;

use crate::error::SgError;
use crate::execute;
use crate::plan::planner::{data_source_for, plan};
use crate::protocol::constants::com;
use crate::protocol::packet::PacketStream;
use crate::protocol::reply::ReplyKind;
use crate::protocol::response::{encode_error, encode_ok, Ok};
use crate::server::Shared;
use crate::sql::lexer::classify;
use crate::stats::Stats;

use super::login::login;
use super::state::SessionState;

/// One client's session.
pub struct Session {
    /// The client's socket.
    pub client: PacketStream,
    /// What the proxy knows about the session.
    pub state: SessionState,
    /// Backend connections pinned to this session, by data source.
    pub backends: super::registry::Backends,
    /// This session as other sessions see it (KILL).
    pub handle: std::sync::Arc<super::registry::SessionHandle>,
    /// Rules, pools and counters (the version in force when the current statement started).
    pub shared: Arc<Shared>,
    /// The state in force, swapped by reloads.
    pub live: crate::server::Live,
    /// Route shape of the current statement (metrics::ROUTES), set by whoever plans it.
    pub route: usize,
    /// Rows the current statement sent (slow log).
    pub rows_out: u64,
    /// The code of a backend ERR the current statement relayed.
    pub last_error: Option<u16>,
    /// Whether the last relayed reply was a success (not an ERR packet).
    pub last_reply_ok: bool,
    /// Sequence id for the proxy's own reply to the current command.
    reply_seq: u8,
    /// Data sources that joined the open transaction (best_effort mode), besides the home one.
    pub enlisted: std::collections::BTreeSet<String>,
    /// The open XA transaction (transaction_mode = "xa" in schemas with sharding rules).
    pub xa: Option<execute::xa::XaTxn>,
    /// The current statement runs outside any transaction even with autocommit off (it committed implicitly).
    pub outside_transaction: bool,
    /// Whether the current statement may write (anything but a plain read): XA branches it reaches commit in
    /// two phases only if more than one of them was written.
    pub statement_writes: bool,
    /// The current statement reads no table (`SELECT 1`): it opens no transaction, so joins no XA one.
    pub statement_tableless: bool,
    /// What SHOW WARNINGS says: the diagnostics of the last statement that set them.
    pub diagnostics: Vec<super::diagnostics::Note>,
    /// What the current statement's replies reported (warnings by data source, an ERR).
    pub pending: super::diagnostics::Pending,
    /// Savepoints of the open XA-managed transaction, oldest first (set again on every branch that joins).
    pub savepoints: Vec<String>,
    /// The open transaction is a local one (outside any schema with XA) that ran a statement which may write.
    pub local_txn_wrote: bool,
    /// The column names a prepared statement's execution answers with (set while it runs re-encoded).
    pub column_names: Option<std::sync::Arc<Vec<String>>>,
    /// What the session last wrote on each data source with replicas (read-your-writes).
    pub writes: HashMap<String, execute::read_split::WriteMark>,
    /// Statements prepared through the proxy (sharded schemas), by proxy id.
    pub statements: HashMap<u32, super::prepared::Prepared>,
    next_statement: u32,
    /// Why the session keeps its backend connections until it is reset or ends (no multiplexing).
    pub sticky: Option<&'static str>,
    /// The last statement wrote: keep its connections through the next one (LAST_INSERT_ID, ROW_COUNT).
    pub(super) keep_next: bool,
    /// Data sources the current statement has used (connections it holds for itself).
    pub(super) used: Vec<String>,
    /// A statement failed since the connections were taken: reset them when giving them back.
    pub(super) dirty: bool,
    /// COM_QUERY may hold several statements (CLIENT_MULTI_STATEMENTS, or COM_SET_OPTION).
    pub multi_statements: bool,
    /// LOCK TABLES is in force (no transaction may start until UNLOCK TABLES).
    pub locked_tables: bool,
    /// This session's pass through a reshard's cut-over gate, kept until its transaction ends.
    reshard_pass: Option<crate::reshard::gate::Pass>,
}

/// The statement id of a COM_STMT_* payload (0 if the packet is too short).
pub(super) fn statement_id(payload: &[u8]) -> u32 {
    payload.get(1..5).map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
}

enum Flow {
    Continue,
    Quit,
}

/// Removes the session from the registry however the session task ends.
struct Registered(Arc<Shared>, u32);
impl Drop for Registered {
    fn drop(&mut self) {
        self.0.sessions.remove(self.1);
    }
}

/// Keeps `sessions_active` right however the session task ends.
struct ActiveGuard(Arc<Stats>);
impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.sessions_active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Serves one accepted client connection to its end.
pub async fn run(stream: TcpStream, shared: Arc<Shared>, live: crate::server::Live) {
    Stats::add(&shared.stats.sessions_active, 1);
    let _guard = ActiveGuard(shared.stats.clone());
    let mut client = PacketStream::new(stream);
    client.set_max_packet(shared.rules.server.max_allowed_packet);
    let id = shared.next_connection_id();
    let limit = std::time::Duration::from_millis(shared.rules.server.handshake_timeout_ms);
    let state = match tokio::time::timeout(limit, login(&mut client, &shared, id)).await {
        Result::Ok(Result::Ok(state)) => state,
        Result::Ok(Err(e)) => {
            tracing::debug!(connection_id = id, error = %e, "login failed");
            client.shutdown().await;
            return;
        }
        Err(_) => {
            tracing::debug!(connection_id = id, "login not finished within handshake_timeout_ms; connection dropped");
            client.shutdown().await;
            return;
        }
    };
    let handle = shared.sessions.add(id, &state.user);
    let _registered = Registered(shared.clone(), id);
    let mut session = Session {
        client,
        state,
        backends: super::registry::Backends::new(handle.clone()),
        handle,
        shared,
        live,
        route: 3,
        rows_out: 0,
        last_error: None,
        last_reply_ok: true,
        reply_seq: 1,
        enlisted: Default::default(),
        writes: HashMap::new(),
        xa: None,
        outside_transaction: false,
        statement_writes: true,
        statement_tableless: false,
        column_names: None,
        local_txn_wrote: false,
        savepoints: Vec::new(),
        diagnostics: Vec::new(),
        pending: Default::default(),
        statements: HashMap::new(),
        next_statement: super::prepared::PROXY_ID_BASE,
        sticky: None,
        keep_next: false,
        used: Vec::new(),
        dirty: false,
        multi_statements: false,
        locked_tables: false,
        reshard_pass: None,
    };
    session.multi_statements = session.state.capabilities & crate::protocol::constants::cap::MULTI_STATEMENTS != 0;
    session.serve().await;
    session.close().await;
}

impl Session {
    async fn serve(&mut self) {
        loop {
            if self.handle.killed() {
                return;
            }
            let handle = self.handle.clone();
            let idle = self.shared.rules.server.idle_timeout_s.map(std::time::Duration::from_secs);
            let read = loop {
                // While waiting for the client, a connection another session waits for goes back to its pool.
                let wanted = crate::backend::pool::CONNECTIONS_WANTED.notified();
                tokio::pin!(wanted);
                wanted.as_mut().enable();
                let can_give = self.can_give_back();
                if can_give && self.held_pool_wanted() {
                    self.give_back_backends().await;
                    continue;
                }
                tokio::select! {
                    read = self.client.read_packet() => break read,
                    _ = handle.kill.notified() => return,
                    _ = async { tokio::time::sleep(idle.unwrap_or_default()).await }, if idle.is_some() => return,
                    _ = &mut wanted, if can_give => continue,
                }
            };
            let packet = match read {
                Result::Ok(Some(p)) => p,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    let too_big = SgError::Backend {
                        code: 1153,
                        sqlstate: "08S01".into(),
                        message: format!("Got a packet bigger than 'max_allowed_packet' bytes ({})", self.shared.rules.server.max_allowed_packet),
                    };
                    let _ = self.send_error(&too_big).await;
                    return;
                }
                // Disconnect without COM_QUIT, or a broken socket: either way the session is over.
                Result::Ok(None) | Err(_) => return,
            };
            // During a reshard, a command that may touch its tables waits out a cut-over (before the rules are
            // refreshed below, so it runs on the rules the cut-over left).
            if self.reshard_pass.is_none() {
                if let Some(gate) = self.shared.reshard_gate.load_full().filter(|g| g.touches(&packet.payload)) {
                    // A text statement whose rows do not move runs through the cut-over.
                    let unmoved = packet.payload[0] == com::QUERY && {
                        let live = self.live.load();
                        gate.unmoved(&String::from_utf8_lossy(&packet.payload[1..]), self.state.schema.as_deref(), &live.rules, &live.layouts)
                    };
                    if !unmoved {
                        self.reshard_pass = Some(gate.enter().await);
                    }
                }
            }
            // Reloaded rules apply from the next statement on.
            if !Arc::ptr_eq(&self.shared, &*self.live.load()) {
                self.shared = self.live.load_full();
            }
            Stats::add(&self.shared.stats.questions, 1);
            self.reply_seq = packet.last_seq.wrapping_add(1);
            let start = std::time::Instant::now();
            (self.route, self.rows_out, self.last_error) = (3, 0, None);
            let affinity = self.shared.rules.server.multiplexing.then(|| self.affinity_of(&packet.payload));
            if let Some(a) = affinity {
                // Connections kept after a write are for LAST_INSERT_ID() / ROW_COUNT() only.
                self.keep_next &= a.needs_previous;
            }
            self.used.clear();
            let outcome = if packet.seq != 0 {
                Err(SgError::OutOfOrder { expected: 0, got: packet.seq })
            } else {
                self.dispatch(&packet.payload).await
            };
            // A deadlock ends the whole transaction on MySQL; an XA branch is only marked rollback-only, so
            // the proxy rolls every branch back now (the client may go straight to BEGIN, as sysbench does).
            let failed = match &outcome {
                Err(e) => Some(e.code()),
                Result::Ok(_) => self.last_error,
            };
            // 1213 deadlock; 1402, 1613, 1614: XA_RBROLLBACK, XA_RBTIMEOUT, XA_RBDEADLOCK (the branch is gone). A
            // lock-wait timeout (1205) rolls back the statement only, on MariaDB as here.
            if self.xa.is_some() && matches!(failed, Some(1213 | 1402 | 1613 | 1614)) {
                execute::xa::rollback(self).await;
            }
            if self.state.status & crate::protocol::constants::status::IN_TRANS == 0 {
                self.reshard_pass = None;
                self.local_txn_wrote = false;
                self.savepoints.clear();
            }
            let command = packet.payload.first().copied().unwrap_or(0);
            if command == com::QUERY || command == com::STMT_EXECUTE {
                self.account(&packet.payload, start.elapsed());
                super::diagnostics::after_statement(self, &packet.payload, &outcome).await;
            }
            if let Some(a) = affinity.filter(|_| !matches!(outcome, Result::Ok(Flow::Quit) | Err(SgError::ClientIo(_)))) {
                let failed = outcome.is_err() || !self.last_reply_ok;
                self.after_statement(a, failed).await;
            }
            match outcome {
                Result::Ok(Flow::Continue) => {}
                Result::Ok(Flow::Quit) => return,
                Err(SgError::ClientIo(_)) => return,
                Err(e) => {
                    self.shared.metrics.error(e.code());
                    let keep = e.keeps_session();
                    if self.send_error(&e).await.is_err() || !keep {
                        return;
                    }
                }
            }
        }
    }

    /// Metrics and the slow-query log for one statement (COM_QUERY or COM_STMT_EXECUTE `payload`).
    fn account(&self, payload: &[u8], took: std::time::Duration) {
        let sql = || match payload[0] {
            com::QUERY => String::from_utf8_lossy(&payload[1..]).into_owned(),
            _ => self.statements.get(&statement_id(payload)).map(|s| s.sql.clone()).unwrap_or_default(),
        };
        let slow = self.shared.rules.server.slow_query_ms.is_some_and(|ms| took.as_millis() >= u128::from(ms));
        let text = (slow || payload[0] == com::STMT_EXECUTE).then(sql);
        let kind = crate::metrics::kind_of(text.as_deref().unwrap_or_else(|| std::str::from_utf8(&payload[1..]).unwrap_or("")));
        self.shared.metrics.statement(kind, self.route, took);
        self.shared.stats.latency.record(took);
        if slow {
            super::slow_log::record(&self.shared, &self.state, text.as_deref().unwrap_or_default(), self.route, took, self.rows_out);
        }
    }

    async fn dispatch(&mut self, payload: &[u8]) -> Result<Flow, SgError> {
        let Some(&command) = payload.first() else {
            return Err(SgError::malformed("empty command packet"));
        };
        self.outside_transaction = false;
        self.statement_writes = true;
        self.statement_tableless = false;
        let current = || data_source_for(self.state.schema.as_deref(), &self.shared.rules);
        match command {
            com::QUIT => return Result::Ok(Flow::Quit),
            com::PING => self.send_ok().await?,
            com::QUERY => {
                // Several statements in one COM_QUERY (the client enabled multi-statements): each on its own.
                // (Text that is not UTF-8 is run as one statement: splitting would change its bytes.)
                if let (true, Result::Ok(text)) = (self.multi_statements && payload[1..].contains(&b';'), std::str::from_utf8(&payload[1..])) {
                    let statements = crate::sql::split::statements(text);
                    if statements.len() > 1 {
                        super::multi::run(self, &statements).await?;
                        return Result::Ok(Flow::Continue);
                    }
                }
                self.query(payload).await?
            }
            com::SET_OPTION => {
                // 0: MYSQL_OPTION_MULTI_STATEMENTS_ON, 1: _OFF; answered with EOF (OK under DEPRECATE_EOF).
                match payload.get(1..3).map(|b| u16::from_le_bytes([b[0], b[1]])) {
                    Some(0) => self.multi_statements = true,
                    Some(1) => self.multi_statements = false,
                    _ => return Err(SgError::UnknownCommand(command, "COM_SET_OPTION takes 0 (multi-statements on) or 1 (off)")),
                }
                let end = crate::protocol::response::encode_end_of_rows(self.state.deprecate_eof(), self.state.status);
                self.send_payload(&end).await?;
            }
            com::INIT_DB => {
                let name = String::from_utf8_lossy(&payload[1..]).into_owned();
                execute::use_schema::run(self, &name).await?;
            }
            com::FIELD_LIST => {
                if self.state.schema.is_none() {
                    return Err(SgError::NoDatabase);
                }
                execute::passthrough::run(self, &current(), payload, ReplyKind::RowsOnly).await?;
            }
            // Prepared statements live on the pinned connection of the current data source; routing them
            // per execute comes with sharding.
            com::STMT_PREPARE => {
                let sql = String::from_utf8_lossy(&payload[1..]).into_owned();
                // In a schema with rules every statement is prepared through the proxy, so its executions are
                // planned (COMMIT/ROLLBACK included) like any statement.
                // So do plain reads where replicas may serve them (a backend id would tie them to the primary).
                let replica_read = !self.shared.replicas.is_empty()
                    && self.state.schema.is_some()
                    && classify(&sql) == crate::sql::lexer::Statement::Other
                    && crate::sql::reads::is_plain_read(&sql);
                if self.schema_has_rules() || replica_read {
                    super::prepared::prepare(self, &sql).await?;
                } else {
                    let ds = current();
                    self.pin("statements prepared on the backend (a schema without rules)");
                    execute::passthrough::run(self, &ds, payload, ReplyKind::Prepare).await?
                }
            }
            com::STMT_EXECUTE | com::STMT_CLOSE | com::STMT_RESET | com::STMT_SEND_LONG_DATA | com::STMT_FETCH
                if statement_id(payload) >= super::prepared::PROXY_ID_BASE =>
            {
                self.proxy_statement(command, statement_id(payload), &payload[5..]).await?
            }
            // Statements prepared in schemas without rules live on the pinned connection of the current data
            // source (their ids are the backend's).
            com::STMT_EXECUTE => execute::passthrough::run(self, &current(), payload, ReplyKind::ResultSets).await?,
            com::STMT_FETCH => execute::passthrough::run(self, &current(), payload, ReplyKind::RowsOnly).await?,
            com::STMT_RESET => execute::passthrough::run(self, &current(), payload, ReplyKind::Single).await?,
            com::STMT_CLOSE | com::STMT_SEND_LONG_DATA => execute::passthrough::send_only(self, &current(), payload).await?,
            com::STATISTICS => {
                let text = self.statistics();
                self.client.write_packet(self.reply_seq, text.as_bytes()).await?;
            }
            com::RESET_CONNECTION => {
                self.reset().await;
                self.send_ok().await?;
            }
            com::CHANGE_USER => {
                if !super::change_user::run(self, &payload[1..], self.reply_seq).await? {
                    return Result::Ok(Flow::Quit);
                }
            }
            _ => return Err(SgError::UnknownCommand(command, "shardgate does not implement this command")),
        }
        Result::Ok(Flow::Continue)
    }

    /// One statement of a COM_QUERY (`payload` = the command byte and its text): plan, then run it.
    pub(crate) async fn query(&mut self, payload: &[u8]) -> Result<(), SgError> {
        let original = String::from_utf8_lossy(&payload[1..]);
        // A statement that is one versioned comment (mariadb-dump's `/*!40103 SET TIME_ZONE=… */`) is planned
        // and sent as the statement inside, which is what MariaDB runs; `@@socket` reads NULL.
        let inner = crate::sql::lexer::versioned_inner(&original).unwrap_or(&original);
        let socket = crate::sql::sysvars::socket_as_null(inner);
        let sql: &str = socket.as_deref().unwrap_or(inner);
        let rewritten = (sql.len() != original.len() || socket.is_some()).then(|| [&[com::QUERY][..], sql.as_bytes()].concat());
        let payload = rewritten.as_deref().unwrap_or(payload);
        let xa = execute::xa::applies(self);
        if xa {
            self.statement_writes = !crate::sql::reads::is_plain_read(sql);
            self.statement_tableless = crate::sql::reads::reads_no_table(sql);
        } else if self.in_transaction() && crate::sql::reads::may_write(sql) {
            self.local_txn_wrote = true;
        }
        if let Some(q) = super::diagnostics::question(sql) {
            return super::diagnostics::answer(self, q, sql).await;
        }
        let shared = &self.shared;
        let plan = plan(classify(sql), sql, self.state.schema.as_deref(), &shared.rules, &shared.layouts);
        self.route = crate::metrics::route_of(&plan);
        // Only the client's own bytes may reach a backend: a plan that sends rewritten text would carry the
        // replacement characters of the lossy conversion instead of the statement's binary data.
        if matches!(original, std::borrow::Cow::Owned(_)) && (rewritten.is_some() || !matches!(plan, crate::plan::Plan::Passthrough { sql: None, .. })) {
            return Err(SgError::NotSupported(
                "a statement whose text is not valid UTF-8 where shardgate must rewrite it for the shards; send binary values as hex \
                 literals (X'…') or as prepared-statement parameters"
                    .into(),
            ));
        }
        // DDL and friends commit the open transaction and run outside any (XA rejects them inside).
        let autocommit = self.state.status & crate::protocol::constants::status::AUTOCOMMIT != 0;
        let outside = xa && crate::sql::reads::commits_implicitly(sql, autocommit);
        if outside {
            execute::xa::commit(self).await?;
        }
        self.outside_transaction = outside;
        let first = crate::sql::lexer::first_word(sql);
        let (lock, unlock) = (first.eq_ignore_ascii_case("LOCK"), first.eq_ignore_ascii_case("UNLOCK"));
        let result = if self.shared.replicas.is_empty() {
            execute::run(self, plan, payload).await
        } else {
            execute::read_split::run_or_note(self, sql, plan, execute::read_split::Exec::Text(payload)).await
        };
        if (lock || unlock) && result.is_ok() && self.last_reply_ok {
            self.locked_tables = lock;
        }
        result
    }

    /// Sets the sequence id the proxy's own reply packets start with (multi-statement replies renumber).
    pub(crate) fn set_reply_seq(&mut self, seq: u8) {
        self.reply_seq = seq;
    }

    /// A fresh id for a statement prepared through the proxy.
    pub fn next_statement_id(&mut self) -> u32 {
        self.next_statement = self.next_statement.wrapping_add(1).max(super::prepared::PROXY_ID_BASE);
        self.next_statement
    }

    /// COM_STMT_* on a statement the proxy prepared.
    async fn proxy_statement(&mut self, command: u8, id: u32, body: &[u8]) -> Result<(), SgError> {
        match command {
            com::STMT_EXECUTE => super::prepared::execute(self, id, body).await,
            // No reply to COM_STMT_CLOSE; closing twice (mysql2 does) is harmless.
            com::STMT_CLOSE => {
                super::prepared::close(self, id).await;
                Result::Ok(())
            }
            com::STMT_SEND_LONG_DATA => {
                if let (Some(s), [a, b, data @ ..]) = (self.statements.get_mut(&id), body) {
                    s.long_data.entry(usize::from(u16::from_le_bytes([*a, *b]))).or_default().extend_from_slice(data);
                }
                Result::Ok(())
            }
            com::STMT_RESET => {
                let s = self.statements.get_mut(&id).ok_or(SgError::UnknownStatement(id, "mysqld_stmt_reset"))?;
                s.long_data.clear();
                self.send_ok().await
            }
            _ => Err(SgError::NotSupported("COM_STMT_FETCH: shardgate answers cursor requests with plain result sets".into())),
        }
    }

    /// Whether the current schema has sharded or broadcast tables.
    fn schema_has_rules(&self) -> bool {
        self.state.schema.as_deref().and_then(|s| self.shared.layouts.get(s)).is_some_and(|l| l.has_rules())
    }

    /// Makes sure the session has a connection to `data_source`, with the current schema's database
    /// selected (a sharded schema's database exists on every data source that holds its tables).
    pub async fn ensure_backend(&mut self, data_source: &str) -> Result<(), SgError> {
        if !self.used.iter().any(|d| d == data_source) {
            self.used.push(data_source.to_string());
        }
        if self.backends.contains_key(data_source) {
            return Result::Ok(());
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
        let mut conn = pool.get(self.state.variant(), database).await?;
        // Session settings made earlier (SET NAMES, SET sql_mode, …) apply on every data source the session
        // reaches, including ones it reaches only now; a connection another session left with other settings
        // is reset first.
        let settings = self.state.settings_fingerprint();
        if conn.conn.settings == settings {
            self.backends.insert(data_source.to_string(), conn);
            return Result::Ok(());
        }
        if conn.conn.settings != 0 {
            match conn.conn.command(&[com::RESET_CONNECTION]).await {
                Result::Ok(reply) if reply.payload.first() == Some(&0x00) => {
                    conn.conn.statements.clear();
                    conn.conn.settings = 0;
                }
                Result::Ok(reply) => return Err(SgError::BackendLost(data_source.to_string(), crate::backend::conn::describe_err(&reply.payload))),
                Err(reason) => return Err(SgError::BackendLost(data_source.to_string(), reason)),
            }
        }
        conn.conn.settings = settings;
        for sql in &self.state.settings {
            if let Err(reason) = conn.conn.query_ok(sql).await {
                return Err(SgError::Backend {
                    code: crate::error::code::UNKNOWN,
                    sqlstate: "HY000".into(),
                    message: format!("replaying `{sql}` on data source '{data_source}': {reason}"),
                });
            }
        }
        self.backends.insert(data_source.to_string(), conn);
        Result::Ok(())
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
            Result::Ok(p) => Result::Ok(p),
            Err(reason) => {
                self.backends.remove(data_source);
                Err(SgError::BackendLost(data_source.to_string(), reason))
            }
        }
    }

    /// Sends one packet as the whole reply to the current command.
    pub async fn send_payload(&mut self, payload: &[u8]) -> Result<(), SgError> {
        self.client.write_packet(self.reply_seq, payload).await?;
        Result::Ok(())
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
        let ok = Ok { status: self.state.status, ..Ok::default() };
        self.client.write_packet(self.reply_seq, &encode_ok(&ok, 0)).await?;
        Result::Ok(())
    }

    /// Sends a list of payloads as consecutive packets of one reply, with one write.
    pub async fn send_packets(&mut self, packets: &[Vec<u8>]) -> Result<(), SgError> {
        let mut seq = self.reply_seq;
        for p in packets {
            seq = self.client.queue_packet(seq, p);
        }
        self.client.flush().await?;
        Result::Ok(())
    }

    async fn send_error(&mut self, e: &SgError) -> std::io::Result<()> {
        self.last_reply_ok = false;
        self.client.write_packet(self.reply_seq, &encode_error(e)).await.map(|_| ())
    }

    fn statistics(&self) -> String {
        let stats = &self.shared.stats;
        let uptime = self.shared.started.elapsed().as_secs().max(1);
        let questions = Stats::get(&stats.questions);
        format!(
            "Uptime: {uptime}  Threads: {}  Questions: {questions}  Slow queries: 0  Opens: 0  Open tables: 0  Queries per second avg: {:.3}",
            Stats::get(&stats.sessions_active),
            questions as f64 / uptime as f64
        )
    }

    /// Back to a fresh session (COM_RESET_CONNECTION, COM_CHANGE_USER): the transaction rolled back, settings,
    /// prepared statements and backend connections dropped; user and schema stay.
    pub async fn reset(&mut self) {
        self.sticky = None;
        *self.handle.pinned.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.keep_next = false;
        self.dirty = false;
        self.locked_tables = false;
        execute::xa::rollback(self).await;
        self.release_backends().await;
        self.state.settings.clear();
        self.state.status = crate::protocol::constants::status::AUTOCOMMIT;
        self.forget_statements();
        self.writes.clear();
    }

    async fn release_backends(&mut self) {
        // The reset rolls back any transaction still open on them.
        self.enlisted.clear();
        for (name, conn) in self.backends.drain() {
            if let Some(pool) = self.shared.pools.get(&name) {
                pool.release(conn).await;
            }
        }
    }

    fn forget_statements(&mut self) {
        let n = self.statements.len() as u64;
        self.shared.stats.prepared_statements.fetch_sub(n, std::sync::atomic::Ordering::Relaxed);
        self.statements.clear();
    }

    async fn close(mut self) {
        self.forget_statements();
        execute::xa::rollback(&mut self).await;
        self.release_backends().await;
        self.client.shutdown().await;
    }
}
