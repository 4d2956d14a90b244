//! Consistent hashing (the default): nodes sit on a ring at the hashes of their names' virtual copies
//! (consistent_hash_ring with [`RingHasher`]), a key belongs to the first node at or after its own hash.
//! Adding a node moves only the keys that now fall to it.

use std::hash::{Hash, Hasher};

use consistent_hash_ring::{Ring, RingBuilder};

use super::algorithm::ShardingAlgorithm;
use super::key::{HashBytes, KeyValue, RingHasher};
use std::hash::BuildHasherDefault;

/// A ring member: hashed by its name's bytes only (stable), carrying its index in `actual_nodes`.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    index: usize,
}

impl Hash for Member {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.name.as_bytes());
    }
}
impl PartialEq for Member {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Member {}

/// The consistent-hash algorithm over named nodes.
#[derive(Clone)]
pub struct ConsistentHash {
    ring: Ring<Member, BuildHasherDefault<RingHasher>>,
}

impl std::fmt::Debug for ConsistentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConsistentHash({} vnodes)", self.ring.len())
    }
}

impl ConsistentHash {
    /// A ring of `names` (node identities, e.g. "ds_0.t_order_0"), each with `vnodes` virtual nodes.
    pub fn new(names: &[String], vnodes: usize) -> Self {
        let members = names.iter().enumerate().map(|(index, name)| Member { name: name.clone(), index });
        let ring = RingBuilder::new(BuildHasherDefault::<RingHasher>::default()).vnodes(vnodes.max(1)).nodes_iter(members).build();
        ConsistentHash { ring }
    }
}

impl ShardingAlgorithm for ConsistentHash {
    fn node_for(&self, key: &KeyValue) -> Option<usize> {
        let bytes = key.canonical_bytes();
        self.ring.try_get(HashBytes(&bytes)).map(|m| m.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("ds_{i}.t")).collect()
    }

    #[test]
    fn balanced_and_moves_about_one_fifth_going_from_four_to_five_nodes() {
        let four = ConsistentHash::new(&names(4), 160);
        let five = ConsistentHash::new(&names(5), 160);
        let mut counts = [0usize; 4];
        let mut moved = 0;
        for k in 1..=100_000i64 {
            let key = KeyValue::Int(k);
            let a = four.node_for(&key).unwrap();
            counts[a] += 1;
            let b = five.node_for(&key).unwrap();
            if a != b {
                assert_eq!(b, 4, "keys only ever move to the new node");
                moved += 1;
            }
        }
        for c in counts {
            assert!((20_000..30_000).contains(&c), "unbalanced: {counts:?}");
        }
        // Small sequential keys spread too (plain FNV-1a put 1..40 on two of four nodes).
        let small: std::collections::BTreeSet<usize> = (1..=40).map(|k| four.node_for(&KeyValue::Int(k)).unwrap()).collect();
        assert_eq!(small.len(), 4);
        assert!((15_000..26_000).contains(&moved), "moved {moved}");
    }
}
