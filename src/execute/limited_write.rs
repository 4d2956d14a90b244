//! Runs an UPDATE/DELETE … ORDER BY … LIMIT over several shards (plan/limited_write.rs): each node locks
//! and returns its first rows, the proxy keeps the global first ones by the ORDER BY columns, and each node
//! changes its kept rows by primary key, all in one XA transaction (the session's, or its own in autocommit).

use std::cmp::Ordering;

use super::context::ExecCtx;
use super::value::{column, key, sql_literal, Column, Kind};
use super::xa;
use crate::error::SgError;
use crate::plan::limited_write::LimitedWrite;
use crate::sql::tokens::quote_ident;

/// One candidate row: its node, its key values (SQL literals) and its ORDER BY values.
struct Candidate {
    node: usize,
    key: String,
    order: Vec<Option<Vec<u8>>>,
}

/// The primary key's columns of `physical` on `ds`, in index order.
pub(super) async fn primary_key(ctx: &mut ExecCtx, ds: &str, physical: &str) -> Result<Vec<String>, SgError> {
    let (_, rows) = xa::enlisted_rows(ctx, ds, &format!("SHOW KEYS FROM {} WHERE Key_name = 'PRIMARY'", quote_ident(physical, None))).await?;
    let key: Vec<String> = rows.iter().filter_map(|r| r.get(4).cloned().flatten()).map(|c| String::from_utf8_lossy(&c).into_owned()).collect();
    if key.is_empty() {
        return Err(SgError::NotSupported(format!("an UPDATE or DELETE over several shards of '{physical}', which has no primary key (the proxy changes rows by it)")));
    }
    Ok(key)
}

