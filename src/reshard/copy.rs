//! Resharding's prepare and copy phases for one table. Prepare creates the table on the nodes the new rules
//! add, with the source's exact DDL. Copy walks one source node in primary-key order in bounded chunks
//! (binary protocol, so every value keeps its type), keeps the rows whose key leaves that node, and writes
//! them on their new node with REPLACE: a chunk copied twice (after a crash between a chunk and the
//! progress that records it) changes nothing, so progress is just the last key copied.

use std::collections::{BTreeMap, HashMap};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};

use super::plan::TableMove;
use super::{connect, ident};
use crate::config::Rules;
use crate::sharding::key::Literal;

/// How far the copy of one source node got; persisted between chunks.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CopyProgress {
    /// The primary key of the last row read, as SQL literals (`None`: from the start).
    pub cursor: Option<Vec<String>>,
    /// Rows read on the source.
    pub scanned: u64,
    /// Rows written on their new node.
    pub copied: u64,
    /// The whole node was read.
    pub done: bool,
}

/// Creates the table on every node the new rules add, and the staging table on every old node that
/// receives rows (if they are missing), with the DDL of the first old node; returns where.
pub async fn prepare(old: &Rules, new: &Rules, m: &TableMove) -> Result<Vec<String>, String> {
    let source = &m.old.nodes[0];
    let mut conn = connect(old, &source.data_source).await?;
    let ddl: Option<(String, String)> =
        conn.query_first(format!("SHOW CREATE TABLE {}.{}", ident(&m.database), ident(&source.table))).await.map_err(|e| e.to_string())?;
    let ddl = ddl.ok_or_else(|| format!("{}.{} has no definition on {}", m.database, source.table, source.data_source))?.1;
    let mut created = Vec::new();
    let staged: Vec<crate::config::nodes::DataNode> = m.staged().into_iter().map(|to| m.landing(to)).collect();
    for node in m.added().into_iter().cloned().chain(staged) {
        let text = ddl.replacen(&format!("CREATE TABLE {}", ident(&source.table)), &format!("CREATE TABLE IF NOT EXISTS {}.{}", ident(&m.database), ident(&node.table)), 1);
        let mut target = connect(new, &node.data_source).await?;
        target.query_drop(text).await.map_err(|e| format!("creating {}.{} on {}: {e}", m.database, node.table, node.data_source))?;
        created.push(format!("{}.{}", node.data_source, node.table));
    }
    Ok(created)
}

/// The column names of `database.table` in table order.
pub async fn columns(conn: &mut Conn, database: &str, table: &str) -> Result<Vec<String>, String> {
    conn.exec(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        (database, table),
    )
    .await
    .map_err(|e| e.to_string())
}

/// The columns of a table in order, which of them form the primary key, and which is the sharding column.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Column names in table order.
    pub columns: Vec<String>,
    /// Indexes of the primary key's columns, in key order.
    pub primary: Vec<usize>,
    /// Index of the sharding column.
    pub key: usize,
    /// Per column, the width in bits of an UNSIGNED integer column (binlog images carry them as signed).
    pub unsigned: Vec<Option<u32>>,
}

impl Shape {
    /// Reads the shape of `m`'s table on its old node `from` over `conn`.
    pub async fn read(conn: &mut Conn, m: &TableMove, from: usize) -> Result<Shape, String> {
        let node = &m.old.nodes[from];
        Self::of(conn, &m.database, &node.table, &m.old.column).await.map_err(|e| format!("{e} (on {})", node.data_source))
    }

