//! caching_sha2_password, MySQL 8's default authentication.
//!
//! Fast path: token = SHA256(password) XOR SHA256(SHA256(SHA256(password)) ‖ nonce); a server that knows
//! SHA256(SHA256(password)) checks it and answers `0x01 0x03` (fast auth success) then OK. Otherwise it
//! answers `0x01 0x04` (perform full authentication): over TLS the client sends the password in clear; over
//! plain TCP it asks for the server's RSA public key (`0x02`) and sends (password ‖ NUL) XOR nonce encrypted
//! with RSA-OAEP (SHA-1).

use rsa::pkcs8::DecodePublicKey;
use rsa::{Oaep, RsaPublicKey};
use sha2::{Digest, Sha256};

/// Name of the plugin, as sent in handshakes.
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";

/// The second byte of an AuthMoreData packet: the fast path worked.
pub const FAST_AUTH_SUCCESS: u8 = 0x03;
/// The second byte of an AuthMoreData packet: the server wants the full authentication.
pub const PERFORM_FULL_AUTH: u8 = 0x04;
/// What a client sends to ask for the server's RSA public key.
pub const REQUEST_PUBLIC_KEY: u8 = 0x02;

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The fast-path token a client sends for `password` (empty password → empty token).
pub fn token(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = sha256(&[password]);
    let mix = sha256(&[&sha256(&[&stage1]), nonce]);
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

/// Checks a client's fast-path token for `password` (the server side; the proxy knows plain passwords).
pub fn verify(token: &[u8], nonce: &[u8], password: &[u8]) -> bool {
    if password.is_empty() {
        return token.is_empty();
    }
    let stored = sha256(&[&sha256(&[password])]);
    if token.len() != 32 {
        return false;
    }
    let mix = sha256(&[&stored, nonce]);
    let stage1: Vec<u8> = token.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect();
    sha256(&[&stage1]) == stored
}

/// The full-authentication message for a plain connection: (password ‖ NUL) XOR nonce, RSA-OAEP encrypted
/// with the server's PEM public key.
pub fn encrypt_password(password: &[u8], nonce: &[u8], public_key_pem: &str) -> Result<Vec<u8>, String> {
    let key = RsaPublicKey::from_public_key_pem(public_key_pem.trim()).map_err(|e| format!("the server's RSA public key: {e}"))?;
    let mut plain = password.to_vec();
    plain.push(0);
    for (i, b) in plain.iter_mut().enumerate() {
        *b ^= nonce[i % nonce.len()];
    }
    key.encrypt(&mut rand::thread_rng(), Oaep::new::<sha1::Sha1>(), &plain).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_round_trip_and_known_structure() {
        let nonce = b"0123456789abcdefghij";
        let t = token(b"secret", nonce);
        assert_eq!(t.len(), 32);
        assert!(verify(&t, nonce, b"secret"));
        assert!(!verify(&t, nonce, b"Secret"));
        assert!(!verify(&t, b"0123456789abcdefghiX", b"secret"));
        assert!(token(b"", nonce).is_empty() && verify(&[], nonce, b""));
        // XOR of the token with SHA256(password) is SHA256(SHA256(SHA256(password)) ‖ nonce).
        let stage1 = sha256(&[b"secret"]);
        let unmasked: Vec<u8> = t.iter().zip(stage1).map(|(a, b)| a ^ b).collect();
        assert_eq!(unmasked, sha256(&[&sha256(&[&stage1]), nonce]).to_vec());
    }
}
