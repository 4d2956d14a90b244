//! Framing: a MySQL packet is a 3-byte little-endian length, a 1-byte sequence id and the payload; a
//! payload of 0xFFFFFF bytes or more continues in the following frames.
//!
//! Hand-written rather than tokio-util's codec because the relay path needs the raw read buffer: it scans
//! frame headers in place and writes whole buffered chunks to the other socket without copying or
//! re-framing (ARCHITECTURE.md, Measurements).

use bytes::{Buf, Bytes, BytesMut};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::transport::Transport;

use super::constants::MAX_FRAME;

/// One logical packet: sequence id of its first frame and the reassembled payload.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Sequence id of the first frame.
    pub seq: u8,
    /// Sequence id of the last frame (equal to `seq` unless the packet spanned several frames).
    pub last_seq: u8,
    /// The payload.
    pub payload: Bytes,
}

/// A socket with read and write buffers, speaking MySQL frames.
pub struct PacketStream {
    stream: Transport,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    writes: u64,
    max_packet: usize,
    /// While set, writes land here instead of the socket (one statement of a multi-statement query).
    capture: Option<Vec<u8>>,
    /// The compressed protocol, once negotiated: frames are (de)compressed below the framing.
    compress: Option<Box<super::compress::Compressed>>,
}

/// Length and sequence id of the frame at the start of `buf`, if its header is complete.
pub fn frame_header(buf: &[u8]) -> Option<(usize, u8)> {
    if buf.len() < 4 {
        return None;
    }
    Some((usize::from(buf[0]) | usize::from(buf[1]) << 8 | usize::from(buf[2]) << 16, buf[3]))
}

