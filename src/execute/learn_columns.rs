//! Learning a sharded table's columns (an INSERT without a column list needs them to find each row's
//! sharding key): `SHOW COLUMNS` on the table's first node, kept in the table's rules.

use crate::error::SgError;
use crate::sharding::table::ShardedTable;

use super::context::ExecCtx;

/// Learns `table`'s columns, in order, from its first node.
pub async fn run(ctx: &mut ExecCtx, table: &ShardedTable) -> Result<(), SgError> {
    let node = &table.nodes[0];
    let conn = ctx.conn(&node.data_source).await?;
    let rows = conn
        .query_rows(&format!("SHOW COLUMNS FROM {}", crate::sql::tokens::quote_ident(&node.table, None)))
        .await
        .map_err(|e| SgError::BackendLost(node.data_source.clone(), e))?;
    let columns: Vec<String> = rows.into_iter().filter_map(|r| r.into_iter().next().flatten()).map(|b| String::from_utf8_lossy(&b).into_owned()).collect();
    if columns.is_empty() {
        return Err(SgError::NotSupported(format!("an INSERT without a column list into '{}', whose columns could not be read", table.name)));
    }
    table.set_columns(columns);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::error::SgError;
    use crate::execute::fake_ctx::{err, ok, rows, Harness, SCHEMA};
    use crate::plan::Plan;

    const SHOW: &str = "SHOW COLUMNS FROM `k_0`";
    const HEADER: [&str; 6] = ["Field", "Type", "Null", "Key", "Default", "Extra"];

    #[tokio::test]
    async fn columns_come_from_the_first_node_and_let_the_insert_be_planned() {
        let mut h = Harness::new(SCHEMA).await;
        let sql = "INSERT INTO k VALUES (3, 'a')";
        let Plan::LearnColumns(table) = h.plan(sql) else { panic!("{:?}", h.plan(sql)) };
        h.ds0.on(SHOW, rows(&HEADER, &[&["id", "int(11)", "NO", "PRI", "NULL", ""], &["c", "varchar(10)", "YES", "", "NULL", ""]]));
        super::run(&mut h.ctx, &table).await.unwrap();
        assert_eq!(table.known_columns(), Some(vec!["id".to_string(), "c".to_string()]));
        assert_eq!(h.queries(0), [SHOW]);
        // Planned again (as the session does), the INSERT now finds its key.
        assert!(matches!(h.plan(sql), Plan::Insert(_)));
        h.ds1.on("INSERT INTO `k_1` VALUES (3, 'a')", ok(1));
        h.run(sql).await.unwrap();
        assert_eq!(h.read_reply().await.ok().affected_rows, 1);
        assert_eq!(h.queries(1), ["INSERT INTO `k_1` VALUES (3, 'a')"]);
        h.nothing_more();
    }

    #[tokio::test]
    async fn no_columns_or_an_error_learn_nothing() {
        let mut h = Harness::new(SCHEMA).await;
        let table = h.ctx.shared.layouts["s"].tables["k"].clone();
        h.ds0.on(SHOW, rows(&HEADER, &[]));
        let e = super::run(&mut h.ctx, &table).await.unwrap_err();
        assert!(matches!(&e, SgError::NotSupported(m) if m.contains("whose columns could not be read")), "{e:?}");
        h.ds0.on(SHOW, err(1146, "Table 'k_0' doesn't exist"));
        let e = super::run(&mut h.ctx, &table).await.unwrap_err();
        assert!(matches!(&e, SgError::BackendLost(ds, m) if ds == "ds_0" && m.contains("1146")), "{e:?}");
        assert_eq!(table.known_columns(), None);
    }
}
