//! A test harness for executor operators, after Vitess's fake_vcursor: a real [`ExecCtx`] over two
//! scripted backends ([`FakeServer`]s as data sources ds_0 and ds_1), a fake control plane, and the test's
//! end of the client socket. Statements go through the real planner and `execute::run`, as the session
//! would send them; what the client receives is read back and decoded with the protocol's own decoders.
//!
//! ```ignore
//! let mut h = Harness::new(SCHEMA).await;
//! h.ds0.on("SELECT c FROM `k_0` WHERE id = 2", rows(&["c"], &[&["x"]]));
//! h.run("SELECT c FROM k WHERE id = 2").await.unwrap();
//! assert_eq!(h.read_reply().await.rows(), table(&[&["x"]]));
//! assert_eq!(h.queries(0), ["SELECT c FROM `k_0` WHERE id = 2"]);
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;

use crate::backend::fake::{self, FakeServer};
use crate::error::SgError;
use crate::protocol::constants::{cap, com, UTF8MB4_GENERAL_CI};
use crate::protocol::packet::PacketStream;
use crate::protocol::reply::{ReplyKind, ReplyScanner};
use crate::protocol::response::{self, decode_err, decode_ok, end_of_rows_status, end_of_rows_warnings};
use crate::sql::lexer::Admin;

use super::context::ExecCtx;
use super::control::ControlPlane;
use super::state::SessionState;

/// The capabilities the harness's client negotiated (CLIENT_DEPRECATE_EOF on; see [`Harness::classic_eof`]).
pub(crate) const CLIENT_CAPS: u32 = cap::PROTOCOL_41 | cap::TRANSACTIONS | cap::MULTI_RESULTS | cap::PS_MULTI_RESULTS | cap::DEPRECATE_EOF;

/// Top-level rules keys for a best_effort session (no XA, no decision log).
pub(crate) const BEST_EFFORT: &str = "transaction_mode = \"best_effort\"\n";

/// Schema "s" (home ds_0): table k sharded by `id` mod 2 over ds_0.k_0 and ds_1.k_1, broadcast table b; and
/// schema "plain" on ds_1 (database "plain_db"), without rules.
pub(crate) const SCHEMA: &str = "[schemas.s]\ndata_source = \"ds_0\"\nbroadcast_tables = [\"b\"]\n\
    [schemas.s.tables.k]\nsharding_column = \"id\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_0.k_0,ds_1.k_1\"\n\
    [schemas.plain]\ndata_source = \"ds_1\"\ndatabase = \"plain_db\"\n";

/// What the client received for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// An OK packet.
    Ok(response::Ok),
    /// An ERR packet (also a result set that ended in one: its rows are in [`Harness::last_packets`]).
    Err(response::Err),
    /// A result set: column names, rows (text form, `None` = NULL), and the end marker's status and warnings.
    Rows {
        /// Column names.
        columns: Vec<String>,
        /// The rows.
        rows: Vec<Vec<Option<String>>>,
        /// Status flags of the end marker.
        status: u16,
        /// Warning count of the end marker.
        warnings: u16,
    },
}

impl Reply {
    /// The OK packet; panics on anything else.
    pub(crate) fn ok(&self) -> response::Ok {
        let Reply::Ok(ok) = self else { panic!("expected OK, got {self:?}") };
        *ok
    }

    /// The ERR's (code, message); panics on anything else.
    pub(crate) fn err(&self) -> (u16, String) {
        let Reply::Err(e) = self else { panic!("expected ERR, got {self:?}") };
        (e.code, e.message.clone())
    }

    /// The rows of a result set; panics on anything else.
    pub(crate) fn rows(&self) -> Vec<Vec<Option<String>>> {
        let Reply::Rows { rows, .. } = self else { panic!("expected rows, got {self:?}") };
        rows.clone()
    }

    /// The column names of a result set; panics on anything else.
    pub(crate) fn columns(&self) -> Vec<String> {
        let Reply::Rows { columns, .. } = self else { panic!("expected rows, got {self:?}") };
        columns.clone()
    }
}

