//! Resharding's verification: per move (source node → new node), the count of rows and a checksum of their
//! contents, computed on the sources from the rows whose key leaves and on the new nodes from the rows that
//! arrived, must be equal. The row checksum is MariaDB's CRC32 over every column QUOTE()d (exact text of
//! DECIMALs and dates, NULL distinct from 'NULL'); sums, not XORs, so a duplicated row does not cancel out.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;

use super::ident;
use super::plan::TableMove;
use crate::config::nodes::DataNode;
use crate::config::Rules;
use crate::sharding::key::Literal;

/// Rows and checksum of one move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Rows.
    pub rows: u64,
    /// Wrapping sum of the rows' CRC32s.
    pub sum: u64,
}

/// Tallies by (old node index, new node index).
pub type Tallies = BTreeMap<(usize, usize), Tally>;

/// Reads (sharding key, row CRC32) of every row of `node`.
async fn scan(rules: &Rules, m: &TableMove, node: &DataNode) -> Result<Vec<(Option<String>, u64)>, String> {
    let mut conn = super::connect(rules, &node.data_source).await?;
    let columns = super::copy::columns(&mut conn, &m.database, &node.table).await?;
    let quoted = columns.iter().map(|c| format!("QUOTE({})", ident(c))).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT CAST({} AS CHAR), CRC32(CONCAT_WS(',', {quoted})) FROM {}.{}",
        ident(&m.old.column),
        ident(&m.database),
        ident(&node.table)
    );
    conn.query(sql).await.map_err(|e| format!("{}.{}: {e}", node.data_source, node.table))
}

fn add(t: &mut Tallies, pair: (usize, usize), crc: u64) {
    let e = t.entry(pair).or_default();
    e.rows += 1;
    e.sum = e.sum.wrapping_add(crc);
}

/// What left each source node, by destination (old rules' primaries).
pub async fn sources(old: &Rules, m: &TableMove) -> Result<Tallies, String> {
    let mut t = Tallies::new();
    for (from, node) in m.old.nodes.iter().enumerate() {
        for (key, crc) in scan(old, m, node).await? {
            let lit = key.map_or(Literal::Null, Literal::Str);
            if let Some(to) = m.destination(from, &lit) {
                add(&mut t, (from, to), crc);
            }
        }
    }
    Ok(t)
}

/// What arrived for each new node (in its landing table), by origin: rows whose old node was another.
pub async fn targets(new: &Rules, m: &TableMove) -> Result<Tallies, String> {
    let mut t = Tallies::new();
    let staged = m.staged();
    for (to, node) in m.new.nodes.iter().enumerate() {
        // A node that stays receives rows only into its staging table, if it has one.
        if m.old.nodes.contains(node) && !staged.contains(&to) {
            continue;
        }
        for (key, crc) in scan(new, m, &m.landing(to)).await? {
            let lit = key.map_or(Literal::Null, Literal::Str);
            let Some(from) = m.old.node_for(&lit) else { continue };
            if m.old.nodes[from] != *node {
                add(&mut t, (from, to), crc);
            }
        }
    }
    Ok(t)
}

/// Every move whose tallies differ, described; empty when the copy is exact.
pub fn differences(m: &TableMove, sources: &Tallies, targets: &Tallies) -> Vec<String> {
    let name = |n: &DataNode| format!("{}.{}", n.data_source, n.table);
    let pairs: std::collections::BTreeSet<&(usize, usize)> = sources.keys().chain(targets.keys()).collect();
    pairs
        .into_iter()
        .filter_map(|pair| {
            let (a, b) = (sources.get(pair).copied().unwrap_or_default(), targets.get(pair).copied().unwrap_or_default());
            (a != b).then(|| {
                format!(
                    "{} → {}: {} rows (checksum {}) left, {} rows (checksum {}) arrived",
                    name(&m.old.nodes[pair.0]),
                    name(&m.new.nodes[pair.1]),
                    a.rows,
                    a.sum,
                    b.rows,
                    b.sum
                )
            })
        })
        .collect()
}
