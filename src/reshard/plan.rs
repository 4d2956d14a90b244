//! The reshard plan from the rules in force to new ones, without touching a backend: which tables change
//! placement, and for a key, which node it leaves and which it joins. Only the nodes may change; a change
//! of algorithm, sharding column, key type, ring size or database is not a reshard (nearly every row would
//! move, or the keys would mean something else) and is refused with the reason.

use std::sync::Arc;

use crate::config::nodes::DataNode;
use crate::config::Rules;
use crate::sharding::key::Literal;
use crate::sharding::table::{build, ShardedTable};

/// One sharded table whose nodes change.
pub struct TableMove {
    /// Logical schema.
    pub schema: String,
    /// Database on the backends.
    pub database: String,
    /// Logical table.
    pub table: String,
    /// The table under the rules in force.
    pub old: Arc<ShardedTable>,
    /// The table under the new rules.
    pub new: Arc<ShardedTable>,
    /// Placed by consistent hashing: a node added takes keys only from the others, a node removed gives
    /// its keys only to the others (other algorithms may move keys between nodes that stay).
    pub ring: bool,
}

impl TableMove {
    /// Where a row on old node `from` with sharding value `key` goes: `Some(new node index)` if it leaves
    /// `from`, `None` if it stays (or the value is not a usable key, which the router would scatter).
    pub fn destination(&self, from: usize, key: &Literal) -> Option<usize> {
        let to = self.new.node_for(key)?;
        (self.new.nodes[to] != self.old.nodes[from]).then_some(to)
    }

    /// Old nodes that are not nodes of the new rules: every row on them moves.
    pub fn removed(&self) -> Vec<&DataNode> {
        self.old.nodes.iter().filter(|n| !self.new.nodes.contains(n)).collect()
    }

    /// New nodes that were not nodes of the rules in force: they start empty.
    pub fn added(&self) -> Vec<&DataNode> {
        self.new.nodes.iter().filter(|n| !self.old.nodes.contains(n)).collect()
    }

    /// Where rows bound for new node `to` are written before the cut-over: the node itself when the rules
    /// in force do not read it (an added node), else a staging table beside the live one, since rows copied
    /// into a table the old rules still read would show up twice in every query scattered over the nodes.
    pub fn landing(&self, to: usize) -> DataNode {
        let node = &self.new.nodes[to];
        if self.old.nodes.contains(node) {
            DataNode { data_source: node.data_source.clone(), table: staging_name(&node.table) }
        } else {
            node.clone()
        }
    }

    /// The new nodes that receive rows into a staging table (see [`TableMove::landing`]): nodes that stay
    /// and may receive keys (on a ring, only when a node is removed).
    pub fn staged(&self) -> Vec<usize> {
        if self.ring && self.removed().is_empty() {
            return Vec::new();
        }
        (0..self.new.nodes.len()).filter(|&to| self.old.nodes.contains(&self.new.nodes[to])).collect()
    }
}

/// The staging table of `table` on a node that receives rows while the old rules still read it.
pub fn staging_name(table: &str) -> String {
    format!("{table}__sg_reshard")
}

