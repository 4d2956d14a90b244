//! Shard keys: SQL literals canonicalised per the column's declared key type, and hashed through their
//! canonical bytes only. std's `Hash` for integers and strings is not promised stable across Rust releases,
//! and 42 hashed as i32, u64 or "42" would land on different nodes (ARCHITECTURE.md, Measurements); these bytes are stable.

use std::hash::{Hash, Hasher};

use crate::config::rules::KeyType;

/// A value as written in SQL, before canonicalisation.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// An integer literal (or a parameter bound as an integer).
    Int(i128),
    /// A string literal.
    Str(String),
    /// NULL.
    Null,
    /// Anything else (a decimal, an expression): not a usable key.
    Other,
}

/// A canonical shard key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    /// An integer key.
    Int(i64),
    /// A string key.
    Str(String),
}

impl KeyValue {
    /// Canonicalises `lit` for a column of type `ty`; `None` if it cannot be a key of that type (the router
    /// then sends the statement to every node rather than guess).
    pub fn from_literal(lit: &Literal, ty: KeyType) -> Option<KeyValue> {
        match (ty, lit) {
            (KeyType::Integer, Literal::Int(i)) => i64::try_from(*i).ok().map(KeyValue::Int),
            (KeyType::Integer, Literal::Str(s)) => s.trim().parse::<i64>().ok().map(KeyValue::Int),
            (KeyType::String, Literal::Str(s)) => Some(KeyValue::Str(s.clone())),
            (KeyType::String, Literal::Int(i)) => Some(KeyValue::Str(i.to_string())),
            _ => None,
        }
    }

    /// The bytes every hashing algorithm sees: decimal ASCII for integers, UTF-8 for strings.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        match self {
            KeyValue::Int(i) => i.to_string().into_bytes(),
            KeyValue::Str(s) => s.as_bytes().to_vec(),
        }
    }
}

/// Hashes exactly the wrapped bytes: no length prefix, no terminator, nothing that depends on Rust's std.
pub struct HashBytes<'a>(pub &'a [u8]);

impl Hash for HashBytes<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0);
    }
}

/// The hasher of the consistent-hash ring: FNV-1a over the bytes written, integers written little-endian
/// whatever the platform, and murmur3's 64-bit finaliser on the result. FNV-1a alone leaves short keys
/// ("1", "2", … differ only in the last byte) in one narrow arc of the ring; the finaliser spreads them.
/// Every step is fixed arithmetic, so the mapping never depends on the Rust release or the machine.
#[derive(Debug, Clone, Copy)]
pub struct RingHasher(u64);

impl Default for RingHasher {
    fn default() -> Self {
        RingHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for RingHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// FNV-1a 64 of `bytes` (the `fnv` crate): stable by definition.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = fnv::FnvHasher::default();
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_numeric_strings_are_the_same_key() {
        let a = KeyValue::from_literal(&Literal::Int(42), KeyType::Integer).unwrap();
        let b = KeyValue::from_literal(&Literal::Str(" 42".into()), KeyType::Integer).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.canonical_bytes(), b"42");
        assert_eq!(KeyValue::from_literal(&Literal::Str("x".into()), KeyType::Integer), None);
        assert_eq!(KeyValue::from_literal(&Literal::Null, KeyType::Integer), None);
        assert_eq!(KeyValue::from_literal(&Literal::Int(7), KeyType::String).unwrap().canonical_bytes(), b"7");
    }

    #[test]
    fn fnv_matches_the_published_test_vector() {
        // FNV-1a 64 of "a" per the FNV reference.
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
    }
}
