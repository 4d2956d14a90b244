//! The proxy's login to a backend: mysql_native_password (MariaDB, MySQL 5.7) or caching_sha2_password (MySQL
//! 8's default: fast path, or the full path with the password over TLS or sealed with the server's RSA
//! public key over a plain connection), and
//! AuthSwitchRequests between them.

use crate::protocol::auth::{native_token, NATIVE_PASSWORD};
use crate::protocol::caching_sha2::{self, CACHING_SHA2_PASSWORD, FAST_AUTH_SUCCESS, PERFORM_FULL_AUTH, REQUEST_PUBLIC_KEY};
use crate::protocol::packet::{Packet, PacketStream};

/// The plugin to start with (the one the greeting names, if the proxy speaks it) and its token.
pub fn first_token(greeting_plugin: &str, password: &[u8], nonce: &[u8]) -> (&'static str, Vec<u8>) {
    if greeting_plugin == CACHING_SHA2_PASSWORD {
        (CACHING_SHA2_PASSWORD, caching_sha2::token(password, nonce))
    } else {
        (NATIVE_PASSWORD, native_token(password, nonce))
    }
}

async fn read(io: &mut PacketStream) -> Result<Packet, String> {
    io.read_packet().await.map_err(|e| e.to_string())?.ok_or_else(|| "backend closed the connection during login".to_string())
}

/// Reads the server's answers after the HandshakeResponse until OK (`Ok`) or ERR (`Err` with its payload
/// described by `describe`), answering AuthSwitchRequest and caching_sha2's AuthMoreData.
pub async fn finish(
    io: &mut PacketStream,
    password: &[u8],
    mut plugin: &'static str,
    mut nonce: Vec<u8>,
    tls: bool,
    describe: impl Fn(&[u8]) -> String,
) -> Result<(), String> {
    loop {
        let reply = read(io).await?;
        let seq = reply.seq.wrapping_add(1);
        let payload = &reply.payload;
        match payload.first() {
            Some(0x00) => return Ok(()),
            Some(0xFF) => return Err(describe(payload)),
            Some(0xFE) => {
                // AuthSwitchRequest: plugin name, then a fresh nonce.
                let body = &payload[1..];
                let nul = body.iter().position(|&b| b == 0).unwrap_or(body.len());
                let name = String::from_utf8_lossy(&body[..nul]).into_owned();
                let fresh = body.get(nul + 1..).unwrap_or(&[]);
                nonce = fresh.strip_suffix(&[0]).unwrap_or(fresh).to_vec();
                let token = match name.as_str() {
                    NATIVE_PASSWORD => {
                        plugin = NATIVE_PASSWORD;
                        native_token(password, &nonce)
                    }
                    CACHING_SHA2_PASSWORD => {
                        plugin = CACHING_SHA2_PASSWORD;
                        caching_sha2::token(password, &nonce)
                    }
                    other => return Err(format!("backend asks for auth plugin '{other}'; use mysql_native_password or caching_sha2_password for the proxy's backend user")),
                };
                io.write_packet(seq, &token).await.map_err(|e| e.to_string())?;
            }
            Some(0x01) if plugin == CACHING_SHA2_PASSWORD => match payload.get(1) {
                Some(&FAST_AUTH_SUCCESS) => {} // the OK follows
                Some(&PERFORM_FULL_AUTH) if tls => {
                    // Over TLS the server takes the password itself (NUL-terminated), as MySQL clients send it.
                    let clear = [password, &[0]].concat();
                    io.write_packet(seq, &clear).await.map_err(|e| e.to_string())?;
                }
                Some(&PERFORM_FULL_AUTH) => {
                    io.write_packet(seq, &[REQUEST_PUBLIC_KEY]).await.map_err(|e| e.to_string())?;
                    let key = read(io).await?;
                    if key.payload.first() != Some(&0x01) {
                        return Err(describe(&key.payload));
                    }
                    let pem = String::from_utf8_lossy(&key.payload[1..]).into_owned();
                    let sealed = caching_sha2::encrypt_password(password, &nonce, &pem)?;
                    io.write_packet(key.seq.wrapping_add(1), &sealed).await.map_err(|e| e.to_string())?;
                }
                _ => return Err("unexpected caching_sha2_password message from the backend".into()),
            },
            _ => return Err("unexpected packet during backend login".into()),
        }
    }
}
