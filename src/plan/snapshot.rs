//! Planning a snapshot across shards (`START TRANSACTION WITH CONSISTENT SNAPSHOT`, see
//! backend/commit_barrier.rs): which primaries join, and what each reads to take its read view.
//!
//! `XA START` takes no `WITH CONSISTENT SNAPSHOT`; InnoDB takes a repeatable-read view at a transaction's
//! first consistent read. So each data source reads one row of a table of the schema that lives there,
//! with a plain `SELECT`: `DO (SELECT …)` would answer more briefly, but MariaDB reads a subquery of a
//! statement other than SELECT with shared locks, which wait for prepared transactions (whose commits wait
//! for the snapshot: a lock wait to the timeout, seen in tests/snapshot.rs). A table named in the rules
//! may not exist yet, so a few are tried at once; one that exists is enough.

use crate::sql::tokens::quote_ident;
use crate::sharding::table::SchemaLayout;

/// How many tables each data source tries (each costs one tiny statement in the same round trip).
const CANDIDATES: usize = 4;

/// One data source of a snapshot and the statements whose first success takes its read view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotProbe {
    /// The data source (a primary).
    pub data_source: String,
    /// `SELECT 1 FROM <table> LIMIT 1` for a few of its tables.
    pub reads: Vec<String>,
}

/// The probes of every data source holding a table of `layout`, in data source order.
pub fn probes(layout: &SchemaLayout) -> Vec<SnapshotProbe> {
    let mut names: Vec<(&String, String)> = Vec::new();
    let mut sharded: Vec<_> = layout.tables.values().collect();
    sharded.sort_by(|a, b| a.name.cmp(&b.name));
    for node in sharded.iter().flat_map(|t| &t.nodes) {
        names.push((&node.data_source, node.table.clone()));
    }
    for ds in &layout.all_data_sources {
        names.extend(layout.broadcast.iter().map(|b| (ds, b.clone())));
    }
    let mut out: Vec<SnapshotProbe> = Vec::new();
    for ds in &layout.all_data_sources {
        let reads: Vec<String> = names
            .iter()
            .filter(|(d, _)| *d == ds)
            .take(CANDIDATES)
            .map(|(_, table)| format!("SELECT 1 FROM {}.{} LIMIT 1", quote_ident(&layout.database, None), quote_ident(table, None)))
            .collect();
        if !reads.is_empty() {
            out.push(SnapshotProbe { data_source: ds.clone(), reads });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_source_reads_a_few_of_its_own_tables() {
        let layout = crate::plan::schema_s();
        let p = probes(&layout);
        assert_eq!(p.iter().map(|p| p.data_source.as_str()).collect::<Vec<_>>(), ["ds_0", "ds_1"]);
        for probe in &p {
            assert_eq!(probe.reads.len(), CANDIDATES);
            assert!(probe.reads.iter().all(|r| r.starts_with("SELECT 1 FROM `s`.`") && r.ends_with("` LIMIT 1")), "{:?}", probe.reads);
        }
        // h sorts first: its nodes h_0 and h_1 on each data source.
        assert_eq!(p[1].reads[0], "SELECT 1 FROM `s`.`h_0` LIMIT 1");
    }
}
