//! A scripted MySQL server in memory, for unit tests of code that talks to backends (executor operators,
//! pools). Like Vitess's fake VCursor, but at the wire level: the proxy's real [`BackendConn`] dials it
//! through [`dial`], logs in, and reads replies built by the project's own encoders, so the framing,
//! sequence ids, EOF styles and status flags under test are the ones production code sees.
//!
//! ```ignore
//! let fake = FakeServer::new();
//! fake.on("SELECT 1", Reply::Rows { columns: vec![("1".into(), 8)], rows: vec![vec![Some("1".into())]] });
//! let conn = BackendConn::connect("ds_0", &fake::rule(&fake), Variant::CONTROL, None).await?;
//! ```
//!
//! [`BackendConn`]: super::conn::BackendConn

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

use tokio::io::DuplexStream;

use crate::config::rules::DataSourceRule;
use crate::protocol::auth::NATIVE_PASSWORD;
use crate::protocol::codec::{put_lenenc_bytes, put_lenenc_int};
use crate::protocol::constants::{cap, com, status, UTF8MB4_GENERAL_CI};
use crate::protocol::handshake::{Greeting, HandshakeResponse};
use crate::protocol::packet::PacketStream;
use crate::protocol::response::{encode_end_of_rows, encode_eof, encode_err, encode_ok};
use crate::protocol::resultset::encode_text_row;
use crate::protocol::transport::Transport;

/// Fakes live on TEST-NET-1 (RFC 5737), which no real host uses: an address here is never dialed over TCP,
/// even after its fake is gone, and no real listener on 127.0.0.1 can be reached by mistake.
const FAKE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
/// Port of the next fake; each fake gets its own so the registry can tell them apart.
static NEXT_PORT: AtomicU16 = AtomicU16::new(1);
/// Connection ids for greetings, unique in the process as a real server's are per server.
static NEXT_CONNECTION_ID: AtomicU32 = AtomicU32::new(1);
/// The fakes alive now, by address. Weak, so a test's fake ends when the test drops it.
static SERVERS: LazyLock<Mutex<HashMap<SocketAddr, Weak<FakeServer>>>> = LazyLock::new(Default::default);

/// The version string a fake greets with (MariaDB-style, as the proxy's usual backends).
pub const SERVER_VERSION: &str = "10.11.6-MariaDB-fake";
/// The pipe size between the proxy and a fake; both ends run at once, so this only bounds memory.
const PIPE_BYTES: usize = 64 * 1024;
/// The pipe size of [`client_pair`]: large, because tests usually let the proxy write a whole reply before
/// reading any of it.
const CLIENT_PIPE_BYTES: usize = 16 << 20;
/// A fixed nonce without NUL bytes (the greeting's encoding NUL-terminates it).
const SCRAMBLE: &[u8; 20] = b"fake-scramble-012345";
/// What a fake offers: a MariaDB server's usual set, without SSL and COMPRESS (a rule asking for either fails
/// its login clearly), with the reply-shaping flags a client may carry so any `Variant` can log in.
const CAPABILITIES: u32 = cap::LONG_PASSWORD | cap::FOUND_ROWS | cap::LONG_FLAG | cap::CONNECT_WITH_DB
    | cap::LOCAL_FILES | cap::IGNORE_SPACE | cap::PROTOCOL_41 | cap::TRANSACTIONS | cap::SECURE_CONNECTION
    | cap::MULTI_STATEMENTS | cap::MULTI_RESULTS | cap::PS_MULTI_RESULTS | cap::PLUGIN_AUTH
    | cap::PLUGIN_AUTH_LENENC_CLIENT_DATA | cap::DEPRECATE_EOF;

/// What a fake answers to a scripted COM_QUERY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A text-protocol result set.
    Rows {
        /// Each column's name and MySQL type byte (e.g. 0x08 LONGLONG, 0xFD VAR_STRING).
        columns: Vec<(String, u8)>,
        /// The rows, each value as its text form; `None` is SQL NULL.
        rows: Vec<Vec<Option<String>>>,
    },
    /// An OK packet.
    Ok {
        /// Affected rows.
        affected: u64,
        /// LAST_INSERT_ID.
        last_insert_id: u64,
        /// Warning count.
        warnings: u16,
    },
    /// An ERR packet.
    Err {
        /// Error code (e.g. 1062).
        code: u16,
        /// SQLSTATE (e.g. "23000").
        sqlstate: String,
        /// Message.
        message: String,
    },
}

