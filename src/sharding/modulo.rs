//! `mod` (integer key modulo the node count) and `hash_mod` (FNV-1a of the canonical key modulo the count).

use super::algorithm::ShardingAlgorithm;
use super::key::{fnv1a, KeyValue};

/// Integer key mod n; negative keys use the Euclidean remainder so every key has a node.
#[derive(Debug, Clone)]
pub struct Modulo {
    /// Node count.
    pub nodes: usize,
}

impl ShardingAlgorithm for Modulo {
    fn node_for(&self, key: &KeyValue) -> Option<usize> {
        match key {
            KeyValue::Int(i) => Some(i.rem_euclid(self.nodes as i64) as usize),
            KeyValue::Str(_) => None,
        }
    }
}

/// Stable hash of the canonical key mod n: spreads string keys and sequential ids alike.
#[derive(Debug, Clone)]
pub struct HashMod {
    /// Node count.
    pub nodes: usize,
}

impl ShardingAlgorithm for HashMod {
    fn node_for(&self, key: &KeyValue) -> Option<usize> {
        Some((fnv1a(&key.canonical_bytes()) % self.nodes as u64) as usize)
    }
}
