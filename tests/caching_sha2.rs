//! caching_sha2_password, MySQL 8's default authentication. Client side: shardgate proposing it in its
//! greeting, checked with mysql_async (which speaks it). Backend side: MariaDB does not speak it, so a small
//! fake MySQL 8 server in this file plays the server's part of the protocol — the fast path, the full path
//! with an RSA public key (the password decrypted and compared), and a switch from native to sha2.

mod common;

use rsa::pkcs8::EncodePublicKey;
use rsa::{Oaep, RsaPrivateKey};
use shardgate::backend::conn::{BackendConn, Variant};
use shardgate::protocol::caching_sha2;
use shardgate::protocol::constants::cap;
use shardgate::protocol::handshake::{Greeting, HandshakeResponse};
use shardgate::protocol::packet::PacketStream;
use shardgate::protocol::response::{encode_ok, Ok as OkPacket};
use sha2::{Digest, Sha256};

use common::{opts, start_proxy_with};
use mysql_async::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_log_in_with_caching_sha2_password() {
    // PASSWORD('hashed') as the rules may hold it: such a user is switched to native passwords.
    let hash: String = shardgate::protocol::auth::double_sha1(b"hashed").iter().map(|b| format!("{b:02X}")).collect();
    let p = start_proxy_with(|t| {
        t.replacen("listen = \"127.0.0.1:0\"\n", "listen = \"127.0.0.1:0\"\nauth_plugin = \"caching_sha2_password\"\n", 1)
            + &format!("\n[[users]]\nname = \"hashy\"\npassword_hash = \"*{hash}\"\n")
    })
    .await;
    let mut c = mysql_async::Conn::new(opts(&p, "app", "app", Some("demo"))).await.expect("caching_sha2 fast path");
    let one: Option<i64> = c.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    let err = mysql_async::Conn::new(opts(&p, "app", "wrong", Some("demo"))).await.map(|_| ()).unwrap_err();
    assert!(matches!(&err, mysql_async::Error::Server(e) if e.code == 1045), "{err:?}");
    let mut h = mysql_async::Conn::new(opts(&p, "hashy", "hashed", Some("demo"))).await.expect("switched to mysql_native_password");
    let two: Option<i64> = h.query_first("SELECT 2").await.unwrap();
    assert_eq!(two, Some(2));
}

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

/// How the fake server authenticates its one client.
#[derive(Clone, Copy)]
enum Mode {
    Fast,
    FullWithRsa,
    SwitchFromNative,
}

