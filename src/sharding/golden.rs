//! The golden mapping test: the node of integer keys 1..=1000 and of 100 strings, per algorithm, pinned in
//! `golden_mapping.txt`. A change to hashing, canonicalisation or ring layout that moves any key fails
//! here: existing data would be looked for on the wrong node. Regenerate only for a deliberate, documented
//! migration: `SHARDGATE_BLESS=1 cargo test golden`.

#[cfg(test)]
mod tests {
    use crate::config::rules::KeyType;
    use crate::sharding::algorithm::ShardingAlgorithm;
    use crate::sharding::consistent_hash::ConsistentHash;
    use crate::sharding::key::{KeyValue, Literal};
    use crate::sharding::modulo::{HashMod, Modulo};
    use crate::sharding::range::RangeSharding;

    const GOLDEN: &str = include_str!("golden_mapping.txt");

    fn strings() -> Vec<String> {
        let mut v: Vec<String> = (0..95).map(|i| format!("user-{i}")).collect();
        v.extend(["", "ä", "☃ snow", "O'Brien", "a\\b"].map(String::from));
        v
    }

    fn mapping() -> String {
        // Ring names as the rules `ds_${0..1}.t_${0..1}` give them (see table.rs).
        let ring = ConsistentHash::new(&["ds_0#0", "ds_0#1", "ds_1#0", "ds_1#1"].map(String::from), 160);
        let algorithms: Vec<(&str, Box<dyn ShardingAlgorithm>, bool)> = vec![
            ("consistent_hash", Box::new(ring), true),
            ("mod", Box::new(Modulo { nodes: 4 }), false),
            ("hash_mod", Box::new(HashMod { nodes: 4 }), true),
            ("range", Box::new(RangeSharding { boundaries: vec![250, 500, 750] }), false),
        ];
        let mut out = String::new();
        for (name, alg, strings_too) in &algorithms {
            let ints: Vec<String> = (1..=1000i128)
                .map(|k| alg.node_for(&KeyValue::from_literal(&Literal::Int(k), KeyType::Integer).unwrap()).unwrap().to_string())
                .collect();
            out.push_str(&format!("{name} integer 1..=1000: {}\n", ints.concat()));
            if *strings_too {
                let s: Vec<String> = strings().iter().map(|k| alg.node_for(&KeyValue::Str(k.clone())).unwrap().to_string()).collect();
                out.push_str(&format!("{name} string: {}\n", s.concat()));
            }
        }
        out
    }

    #[test]
    fn golden_mapping_never_changes() {
        let now = mapping();
        if std::env::var("SHARDGATE_BLESS").is_ok() {
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/src/sharding/golden_mapping.txt"), &now).unwrap();
            return;
        }
        for (a, b) in now.lines().zip(GOLDEN.lines()) {
            assert_eq!(a, b, "the key → node mapping changed: existing rows would be looked for on the wrong node");
        }
        assert_eq!(now.lines().count(), GOLDEN.lines().count());
    }
}