/// The mutable part of a fake: its script and what it has seen.
struct Script {
    exact: HashMap<String, Reply>,
    prefixes: Vec<(String, Reply)>,
    queries: Vec<String>,
    status: u16,
    connections: usize,
}

/// One fake backend server at an address of its own; every connection dialed to that address is served
/// from the same script.
pub struct FakeServer {
    addr: SocketAddr,
    script: Mutex<Script>,
}

impl FakeServer {
    /// A fresh fake with nothing scripted, reachable through [`dial`] (and so `BackendConn`) at
    /// [`Self::addr`] until dropped. Status flags start as SERVER_STATUS_AUTOCOMMIT.
    pub fn new() -> Arc<Self> {
        let addr = SocketAddr::new(FAKE_IP, NEXT_PORT.fetch_add(1, Ordering::Relaxed));
        let script = Script { exact: HashMap::new(), prefixes: Vec::new(), queries: Vec::new(), status: status::AUTOCOMMIT, connections: 0 };
        let server = Arc::new(FakeServer { addr, script: Mutex::new(script) });
        SERVERS.lock().unwrap_or_else(|e| e.into_inner()).insert(addr, Arc::downgrade(&server));
        server
    }

    /// The address to put in a data source rule (see [`rule`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers the COM_QUERY whose text is exactly `sql` with `reply` (replacing an earlier script for it).
    pub fn on(&self, sql: &str, reply: Reply) {
        self.script().exact.insert(sql.to_string(), reply);
    }

    /// Answers every COM_QUERY starting with `prefix` with `reply`, unless an exact script matches; among
    /// several matching prefixes the longest wins, so scripting order does not matter.
    pub fn on_prefix(&self, prefix: &str, reply: Reply) {
        self.script().prefixes.push((prefix.to_string(), reply));
    }

    /// Every COM_QUERY text received so far, in order, over all connections (scripted or not).
    pub fn queries(&self) -> Vec<String> {
        self.script().queries.clone()
    }

    /// The status flags OK and EOF packets (and the greeting) report from now on, e.g.
    /// `status::AUTOCOMMIT | status::IN_TRANS` to look like an open transaction.
    pub fn set_status(&self, bits: u16) {
        self.script().status = bits;
    }

    /// How many logins the fake has accepted.
    pub fn connections(&self) -> usize {
        self.script().connections
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        // A test that panicked while holding the lock has failed already; later readers still get the data.
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reply packets to one COM_QUERY, recorded in the query log.
    fn answer(&self, sql: &str, conn: &Conn) -> Vec<Vec<u8>> {
        let mut script = self.script();
        script.queries.push(sql.to_string());
        let prefixed = || script.prefixes.iter().filter(|(p, _)| sql.starts_with(p.as_str())).max_by_key(|(p, _)| p.len()).map(|(_, r)| r);
        let reply = script.exact.get(sql).or_else(prefixed).cloned();
        let status = script.status;
        drop(script);
        match reply {
            None => vec![encode_err(1064, "42000", &format!("fake: no reply scripted for `{sql}`"))],
            Some(Reply::Ok { affected, last_insert_id, warnings }) => {
                vec![encode_ok(&crate::protocol::response::Ok { affected_rows: affected, last_insert_id, status, warnings }, 0x00)]
            }
            Some(Reply::Err { code, sqlstate, message }) => vec![encode_err(code, &sqlstate, &message)],
            Some(Reply::Rows { columns, rows }) => result_set(&columns, &rows, conn, status),
        }
    }

    fn ok(&self) -> Vec<u8> {
        encode_ok(&crate::protocol::response::Ok { status: self.script().status, ..Default::default() }, 0x00)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        SERVERS.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.addr);
    }
}

/// Connects to the fake at `addr`: `None` for any address outside the fakes' network (the caller dials TCP).
/// A fake address whose server is gone yields a pipe already closed at the far end, so the login fails at
/// once as against a stopped server. Needs a tokio runtime (the fake's side runs as a task).
pub fn dial(addr: SocketAddr) -> Option<DuplexStream> {
    if addr.ip() != FAKE_IP {
        return None;
    }
    let (client, server_end) = tokio::io::duplex(PIPE_BYTES);
    let server = SERVERS.lock().unwrap_or_else(|e| e.into_inner()).get(&addr).and_then(Weak::upgrade);
    if let Some(server) = server {
        tokio::spawn(serve(server, server_end));
    }
    Some(client)
}

/// Two packet streams joined in memory, (proxy's end, test's end): hand the first to code that writes to a
/// client and read what that client got from the second. Up to 16 MiB may be written before anything is read.
pub fn client_pair() -> (PacketStream, PacketStream) {
    let (proxy, test) = tokio::io::duplex(CLIENT_PIPE_BYTES);
    (PacketStream::over(Transport::Memory(proxy)), PacketStream::over(Transport::Memory(test)))
}