/// Rows as tests write them: `&[&["1", "a"]]`, with "NULL" for SQL NULL.
pub(crate) fn table(rows: &[&[&str]]) -> Vec<Vec<Option<String>>> {
    rows.iter().map(|r| r.iter().map(|v| (*v != "NULL").then(|| v.to_string())).collect()).collect()
}

/// A scripted result set of VAR_STRING columns named `columns` (see [`table`] for `rows`).
pub(crate) fn rows(columns: &[&str], rows: &[&[&str]]) -> fake::Reply {
    typed_rows(&columns.iter().map(|c| (*c, 0xFD)).collect::<Vec<_>>(), rows)
}

/// A scripted result set with explicit column type bytes (0x08 LONGLONG, 0xF6 NEWDECIMAL, 0xFD VAR_STRING).
pub(crate) fn typed_rows(columns: &[(&str, u8)], rows: &[&[&str]]) -> fake::Reply {
    fake::Reply::Rows { columns: columns.iter().map(|(c, t)| (c.to_string(), *t)).collect(), rows: table(rows) }
}

/// A scripted OK with `affected` rows.
pub(crate) fn ok(affected: u64) -> fake::Reply {
    fake::Reply::Ok { affected, last_insert_id: 0, warnings: 0 }
}

/// A scripted ERR.
pub(crate) fn err(code: u16, message: &str) -> fake::Reply {
    fake::Reply::Err { code, sqlstate: "HY000".into(), message: message.into() }
}

/// A control plane that records what it is asked and answers OK.
#[derive(Default)]
pub(crate) struct FakeControl {
    /// Each call, as `admin <Admin debug>` or `kill query=<bool> id=<id>`.
    pub calls: Mutex<Vec<String>>,
}

impl ControlPlane for FakeControl {
    fn admin<'a>(&'a self, ctx: &'a mut ExecCtx, admin: Admin) -> super::control::Reply<'a> {
        self.calls.lock().unwrap().push(format!("admin {admin:?}"));
        Box::pin(ctx.send_ok())
    }

    fn kill<'a>(&'a self, ctx: &'a mut ExecCtx, query: bool, id: u32) -> super::control::Reply<'a> {
        self.calls.lock().unwrap().push(format!("kill query={query} id={id}"));
        Box::pin(ctx.send_ok())
    }
}

/// An execution context over two fake data sources, with the client's end of its socket.
pub(crate) struct Harness {
    /// The context under test (session schema "s", user "u", connection id 1).
    pub ctx: ExecCtx,
    /// The client's end: what the proxy sent it.
    pub client: PacketStream,
    /// Data source ds_0.
    pub ds0: Arc<FakeServer>,
    /// Data source ds_1.
    pub ds1: Arc<FakeServer>,
    /// The control plane `ctx.control` points to.
    pub control: Arc<FakeControl>,
    /// The payloads of the last reply [`Harness::read_reply`] read.
    pub last_packets: Vec<Vec<u8>>,
    /// Queries each fake had received when the harness was ready (start-up probes), skipped by `queries`.
    seen: [usize; 2],
    /// The XA decision log file, removed on drop.
    xa_log: Option<PathBuf>,
}

impl Harness {
    /// A best_effort harness over `schemas` (TOML text defining `[schemas.s]` and its tables).
    pub(crate) async fn new(schemas: &str) -> Harness {
        Self::build(BEST_EFFORT, schemas).await
    }

