//! The replicas of one data source and the choice of one for a read.

use std::sync::Arc;

use rand::Rng;

use super::health::NodeHealth;
use crate::config::rules::{DataSourceRule, ReadPolicy};

/// One replica: the pool it is reached through and its health.
#[derive(Debug)]
pub struct Replica {
    /// Pool name: `<data source>/replica<i>` (`i` counts from 1 in rules order).
    pub name: String,
    /// Its address.
    pub address: std::net::SocketAddr,
    /// Share of reads.
    pub weight: u32,
    /// What the checker found.
    pub health: Arc<NodeHealth>,
}

/// The replicas of one data source.
#[derive(Debug)]
pub struct ReplicaSet {
    /// Its replicas, in rules order.
    pub replicas: Vec<Replica>,
    /// Where reads go.
    pub policy: ReadPolicy,
}

/// The pool name of replica `i` (counting from 1) of `data_source`.
pub fn replica_name(data_source: &str, i: usize) -> String {
    format!("{data_source}/replica{i}")
}

impl ReplicaSet {
    /// The replicas `rule` lists, none of them serving until checked.
    pub fn new(data_source: &str, rule: &DataSourceRule) -> Self {
        let replicas = rule
            .replicas
            .iter()
            .enumerate()
            .map(|(i, r)| Replica {
                name: replica_name(data_source, i + 1),
                address: r.address,
                weight: r.weight,
                health: Arc::new(NodeHealth::new(rule.max_replication_lag)),
            })
            .collect();
        ReplicaSet { replicas, policy: rule.read_policy }
    }

    /// A serving replica chosen at random in proportion to weight, skipping `exclude`; `None` sends the
    /// read to the primary (policy primary_only, or no replica serving).
    pub fn choose(&self, exclude: Option<&str>) -> Option<&Replica> {
        if self.policy == ReadPolicy::PrimaryOnly {
            return None;
        }
        let serving = || self.replicas.iter().filter(|r| r.health.serving() && Some(r.name.as_str()) != exclude);
        let total: u64 = serving().map(|r| u64::from(r.weight)).sum();
        if total == 0 {
            return None;
        }
        let mut pick = rand::thread_rng().gen_range(0..total);
        for r in serving() {
            if pick < u64::from(r.weight) {
                return Some(r);
            }
            pick -= u64::from(r.weight);
        }
        None
    }

    /// The replica named `name`.
    pub fn get(&self, name: &str) -> Option<&Replica> {
        self.replicas.iter().find(|r| r.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(weights: &[u32], policy: ReadPolicy) -> ReplicaSet {
        let text = format!(
            "primary = \"127.0.0.1:1\"\nuser = \"u\"\nmax_replication_lag = 5\nread_policy = \"{}\"\n{}",
            if policy == ReadPolicy::PrimaryOnly { "primary_only" } else { "replica_first" },
            weights.iter().enumerate().map(|(i, w)| format!("[[replicas]]\naddress = \"127.0.0.1:{}\"\nweight = {w}\n", i + 2)).collect::<String>()
        );
        let rule: DataSourceRule = toml::from_str(&text).expect("rule");
        ReplicaSet::new("ds", &rule)
    }

    fn share(s: &ReplicaSet, name: &str, n: usize) -> f64 {
        (0..n).filter(|_| s.choose(None).is_some_and(|r| r.name == name)).count() as f64 / n as f64
    }

    #[test]
    fn reads_follow_weights_among_serving_replicas() {
        let s = set(&[3, 1], ReadPolicy::ReplicaFirst);
        assert!(s.choose(None).is_none(), "unchecked replicas serve nothing");
        s.replicas.iter().for_each(|r| r.health.record(Ok(0)));
        let first = share(&s, "ds/replica1", 40_000);
        assert!((0.72..0.78).contains(&first), "weight 3 of 4 took {first}");
        assert_eq!(s.choose(Some("ds/replica1")).map(|r| r.name.as_str()), Some("ds/replica2"));
        s.replicas[1].health.record(Ok(6));
        assert_eq!(share(&s, "ds/replica1", 1000), 1.0, "a replica over the lag bound serves nothing");
        s.replicas[0].health.mark_down("read failed");
        assert!(s.choose(None).is_none(), "nothing serving: the primary");
        s.replicas[0].health.record(Ok(1));
        assert_eq!(share(&s, "ds/replica1", 100), 1.0, "back after a passing check");
        assert!(set(&[1], ReadPolicy::PrimaryOnly).choose(None).is_none());
    }
}