/// A one-connection MySQL 8 stand-in: greets, authenticates `user`/`password` the way `mode` says (checking
/// the token or the decrypted password itself, independently of shardgate's code), answers OK or ERR.
async fn fake_mysql8(mode: Mode, password: &'static [u8]) -> (std::net::SocketAddr, tokio::task::JoinHandle<bool>) {
    // The RSA key is made before anyone connects: unoptimised key generation on a busy 2-core machine
    // can take longer than the proxy's login timeout, which would fail the test for the wrong reason.
    let key = matches!(mode, Mode::FullWithRsa).then(|| RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut io = PacketStream::new(stream);
        let nonce = b"abcdefghij0123456789".to_vec();
        let caps = cap::LONG_PASSWORD | cap::PROTOCOL_41 | cap::SECURE_CONNECTION | cap::PLUGIN_AUTH | cap::TRANSACTIONS | cap::DEPRECATE_EOF
            | cap::MULTI_RESULTS | cap::PS_MULTI_RESULTS | cap::CONNECT_WITH_DB;
        let plugin = if matches!(mode, Mode::SwitchFromNative) { "mysql_native_password" } else { "caching_sha2_password" };
        let greeting = Greeting { server_version: "8.0.40".into(), connection_id: 7, scramble: nonce.clone(), capabilities: caps, collation: 255, status: 2, auth_plugin: plugin.into() };
        io.write_packet(0, &greeting.encode()).await.unwrap();
        let response = io.read_packet().await.unwrap().unwrap();
        let hr = HandshakeResponse::decode(&response.payload).unwrap();
        let mut seq = response.seq + 1;
        let (mut token, mut nonce_used) = (hr.auth.clone(), nonce.clone());
        if matches!(mode, Mode::SwitchFromNative) {
            nonce_used = b"ZYXWVUTSRQPONMLKJIHG".to_vec();
            let mut switch = vec![0xFE];
            switch.extend_from_slice(b"caching_sha2_password\0");
            switch.extend_from_slice(&nonce_used);
            switch.push(0);
            io.write_packet(seq, &switch).await.unwrap();
            let reply = io.read_packet().await.unwrap().unwrap();
            token = reply.payload.to_vec();
            seq = reply.seq + 1;
        } else if hr.auth_plugin.as_deref() != Some("caching_sha2_password") {
            return false;
        }
        let ok = match mode {
            Mode::Fast | Mode::SwitchFromNative => {
                // token XOR SHA256(SHA256(SHA256(pw)) ‖ nonce) must be SHA256(pw).
                let stored = sha256(&[&sha256(&[password])]);
                let mix = sha256(&[&stored, &nonce_used]);
                let stage1: Vec<u8> = token.iter().zip(&mix).map(|(a, b)| a ^ b).collect();
                let good = sha256(&[&stage1]) == stored;
                if good {
                    seq = io.write_packet(seq, &[0x01, 0x03]).await.unwrap();
                }
                good
            }
            Mode::FullWithRsa => {
                io.write_packet(seq, &[0x01, 0x04]).await.unwrap();
                let ask = io.read_packet().await.unwrap().unwrap();
                if ask.payload[..] != [0x02] {
                    return false;
                }
                let key = key.expect("made for FullWithRsa");
                let pem = key.to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).unwrap();
                let mut msg = vec![0x01];
                msg.extend_from_slice(pem.as_bytes());
                io.write_packet(ask.seq + 1, &msg).await.unwrap();
                let sealed = io.read_packet().await.unwrap().unwrap();
                seq = sealed.seq + 1;
                let mut plain = key.decrypt(Oaep::new::<sha1::Sha1>(), &sealed.payload).unwrap();
                for (i, b) in plain.iter_mut().enumerate() {
                    *b ^= nonce[i % nonce.len()];
                }
                plain == [password, b"\0"].concat()
            }
        };
        let reply = if ok { encode_ok(&OkPacket::default(), 0) } else { vec![0xFF, 0x15, 0x04, b'#', b'2', b'8', b'0', b'0', b'0', b'd', b'e', b'n', b'i', b'e', b'd'] };
        io.write_packet(seq, &reply).await.unwrap();
        ok
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shardgate_logs_in_to_mysql8_backends_with_caching_sha2_password() {
    for mode in [Mode::Fast, Mode::FullWithRsa, Mode::SwitchFromNative] {
        let (addr, server) = fake_mysql8(mode, b"s3cret").await;
        let rule: shardgate::config::rules::DataSourceRule = toml::from_str(&format!("primary = \"{addr}\"\nuser = \"app\"\npassword = \"s3cret\"\nconnect_timeout_ms = 30000\n")).unwrap();
        let variant = Variant { caps: cap::DEPRECATE_EOF | cap::MULTI_RESULTS | cap::PS_MULTI_RESULTS, collation: 45 };
        let conn = BackendConn::connect("mysql8", &rule, variant, None).await;
        let accepted = server.await.unwrap();
        assert!(accepted, "the fake server accepted the proof");
        let conn = conn.expect("logged in");
        assert_eq!(conn.server_version, "8.0.40");
    }
    // A wrong password is an error, not a hang.
    let (addr, server) = fake_mysql8(Mode::FullWithRsa, b"s3cret").await;
    let rule: shardgate::config::rules::DataSourceRule = toml::from_str(&format!("primary = \"{addr}\"\nuser = \"app\"\npassword = \"nope\"\nconnect_timeout_ms = 30000\n")).unwrap();
    let variant = Variant { caps: cap::DEPRECATE_EOF, collation: 45 };
    assert!(BackendConn::connect("mysql8", &rule, variant, None).await.is_err());
    assert!(!server.await.unwrap());
    assert!(caching_sha2::verify(&caching_sha2::token(b"x", b"n"), b"n", b"x"));
}
