//! A deliberately simple MySQL client written for the tests: it logs in with exactly the capabilities and
//! collation a test asks for and returns raw packets, so the tests can check bytes drivers hide (EOF style,
//! sequence ids, error codes).

use std::net::SocketAddr;

use shardgate::protocol::auth::native_token;
use shardgate::protocol::constants::cap;
use shardgate::protocol::handshake::{Greeting, HandshakeResponse};
use shardgate::protocol::packet::{Packet, PacketStream};
use shardgate::protocol::response::{decode_err, Err};
use tokio::net::TcpStream;

/// Capabilities libmariadb-style clients send (no CLIENT_DEPRECATE_EOF).
pub const CLASSIC: u32 = cap::LONG_PASSWORD
    | cap::LONG_FLAG
    | cap::PROTOCOL_41
    | cap::TRANSACTIONS
    | cap::SECURE_CONNECTION
    | cap::MULTI_RESULTS
    | cap::PS_MULTI_RESULTS
    | cap::PLUGIN_AUTH
    | cap::CONNECT_WITH_DB;

/// A logged-in raw connection.
pub struct RawClient {
    /// The socket.
    pub io: PacketStream,
    /// Capabilities the server agreed to.
    pub caps: u32,
    /// The greeting it sent.
    pub greeting: Greeting,
}

/// One text result set as raw packets.
#[derive(Debug)]
pub struct RawResult {
    /// Column definition packets.
    pub columns: Vec<Packet>,
    /// The EOF after the column definitions, if one was sent.
    pub columns_eof: Option<Packet>,
    /// Row packets.
    pub rows: Vec<Packet>,
    /// The packet that ended the rows.
    pub end: Packet,
}

impl RawClient {
    /// Logs in; `Err` carries the server's ERR packet.
    pub async fn connect(addr: SocketAddr, user: &str, password: &str, db: Option<&str>, caps: u32, collation: u8) -> Result<RawClient, Err> {
        let mut io = PacketStream::new(TcpStream::connect(addr).await.unwrap());
        let first = io.read_packet().await.unwrap().unwrap();
        assert_eq!(first.seq, 0, "greeting has sequence id 0");
        let greeting = Greeting::decode(&first.payload).unwrap();
        let caps = caps & greeting.capabilities;
        let response = HandshakeResponse {
            capabilities: caps,
            max_packet: 1 << 24,
            collation,
            user: user.into(),
            auth: native_token(password.as_bytes(), &greeting.scramble),
            database: db.map(str::to_string),
            auth_plugin: Some("mysql_native_password".into()),
        };
        io.write_packet(1, &response.encode()).await.unwrap();
        let reply = io.read_packet().await.unwrap().unwrap();
        assert_eq!(reply.seq, 2, "login reply follows the response's sequence id");
        match reply.payload[0] {
            0x00 => Ok(RawClient { io, caps, greeting }),
            0xFF => Err(decode_err(&reply.payload).unwrap()),
            b => panic!("unexpected login reply header {b:#x}"),
        }
    }

    /// Sends a command (sequence id 0) and reads one packet back.
    pub async fn command(&mut self, payload: &[u8]) -> Packet {
        self.io.write_packet(0, payload).await.unwrap();
        self.read().await
    }

    /// Reads one packet.
    pub async fn read(&mut self) -> Packet {
        self.io.read_packet().await.unwrap().expect("server closed the connection")
    }

    /// Runs a query that must return one result set, and returns its packets, checking sequence ids.
    pub async fn query_result(&mut self, sql: &str) -> RawResult {
        let mut cmd = vec![0x03];
        cmd.extend_from_slice(sql.as_bytes());
        let head = self.command(&cmd).await;
        assert!(head.payload[0] != 0xFF, "query failed: {:?}", decode_err(&head.payload));
        let count = usize::from(head.payload[0]);
        let mut expected_seq = 2u8;
        let next = |p: Packet, seq: &mut u8| {
            assert_eq!(p.seq, *seq, "sequence ids of a reply count up by one");
            *seq += 1;
            p
        };
        let mut columns = Vec::new();
        for _ in 0..count {
            let p = self.read().await;
            columns.push(next(p, &mut expected_seq));
        }
        let mut columns_eof = None;
        if self.caps & cap::DEPRECATE_EOF == 0 {
            let p = self.read().await;
            columns_eof = Some(next(p, &mut expected_seq));
        }
        let mut rows = Vec::new();
        loop {
            let p = next(self.read().await, &mut expected_seq);
            if p.payload[0] == 0xFE && p.payload.len() < 0xFF_FFFF {
                return RawResult { columns, columns_eof, rows, end: p };
            }
            assert!(p.payload[0] != 0xFF, "error inside rows: {:?}", decode_err(&p.payload));
            rows.push(p);
        }
    }
}