    /// Reads the shape of `database.table`, sharded by `key_column`, over `conn`.
    pub async fn of(conn: &mut Conn, database: &str, table: &str, key_column: &str) -> Result<Shape, String> {
        let columns = columns(conn, database, table).await?;
        let pk: Vec<String> = conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
                (database, table),
            )
            .await
            .map_err(|e| e.to_string())?;
        let position = |c: &str| columns.iter().position(|x| x.eq_ignore_ascii_case(c));
        let primary: Vec<usize> = pk.iter().filter_map(|c| position(c)).collect();
        if primary.is_empty() {
            return Err(format!("{database}.{table} has no PRIMARY KEY; add one before resharding"));
        }
        let key = position(key_column).ok_or_else(|| format!("{database}.{table} has no column {key_column}"))?;
        let types: Vec<(String, String)> = conn
            .exec(
                "SELECT DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (database, table),
            )
            .await
            .map_err(|e| e.to_string())?;
        let unsigned = types.iter().map(|(data, column)| unsigned_bits(data, column)).collect();
        Ok(Shape { columns, primary, key, unsigned })
    }

    /// Reads the UNSIGNED integers of a binlog image as what they are: the rows events carry them as
    /// signed (MariaDB logs no signedness without binlog_row_metadata=FULL).
    pub fn fix_unsigned(&self, row: &mut [Value]) {
        for (v, bits) in row.iter_mut().zip(&self.unsigned) {
            if let (Value::Int(i), Some(bits)) = (&*v, bits) {
                if *i < 0 {
                    let mask = if *bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
                    *v = Value::UInt(*i as u64 & mask);
                }
            }
        }
    }

    /// Where the row `values` (on old node `from`) goes, if it leaves.
    pub fn destination(&self, m: &TableMove, from: usize, values: &[Value]) -> Option<usize> {
        m.destination(from, &literal(&values[self.key]))
    }
}

/// Connections to the new nodes, and the two writes resharding makes there.
pub struct Targets<'a> {
    new: &'a Rules,
    conns: HashMap<String, Conn>,
}

impl<'a> Targets<'a> {
    /// No connection yet; they open on first use.
    pub fn new(new: &'a Rules) -> Self {
        Targets { new, conns: HashMap::new() }
    }

    async fn conn(&mut self, ds: &str) -> Result<&mut Conn, String> {
        if !self.conns.contains_key(ds) {
            let conn = connect(self.new, ds).await?;
            self.conns.insert(ds.to_string(), conn);
        }
        Ok(self.conns.get_mut(ds).expect("inserted above"))
    }

    /// Writes whole rows (`values` holds them one after another) for new node `to` with REPLACE (into its
    /// landing table, see [`TableMove::landing`]).
    pub async fn replace(&mut self, m: &TableMove, to: usize, shape: &Shape, values: Vec<Value>) -> Result<(), String> {
        let target = &m.landing(to);
        let width = shape.columns.len();
        let names = shape.columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
        let one = format!("({})", vec!["?"; width].join(", "));
        let conn = self.conn(&target.data_source).await?;
        // A prepared statement takes at most 65 535 parameters.
        for batch in values.chunks((60_000 / width).max(1) * width) {
            let sql = format!(
                "REPLACE INTO {}.{} ({names}) VALUES {}",
                ident(&m.database),
                ident(&target.table),
                vec![one.as_str(); batch.len() / width].join(", ")
            );
            conn.exec_drop(sql, Params::Positional(batch.to_vec())).await.map_err(|e| format!("writing {}.{}: {e}", target.data_source, target.table))?;
        }
        Ok(())
    }

    /// Deletes the row with the primary key of `row` from new node `to`.
    pub async fn delete(&mut self, m: &TableMove, to: usize, shape: &Shape, row: &[Value]) -> Result<(), String> {
        let target = &m.landing(to);
        let cond = shape.primary.iter().map(|&i| format!("{} = ?", ident(&shape.columns[i]))).collect::<Vec<_>>().join(" AND ");
        let params: Vec<Value> = shape.primary.iter().map(|&i| row[i].clone()).collect();
        let sql = format!("DELETE FROM {}.{} WHERE {cond}", ident(&m.database), ident(&target.table));
        let conn = self.conn(&target.data_source).await?;
        conn.exec_drop(sql, Params::Positional(params)).await.map_err(|e| format!("deleting on {}.{}: {e}", target.data_source, target.table))
    }
}

