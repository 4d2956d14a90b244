//! The sharding algorithm trait: a key → a node index, and for range-aware algorithms a key range → the
//! nodes it can touch.

use std::ops::Bound;

use super::key::KeyValue;

/// Maps keys to node indexes `0..node_count`.
pub trait ShardingAlgorithm: Send + Sync + std::fmt::Debug {
    /// The node holding `key`; `None` if this algorithm cannot place such a key (e.g. a string under `mod`).
    fn node_for(&self, key: &KeyValue) -> Option<usize>;

    /// The nodes that can hold keys between `low` and `high`; `None` means "any node" (hashing algorithms
    /// scatter ranges).
    fn nodes_for_range(&self, _low: Bound<i64>, _high: Bound<i64>) -> Option<Vec<usize>> {
        None
    }
}
