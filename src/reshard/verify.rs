//! Resharding's verification: per move (source node → new node), the count of rows and a checksum of their
//! contents, computed on the sources from the rows whose key leaves and on the new nodes from the rows that
//! arrived, must be equal. The row checksum is MariaDB's CRC32 over every column QUOTE()d (exact text of
//! DECIMALs and dates, NULL distinct from 'NULL'); sums, not XORs, so a duplicated row does not cancel out.

use std::collections::BTreeMap;

use futures_util::future::try_join_all;
use mysql_async::prelude::Queryable;

use super::binlog::Position;
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
    scan_on(&mut super::connect(rules, &node.data_source).await?, m, node).await
}

/// [`scan`] over `conn` (which may hold a snapshot).
async fn scan_on(conn: &mut mysql_async::Conn, m: &TableMove, node: &DataNode) -> Result<Vec<(Option<String>, u64)>, String> {
    let columns = super::copy::columns(conn, &m.database, &node.table).await?;
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

/// A consistent read view of data source `ds`'s primary, and the binlog position it shows the data at
/// (MariaDB's Binlog_snapshot_file/position for a transaction started WITH CONSISTENT SNAPSHOT).
pub async fn snapshot(rules: &Rules, ds: &str) -> Result<(mysql_async::Conn, Position), String> {
    let mut conn = super::connect(rules, ds).await?;
    let err = |e: mysql_async::Error| format!("{ds}: snapshot: {e}");
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT").await.map_err(err)?;
    let status: BTreeMap<String, String> = conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'").await.map_err(err)?.into_iter().collect();
    let (file, pos) = (status.get("Binlog_snapshot_file"), status.get("Binlog_snapshot_position"));
    match (file, pos.and_then(|p| p.parse().ok())) {
        (Some(file), Some(pos)) if !file.is_empty() => Ok((conn, Position { file: file.clone(), pos })),
        _ => Err(format!("{ds}: no binlog snapshot position ({status:?}); the primary needs log_bin")),
    }
}

/// What left each source node, by destination, read in the snapshots `views` (one per data source).
pub async fn sources_in(views: &mut BTreeMap<String, mysql_async::Conn>, m: &TableMove) -> Result<Tallies, String> {
    let mut t = Tallies::new();
    for (from, node) in m.old.nodes.iter().enumerate() {
        let conn = views.get_mut(&node.data_source).ok_or_else(|| format!("no snapshot of {}", node.data_source))?;
        add_leaving(&mut t, m, from, scan_on(conn, m, node).await?);
    }
    Ok(t)
}

/// Tallies the rows of old node `from` whose key leaves it, by destination.
fn add_leaving(t: &mut Tallies, m: &TableMove, from: usize, rows: Vec<(Option<String>, u64)>) {
    for (key, crc) in rows {
        if let Some(to) = m.destination(from, &key.map_or(Literal::Null, Literal::Str)) {
            add(t, (from, to), crc);
        }
    }
}

/// What left each source node, by destination (old rules' primaries).
pub async fn sources(old: &Rules, m: &TableMove) -> Result<Tallies, String> {
    let mut t = Tallies::new();
    let scans = try_join_all(m.old.nodes.iter().map(|node| scan(old, m, node))).await?;
    for (from, rows) in scans.into_iter().enumerate() {
        add_leaving(&mut t, m, from, rows);
    }
    Ok(t)
}

/// What arrived for each new node (in its landing table), by origin: rows whose old node was another.
pub async fn targets(new: &Rules, m: &TableMove) -> Result<Tallies, String> {
    let mut t = Tallies::new();
    let staged = m.staged();
    // A node that stays receives rows only into its staging table, if it has one.
    let receiving: Vec<(usize, &DataNode)> = m.new.nodes.iter().enumerate().filter(|(to, node)| !m.old.nodes.contains(node) || staged.contains(to)).collect();
    let scans = try_join_all(receiving.iter().map(|(to, _)| async move { scan(new, m, &m.landing(*to)).await })).await?;
    for ((to, node), rows) in receiving.into_iter().zip(scans) {
        for (key, crc) in rows {
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
