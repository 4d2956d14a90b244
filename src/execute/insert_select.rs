//! Runs an INSERT … SELECT into a sharded or broadcast table (plan/insert_select.rs): the SELECT's rows
//! come from the compute data source (over copies), then go to their nodes as `INSERT … VALUES`, all in one
//! XA transaction (the session's, or its own in autocommit).

use std::collections::BTreeMap;

use super::context::ExecCtx;
use super::value::{column, insert_batches, key_literal, sql_literal};
use super::xa;
use crate::error::SgError;
use crate::plan::insert_select::{InsertSelect, Into_};
use crate::sql::tokens::quote_ident;

/// Names of the character sets of `ids` (collation ids, as column definitions carry them), asked of `ds`.
async fn charsets(ctx: &mut ExecCtx, ds: &str, ids: &[u16]) -> Result<BTreeMap<u16, String>, SgError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let list: Vec<String> = ids.iter().map(u16::to_string).collect();
    let (_, rows) = ctx.query_table(ds, &format!("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IN ({})", list.join(", "))).await?;
    let text = |v: &Option<Vec<u8>>| v.as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    Ok(rows.iter().filter_map(|r| Some((text(&r[0]).parse().ok()?, text(&r[1])))).collect())
}

/// The statements that insert `rows` (each a list of SQL literals), by data source.
fn statements(plan: &InsertSelect, rows: Vec<((String, String), Vec<String>)>) -> Vec<(String, String)> {
    let mut by_target: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (target, values) in rows {
        by_target.entry(target).or_default().push(format!("({})", values.join(", ")));
    }
    let mut out = Vec::new();
    for ((ds, table), values) in by_target {
        let head = format!("{}{} ({}) VALUES ", plan.head, quote_ident(&table, None), plan.columns.join(", "));
        out.extend(insert_batches(&head, values).into_iter().map(|sql| (ds.clone(), sql)));
    }
    out
}

async fn steps(ctx: &mut ExecCtx, plan: &InsertSelect) -> Result<u64, SgError> {
    let (defs, rows) = super::compute::capture(ctx, &plan.compute, &plan.select).await?;
    if defs.len() != plan.columns.len() {
        // MariaDB's own answer to this statement.
        return Err(SgError::Backend { code: 1136, sqlstate: "21S01".into(), message: "Column count doesn't match value count at row 1".into() });
    }
    let columns: Vec<_> = defs.iter().map(|d| column(d)).collect::<Result<_, _>>()?;
    // Text travels as its bytes in the result's character set, introduced by that set's name.
    let ids: Vec<u16> = columns.iter().map(|c| c.charset).filter(|&id| id != 63).collect();
    let names = charsets(ctx, &plan.compute.data_source, &ids).await?;
    let mut routed = Vec::with_capacity(rows.len());
    for row in &rows {
        let values: Vec<String> = row
            .iter()
            .zip(&columns)
            .map(|(v, c)| match (v, names.get(&c.charset), matches!(c.kind, super::value::Kind::Text(_))) {
                (Some(bytes), Some(cs), true) => format!("_{cs} X'{}'", bytes.iter().map(|b| format!("{b:02X}")).collect::<String>()),
                _ => sql_literal(v, c.type_byte),
            })
            .collect();
        match &plan.into {
            Into_::Sharded(table, key) => {
                let literal = key_literal(row[*key].as_deref(), &columns[*key]);
                let node = table.node_for(&literal).ok_or_else(|| SgError::NotSupported(format!("INSERT … SELECT of a row whose sharding column '{}' is NULL or not a key", table.column)))?;
                let n = &table.nodes[node];
                routed.push(((n.data_source.clone(), n.table.clone()), values));
            }
            Into_::Broadcast(name, sources) => {
                for ds in sources {
                    routed.push(((ds.clone(), name.clone()), values.clone()));
                }
            }
        }
    }
    let mut total = 0;
    let mut per_source: BTreeMap<String, u64> = BTreeMap::new();
    for (ds, sql) in statements(plan, routed) {
        *per_source.entry(ds.clone()).or_default() += xa::enlisted_affected(ctx, &ds, &sql).await?;
    }
    for (_, n) in per_source {
        total += n;
    }
    // A broadcast table's rows went to every copy: the client sees one copy's count.
    if let Into_::Broadcast(_, sources) = &plan.into {
        total /= sources.len().max(1) as u64;
    }
    Ok(total)
}

/// Runs the two steps and answers with the rows inserted.
pub async fn run(ctx: &mut ExecCtx, plan: &InsertSelect) -> Result<(), SgError> {
    let own = !ctx.in_transaction();
    let result = steps(ctx, plan).await;
    xa::finish_write(ctx, own, result, "an INSERT … SELECT across shards").await
}

#[cfg(test)]
mod tests {
    use crate::execute::fake_ctx::{ok, rows, typed_rows, Harness, SCHEMA};
    use crate::plan::Plan;

    const INSERT: &str = "INSERT INTO k (id, c) SELECT 5, 'x'";

    #[tokio::test]
    async fn the_selected_rows_go_to_their_keys_node_as_introduced_text_in_one_xa_transaction() {
        let mut h = Harness::xa(SCHEMA).await;
        assert!(matches!(h.plan(INSERT), Plan::InsertSelect(_)), "{:?}", h.plan(INSERT));
        for fake in [&h.ds0, &h.ds1] {
            fake.on_prefix("XA ", ok(0));
        }
        // Nothing sharded is read: the SELECT runs on the compute data source as it is.
        h.ds0.on("SELECT 5, 'x'", typed_rows(&[("5", 0x08), ("x", 0xFD)], &[&["5", "x"]]));
        h.ds0.on("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IN (33)", rows(&["ID", "CHARACTER_SET_NAME"], &[&["33", "utf8mb3"]]));
        h.ds1.on("INSERT INTO `k_1` (`id`, `c`) VALUES (5, _utf8mb3 X'78')", ok(1));
        h.run(INSERT).await.unwrap();
        assert_eq!(h.read_reply().await.ok().affected_rows, 1);
        assert_eq!(h.xa_queries(1)[1], "INSERT INTO `k_1` (`id`, `c`) VALUES (5, _utf8mb3 X'78')");
        assert!(h.xa_queries(1).last().is_some_and(|q| q.starts_with("XA COMMIT")), "{:?}", h.xa_queries(1));
        assert!(h.xa_queries(0).iter().all(|q| !q.starts_with("INSERT")));
    }
}
