//! A routing plan with its values left open: what a statement of one shape does, whatever its key values.
//! Built once per normalised text (the plan cache) or per prepared statement, then bound to each
//! statement's values without parsing again.

use std::sync::Arc;

use crate::sharding::key::Literal;
use crate::sharding::table::ShardedTable;
use crate::sql::analyze::{KeyExpr, KeyResolver, Nodes};

use super::merge::MergeSpec;
use super::planner::{Combine, Plan, Target};

/// A text cut at its slots: `parts[0] slot0 parts[1] slot1 …`. One part when nothing is cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spliced {
    /// The text between slots.
    pub parts: Vec<String>,
}

impl Spliced {
    /// The text with `texts` in its slots.
    pub fn join(&self, texts: &[&str]) -> String {
        if self.parts.len() == 1 {
            return self.parts[0].clone();
        }
        let len = self.parts.iter().map(String::len).sum::<usize>() + texts.iter().map(|t| t.len()).sum::<usize>();
        let mut out = String::with_capacity(len);
        for (i, part) in self.parts.iter().enumerate() {
            out.push_str(part);
            if let Some(t) = texts.get(i) {
                out.push_str(t);
            }
        }
        out
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.parts.len() - 1
    }
}

/// A statement over one sharded table (or one binding group) whose nodes depend on its key values.
#[derive(Debug, Clone)]
pub struct Routed {
    /// The table whose algorithm places the keys.
    pub table: Arc<ShardedTable>,
    /// What the statement says about the key.
    pub key: KeyExpr,
    /// A SELECT (rows concatenated or merged) rather than UPDATE/DELETE (affected rows summed).
    pub select: bool,
    /// The statement as each node receives it.
    pub node_sql: Vec<Spliced>,
    /// Whether `node_sql` renames tables (otherwise a single-node statement is forwarded as the client sent it).
    pub renamed: bool,
    /// For a SELECT whose rows the proxy must combine: each node's SQL and the proxy's part, or why it cannot.
    pub merge: Option<Result<(Vec<Spliced>, MergeSpec), String>>,
    /// An UPDATE/DELETE … ORDER BY … LIMIT that `merge` refuses on several nodes, run in three steps.
    pub limited: Option<Box<super::limited_write::LimitedWrite>>,
    /// The statement on the compute data source, when it can run there: the plan where `merge` is an error,
    /// the merge's fallback where it has a HAVING (which may turn out inexact for the shards' column types).
    pub compute: Option<Box<super::compute::ComputePlan>>,
    /// Byte offsets where the literals `key` reads start in the statement it was built from.
    pub literal_starts: Vec<usize>,
}

/// Where a table's algorithm places keys, for evaluating a [`KeyExpr`].
pub struct Placement<'a>(pub &'a ShardedTable);

impl KeyResolver for Placement<'_> {
    fn is_key(&self, _: Option<&str>, _: &str) -> bool {
        unreachable!("keys are resolved when the key expression is built")
    }
    fn node(&self, lit: &Literal) -> Option<usize> {
        self.0.node_for(lit)
    }
    fn range(&self, low: std::ops::Bound<i64>, high: std::ops::Bound<i64>) -> Option<Vec<usize>> {
        self.0.algorithm.nodes_for_range(low, high)
    }
}

impl Placement<'_> {
    /// The nodes `key` allows when its slots hold `values`, in node order (at least one).
    pub fn nodes(&self, key: &KeyExpr, values: &[Literal]) -> Vec<usize> {
        let mut list: Vec<usize> = match key.nodes(self, values) {
            Nodes::All => (0..self.0.nodes.len()).collect(),
            Nodes::Only(set) => set.into_iter().collect(),
        };
        if list.is_empty() {
            // The WHERE clause cannot hold anywhere: any one node answers that correctly (no rows).
            list.push(0);
        }
        list
    }
}

impl Routed {
    /// The nodes the statement touches when its slots hold `values`, in node order (at least one).
    pub fn nodes(&self, values: &[Literal]) -> Vec<usize> {
        Placement(&self.table).nodes(&self.key, values)
    }

    /// The plan for slot values `values` whose texts are `texts`.
    pub fn bind(&self, values: &[Literal], texts: &[&str]) -> Plan {
        let nodes = self.nodes(values);
        let data_source = |n: usize| self.table.nodes[n].data_source.clone();
        if let [n] = nodes[..] {
            return Plan::Passthrough { data_source: data_source(n), sql: self.renamed.then(|| self.node_sql[n].join(texts)) };
        }
        let targets = |sql: &[Spliced]| nodes.iter().map(|&n| Target { data_source: data_source(n), sql: sql[n].join(texts) }).collect();
        match &self.merge {
            Some(Ok((sql, spec))) => {
                let mut spec = spec.clone();
                spec.fallback = self.compute.as_ref().map(|c| Box::new(c.only_nodes(&nodes)));
                Plan::Merge { targets: targets(sql), spec }
            }
            Some(Err(reason)) => match (&self.compute, &self.limited) {
                (Some(c), _) => Plan::Compute(Box::new(c.only_nodes(&nodes))),
                (None, Some(l)) => Plan::LimitedWrite(Box::new(super::limited_write::LimitedWrite { nodes: nodes.clone(), ..l.as_ref().clone() })),
                (None, None) => Plan::Refuse(reason.clone()),
            },
            None => {
                let combine = if self.select { Combine::Concat } else { Combine::SumAffected };
                Plan::Scatter { targets: targets(&self.node_sql), combine, reset_sequences: Vec::new() }
            }
        }
    }
}

/// A statement's plan, or the template it comes from.
#[derive(Debug, Clone)]
pub enum Template {
    /// The plan, already complete, for any values.
    Plan(Plan),
    /// The plan of this statement with these values only (an INSERT's rows).
    Once(Plan),
    /// A plan that depends on the key values.
    Routed(Box<Routed>),
}

impl Template {
    /// The plan for slot values `values` (their texts `texts`, when the template has slots in its text).
    pub fn bind(&self, values: &[Literal], texts: &[&str]) -> Plan {
        match self {
            Template::Plan(p) | Template::Once(p) => p.clone(),
            Template::Routed(r) => r.bind(values, texts),
        }
    }

    /// Whether this template holds for every statement of its shape (a complete plan that carries no
    /// statement text: a refusal, or forwarding the client's own packet).
    pub fn reusable(&self) -> bool {
        match self {
            // Conditions pushed down to a compute plan's copies hold this statement's literals.
            // So does a limited write's text.
            Template::Routed(r) => r.limited.is_none() && r.compute.as_ref().is_none_or(|c| c.tables.iter().all(|t| t.filter.is_none())),
            _ => matches!(self, Template::Plan(Plan::Refuse(_) | Plan::Passthrough { sql: None, .. })),
        }
    }
}