/// Copies one source node of one table, a chunk at a time.
pub struct Copier<'a> {
    m: &'a TableMove,
    from: usize,
    source: Conn,
    targets: Targets<'a>,
    shape: Shape,
}

/// The width of an UNSIGNED integer column from information_schema's DATA_TYPE and COLUMN_TYPE.
fn unsigned_bits(data_type: &str, column_type: &str) -> Option<u32> {
    if !column_type.to_ascii_lowercase().contains("unsigned") {
        return None;
    }
    match data_type.to_ascii_lowercase().as_str() {
        "tinyint" => Some(8),
        "smallint" => Some(16),
        "mediumint" => Some(24),
        "int" | "integer" => Some(32),
        "bigint" => Some(64),
        _ => None,
    }
}

fn literal(v: &Value) -> Literal {
    match v {
        Value::Int(i) => Literal::Int(i128::from(*i)),
        Value::UInt(u) => Literal::Int(i128::from(*u)),
        Value::Bytes(b) => Literal::Str(String::from_utf8_lossy(b).into_owned()),
        Value::NULL => Literal::Null,
        _ => Literal::Other,
    }
}

impl<'a> Copier<'a> {
    /// Opens the source node `from` of `m` (old rules) and learns its columns and primary key.
    pub async fn open(old: &Rules, new: &'a Rules, m: &'a TableMove, from: usize) -> Result<Copier<'a>, String> {
        let node = &m.old.nodes[from];
        let mut source = connect(old, &node.data_source).await?;
        let shape = Shape::read(&mut source, m, from).await?;
        Ok(Copier { m, from, source, targets: Targets::new(new), shape })
    }

    /// Copies the next chunk of up to `rows` rows after `progress.cursor`; returns whether rows remain.
    pub async fn chunk(&mut self, progress: &mut CopyProgress, rows: usize) -> Result<bool, String> {
        let node = &self.m.old.nodes[self.from];
        let order = self.shape.primary.iter().map(|&i| ident(&self.shape.columns[i])).collect::<Vec<_>>().join(", ");
        let after = match &progress.cursor {
            Some(c) => format!("WHERE ({order}) > ({})", c.join(", ")),
            None => String::new(),
        };
        let sql = format!("SELECT * FROM {}.{} {after} ORDER BY {order} LIMIT {rows}", ident(&self.m.database), ident(&node.table));
        let chunk: Vec<Row> = self.source.exec(sql, ()).await.map_err(|e| format!("reading {}.{}: {e}", node.data_source, node.table))?;
        let mut by_target: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
        for row in &chunk {
            let values: Vec<Value> = (0..row.len()).map(|i| row.as_ref(i).cloned().unwrap_or(Value::NULL)).collect();
            if let Some(to) = self.shape.destination(self.m, self.from, &values) {
                by_target.entry(to).or_default().extend(values);
                progress.copied += 1;
            }
        }
        for (to, values) in by_target {
            self.targets.replace(self.m, to, &self.shape, values).await?;
        }
        progress.scanned += chunk.len() as u64;
        if let Some(last) = chunk.last() {
            progress.cursor = Some(self.shape.primary.iter().map(|&i| last.as_ref(i).cloned().unwrap_or(Value::NULL).as_sql(false)).collect());
        }
        progress.done = chunk.len() < rows;
        Ok(!progress.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_integers_read_as_signed_from_a_binlog_image_get_their_value_back() {
        let shape = Shape {
            columns: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            primary: vec![0],
            key: 0,
            unsigned: vec![unsigned_bits("int", "int(10) unsigned"), unsigned_bits("bigint", "bigint(20) unsigned"), unsigned_bits("int", "int(11)"), unsigned_bits("tinyint", "tinyint(3) unsigned")],
        };
        let mut row = vec![Value::Int(-1), Value::Int(i64::MIN), Value::Int(-5), Value::Int(-56)];
        shape.fix_unsigned(&mut row);
        assert_eq!(row, vec![Value::UInt(4_294_967_295), Value::UInt(1 << 63), Value::Int(-5), Value::UInt(200)]);
    }
}