/// The tables whose placement changes from `old` to `new`, or every reason the change is not a reshard.
pub fn diff(old: &Rules, new: &Rules) -> Result<Vec<TableMove>, Vec<String>> {
    let problems = |p: Vec<crate::config::validate::Problem>| p.into_iter().map(|p| format!("{}: {}", p.key, p.message)).collect::<Vec<_>>();
    let old_layouts = build(old).map_err(problems)?;
    let new_layouts = build(new).map_err(problems)?;
    let mut moves = Vec::new();
    let mut refused = Vec::new();
    let mut schemas: Vec<&String> = old.schemas.keys().collect();
    schemas.sort();
    for schema in schemas {
        let (Some(a), Some(b)) = (old_layouts.get(schema), new_layouts.get(schema)) else { continue };
        let mut tables: Vec<&String> = a.tables.keys().collect();
        tables.sort();
        for name in tables {
            let (ra, Some(rb)) = (&old.schemas[schema].tables[name], new.schemas[schema].tables.get(name)) else {
                refused.push(format!("{schema}.{name}: dropped from the new rules; a reshard keeps every table"));
                continue;
            };
            let (ta, tb) = (&a.tables[name], &b.tables[name]);
            if ta.nodes == tb.nodes {
                continue;
            }
            let mut why = Vec::new();
            if ra.algorithm != rb.algorithm {
                why.push(format!("algorithm {:?} → {:?}", ra.algorithm, rb.algorithm));
            }
            if !ra.sharding_column.eq_ignore_ascii_case(&rb.sharding_column) {
                why.push(format!("sharding column {} → {}", ra.sharding_column, rb.sharding_column));
            }
            if ra.key_type != rb.key_type {
                why.push(format!("key type {:?} → {:?}", ra.key_type, rb.key_type));
            }
            if ra.virtual_nodes != rb.virtual_nodes {
                why.push(format!("virtual_nodes {} → {}", ra.virtual_nodes, rb.virtual_nodes));
            }
            if a.database != b.database {
                why.push(format!("database {} → {}", a.database, b.database));
            }
            if !why.is_empty() {
                refused.push(format!(
                    "{schema}.{name}: {} changes; a reshard only adds or removes nodes (move the data with a new table instead)",
                    why.join(", ")
                ));
                continue;
            }
            let ring = ra.algorithm == crate::config::rules::AlgorithmName::ConsistentHash;
            moves.push(TableMove { schema: schema.clone(), database: a.database.clone(), table: name.clone(), old: ta.clone(), new: tb.clone(), ring });
        }
    }
    if moves.is_empty() && refused.is_empty() {
        refused.push("no sharded table changes its nodes: nothing to reshard".into());
    }
    if refused.is_empty() {
        Ok(moves)
    } else {
        Err(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(nodes: &str, algorithm: &str) -> Rules {
        let text = format!(
            r#"
[server]
listen = "127.0.0.1:0"
[[users]]
name = "app"
password = "app"
[data_sources.ds_0]
primary = "127.0.0.1:1"
user = "u"
password = "p"
[data_sources.ds_1]
primary = "127.0.0.1:2"
user = "u"
password = "p"
[data_sources.ds_2]
primary = "127.0.0.1:3"
user = "u"
password = "p"
[schemas.s]
data_source = "ds_0"
[schemas.s.tables.t]
sharding_column = "id"
actual_nodes = "{nodes}"
algorithm = "{algorithm}"
"#
        );
        crate::config::parse(&text, std::path::Path::new("test.toml")).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn growing_two_to_three_moves_about_a_third_and_only_to_the_new_node() {
        let moves = diff(&rules("ds_${0..1}.t", "consistent_hash"), &rules("ds_${0..2}.t", "consistent_hash")).unwrap();
        assert_eq!(moves.len(), 1);
        let m = &moves[0];
        assert_eq!(m.added().len(), 1);
        assert!(m.removed().is_empty());
        let mut moved = 0;
        for k in 1..=30_000i128 {
            let from = m.old.node_for(&Literal::Int(k)).unwrap();
            if let Some(to) = m.destination(from, &Literal::Int(k)) {
                assert_eq!(m.new.nodes[to].data_source, "ds_2", "a key moved between the old nodes");
                moved += 1;
            }
        }
        assert!((8_000..12_000).contains(&moved), "moved {moved} of 30000 (ideal 10000)");
    }

    #[test]
    fn shrinking_three_to_two_moves_exactly_the_removed_nodes_rows() {
        let moves = diff(&rules("ds_${0..2}.t", "consistent_hash"), &rules("ds_${0..1}.t", "consistent_hash")).unwrap();
        let m = &moves[0];
        assert_eq!(m.removed()[0].data_source, "ds_2");
        for k in 1..=5_000i128 {
            let from = m.old.node_for(&Literal::Int(k)).unwrap();
            let leaves = m.destination(from, &Literal::Int(k)).is_some();
            assert_eq!(leaves, m.old.nodes[from].data_source == "ds_2", "key {k}");
        }
    }

    #[test]
    fn a_change_of_algorithm_or_no_change_is_refused_with_the_reason() {
        let refused = diff(&rules("ds_${0..1}.t", "consistent_hash"), &rules("ds_${0..2}.t", "mod")).err().unwrap();
        assert!(refused[0].contains("algorithm") && refused[0].contains("s.t"), "{refused:?}");
        let same = diff(&rules("ds_${0..1}.t", "mod"), &rules("ds_${0..1}.t", "mod")).err().unwrap();
        assert!(same[0].contains("nothing to reshard"), "{same:?}");
    }
}
