//! The client's HandshakeResponse and a backend's greeting, as the proxy decodes them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardgate::protocol::handshake::{Greeting, HandshakeResponse};

fuzz_target!(|data: &[u8]| {
    let _ = HandshakeResponse::decode(data);
    let _ = Greeting::decode(data);
    let _ = shardgate::protocol::response::decode_ok(data);
    let _ = shardgate::protocol::response::decode_err(data);
});
