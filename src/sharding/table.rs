//! A sharded logical table and a schema's sharding layout, built from the rules once at load.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::algorithm::ShardingAlgorithm;
use super::consistent_hash::ConsistentHash;
use super::keygen::{Sequence, Snowflake};
use super::key::{KeyValue, Literal};
use super::modulo::{HashMod, Modulo};
use super::range::RangeSharding;
use crate::config::nodes::{expand, DataNode};
use crate::config::rules::{AlgorithmName, KeyGeneratorName, KeyType, Rules, TableRule};
use crate::config::validate::Problem;

/// The key generator of a table.
#[derive(Debug)]
pub enum KeyGenerator {
    /// Block-reserved sequence.
    Sequence(Sequence),
    /// Snowflake ids.
    Snowflake(Snowflake),
}

/// One sharded logical table.
#[derive(Debug)]
pub struct ShardedTable {
    /// Logical name.
    pub name: String,
    /// Sharding column.
    pub column: String,
    /// How its values are read.
    pub key_type: KeyType,
    /// Physical tables, indexed by node number.
    pub nodes: Vec<DataNode>,
    /// Key → node number.
    pub algorithm: Box<dyn ShardingAlgorithm>,
    /// The column a key generator fills, and the generator.
    pub key_generator: Option<(String, KeyGenerator)>,
    /// Binding group number, if bound.
    pub binding_group: Option<usize>,
    /// The table's columns in order, learnt from its first node when an INSERT names none (mariadb-dump
    /// writes `INSERT INTO t VALUES …`); forgotten after any DDL.
    pub columns: std::sync::RwLock<Option<Vec<String>>>,
}