impl PacketStream {
    /// Wraps a connected socket; disables Nagle so small replies leave at once.
    pub fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        Self::over(Transport::Tcp(stream))
    }

    /// Wraps any transport with the same buffers as [`Self::new`]; for streams that are not a fresh TCP
    /// socket, such as the in-memory pipes of unit tests' fake backend and fake client.
    pub fn over(stream: Transport) -> Self {
        PacketStream { stream, rbuf: BytesMut::with_capacity(16 * 1024), wbuf: Vec::with_capacity(16 * 1024), writes: 0, max_packet: usize::MAX, capture: None, compress: None }
    }

    /// The peer's address, for messages.
    pub fn peer_ip(&self) -> String {
        self.stream.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|_| "unknown".into())
    }

    /// Reads one logical packet. `Ok(None)` means the peer closed the connection between packets.
    /// Cancel-safe: nothing is consumed until the whole packet (all its frames) is buffered, so a session
    /// may stop waiting for its client (to give a connection back) and wait again without losing bytes.
    pub async fn read_packet(&mut self) -> io::Result<Option<Packet>> {
        loop {
            // Walk the buffered frames of the next packet without consuming them.
            let (mut at, mut total) = (0usize, 0usize);
            let mut need = 4;
            while let Some((len, seq)) = frame_header(&self.rbuf[at..]) {
                total += len;
                if total > self.max_packet {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "packet bigger than max_allowed_packet"));
                }
                if self.rbuf.len() < at + 4 + len {
                    need = at + 4 + len;
                    break;
                }
                at += 4 + len;
                if len < MAX_FRAME {
                    return Ok(Some(self.take_packet(at, total, seq)));
                }
                need = at + 4;
            }
            if self.rbuf.capacity() < need {
                self.rbuf.reserve(need - self.rbuf.len());
            }
            if self.read_more().await? == 0 {
                if self.rbuf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a packet"));
            }
        }
    }

    /// Consumes the `bytes` buffered bytes of one complete packet (`payload_len` bytes of payload in one or
    /// more frames).
    fn take_packet(&mut self, bytes: usize, payload_len: usize, last_seq: u8) -> Packet {
        let seq = self.rbuf[3];
        let mut raw = self.rbuf.split_to(bytes);
        if bytes == payload_len + 4 {
            raw.advance(4);
            return Packet { seq, last_seq, payload: raw.freeze() };
        }
        let mut payload = BytesMut::with_capacity(payload_len);
        while let Some((len, _)) = frame_header(&raw) {
            payload.extend_from_slice(&raw[4..4 + len]);
            raw.advance(4 + len);
        }
        Packet { seq, last_seq, payload: payload.freeze() }
    }

    /// Reads whatever the socket has into the read buffer; 0 means end of stream.
    pub async fn read_more(&mut self) -> io::Result<usize> {
        if let Some(c) = self.compress.as_mut() {
            let before = self.rbuf.len();
            loop {
                while c.decode_one(&mut self.rbuf, self.max_packet.min(1 << 30))? {
                    if self.rbuf.len() > before {
                        return Ok(self.rbuf.len() - before);
                    }
                }
                if c.raw.capacity() - c.raw.len() < 4096 {
                    c.raw.reserve(16 * 1024);
                }
                if self.stream.read_buf(&mut c.raw).await? == 0 {
                    return Ok(0);
                }
            }
        }
        if self.rbuf.capacity() - self.rbuf.len() < 4096 {
            self.rbuf.reserve(16 * 1024);
        }
        self.stream.read_buf(&mut self.rbuf).await
    }

    /// Switches to the compressed protocol (after the handshake's last packet, in both directions).
    pub fn enable_compression(&mut self) {
        self.compress = Some(Box::default());
    }

    /// Whether the compressed protocol is on.
    pub fn is_compressed(&self) -> bool {
        self.compress.is_some()
    }

    /// Checks without blocking whether the peer has closed the connection (or sent something unasked,
    /// which for an idle backend connection is just as unusable).
    pub fn peer_closed(&mut self) -> bool {
        if let Transport::Memory(pipe) = &mut self.stream {
            // No socket to peek at: poll the pipe once without waiting; only Pending means open and quiet.
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let mut byte = [0u8; 1];
            let poll = tokio::io::AsyncRead::poll_read(std::pin::Pin::new(pipe), &mut cx, &mut tokio::io::ReadBuf::new(&mut byte));
            return poll.is_ready();
        }
        let Ok(tcp) = self.stream.tcp() else { return true };
        match tcp.try_read_buf(&mut self.rbuf) {
            Ok(_) => true,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        }
    }

    /// The bytes read but not yet consumed.
    pub fn read_buffer(&mut self) -> &mut BytesMut {
        &mut self.rbuf
    }

    /// Queues one packet, split into frames as needed; returns the sequence id after it.
    pub fn queue_packet(&mut self, mut seq: u8, payload: &[u8]) -> u8 {
        if seq == 0 {
            // A command starts: so does the compressed sequence.
            if let Some(c) = self.compress.as_mut() {
                c.restart();
            }
        }
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_FRAME);
            self.wbuf.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
            self.wbuf.push(seq);
            self.wbuf.extend_from_slice(&rest[..n]);
            seq = seq.wrapping_add(1);
            rest = &rest[n..];
            if n < MAX_FRAME {
                return seq;
            }
        }
    }

    /// Bytes queued and not yet written.
    pub fn buffered(&self) -> usize {
        self.wbuf.len()
    }

    /// Writes everything queued with one write call where the kernel takes it.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.writes += 1;
            match (&mut self.capture, &mut self.compress) {
                (Some(captured), _) => captured.extend_from_slice(&self.wbuf),
                (None, Some(c)) => {
                    let mut packed = Vec::with_capacity(self.wbuf.len() / 2 + 16);
                    c.encode(&self.wbuf, &mut packed);
                    self.stream.write_all(&packed).await?
                }
                (None, None) => self.stream.write_all(&self.wbuf).await?,
            }
            self.wbuf.clear();
        }
        Ok(())
    }

    /// From now on, keeps what is written instead of sending it (until `take_capture`).
    pub fn start_capture(&mut self) {
        self.capture = Some(Vec::new());
    }

    /// Stops capturing and returns what was written meanwhile.
    pub fn take_capture(&mut self) -> Vec<u8> {
        self.capture.take().unwrap_or_default()
    }

    /// Queues and flushes one packet; returns the next sequence id.
    pub async fn write_packet(&mut self, seq: u8, payload: &[u8]) -> io::Result<u8> {
        let next = self.queue_packet(seq, payload);
        self.flush().await?;
        Ok(next)
    }

    /// Writes already-framed bytes as they are (the relay path).
    pub async fn write_raw(&mut self, framed: &[u8]) -> io::Result<()> {
        self.flush().await?;
        self.writes += 1;
        match (&mut self.capture, &mut self.compress) {
            (Some(captured), _) => {
                captured.extend_from_slice(framed);
                Ok(())
            }
            (None, Some(c)) => {
                let mut packed = Vec::with_capacity(framed.len() / 2 + 16);
                c.encode(framed, &mut packed);
                self.stream.write_all(&packed).await
            }
            (None, None) => self.stream.write_all(framed).await,
        }
    }

    /// Refuses logical packets longer than `max` bytes (an `InvalidData` error), so a peer cannot make the
    /// proxy buffer without bound.
    pub fn set_max_packet(&mut self, max: usize) {
        self.max_packet = max;
    }

    /// Encrypts the connection as a TLS server (after the client's SSLRequest). Nothing may be buffered.
    pub async fn start_tls(&mut self, acceptor: &tokio_rustls::TlsAcceptor) -> io::Result<()> {
        let Transport::Tcp(tcp) = std::mem::replace(&mut self.stream, Transport::Switching) else {
            return Err(io::Error::other("TLS already started"));
        };
        self.stream = Transport::Tls(Box::new(acceptor.accept(tcp).await?));
        Ok(())
    }

    /// Starts TLS as the client (to a backend, after sending its SSLRequest).
    pub async fn start_tls_client(&mut self, connector: &tokio_rustls::TlsConnector, server: rustls::pki_types::ServerName<'static>) -> io::Result<()> {
        let Transport::Tcp(tcp) = std::mem::replace(&mut self.stream, Transport::Switching) else {
            return Err(io::Error::other("TLS already started"));
        };
        self.stream = Transport::TlsClient(Box::new(connector.connect(server, tcp).await?));
        Ok(())
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// Writes started so far (counted before they begin): unchanged means the peer has received nothing.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Closes the write side so the peer sees a clean end of stream.
    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair() -> (PacketStream, PacketStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
        (PacketStream::new(a.unwrap()), PacketStream::new(b.unwrap().0))
    }

    #[tokio::test]
    async fn small_and_huge_packets_round_trip_with_sequence_ids() {
        let (mut a, mut b) = pair().await;
        let huge: Vec<u8> = (0..(MAX_FRAME * 2 + 10)).map(|i| (i % 251) as u8).collect();
        let exact: Vec<u8> = vec![7u8; MAX_FRAME];
        let writer = tokio::spawn(async move {
            let next = a.write_packet(0, b"\x03select 1").await.unwrap();
            assert_eq!(next, 1);
            let next = a.write_packet(5, &huge).await.unwrap();
            assert_eq!(next, 8, "a 2×16 MiB + 10 payload needs three frames");
            a.write_packet(0, &exact).await.unwrap();
            (huge, exact)
        });
        let p1 = b.read_packet().await.unwrap().unwrap();
        assert_eq!((p1.seq, &p1.payload[..]), (0, &b"\x03select 1"[..]));
        let p2 = b.read_packet().await.unwrap().unwrap();
        let p3 = b.read_packet().await.unwrap().unwrap();
        let (huge, exact) = writer.await.unwrap();
        assert_eq!((p2.seq, p2.last_seq, p2.payload.len()), (5, 7, huge.len()));
        assert_eq!(&p2.payload[..], &huge[..]);
        assert_eq!(p3.payload.len(), exact.len(), "a payload of exactly 0xFFFFFF ends with an empty frame");
        assert!(b.read_packet().await.unwrap().is_none(), "peer closed between packets");
    }

    #[tokio::test]
    async fn close_inside_a_packet_is_an_error() {
        let (mut a, mut b) = pair().await;
        a.write_raw(&[10, 0, 0, 0, b'x']).await.unwrap();
        drop(a);
        assert!(b.read_packet().await.is_err());
    }
}