/// Steps 1 and 2: the rows to change, by node.
async fn kept(ctx: &mut ExecCtx, plan: &LimitedWrite, key_cols: &[String]) -> Result<Vec<Candidate>, SgError> {
    let key_list: Vec<String> = key_cols.iter().map(|c| quote_ident(c, None)).collect();
    let mut all = Vec::new();
    let mut columns: Vec<Column> = Vec::new();
    for &n in &plan.nodes {
        let ds = plan.table.nodes[n].data_source.clone();
        let (defs, rows) = xa::enlisted_rows(ctx, &ds, &plan.reads[n].replace("{key}", &key_list.join(", "))).await?;
        columns = defs.iter().map(|d| column(d)).collect::<Result<_, _>>()?;
        let (keys, order) = columns.split_at(key_cols.len());
        // Integer keys name rows exactly as literals; numbers and dates order exactly without a collation.
        if keys.iter().any(|c| c.kind != Kind::Int) || order.iter().any(|c| matches!(c.kind, Kind::Text(_))) {
            return Err(SgError::NotSupported("UPDATE or DELETE … LIMIT over several shards by a key that is not an integer, or ORDER BY text".into()));
        }
        for r in rows {
            let literals: Vec<String> = r[..keys.len()].iter().zip(keys).map(|(v, c)| sql_literal(v, c.type_byte)).collect();
            all.push(Candidate { node: n, key: format!("({})", literals.join(", ")), order: r[keys.len()..].to_vec() });
        }
    }
    let order_cols = &columns[key_cols.len().min(columns.len())..];
    let cmp = |a: &Candidate, b: &Candidate| {
        for (i, c) in order_cols.iter().enumerate() {
            let o = key(a.order[i].as_deref(), c).cmp(&key(b.order[i].as_deref(), c));
            let o = if plan.desc[i] { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    };
    all.sort_by(cmp);
    all.truncate(usize::try_from(plan.limit).unwrap_or(usize::MAX));
    Ok(all)
}

/// Step 3: each node changes its kept rows; the affected rows summed.
async fn write(ctx: &mut ExecCtx, plan: &LimitedWrite, key_cols: &[String], rows: &[Candidate]) -> Result<u64, SgError> {
    let key_list: Vec<String> = key_cols.iter().map(|c| quote_ident(c, None)).collect();
    let mut total = 0;
    for &n in &plan.nodes {
        let mine: Vec<&str> = rows.iter().filter(|c| c.node == n).map(|c| c.key.as_str()).collect();
        if mine.is_empty() {
            continue;
        }
        let sql = format!("{} WHERE ({}) IN ({}) {}", plan.writes[n], key_list.join(", "), mine.join(", "), plan.order);
        total += xa::enlisted_affected(ctx, &plan.table.nodes[n].data_source.clone(), &sql).await?;
    }
    Ok(total)
}

/// Runs the three steps and answers with the affected rows.
pub async fn run(ctx: &mut ExecCtx, plan: &LimitedWrite) -> Result<(), SgError> {
    let own = !ctx.in_transaction();
    let first = &plan.table.nodes[plan.nodes[0]];
    let (ds, physical) = (first.data_source.clone(), first.table.clone());
    let chosen = match primary_key(ctx, &ds, &physical).await {
        Ok(key_cols) => kept(ctx, plan, &key_cols).await.map(|rows| (key_cols, rows)),
        Err(e) => Err(e),
    };
    let (key_cols, rows) = match chosen {
        Ok(c) => c,
        Err(e) => {
            // Nothing written yet: the session's own transaction stays as it was (with the rows read locked).
            if own {
                xa::rollback(ctx).await;
            }
            return Err(e);
        }
    };
    let steps = write(ctx, plan, &key_cols, &rows).await;
    xa::finish_write(ctx, own, steps, "an UPDATE or DELETE … LIMIT over several shards").await
}

#[cfg(test)]
mod tests {
    use crate::execute::fake_ctx::{ok, rows, typed_rows, Harness, SCHEMA};
    use crate::plan::Plan;

    const DELETE: &str = "DELETE FROM k ORDER BY id DESC LIMIT 2";

    #[tokio::test]
    async fn the_global_first_rows_are_locked_picked_and_deleted_in_one_xa_transaction() {
        let mut h = Harness::xa(SCHEMA).await;
        assert!(matches!(h.plan(DELETE), Plan::LimitedWrite(_)), "{:?}", h.plan(DELETE));
        for fake in [&h.ds0, &h.ds1] {
            fake.on_prefix("XA ", ok(0));
        }
        let key = rows(&["Table", "Non_unique", "Key_name", "Seq_in_index", "Column_name"], &[&["k_0", "0", "PRIMARY", "1", "id"]]);
        h.ds0.on("SHOW KEYS FROM `k_0` WHERE Key_name = 'PRIMARY'", key);
        h.ds0.on("SELECT `id`, `id` FROM `k_0` AS `k` ORDER BY id DESC LIMIT 2 FOR UPDATE", typed_rows(&[("id", 0x08), ("id", 0x08)], &[&["4", "4"], &["2", "2"]]));
        h.ds1.on("SELECT `id`, `id` FROM `k_1` AS `k` ORDER BY id DESC LIMIT 2 FOR UPDATE", typed_rows(&[("id", 0x08), ("id", 0x08)], &[&["3", "3"], &["1", "1"]]));
        h.ds0.on("DELETE FROM `k_0` WHERE (`id`) IN ((4)) ORDER BY id DESC", ok(1));
        h.ds1.on("DELETE FROM `k_1` WHERE (`id`) IN ((3)) ORDER BY id DESC", ok(1));
        h.run(DELETE).await.unwrap();
        assert_eq!(h.read_reply().await.ok().affected_rows, 2);
        assert_eq!(h.xa_queries(0)[1..4], [
            "SHOW KEYS FROM `k_0` WHERE Key_name = 'PRIMARY'",
            "SELECT `id`, `id` FROM `k_0` AS `k` ORDER BY id DESC LIMIT 2 FOR UPDATE",
            "DELETE FROM `k_0` WHERE (`id`) IN ((4)) ORDER BY id DESC",
        ]);
        assert!(h.xa_queries(1).contains(&"DELETE FROM `k_1` WHERE (`id`) IN ((3)) ORDER BY id DESC".to_string()));
        assert!(h.xa_queries(1).last().is_some_and(|q| q.starts_with("XA COMMIT")), "{:?}", h.xa_queries(1));
        assert!(h.ctx.xa.is_none());
    }

    #[tokio::test]
    async fn a_text_order_is_refused_before_anything_is_written() {
        let mut h = Harness::xa(SCHEMA).await;
        for fake in [&h.ds0, &h.ds1] {
            fake.on_prefix("XA ", ok(0));
        }
        let sql = "DELETE FROM k ORDER BY c LIMIT 1";
        h.ds0.on("SHOW KEYS FROM `k_0` WHERE Key_name = 'PRIMARY'", rows(&["T", "N", "K", "S", "Column_name"], &[&["k_0", "0", "PRIMARY", "1", "id"]]));
        h.ds0.on("SELECT `id`, `c` FROM `k_0` AS `k` ORDER BY c LIMIT 1 FOR UPDATE", typed_rows(&[("id", 0x08), ("c", 0xFD)], &[&["2", "x"]]));
        let e = h.run(sql).await.unwrap_err();
        assert!(matches!(&e, crate::error::SgError::NotSupported(m) if m.contains("ORDER BY text")), "{e:?}");
        assert!(!h.xa_queries(0).iter().any(|q| q.starts_with("DELETE")));
        assert!(h.xa_queries(0).last().is_some_and(|q| q.starts_with("XA ROLLBACK")), "{:?}", h.xa_queries(0));
    }
}