/// A data source rule for `server`: user "fake" with no password, plain and uncompressed, with one-second
/// connect and acquire timeouts so a test that goes wrong fails fast. Everything else is the configuration
/// defaults (parsed the way rules files are, so new fields' defaults apply here too).
pub fn rule(server: &FakeServer) -> DataSourceRule {
    let text = format!("primary = \"{}\"\nuser = \"fake\"\nconnect_timeout_ms = 1000\nacquire_timeout_ms = 1000\n", server.addr);
    toml::from_str(&text).expect("a fake's data source rule parses")
}

/// What a fake remembers about one connection.
struct Conn {
    deprecate_eof: bool,
    database: String,
}

async fn serve(server: Arc<FakeServer>, stream: DuplexStream) {
    let mut io = PacketStream::over(Transport::Memory(stream));
    // An error means the proxy's end went away; the connection just ends, as on a real server.
    let _ = session(&server, &mut io).await;
    io.shutdown().await;
}

async fn session(server: &FakeServer, io: &mut PacketStream) -> io::Result<()> {
    let greeting = Greeting {
        server_version: SERVER_VERSION.to_string(),
        connection_id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
        scramble: SCRAMBLE.to_vec(),
        capabilities: CAPABILITIES,
        collation: UTF8MB4_GENERAL_CI,
        status: server.script().status,
        auth_plugin: NATIVE_PASSWORD.to_string(),
    };
    io.write_packet(0, &greeting.encode()).await?;
    let Some(login) = io.read_packet().await? else { return Ok(()) };
    let seq = login.last_seq.wrapping_add(1);
    // Any user and password will do: the proxy's authentication has tests of its own.
    let response = match HandshakeResponse::decode(&login.payload) {
        Ok(response) => response,
        Err(e) => {
            io.write_packet(seq, &encode_err(1043, "08S01", &format!("fake: bad handshake: {e}"))).await?;
            return Ok(());
        }
    };
    let mut conn = Conn { deprecate_eof: response.capabilities & cap::DEPRECATE_EOF != 0, database: response.database.unwrap_or_default() };
    server.script().connections += 1;
    io.write_packet(seq, &server.ok()).await?;
    loop {
        let Some(command) = io.read_packet().await? else { return Ok(()) };
        let (code, body) = command.payload.split_first().map_or((0xFF, &[][..]), |(c, b)| (*c, b));
        let packets = match code {
            com::QUIT => return Ok(()),
            com::QUERY => server.answer(&String::from_utf8_lossy(body), &conn),
            com::INIT_DB => {
                conn.database = String::from_utf8_lossy(body).into_owned();
                vec![server.ok()]
            }
            // These get no reply in the protocol; answering would pass for the next command's reply.
            com::STMT_CLOSE | com::STMT_SEND_LONG_DATA => continue,
            // COM_PING, COM_RESET_CONNECTION and anything else: a plain OK.
            _ => vec![server.ok()],
        };
        // A reply continues the command's sequence: its first packet is the command's id + 1.
        let mut seq = command.last_seq.wrapping_add(1);
        for packet in &packets {
            seq = io.queue_packet(seq, packet);
        }
        io.flush().await?;
    }
}

/// A text result set's packets: column count, definitions, EOF (classic style only), rows, end marker.
fn result_set(columns: &[(String, u8)], rows: &[Vec<Option<String>>], conn: &Conn, status: u16) -> Vec<Vec<u8>> {
    let mut count = Vec::new();
    put_lenenc_int(&mut count, columns.len() as u64);
    let mut packets = vec![count];
    packets.extend(columns.iter().map(|(name, ty)| column_definition(&conn.database, name, *ty)));
    if !conn.deprecate_eof {
        packets.push(encode_eof(status, 0));
    }
    for row in rows {
        let values: Vec<Option<&[u8]>> = row.iter().map(|v| v.as_deref().map(str::as_bytes)).collect();
        packets.push(encode_text_row(&values));
    }
    packets.push(encode_end_of_rows(conn.deprecate_eof, status));
    packets
}

