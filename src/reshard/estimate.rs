//! What a reshard would move, measured on the backends: per source node, the table's size from
//! information_schema (TABLE_ROWS is InnoDB's estimate) times the share of a sample of its sharding keys
//! that leaves for each destination; and what the later phases need from a source (a primary key to copy
//! and apply changes by, ROW binlogs with full images to catch up from), reported as refusals.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;

use super::ident;
use super::plan::TableMove;
use crate::config::Rules;
use crate::sharding::key::Literal;

/// Keys read per source node to estimate the moving share.
pub const SAMPLE: usize = 10_000;

/// One move: rows of `table` from one node to another.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// `schema.table`.
    pub table: String,
    /// Source node, `data_source.physical_table`.
    pub from: String,
    /// Destination node.
    pub to: String,
    /// Share of the source's sampled keys that go there.
    pub share: f64,
    /// Estimated rows.
    pub rows: u64,
    /// Estimated bytes (data and indexes).
    pub bytes: u64,
    /// Keys sampled on the source.
    pub sampled: usize,
}

/// The estimate of a whole plan.
#[derive(Debug, Default)]
pub struct Estimate {
    /// Every move with at least one sampled key.
    pub moves: Vec<Move>,
    /// Estimated rows of the moving tables in total (the share moved is `moved / total`).
    pub total_rows: u64,
    /// Why the reshard could not run as planned.
    pub refused: Vec<String>,
}

/// Measures `moves` on the primaries of the rules in force.
pub async fn estimate(old: &Rules, moves: &[TableMove]) -> Estimate {
    let mut out = Estimate::default();
    for m in moves {
        for (from, node) in m.old.nodes.iter().enumerate() {
            let label = format!("{}.{}", node.data_source, node.table);
            match measure(old, m, from).await {
                Ok((size, counts, sampled, problems)) => {
                    out.total_rows += size.0;
                    out.refused.extend(problems.into_iter().map(|p| format!("{}.{} on {label}: {p}", m.schema, m.table)));
                    for (to, n) in counts {
                        let share = n as f64 / sampled.max(1) as f64;
                        out.moves.push(Move {
                            table: format!("{}.{}", m.schema, m.table),
                            from: label.clone(),
                            to: format!("{}.{}", m.new.nodes[to].data_source, m.new.nodes[to].table),
                            share,
                            rows: (size.0 as f64 * share).round() as u64,
                            bytes: (size.1 as f64 * share).round() as u64,
                            sampled,
                        });
                    }
                }
                Err(e) => out.refused.push(format!("{}.{} on {label}: {e}", m.schema, m.table)),
            }
        }
    }
    out
}

/// information_schema's TABLE_ROWS (InnoDB's estimate) and data + index bytes of a table, if it exists.
async fn size(conn: &mut mysql_async::Conn, database: &str, table: &str) -> Result<Option<(Option<u64>, Option<u64>)>, String> {
    conn.exec_first(
        "SELECT TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
        (database, table),
    )
    .await
    .map_err(|e| e.to_string())
}

/// The estimated rows of `database.table` on `node` (0 if unknown).
pub async fn table_rows(rules: &Rules, database: &str, node: &crate::config::nodes::DataNode) -> Result<u64, String> {
    let mut conn = super::connect(rules, &node.data_source).await?;
    Ok(size(&mut conn, database, &node.table).await?.and_then(|s| s.0).unwrap_or(0))
}

type Measured = ((u64, u64), BTreeMap<usize, usize>, usize, Vec<String>);

async fn measure(old: &Rules, m: &TableMove, from: usize) -> Result<Measured, String> {
    let node = &m.old.nodes[from];
    let mut conn = super::connect(old, &node.data_source).await?;
    let err = |e: mysql_async::Error| e.to_string();
    let Some((rows, bytes)) = size(&mut conn, &m.database, &node.table).await? else {
        return Err(format!("table {}.{} does not exist", m.database, node.table));
    };
    let mut problems = Vec::new();
    let pk: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY'",
            (&m.database, &node.table),
        )
        .await
        .map_err(err)?;
    if pk.unwrap_or(0) == 0 {
        problems.push("no PRIMARY KEY: rows are copied and their changes applied by primary key; add one first".to_string());
    }
    let (format, image): (String, String) = conn.query_first("SELECT @@binlog_format, @@binlog_row_image").await.map_err(err)?.unwrap_or_default();
    if !(format.eq_ignore_ascii_case("ROW") && image.eq_ignore_ascii_case("FULL")) {
        problems.push(format!(
            "binlog_format={format}, binlog_row_image={image}: catching up needs ROW and FULL (SET GLOBAL binlog_format=ROW, binlog_row_image=FULL)"
        ));
    }
    let sql = format!("SELECT {} FROM {}.{} LIMIT {SAMPLE}", ident(&m.old.column), ident(&m.database), ident(&node.table));
    let keys: Vec<Option<String>> = conn.query(sql).await.map_err(err)?;
    let _ = conn.disconnect().await;
    let mut counts = BTreeMap::new();
    for k in &keys {
        let lit = k.as_ref().map_or(Literal::Null, |s| Literal::Str(s.clone()));
        if let Some(to) = m.destination(from, &lit) {
            *counts.entry(to).or_insert(0) += 1;
        }
    }
    Ok(((rows.unwrap_or(0), bytes.unwrap_or(0)), counts, keys.len(), problems))
}

/// The plan as printed by `shardgate reshard plan`: one line per move, then the totals against `ideal`, the
/// share a perfectly balanced ring would move (nodes added or removed over the larger node count).
pub fn render(e: &Estimate, ideal: f64) -> String {
    let mut s = format!("{:<24} {:<24} {:<24} {:>7} {:>12} {:>14}\n", "table", "from", "to", "share", "est_rows", "est_bytes");
    let mut moved = 0;
    for m in &e.moves {
        moved += m.rows;
        s += &format!("{:<24} {:<24} {:<24} {:>6.1}% {:>12} {:>14}\n", m.table, m.from, m.to, m.share * 100.0, m.rows, m.bytes);
    }
    let share = if e.total_rows == 0 { 0.0 } else { moved as f64 / e.total_rows as f64 };
    s += &format!(
        "moving about {moved} of {} rows ({:.1}%; the ideal share for the nodes added or removed is {:.1}%)\n",
        e.total_rows,
        share * 100.0,
        ideal * 100.0
    );
    s
}

/// The share of rows an ideal ring moves for `m`: nodes added or removed over the larger node count.
pub fn ideal_share(m: &TableMove) -> f64 {
    (m.added().len() + m.removed().len()) as f64 / m.old.nodes.len().max(m.new.nodes.len()).max(1) as f64
}
