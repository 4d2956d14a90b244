//! `range`: ascending boundaries split the integer key space; node i takes keys below `boundaries[i]`
//! (and at or above the previous boundary), the last node everything from the last boundary up.

use std::ops::Bound;

use super::algorithm::ShardingAlgorithm;
use super::key::KeyValue;

/// Range sharding over `boundaries.len() + 1` nodes.
#[derive(Debug, Clone)]
pub struct RangeSharding {
    /// Strictly ascending upper bounds (exclusive).
    pub boundaries: Vec<i64>,
}

impl RangeSharding {
    fn node_of(&self, k: i64) -> usize {
        self.boundaries.partition_point(|&b| b <= k)
    }
}

impl ShardingAlgorithm for RangeSharding {
    fn node_for(&self, key: &KeyValue) -> Option<usize> {
        match key {
            KeyValue::Int(i) => Some(self.node_of(*i)),
            KeyValue::Str(_) => None,
        }
    }

    fn nodes_for_range(&self, low: Bound<i64>, high: Bound<i64>) -> Option<Vec<usize>> {
        let lo = match low {
            Bound::Included(k) => k,
            Bound::Excluded(k) => k.checked_add(1)?,
            Bound::Unbounded => i64::MIN,
        };
        let hi = match high {
            Bound::Included(k) => k,
            Bound::Excluded(k) => k.checked_sub(1)?,
            Bound::Unbounded => i64::MAX,
        };
        if lo > hi {
            return Some(Vec::new());
        }
        Some((self.node_of(lo)..=self.node_of(hi)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_split_keys_and_ranges() {
        let r = RangeSharding { boundaries: vec![100, 200] };
        let node = |k| r.node_for(&KeyValue::Int(k)).unwrap();
        assert_eq!((node(-5), node(99), node(100), node(199), node(200), node(i64::MAX)), (0, 0, 1, 1, 2, 2));
        assert_eq!(r.nodes_for_range(Bound::Included(150), Bound::Excluded(200)), Some(vec![1]));
        assert_eq!(r.nodes_for_range(Bound::Included(50), Bound::Included(200)), Some(vec![0, 1, 2]));
        assert_eq!(r.nodes_for_range(Bound::Excluded(300), Bound::Unbounded), Some(vec![2]));
        assert_eq!(r.nodes_for_range(Bound::Included(5), Bound::Excluded(5)), Some(vec![]));
    }
}