impl ShardedTable {
    /// The columns in table order, if learnt.
    pub fn known_columns(&self) -> Option<Vec<String>> {
        self.columns.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Remembers the columns in table order.
    pub fn set_columns(&self, columns: Vec<String>) {
        *self.columns.write().unwrap_or_else(|e| e.into_inner()) = Some(columns);
    }

    /// Forgets the columns (the table's definition may have changed).
    pub fn forget_columns(&self) {
        *self.columns.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The node of a literal key, if it is a usable key.
    pub fn node_for(&self, lit: &Literal) -> Option<usize> {
        self.algorithm.node_for(&KeyValue::from_literal(lit, self.key_type)?)
    }
}

/// One logical schema's sharding layout.
#[derive(Debug)]
pub struct SchemaLayout {
    /// Database name on the backends.
    pub database: String,
    /// Data source of tables without rules.
    pub default_data_source: String,
    /// Sharded tables by logical name.
    pub tables: HashMap<String, Arc<ShardedTable>>,
    /// Broadcast tables.
    pub broadcast: BTreeSet<String>,
    /// Every data source of the rules (broadcast tables live on all), sorted.
    pub all_data_sources: Vec<String>,
    /// Whether transactions here are XA transactions (transaction_mode = "xa"): shard-key UPDATEs can move rows.
    pub xa: bool,
    /// Refuse UPDATE/DELETE without WHERE on sharded tables (`[server] refuse_unsafe_dml`).
    pub refuse_unsafe_dml: bool,
    /// Rows the exact fallback may copy per statement (`[server] max_fallback_rows`; 0: off).
    pub max_fallback_rows: u64,
}

impl SchemaLayout {
    /// Whether the schema has sharded or broadcast tables (otherwise it is plain pass-through).
    pub fn has_rules(&self) -> bool {
        !self.tables.is_empty() || !self.broadcast.is_empty()
    }

    /// Whether `name` has a rule (sharded or broadcast) in this schema.
    pub fn has_rule(&self, name: &str) -> bool {
        self.tables.contains_key(name) || self.broadcast.contains(name)
    }
}

/// Ring identity of each node: its data source and its ordinal among that data source's nodes. Binding
/// tables laid out alike then get the same ring, and adding a data source moves keys only to it.
fn ring_names(nodes: &[DataNode]) -> Vec<String> {
    let mut per_ds: HashMap<&str, usize> = HashMap::new();
    nodes
        .iter()
        .map(|n| {
            let k = per_ds.entry(n.data_source.as_str()).or_insert(0);
            *k += 1;
            format!("{}#{}", n.data_source, *k - 1)
        })
        .collect()
}

fn build_table(schema: &str, name: &str, rule: &TableRule, rules: &Rules, problems: &mut Vec<Problem>) -> Option<ShardedTable> {
    let key = |field: &str| format!("schemas.{schema}.tables.{name}.{field}");
    let mut fail = |field: &str, message: String, span| {
        problems.push(Problem { key: key(field), message, span });
    };
    let nodes = match expand(rule.actual_nodes.get_ref()) {
        Ok(n) => n,
        Err(e) => {
            fail("actual_nodes", e, Some(rule.actual_nodes.span()));
            return None;
        }
    };
    for n in &nodes {
        if !rules.data_sources.contains_key(&n.data_source) {
            fail("actual_nodes", format!("unknown data source '{}' in {}.{}", n.data_source, n.data_source, n.table), Some(rule.actual_nodes.span()));
            return None;
        }
    }
    let integer_only = matches!(rule.algorithm, AlgorithmName::Mod | AlgorithmName::Range);
    if integer_only && rule.key_type != KeyType::Integer {
        fail("key_type", format!("algorithm {:?} needs key_type = \"integer\"", rule.algorithm), None);
        return None;
    }
    let algorithm: Box<dyn ShardingAlgorithm> = match rule.algorithm {
        AlgorithmName::ConsistentHash => {
            if !(1..=10_000).contains(&rule.virtual_nodes) {
                fail("virtual_nodes", "must be between 1 and 10000 (160 balances well)".into(), None);
                return None;
            }
            Box::new(ConsistentHash::new(&ring_names(&nodes), rule.virtual_nodes))
        }
        AlgorithmName::Mod => Box::new(Modulo { nodes: nodes.len() }),
        AlgorithmName::HashMod => Box::new(HashMod { nodes: nodes.len() }),
        AlgorithmName::Range => {
            if rule.boundaries.len() + 1 != nodes.len() || rule.boundaries.windows(2).any(|w| w[0] >= w[1]) {
                fail(
                    "boundaries",
                    format!("range needs {} strictly ascending boundaries for {} nodes", nodes.len().saturating_sub(1), nodes.len()),
                    None,
                );
                return None;
            }
            Box::new(RangeSharding { boundaries: rule.boundaries.clone() })
        }
    };
    if rule.algorithm != AlgorithmName::Range && !rule.boundaries.is_empty() {
        fail("boundaries", "only the range algorithm takes boundaries".into(), None);
    }
    let key_generator = rule.key_generator.map(|g| {
        let column = rule.key_column.clone().unwrap_or_else(|| rule.sharding_column.clone());
        let database = rules.schemas[schema].database.clone().unwrap_or_else(|| schema.to_string());
        let generator = match g {
            KeyGeneratorName::Sequence => KeyGenerator::Sequence(Sequence::new(format!("{database}.{name}"), rule.sequence_block)),
            KeyGeneratorName::Snowflake => KeyGenerator::Snowflake(Snowflake::new(rule.worker_id)),
        };
        (column, generator)
    });
    if rule.worker_id > 1023 {
        fail("worker_id", "must be 0–1023".into(), None);
    }
    Some(ShardedTable {
        name: name.to_string(),
        column: rule.sharding_column.clone(),
        key_type: rule.key_type,
        nodes,
        algorithm,
        key_generator,
        binding_group: None,
        columns: Default::default(),
    })
}

/// Builds every schema's layout, or the problems found.
pub fn build(rules: &Rules) -> Result<HashMap<String, SchemaLayout>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut layouts = HashMap::new();
    for (schema, rule) in &rules.schemas {
        let mut tables: HashMap<String, ShardedTable> = HashMap::new();
        for (name, t) in &rule.tables {
            if let Some(table) = build_table(schema, name, t, rules, &mut problems) {
                tables.insert(name.clone(), table);
            }
        }
        let mut broadcast = BTreeSet::new();
        for b in &rule.broadcast_tables {
            if tables.contains_key(b.get_ref()) {
                problems.push(Problem {
                    key: format!("schemas.{schema}.broadcast_tables"),
                    message: format!("'{}' is both sharded and broadcast", b.get_ref()),
                    span: Some(b.span()),
                });
            }
            broadcast.insert(b.get_ref().clone());
        }
        for (g, group) in rule.binding_groups.iter().enumerate() {
            let names = group.get_ref();
            let members: Vec<&ShardedTable> = names.iter().filter_map(|n| tables.get(n)).collect();
            let bad = if members.len() != names.len() {
                Some("every table of a binding group must be a sharded table of this schema".to_string())
            } else if members.windows(2).any(|w| {
                w[0].nodes.len() != w[1].nodes.len()
                    || w[0].nodes.iter().zip(&w[1].nodes).any(|(a, b)| a.data_source != b.data_source)
                    || format!("{:?}", w[0].algorithm) != format!("{:?}", w[1].algorithm)
                    || w[0].key_type != w[1].key_type
            }) {
                Some("tables of a binding group need the same algorithm, key type and data sources node by node".to_string())
            } else {
                None
            };
            match bad {
                Some(message) => problems.push(Problem { key: format!("schemas.{schema}.binding_groups"), message, span: Some(group.span()) }),
                None => {
                    for n in names {
                        if let Some(t) = tables.get_mut(n) {
                            t.binding_group = Some(g);
                        }
                    }
                }
            }
        }
        layouts.insert(
            schema.clone(),
            SchemaLayout {
                database: rule.database.clone().unwrap_or_else(|| schema.clone()),
                default_data_source: rule.data_source.get_ref().clone(),
                tables: tables.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
                broadcast,
                all_data_sources: rules.data_sources.keys().cloned().collect(),
                xa: rules.transaction_mode == crate::config::rules::TransactionMode::Xa,
                refuse_unsafe_dml: rules.server.refuse_unsafe_dml,
                max_fallback_rows: rules.server.max_fallback_rows,
            },
        );
    }
    if problems.is_empty() {
        Ok(layouts)
    } else {
        Err(problems)
    }
}
