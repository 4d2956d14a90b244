//! Deleting rows a node holds for keys that belong elsewhere: the leaving rows on a source once the new
//! rules serve (or all of a removed node's rows), and — to abort before cut-over — the rows copied to the
//! new nodes. Throttled: batches by primary key with a pause between them, so live traffic keeps its
//! latency. The foreign keys of one node are listed first (memory grows with the rows that moved, a few
//! bytes each), then deleted, so the scan never races its own deletes.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::ident;
use super::plan::TableMove;
use crate::config::nodes::DataNode;
use crate::config::Rules;
use crate::sharding::key::Literal;
use crate::sharding::table::ShardedTable;

/// Deletes from `node` (reached with `rules`) every row that `owner` places on another node, `batch` rows
/// per DELETE with `pause` after each; returns the rows deleted.
pub async fn delete_foreign(rules: &Rules, m: &TableMove, node: &DataNode, owner: &ShardedTable, batch: usize, pause: Duration) -> Result<u64, String> {
    let mut conn = super::connect(rules, &node.data_source).await?;
    let shape = super::copy::Shape::of(&mut conn, &m.database, &node.table, &owner.column).await?;
    let pk: Vec<String> = shape.primary.iter().map(|&i| shape.columns[i].clone()).collect();
    let table = format!("{}.{}", ident(&m.database), ident(&node.table));
    let quoted = pk.iter().map(|c| format!("QUOTE({})", ident(c))).collect::<Vec<_>>().join(", ");
    let rows: Vec<mysql_async::Row> =
        conn.query(format!("SELECT CAST({} AS CHAR), {quoted} FROM {table}", ident(&owner.column))).await.map_err(|e| format!("{}.{}: {e}", node.data_source, node.table))?;
    let mut foreign = Vec::new();
    for row in rows {
        let key: Option<String> = row.get(0).flatten();
        let lit = key.map_or(Literal::Null, Literal::Str);
        let belongs = owner.node_for(&lit).is_some_and(|i| owner.nodes[i] == *node);
        if !belongs {
            let literals: Vec<String> = (1..=pk.len()).map(|i| row.get::<String, _>(i).unwrap_or_else(|| "NULL".into())).collect();
            // A one-column key as a plain IN list, which the range optimizer always takes by the index.
            foreign.push(if literals.len() == 1 { literals.concat() } else { format!("({})", literals.join(", ")) });
        }
    }
    let columns = pk.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
    let columns = if pk.len() == 1 { columns } else { format!("({columns})") };
    let mut deleted = 0;
    for chunk in foreign.chunks(batch.max(1)) {
        conn.query_drop(format!("DELETE FROM {table} WHERE {columns} IN ({})", chunk.join(", ")))
            .await
            .map_err(|e| format!("deleting on {}.{}: {e}", node.data_source, node.table))?;
        deleted += conn.affected_rows();
        tokio::time::sleep(pause).await;
    }
    Ok(deleted)
}
