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
use crate::plan::planner::plan_cached;
use crate::protocol::constants::com;
use crate::protocol::packet::PacketStream;
use crate::protocol::reply::ReplyKind;
use crate::execute::context::ExecCtx;
use crate::execute::control::ControlPlane;
use crate::shared::{Current, Shared};
use crate::sql::lexer::classify;
use crate::stats::Stats;

use super::login::login;

/// MariaDB's own text for ER_LOCK_DEADLOCK, with what happened across data sources.
const DEADLOCK_MESSAGE: &str = "Deadlock found when trying to get lock; try restarting transaction (a lock cycle across data sources, broken by shardgate)";

/// One client's session: its execution context (what the executor works with) and what only the command
/// loop needs. It dereferences to the context, whose fields are the session's state.
pub struct Session {
    /// What plans run with: client, backend connections, transaction, shared state.
    pub ctx: ExecCtx,
    /// The state in force, swapped by reloads (picked up at the next statement).
    pub current: Current,
    /// What SHOW WARNINGS says: the diagnostics of the last statement that set them.
    pub diagnostics: Vec<super::diagnostics::Note>,
    /// Statements prepared through the proxy (sharded schemas), by proxy id.
    pub statements: HashMap<u32, super::prepared::Prepared>,
    next_statement: u32,
    /// COM_QUERY may hold several statements (CLIENT_MULTI_STATEMENTS, or COM_SET_OPTION).
    pub multi_statements: bool,
    /// This session's pass through a reshard's cut-over gate, kept until its transaction ends.
    reshard_pass: Option<crate::cutover_gate::Pass>,
}

impl std::ops::Deref for Session {
    type Target = ExecCtx;
    fn deref(&self) -> &ExecCtx {
        &self.ctx
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut ExecCtx {
        &mut self.ctx
    }
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
pub async fn run(stream: TcpStream, shared: Arc<Shared>, current: Current, control: Arc<dyn ControlPlane>) {
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
        ctx: ExecCtx::new(client, state, handle, shared, control),
        current,
        diagnostics: Vec::new(),
        statements: HashMap::new(),
        next_statement: super::prepared::PROXY_ID_BASE,
        multi_statements: false,
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
                    let too_big = SgError::PacketTooLarge(self.shared.rules.server.max_allowed_packet);
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
                        let live = self.current.load();
                        gate.unmoved(&String::from_utf8_lossy(&packet.payload[1..]), self.state.schema.as_deref(), &live.rules, &live.layouts)
                    };
                    if !unmoved {
                        self.reshard_pass = Some(gate.enter().await);
                    }
                }
            }
            // Reloaded rules apply from the next statement on.
            if !Arc::ptr_eq(&self.shared, &*self.current.load()) {
                self.ctx.shared = self.current.load_full();
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
            // After a pause, connections the session still holds may have been closed by their server (a
            // restart): those no state ties to the session are replaced before the statement uses them.
            if start.duration_since(self.last_start) > crate::backend::pool::PROBE_AFTER && !self.backends.is_empty() {
                self.drop_dead_idle();
            }
            self.last_start = start;
            self.handle.set_busy(Some(start));
            let mut outcome = if packet.seq != 0 {
                Err(SgError::OutOfOrder { expected: 0, got: packet.seq })
            } else {
                self.dispatch(&packet.payload).await
            };
            self.handle.set_busy(None);
            // The deadlock detector (admin/deadlocks.rs) chose this session to break a lock cycle across data
            // sources and killed its waiting backend connection: the failure that caused is the cycle's
            // ER_LOCK_DEADLOCK, and the whole transaction is rolled back, as one server does.
            if outcome.is_err() && self.handle.take_victim() {
                execute::transaction::abort(self).await;
                outcome = Err(SgError::Backend { code: crate::error::code::DEADLOCK, sqlstate: "40001".into(), message: DEADLOCK_MESSAGE.into() });
            }
            // A deadlock ends the whole transaction on MySQL; an XA branch is only marked rollback-only, so
            // the proxy rolls every branch back now (the client may go straight to BEGIN, as sysbench does).
            let failed = match &outcome {
                Err(e) => Some(e.code()),
                Result::Ok(_) => self.last_error,
            };
            // A deadlock, or XA_RBROLLBACK, XA_RBTIMEOUT, XA_RBDEADLOCK (the branch is gone). A
            // lock-wait timeout (1205) rolls back the statement only, on MariaDB as here.
            use crate::error::code;
            if self.xa.is_some() && matches!(failed, Some(code::DEADLOCK | code::XA_RBROLLBACK | code::XA_RBTIMEOUT | code::XA_RBDEADLOCK)) {
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
                {
                    let ds = self.home();
                    execute::passthrough::run(self, &ds, payload, ReplyKind::RowsOnly).await?;
                }
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
                    let ds = self.home();
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
            com::STMT_EXECUTE => {
                let ds = self.home();
                execute::passthrough::run(self, &ds, payload, ReplyKind::ResultSets).await?
            }
            com::STMT_FETCH => {
                let ds = self.home();
                execute::passthrough::run(self, &ds, payload, ReplyKind::RowsOnly).await?
            }
            com::STMT_RESET => {
                let ds = self.home();
                execute::passthrough::run(self, &ds, payload, ReplyKind::Single).await?
            }
            com::STMT_CLOSE | com::STMT_SEND_LONG_DATA => {
                let ds = self.home();
                execute::passthrough::send_only(self, &ds, payload).await?
            }
            com::STATISTICS => {
                let text = self.statistics();
                let seq = self.reply_seq;
                self.ctx.client.write_packet(seq, text.as_bytes()).await?;
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
        let mut plan = plan_cached(classify(sql), sql, self.state.schema.as_deref(), &shared.rules, &shared.layouts, &shared.plans);
        // An INSERT without a column list into a table whose columns are not known yet: learn them from a
        // shard, then plan again (once: the columns are kept in the table's rules).
        if let crate::plan::Plan::LearnColumns(table) = &plan {
            execute::learn_columns::run(self, table).await?;
            let shared = self.shared.clone();
            plan = crate::plan::planner::plan(classify(sql), sql, self.state.schema.as_deref(), &shared.rules, &shared.layouts);
            if let crate::plan::Plan::LearnColumns(t) = &plan {
                return Err(SgError::NotSupported(format!("an INSERT whose columns could not be learnt from table '{}'", t.name)));
            }
        }
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
            execute::run(self, plan, &execute::Exec::Text(payload)).await
        } else {
            execute::read_split::run_or_note(self, sql, plan, execute::Exec::Text(payload)).await
        };
        if (lock || unlock) && result.is_ok() && self.last_reply_ok {
            self.locked_tables = lock;
        }
        result
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
