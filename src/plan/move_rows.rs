//! A shard-key UPDATE in xa mode: the row's new key may belong to another node, so the statement becomes
//! the UPDATE on each node it can match (which changes the key in place) followed by moving the rows that
//! now carry the new key from those nodes to the node that owns it — all inside one XA transaction.

use std::sync::Arc;

use crate::sharding::key::Literal;
use crate::sharding::table::ShardedTable;

use super::planner::Target;

/// What a shard-key UPDATE does.
#[derive(Debug, Clone)]
pub struct MovePlan {
    /// The table.
    pub table: Arc<ShardedTable>,
    /// The UPDATE as each node that may hold matching rows receives it: (node, target).
    pub updates: Vec<(usize, Target)>,
    /// The node the new key belongs to.
    pub target: usize,
    /// The new key as an SQL literal.
    pub new_key: String,
}

/// The SQL literal of a key value.
pub fn key_sql(lit: &Literal) -> Option<String> {
    match lit {
        Literal::Int(i) => Some(i.to_string()),
        Literal::Str(s) => Some(format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))),
        Literal::Null | Literal::Other => None,
    }
}

impl MovePlan {
    /// A move of the rows `sources` may hold to the node of `new_key`; `sql_for(node)` is the UPDATE renamed
    /// for a node. `Err` says why the statement cannot be moved.
    pub fn new(table: Arc<ShardedTable>, new_key: &Literal, sources: Vec<usize>, sql_for: impl Fn(usize) -> String) -> Result<Self, String> {
        let target = table.node_for(new_key).ok_or_else(|| format!("UPDATE of sharding column '{}' to a value that is no usable key", table.column))?;
        let new_key = key_sql(new_key).ok_or_else(|| format!("UPDATE of sharding column '{}' to NULL", table.column))?;
        let updates = sources.into_iter().map(|n| (n, Target { data_source: table.nodes[n].data_source.clone(), sql: sql_for(n) })).collect();
        Ok(MovePlan { table, updates, target, new_key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_literals() {
        assert_eq!(key_sql(&Literal::Int(-5)).as_deref(), Some("-5"));
        assert_eq!(key_sql(&Literal::Str("it's \\ x".into())).as_deref(), Some("'it''s \\\\ x'"));
        assert_eq!(key_sql(&Literal::Null), None);
    }
}