    /// A harness with transaction_mode = "xa", its decision log in a fresh temporary file.
    pub(crate) async fn xa(schemas: &str) -> Harness {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!("shardgate-exec-test-{}-{}.xa.log", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let top = format!("transaction_mode = \"xa\"\nxa_log = {:?}\nxa_recovery_interval_ms = 3600000\n", path.display().to_string());
        let mut h = Self::build(&top, schemas).await;
        h.xa_log = Some(path);
        h
    }

    /// A harness over rules made of top-level keys `top`, the two fakes as ds_0 and ds_1, and `schemas`.
    pub(crate) async fn build(top: &str, schemas: &str) -> Harness {
        let (ds0, ds1) = (FakeServer::new(), FakeServer::new());
        let source = |name: &str, f: &FakeServer| {
            format!("[data_sources.{name}]\nprimary = \"{}\"\nuser = \"fake\"\nconnect_timeout_ms = 1000\nacquire_timeout_ms = 1000\nhealth_check_primary = false\n", f.addr())
        };
        let text = format!(
            "{top}[server]\nlisten = \"127.0.0.1:0\"\n[[users]]\nname = \"u\"\npassword = \"p\"\n{}{}{schemas}",
            source("ds_0", &ds0),
            source("ds_1", &ds1)
        );
        let rules = crate::config::parse(&text, std::path::Path::new("t.toml")).expect("test rules");
        let shared = Arc::new(crate::shared::Shared::build(rules, None, None).await.expect("shared state"));
        let (proxy_end, client) = fake::client_pair();
        let state = SessionState::new(1, "u".into(), CLIENT_CAPS, UTF8MB4_GENERAL_CI, Some("s".into()));
        let handle = shared.sessions.add(1, "u");
        let control = Arc::new(FakeControl::default());
        let ctx = ExecCtx::new(proxy_end, state, handle, shared, control.clone());
        let seen = [ds0.queries().len(), ds1.queries().len()];
        Harness { ctx, client, ds0, ds1, control, last_packets: Vec::new(), seen, xa_log: None }
    }

    /// Gives data source `ds` one replica, a new fake, serving at once (no health-check task: it would dial
    /// TCP). Call before the first statement, while the harness holds the only reference to its `Shared`.
    pub(crate) fn add_replica(&mut self, ds: &str) -> Arc<FakeServer> {
        let replica = FakeServer::new();
        let shared = Arc::get_mut(&mut self.ctx.shared).expect("add_replica before the first statement");
        let text = format!("primary = \"{}\"\nuser = \"fake\"\n[[replicas]]\naddress = \"{}\"\n", shared.rules.data_sources[ds].primary, replica.addr());
        let rule: crate::config::rules::DataSourceRule = toml::from_str(&text).expect("replica rule");
        let set = crate::backend::replicas::ReplicaSet::new(ds, &rule);
        set.replicas[0].health.record(Ok(0));
        let pool = crate::backend::pool::Pool::new(&set.replicas[0].name, fake::rule(&replica), shared.stats.clone());
        shared.pools.insert(set.replicas[0].name.clone(), pool);
        shared.replicas.insert(ds.to_string(), Arc::new(set));
        replica
    }

    /// Makes the client one without CLIENT_DEPRECATE_EOF (before any backend connection is taken).
    pub(crate) fn classic_eof(&mut self) {
        self.ctx.state.capabilities &= !cap::DEPRECATE_EOF;
    }

    /// The queries fake `node` (0 or 1) received since the harness was ready.
    pub(crate) fn queries(&self, node: usize) -> Vec<String> {
        let fake = [&self.ds0, &self.ds1][node];
        fake.queries()[self.seen[node]..].to_vec()
    }

    /// Like [`Self::queries`], with every XA gtrid literal (`'sg-…'`) written `'g'`.
    pub(crate) fn xa_queries(&self, node: usize) -> Vec<String> {
        let plain = |q: &String| match q.find("'sg-").and_then(|at| Some((at, q[at + 1..].find('\'')? + at + 1))) {
            Some((from, to)) => format!("{}'g'{}", &q[..from], &q[to + 1..]),
            None => q.clone(),
        };
        self.queries(node).iter().map(plain).collect()
    }

    /// The plan the real planner makes of `sql` in the session's schema.
    pub(crate) fn plan(&self, sql: &str) -> crate::plan::Plan {
        let shared = self.ctx.shared.clone();
        crate::plan::planner::plan(crate::sql::lexer::classify(sql), sql, self.ctx.state.schema.as_deref(), &shared.rules, &shared.layouts)
    }

    /// What the session does before each statement (session.rs, `dispatch` and `query`).
    fn start_statement(&mut self, sql: &str) {
        let ctx = &mut self.ctx;
        (ctx.route, ctx.rows_out, ctx.last_error, ctx.last_reply_ok) = (3, 0, None, true);
        ctx.set_reply_seq(1);
        ctx.used.clear();
        ctx.pending = Default::default();
        (ctx.outside_transaction, ctx.statement_writes, ctx.statement_tableless) = (false, true, false);
        if super::xa::applies(ctx) {
            ctx.statement_writes = !crate::sql::reads::is_plain_read(sql);
            ctx.statement_tableless = crate::sql::reads::reads_no_table(sql);
        }
    }

    /// Plans `sql` and runs it as a COM_QUERY as the session does: through `execute::run`, or through
    /// `read_split::run_or_note` when some data source has replicas.
    pub(crate) async fn run(&mut self, sql: &str) -> Result<(), SgError> {
        self.start_statement(sql);
        let plan = self.plan(sql);
        let payload = [&[com::QUERY][..], sql.as_bytes()].concat();
        if self.ctx.shared.replicas.is_empty() {
            super::run(&mut self.ctx, plan, &super::Exec::Text(&payload)).await
        } else {
            super::read_split::run_or_note(&mut self.ctx, sql, plan, super::Exec::Text(&payload)).await
        }
    }

    /// Plans `sql` and runs it as a prepared statement's execution (`Exec::Binary`: binary rows).
    pub(crate) async fn run_binary(&mut self, sql: &str) -> Result<(), SgError> {
        self.start_statement(sql);
        let plan = self.plan(sql);
        super::run(&mut self.ctx, plan, &super::Exec::Binary(sql)).await
    }

    /// Reads one whole reply of the client (text rows), checking its sequence ids run on from 1.
    pub(crate) async fn read_reply(&mut self) -> Reply {
        self.read(false).await
    }

    /// Reads one whole reply whose rows are binary-protocol rows, decoded to their text form.
    pub(crate) async fn read_binary_reply(&mut self) -> Reply {
        self.read(true).await
    }

    /// Reads the packets of one reply to its end (as `ReplyScanner` sees it) and decodes them.
    async fn read(&mut self, binary: bool) -> Reply {
        let deprecate_eof = self.ctx.state.deprecate_eof();
        let mut scanner = ReplyScanner::new(ReplyKind::ResultSets, deprecate_eof);
        let mut packets: Vec<Vec<u8>> = Vec::new();
        while !scanner.is_done() {
            let read = tokio::time::timeout(Duration::from_secs(5), self.client.read_packet()).await;
            let p = read.expect("a reply within 5 s").expect("client socket").expect("a packet, not the end of the stream");
            assert_eq!(usize::from(p.seq), (packets.len() + 1) % 256, "sequence ids of the reply run on from 1");
            scanner.feed_packet(&p.payload).expect("a well-formed reply");
            packets.push(p.payload.to_vec());
        }
        self.last_packets = packets.clone();
        let last = packets.last().expect("one packet at least");
        match (packets[0][0], last[0]) {
            (0x00, _) => return Reply::Ok(decode_ok(&packets[0]).expect("OK")),
            (_, 0xFF) => return Reply::Err(decode_err(last).expect("ERR")),
            _ => {}
        }
        let n = crate::protocol::codec::Reader::new(&packets[0]).lenenc_int().expect("column count") as usize;
        let defs = &packets[1..=n];
        let columns = defs.iter().map(|d| super::value::column(d).expect("column definition").name).collect();
        let types: Vec<_> = defs.iter().map(|d| crate::protocol::row_binary::wire_type(d).expect("wire type")).collect();
        let first_row = 1 + n + usize::from(!deprecate_eof);
        let text = |v: Option<&[u8]>| v.map(|b| String::from_utf8_lossy(b).into_owned());
        let rows = packets[first_row..packets.len() - 1]
            .iter()
            .map(|p| match binary {
                true => crate::protocol::row_binary::decode_binary_row(p, &types).expect("binary row").into_iter().map(|v| text(v.as_deref())).collect(),
                false => crate::protocol::row_text::decode_text_row(p, n).expect("text row").into_iter().map(text).collect(),
            })
            .collect();
        let status = end_of_rows_status(last, deprecate_eof).expect("end marker");
        Reply::Rows { columns, rows, status, warnings: end_of_rows_warnings(last, deprecate_eof) }
    }

    /// Panics if the client has received anything not read yet.
    pub(crate) fn nothing_more(&mut self) {
        if let Some(p) = self.client.read_packet().now_or_never() {
            panic!("the client got more than the reply: {p:?}");
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(path) = &self.xa_log {
            let _ = std::fs::remove_file(path);
        }
    }
}

