//! The byte stream under a PacketStream: plain TCP, or TLS (rustls) after a client's SSLRequest, or TLS the
//! proxy started to a backend, or (in unit tests) an in-memory pipe.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A client or backend connection's stream.
pub enum Transport {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP, the proxy being the TLS server.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// TLS over TCP to a backend, the proxy being the TLS client.
    TlsClient(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// Between the two, while the TLS handshake runs (or after it failed): no I/O.
    Switching,
    /// An in-memory stream, for unit tests' fake backend and fake client (`backend::fake`): the real
    /// protocol code runs over it without a network.
    Memory(tokio::io::DuplexStream),
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection lost while starting TLS")
}

impl Transport {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> io::Result<&TcpStream> {
        match self {
            Transport::Tcp(s) => Ok(s),
            Transport::Tls(s) => Ok(s.get_ref().0),
            Transport::TlsClient(s) => Ok(s.get_ref().0),
            Transport::Switching => Err(gone()),
            Transport::Memory(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "an in-memory stream has no socket")),
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.tcp()?.peer_addr()
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_) | Transport::TlsClient(_))
    }
}

impl AsyncRead for Transport {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Transport::TlsClient(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Transport::Switching => Poll::Ready(Err(gone())),
            Transport::Memory(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Transport::TlsClient(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Transport::Switching => Poll::Ready(Err(gone())),
            Transport::Memory(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Transport::TlsClient(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Transport::Switching => Poll::Ready(Err(gone())),
            Transport::Memory(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Transport::TlsClient(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Transport::Switching => Poll::Ready(Ok(())),
            Transport::Memory(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The TLS acceptor for `[server] tls_cert` / `tls_key` (PEM files).
pub fn acceptor(cert: &std::path::Path, key: &std::path::Path) -> io::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| io::Error::other(format!("{}: {e}", cert.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io::Error::other(format!("{}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| io::Error::other(format!("{}: {e}", key.display())))?;
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(io::Error::other)?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}