/// A ColumnDefinition41 of any type byte (the project's `resultset::encode_column` knows only the two types
/// the proxy itself returns). Numbers are binary (charset 63) as MariaDB sends them; the rest utf8 (33).
fn column_definition(schema: &str, name: &str, ty: u8) -> Vec<u8> {
    // DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, LONGLONG, INT24, YEAR, NEWDECIMAL.
    let numeric = matches!(ty, 0x00..=0x05 | 0x08 | 0x09 | 0x0d | 0xf6);
    let (charset, length, flags): (u16, u32, u16) = if numeric { (63, 21, 0x0080 /* BINARY */ | 0x8000 /* NUM */) } else { (33, 255 * 3, 0) };
    let mut out = Vec::with_capacity(32 + schema.len() + 2 * name.len());
    for field in ["def", schema, "", "", name, name] {
        put_lenenc_bytes(&mut out, field.as_bytes());
    }
    out.push(0x0c); // length of the fixed fields that follow
    out.extend_from_slice(&charset.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    out.push(ty);
    out.extend_from_slice(&flags.to_le_bytes());
    out.push(0); // decimals
    out.extend_from_slice(&[0, 0]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::conn::{BackendConn, Variant};
    use crate::protocol::reply::ReplyKind;
    use crate::protocol::resultset::column_name;
    use crate::protocol::response::end_of_rows_status;

    const SQL: &str = "SELECT id, name FROM t";

    fn two_rows() -> Reply {
        Reply::Rows {
            columns: vec![("id".into(), 0x08), ("name".into(), 0xFD)],
            rows: vec![vec![Some("1".into()), Some("ann".into())], vec![Some("2".into()), None]],
        }
    }

    fn variant(deprecate_eof: bool) -> Variant {
        let caps = if deprecate_eof { Variant::CONTROL.caps } else { Variant::CONTROL.caps & !cap::DEPRECATE_EOF };
        Variant { caps, collation: UTF8MB4_GENERAL_CI }
    }

    async fn connect(fake: &FakeServer, deprecate_eof: bool) -> BackendConn {
        BackendConn::connect("ds_0", &rule(fake), variant(deprecate_eof), Some("demo")).await.expect("login to the fake")
    }

    #[tokio::test]
    async fn query_rows_in_both_eof_styles() {
        for deprecate_eof in [true, false] {
            let fake = FakeServer::new();
            fake.on(SQL, two_rows());
            let mut conn = connect(&fake, deprecate_eof).await;
            assert_eq!((conn.server_version.as_str(), conn.deprecate_eof()), (SERVER_VERSION, deprecate_eof));
            let rows = conn.query_rows(SQL).await.unwrap();
            assert_eq!(rows, vec![vec![Some(b"1".to_vec()), Some(b"ann".to_vec())], vec![Some(b"2".to_vec()), None]]);
            let (defs, _) = conn.query_table(SQL).await.unwrap().unwrap();
            let names: Vec<_> = defs.iter().map(|d| column_name(d).unwrap()).collect();
            assert_eq!(names, ["id", "name"]);
            assert_eq!(fake.queries(), [SQL, SQL]);
            assert_eq!(fake.connections(), 1);
        }
    }

    #[tokio::test]
    async fn ok_err_prefix_and_unscripted_queries() {
        let fake = FakeServer::new();
        fake.set_status(status::AUTOCOMMIT | status::IN_TRANS);
        fake.on("UPDATE t SET a = 1", Reply::Ok { affected: 3, last_insert_id: 7, warnings: 1 });
        fake.on("INSERT INTO t VALUES (1)", Reply::Err { code: 1062, sqlstate: "23000".into(), message: "Duplicate entry '1'".into() });
        fake.on_prefix("SELECT @@", Reply::Rows { columns: vec![("v".into(), 0xFD)], rows: vec![vec![Some("short".into())]] });
        fake.on_prefix("SELECT @@version", Reply::Rows { columns: vec![("v".into(), 0xFD)], rows: vec![vec![Some("long".into())]] });
        let mut conn = connect(&fake, true).await;
        let ok = conn.query_ok("UPDATE t SET a = 1").await.unwrap();
        assert_eq!((ok.affected_rows, ok.last_insert_id, ok.warnings, ok.status), (3, 7, 1, status::AUTOCOMMIT | status::IN_TRANS));
        let err = conn.query_ok("INSERT INTO t VALUES (1)").await.unwrap_err();
        assert!(err.contains("1062") && err.contains("23000") && err.contains("Duplicate entry '1'"), "{err}");
        let err = conn.query_ok("SELECT nope").await.unwrap_err();
        assert!(err.contains("1064") && err.contains("fake: no reply scripted for `SELECT nope`"), "{err}");
        assert_eq!(conn.query_rows("SELECT @@version_comment").await.unwrap(), vec![vec![Some(b"long".to_vec())]]);
        assert_eq!(conn.query_rows("SELECT @@port").await.unwrap(), vec![vec![Some(b"short".to_vec())]]);
        // The connection is still in step after errors: a ping's reply is OK with sequence id 1.
        let pong = conn.command(&[com::PING]).await.unwrap();
        assert_eq!((pong.seq, pong.payload.first()), (1, Some(&0x00)));
        assert_eq!(fake.queries(), ["UPDATE t SET a = 1", "INSERT INTO t VALUES (1)", "SELECT nope", "SELECT @@version_comment", "SELECT @@port"]);
    }

    #[tokio::test]
    async fn relay_forwards_the_whole_result_set_to_a_client() {
        for deprecate_eof in [true, false] {
            let fake = FakeServer::new();
            fake.on(SQL, two_rows());
            let mut conn = connect(&fake, deprecate_eof).await;
            let (mut proxy_side, mut client) = client_pair();
            let command = [&[com::QUERY][..], SQL.as_bytes()].concat();
            let relayed = conn.relay(&command, ReplyKind::ResultSets, &mut proxy_side, None).await.map_err(|e| format!("{e:?}")).unwrap();
            assert_eq!((relayed.rows, relayed.status, relayed.error), (2, Some(status::AUTOCOMMIT), false));
            let mut packets = Vec::new();
            let expected = 1 + 2 + usize::from(!deprecate_eof) + 2 + 1;
            for _ in 0..expected {
                packets.push(client.read_packet().await.unwrap().expect("a packet"));
            }
            let seqs: Vec<u8> = packets.iter().map(|p| p.seq).collect();
            assert_eq!(seqs, (1..=expected as u8).collect::<Vec<_>>());
            assert_eq!(&packets[0].payload[..], &[2]);
            assert_eq!((column_name(&packets[1].payload).unwrap(), column_name(&packets[2].payload).unwrap()), ("id".into(), "name".into()));
            let rows = &packets[expected - 3..expected - 1];
            assert_eq!(crate::protocol::row_text::decode_text_row(&rows[0].payload, 2).unwrap(), [Some(&b"1"[..]), Some(&b"ann"[..])]);
            assert_eq!(crate::protocol::row_text::decode_text_row(&rows[1].payload, 2).unwrap(), [Some(&b"2"[..]), None]);
            let end = &packets[expected - 1].payload;
            assert_eq!((end[0], end_of_rows_status(end, deprecate_eof).unwrap()), (0xFE, status::AUTOCOMMIT));
            if !deprecate_eof {
                assert_eq!(&packets[3].payload[..], &encode_eof(status::AUTOCOMMIT, 0)[..]);
            }
            drop(proxy_side);
            assert!(client.read_packet().await.unwrap().is_none(), "nothing after the end of the reply");
        }
    }

    #[tokio::test]
    async fn pool_hands_out_and_reuses_a_fake_connection() {
        use crate::backend::pool::Pool;
        let fake = FakeServer::new();
        fake.on("SELECT 1", Reply::Rows { columns: vec![("1".into(), 0x08)], rows: vec![vec![Some("1".into())]] });
        let pool = Pool::new("ds_0", rule(&fake), Arc::new(crate::stats::Stats::default()));
        let mut pooled = pool.get(Variant::CONTROL, Some("demo")).await.unwrap();
        assert_eq!(pooled.conn.query_rows("SELECT 1").await.unwrap(), vec![vec![Some(b"1".to_vec())]]);
        assert!(!pooled.conn.is_closed(), "an open in-memory connection is not taken for closed");
        pool.release(pooled).await; // COM_RESET_CONNECTION, answered OK
        assert_eq!(pool.idle_count(), 1);
        let mut again = pool.get(Variant::CONTROL, Some("demo")).await.unwrap();
        assert_eq!(again.conn.query_rows("SELECT 1").await.unwrap().len(), 1);
        assert_eq!(fake.connections(), 1, "the idle connection was reused");
        // COM_QUIT makes the fake hang up, which the pool's idle check must see.
        again.conn.send(&[com::QUIT]).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while !again.conn.is_closed() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the closed pipe is noticed");
    }

    #[tokio::test]
    async fn a_dropped_fake_refuses_logins_without_touching_the_network() {
        let fake = FakeServer::new();
        let rule = rule(&fake);
        drop(fake);
        let err = BackendConn::connect("ds_0", &rule, Variant::CONTROL, None).await.err().expect("no server there");
        assert!(err.to_string().contains("closed the connection"), "{err}");
        assert!(dial("127.0.0.1:3306".parse().unwrap()).is_none(), "real addresses are left to TCP");
    }
}
