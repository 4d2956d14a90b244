//! SHOW TABLES speaks of logical tables: the default data source's tables minus the physical shards of
//! sharded tables, plus the sharded tables' logical names.

use std::collections::BTreeMap;

use crate::error::SgError;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use super::context::ExecCtx;
use crate::sql::lexer::like_matches;

/// Answers SHOW [FULL] TABLES [LIKE 'pattern'] for the current schema.
pub async fn run(ctx: &mut ExecCtx, full: bool, like: Option<&str>) -> Result<(), SgError> {
    let schema = ctx.state.schema.clone().ok_or(SgError::NoDatabase)?;
    let shared = ctx.shared.clone();
    let layout = &shared.layouts[&schema];
    let ds = layout.default_data_source.clone();
    let conn = ctx.conn(&ds).await?;
    let mut names = BTreeMap::new();
    match conn.query_rows("SHOW FULL TABLES").await {
        Ok(rows) => names.extend(rows.into_iter().filter_map(|r| {
            let mut cells = r.into_iter();
            let name = String::from_utf8_lossy(&cells.next().flatten()?).into_owned();
            let kind = cells.next().flatten().map_or_else(|| "BASE TABLE".to_string(), |k| String::from_utf8_lossy(&k).into_owned());
            Some((name, kind))
        })),
        Err(reason) if reason.starts_with("backend error") => {
            return Err(SgError::Failed(reason))
        }
        Err(reason) => {
            ctx.backends.remove(&ds);
            return Err(SgError::BackendLost(ds, reason));
        }
    }
    // A sharded table is listed when it exists: its first node's physical table is there (a table only in
    // the rules would make mariadb-dump and the CLI's completion fail with 1146).
    let mut existing = Vec::new();
    for t in layout.tables.values() {
        let first = &t.nodes[0];
        let exists = if first.data_source == ds {
            names.contains_key(&first.table)
        } else {
            let conn = ctx.conn(&first.data_source).await?;
            let like = crate::sql::lexer::escape_like(&first.table);
            let found = conn.query_rows(&format!("SHOW TABLES LIKE '{like}'")).await.map_err(|reason| SgError::BackendLost(first.data_source.clone(), reason))?;
            !found.is_empty()
        };
        if exists {
            existing.push(t.name.clone());
        }
    }
    for t in layout.tables.values() {
        for n in t.nodes.iter().filter(|n| n.data_source == ds) {
            names.remove(&n.table);
        }
    }
    // (Physical tables of sharded tables named like their logical table stay listed once, as the table.)
    names.extend(existing.into_iter().map(|t| (t, "BASE TABLE".to_string())));
    names.remove(crate::sharding::keygen::SEQUENCE_TABLE);
    let rows: Vec<Vec<Option<Vec<u8>>>> = names
        .into_iter()
        .filter(|(n, _)| like.is_none_or(|p| like_matches(p, n)))
        .map(|(n, kind)| if full { vec![Some(n.into_bytes()), Some(kind.into_bytes())] } else { vec![Some(n.into_bytes())] })
        .collect();
    let title = format!("Tables_in_{schema}");
    let columns: &[(&str, ColumnType)] = if full { &[(&title, ColumnType::Text), ("Table_type", ColumnType::Text)] } else { &[(&title, ColumnType::Text)] };
    let packets = encode_resultset(columns, &rows, ctx.state.deprecate_eof(), ctx.state.status);
    ctx.send_packets(&packets).await
}

#[cfg(test)]
mod tests {
    use crate::execute::fake_ctx::{rows, table, Harness};

    /// k's first node is on the default data source ds_0, m's on ds_1.
    const SCHEMA: &str = "[schemas.s]\ndata_source = \"ds_0\"\n\
        [schemas.s.tables.k]\nsharding_column = \"id\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_0.k_0,ds_1.k_1\"\n\
        [schemas.s.tables.m]\nsharding_column = \"id\"\nalgorithm = \"mod\"\nactual_nodes = \"ds_1.m_1,ds_0.m_0\"\n";

    async fn harness(m_exists: bool) -> Harness {
        let h = Harness::new(SCHEMA).await;
        let listed: &[&[&str]] = &[&["k_0", "BASE TABLE"], &["m_0", "BASE TABLE"], &["other", "BASE TABLE"], &["shardgate_sequence", "BASE TABLE"], &["v", "VIEW"]];
        h.ds0.on("SHOW FULL TABLES", rows(&["Tables_in_s", "Table_type"], listed));
        let found: &[&[&str]] = if m_exists { &[&["m_1"]] } else { &[] };
        h.ds1.on("SHOW TABLES LIKE 'm\\_1'", rows(&["Tables_in_s (m\\_1)"], found));
        h
    }

    #[tokio::test]
    async fn logical_tables_replace_their_shards() {
        let mut h = harness(true).await;
        h.run("SHOW TABLES").await.unwrap();
        let reply = h.read_reply().await;
        assert_eq!(reply.columns(), ["Tables_in_s"]);
        assert_eq!(reply.rows(), table(&[&["k"], &["m"], &["other"], &["v"]]));
        h.nothing_more();
        assert_eq!(h.queries(0), ["SHOW FULL TABLES"]);
        assert_eq!(h.queries(1), ["SHOW TABLES LIKE 'm\\_1'"]);
    }

    #[tokio::test]
    async fn full_and_like() {
        let mut h = harness(true).await;
        h.run("SHOW FULL TABLES").await.unwrap();
        let reply = h.read_reply().await;
        assert_eq!(reply.columns(), ["Tables_in_s", "Table_type"]);
        assert_eq!(reply.rows(), table(&[&["k", "BASE TABLE"], &["m", "BASE TABLE"], &["other", "BASE TABLE"], &["v", "VIEW"]]));
        h.run("SHOW TABLES LIKE 'o%'").await.unwrap();
        assert_eq!(h.read_reply().await.rows(), table(&[&["other"]]));
    }

    #[tokio::test]
    async fn a_sharded_table_whose_first_node_is_missing_is_not_listed() {
        let mut h = harness(false).await;
        h.run("SHOW TABLES").await.unwrap();
        assert_eq!(h.read_reply().await.rows(), table(&[&["k"], &["other"], &["v"]]));
    }

    #[tokio::test]
    async fn a_backend_error_is_the_statements_error() {
        let mut h = Harness::new(SCHEMA).await;
        h.ds0.on("SHOW FULL TABLES", crate::execute::fake_ctx::err(1044, "Access denied"));
        let e = h.run("SHOW TABLES").await.unwrap_err();
        assert!(matches!(&e, crate::error::SgError::Failed(m) if m.contains("1044") && m.contains("Access denied")), "{e:?}");
        h.nothing_more();
    }
}
