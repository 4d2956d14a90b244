//! Splitting an INSERT/REPLACE … VALUES over the nodes its rows' keys map to: one statement per node,
//! built from the original text (rows, literals and the ON DUPLICATE KEY UPDATE tail kept as written).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::SgError;
use crate::sharding::key::Literal;
use crate::sharding::table::ShardedTable;
use crate::sql::tokens::InsertSpans;

use super::planner::Target;

/// How generated ids enter the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generated {
    /// No key generator, or every row brings its own id.
    None,
    /// The id column is missing: add it first in the column list and in every row.
    AddColumn(String),
    /// The id column is at this position; rows whose value is 0 or NULL get a generated id there.
    ReplaceZero(usize),
}

/// A planned INSERT over a sharded table; ids are generated when it runs.
#[derive(Debug, Clone)]
pub struct InsertPlan {
    /// The table.
    pub table: Arc<ShardedTable>,
    /// The original statement.
    pub sql: String,
    /// Where its parts are.
    pub spans: InsertSpans,
    /// Byte spans of the table name tokens to rename (start, end, quote).
    pub names: Vec<(usize, usize, Option<char>)>,
    /// Position of the sharding column among the columns (`None`: it is the generated column being added).
    pub key_position: Option<usize>,
    /// Each row's sharding-key literal (meaningful where not generated).
    pub keys: Vec<Literal>,
    /// How generated ids enter.
    pub generated: Generated,
    /// Rows needing a generated id, in order.
    pub needs_id: Vec<usize>,
}

fn is_zero_or_null(l: &Literal) -> bool {
    matches!(l, Literal::Null | Literal::Int(0)) || matches!(l, Literal::Str(s) if s.trim() == "0")
}

impl InsertPlan {
    /// Plans the split. `columns` and `rows` come from the parsed statement.
    pub fn new(
        table: Arc<ShardedTable>,
        sql: &str,
        spans: InsertSpans,
        names: Vec<(usize, usize, Option<char>)>,
        columns: &[String],
        rows: &[Vec<Literal>],
    ) -> Result<Self, SgError> {
        if columns.is_empty() {
            return Err(SgError::NotSupported(format!(
                "INSERT into sharded table '{}' without a column list; name the columns",
                table.name
            )));
        }
        if spans.rows.len() != rows.len() {
            return Err(SgError::NotSupported("an INSERT whose VALUES rows cannot be split; use plain literals".into()));
        }
        let position = |c: &str| columns.iter().position(|x| x.eq_ignore_ascii_case(c));
        let mut generated = Generated::None;
        let mut needs_id = Vec::new();
        if let Some((column, _)) = &table.key_generator {
            match position(column) {
                None => {
                    generated = Generated::AddColumn(column.clone());
                    needs_id = (0..rows.len()).collect();
                }
                Some(p) => {
                    needs_id = rows.iter().enumerate().filter(|(_, r)| r.get(p).is_some_and(is_zero_or_null)).map(|(i, _)| i).collect();
                    if !needs_id.is_empty() {
                        generated = Generated::ReplaceZero(p);
                    }
                }
            }
        }
        let key_position = position(&table.column);
        let generated_is_key = table.key_generator.as_ref().is_some_and(|(c, _)| c.eq_ignore_ascii_case(&table.column));
        if key_position.is_none() && !generated_is_key {
            return Err(SgError::NotSupported(format!(
                "INSERT into '{}' without its sharding column '{}'",
                table.name, table.column
            )));
        }
        let keys = rows.iter().map(|r| key_position.and_then(|p| r.get(p).cloned()).unwrap_or(Literal::Null)).collect();
        Ok(InsertPlan { table, sql: sql.to_string(), spans, names, key_position, keys, generated, needs_id })
    }

    /// Per-node statements, given ids for the rows in `needs_id` (same order). Also returns the first
    /// generated id (LAST_INSERT_ID as MySQL reports it).
    pub fn targets(&self, ids: &[i64]) -> Result<(Vec<Target>, Option<i64>), SgError> {
        let mut id_of = vec![None; self.keys.len()];
        for (&row, &id) in self.needs_id.iter().zip(ids) {
            id_of[row] = Some(id);
        }
        let generated_is_key = self.table.key_generator.as_ref().is_some_and(|(c, _)| c.eq_ignore_ascii_case(&self.table.column));
        let mut by_node: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (row, key) in self.keys.iter().enumerate() {
            let key = match id_of[row] {
                Some(id) if generated_is_key => Literal::Int(i128::from(id)),
                _ => key.clone(),
            };
            let node = self.table.node_for(&key).ok_or_else(|| {
                SgError::NotSupported(format!(
                    "a row of INSERT into '{}' without a usable value for sharding column '{}' (row {})",
                    self.table.name,
                    self.table.column,
                    row + 1
                ))
            })?;
            by_node.entry(node).or_default().push(row);
        }
        let sql = &self.sql;
        let mut targets = Vec::new();
        for (node, rows) in by_node {
            let physical = &self.table.nodes[node];
            let mut text = String::with_capacity(sql.len() / self.keys.len().max(1) * rows.len() + 128);
            // Head: rename the table, add the generated column.
            let mut at = 0;
            for &(s, e, q) in self.names.iter().filter(|(s, _, _)| *s < self.spans.values_keyword) {
                text.push_str(&sql[at..s]);
                text.push_str(&crate::sql::tokens::quote_ident(&physical.table, q));
                at = e;
            }
            if let (Generated::AddColumn(c), Some(open)) = (&self.generated, self.spans.columns_open) {
                text.push_str(&sql[at..open]);
                text.push_str(&format!("{}, ", crate::sql::tokens::quote_ident(c, None)));
                at = open;
            }
            text.push_str(&sql[at..self.spans.values_keyword]);
            text.push_str("VALUES ");
            for (i, &row) in rows.iter().enumerate() {
                if i > 0 {
                    text.push_str(", ");
                }
                let (rs, re) = self.spans.rows[row];
                match (&self.generated, id_of[row]) {
                    (Generated::AddColumn(_), Some(id)) => text.push_str(&format!("({id}, {}", &sql[rs + 1..re])),
                    (Generated::ReplaceZero(p), Some(id)) => {
                        let (vs, ve) = self.spans.values[row][*p];
                        text.push_str(&sql[rs..vs]);
                        text.push_str(&id.to_string());
                        text.push_str(&sql[ve..re]);
                    }
                    _ => text.push_str(&sql[rs..re]),
                }
            }
            text.push_str(&sql[self.spans.tail..]);
            targets.push(Target { data_source: physical.data_source.clone(), sql: text });
        }
        Ok((targets, ids.first().copied()))
    }
}
