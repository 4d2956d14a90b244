//! mysql_native_password: the client proves it knows the password without sending it.
//!
//! token = SHA1(password) XOR SHA1(scramble ‖ SHA1(SHA1(password))). The server needs only
//! SHA1(SHA1(password)) — the "*HEX" hash MySQL stores — to check a token.

use rand::Rng;
use sha1::{Digest, Sha1};

/// Name of the plugin, as sent in handshakes.
pub const NATIVE_PASSWORD: &str = "mysql_native_password";

/// Length of the scramble (nonce) the server sends.
pub const SCRAMBLE_LEN: usize = 20;

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// A fresh random scramble. Printable ASCII without NUL, because the greeting NUL-terminates it.
pub fn new_scramble() -> [u8; SCRAMBLE_LEN] {
    let mut rng = rand::thread_rng();
    let mut s = [0u8; SCRAMBLE_LEN];
    for b in &mut s {
        *b = rng.gen_range(0x21..0x7f);
    }
    s
}

/// The token a client sends for `password` (empty password → empty token).
pub fn native_token(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = sha1(&[password]);
    let stage2 = sha1(&[&stage1]);
    let mix = sha1(&[scramble, &stage2]);
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

/// SHA1(SHA1(password)): what the rules may store instead of the plain password.
pub fn double_sha1(password: &[u8]) -> [u8; 20] {
    sha1(&[&sha1(&[password])])
}

/// Checks a client's token against the stored double hash (`None` = the account has an empty password).
pub fn verify_native(token: &[u8], scramble: &[u8], stored: Option<&[u8; 20]>) -> bool {
    let Some(stored) = stored else {
        return token.is_empty();
    };
    if token.len() != 20 {
        return false;
    }
    let mix = sha1(&[scramble, stored]);
    let stage1: Vec<u8> = token.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect();
    // Not constant-time: the token is salted with a per-connection scramble, so timing reveals nothing reusable.
    sha1(&[&stage1]) == *stored
}

/// Parses MySQL's `*` + 40 hex digits password hash format.
pub fn parse_password_hash(s: &str) -> Option<[u8; 20]> {
    let hex = s.strip_prefix('*')?;
    if hex.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_verifies_against_the_stored_hash() {
        let scramble = new_scramble();
        let stored = double_sha1(b"app");
        assert!(verify_native(&native_token(b"app", &scramble), &scramble, Some(&stored)));
        assert!(!verify_native(&native_token(b"wrong", &scramble), &scramble, Some(&stored)));
        assert!(!verify_native(&[], &scramble, Some(&stored)));
        assert!(verify_native(&[], &scramble, None));
        assert!(!verify_native(&native_token(b"x", &scramble), &scramble, None));
    }

    #[test]
    fn hash_matches_mysql_password_function() {
        // SELECT PASSWORD('app') on MariaDB 10.11.
        let h = parse_password_hash("*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3").unwrap();
        assert_eq!(h, double_sha1(b"app"));
        assert!(parse_password_hash("5BCB").is_none());
        assert!(parse_password_hash("*ZZCB3E6AC345B435C7C2E6B7949A04CE6F6563D3").is_none());
    }
}
