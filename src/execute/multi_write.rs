//! Runs a write over copies (plan/multi_write.rs): the client's UPDATE or DELETE runs on the compute data
//! source over copies of its tables (each locked on its shards as read), then each copy's difference from
//! what was copied is written back by primary key where its rows live, all in one XA transaction. The
//! client gets the compute server's own affected rows and warnings.

use std::collections::{BTreeMap, HashMap};

use super::compute::{Changed, COPY_MODE};
use super::context::ExecCtx;
use super::xa;
use super::Exec;
use crate::error::SgError;
use crate::plan::multi_write::{Home, MultiWrite};
use crate::sharding::key::Literal;
use crate::sql::tokens::quote_ident;

/// Rows per statement written back (a few hundred KiB of text at most for ordinary rows).
const CHUNK: usize = 500;

/// One row's values, as read.
type Row = Vec<Option<Vec<u8>>>;

/// What one physical table must undergo: rows deleted (primary keys), rows updated (SET clause → primary
/// keys), rows inserted (VALUES lists).
#[derive(Default)]
struct Changes {
    deletes: Vec<String>,
    updates: BTreeMap<String, Vec<String>>,
    inserts: Vec<String>,
}

/// The sharding key a row's value of the sharding column stands for (text columns were read as HEX).
fn key_of(table: &Changed, i: usize, v: &Option<Vec<u8>>) -> Literal {
    let Some(v) = v else { return Literal::Null };
    let text = String::from_utf8_lossy(v);
    if table.hex(i) {
        let bytes: Option<Vec<u8>> = (0..text.len()).step_by(2).map(|at| text.get(at..at + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
        return bytes.map_or(Literal::Other, |b| Literal::Str(String::from_utf8_lossy(&b).into_owned()));
    }
    text.parse::<i128>().map_or(Literal::Other, Literal::Int)
}

/// The physical tables a row of `home` lives in: (data source, table) for the row's node, or every copy.
fn places(home: &Home, table: &Changed, shard_col: Option<usize>, row: &Row) -> Result<Vec<(String, String)>, SgError> {
    match home {
        Home::Broadcast(sources) => Ok(sources.iter().map(|ds| (ds.clone(), table.name().to_string())).collect()),
        Home::Sharded(t) => {
            let i = shard_col.ok_or_else(|| SgError::NotSupported(format!("a write over copies of '{}' without its sharding column", t.name)))?;
            let node = t.node_for(&key_of(table, i, &row[i])).ok_or_else(|| SgError::NotSupported(format!("a row whose sharding column '{}' is not a key", t.column)))?;
            Ok(vec![(t.nodes[node].data_source.clone(), t.nodes[node].table.clone())])
        }
    }
}

/// The (data source, physical table) whose primary key names rows of `home`.
fn first_place(home: &Home, name: &str) -> (String, String) {
    match home {
        Home::Broadcast(sources) => (sources[0].clone(), name.to_string()),
        Home::Sharded(t) => (t.nodes[0].data_source.clone(), t.nodes[0].table.clone()),
    }
}

/// Each physical table with what it must undergo to hold the copy's rows after the statement.
type Plan = BTreeMap<(String, String), Changes>;

/// What each physical table of `home` must undergo so that it holds the copy's rows after the statement,
/// with the primary key's columns (quoted, comma-separated) that name its rows.
async fn changes(ctx: &mut ExecCtx, home: &Home, table: &Changed) -> Result<(String, Plan), SgError> {
    let mut out = Plan::new();
    let (before, after) = (table.before(), &table.after);
    if before.len() == after.len() && {
        let mut b: Vec<&Row> = before.iter().collect();
        let mut a: Vec<&Row> = after.iter().collect();
        b.sort();
        a.sort();
        a == b
    } {
        return Ok((String::new(), out));
    }
    let (ds, physical) = first_place(home, table.name());
    let key_names = super::limited_write::primary_key(ctx, &ds, &physical).await?;
    let position = |name: &str| table.columns().iter().position(|c| *c == quote_ident(name, None));
    let key: Vec<usize> = key_names
        .iter()
        .map(|k| position(k).ok_or_else(|| SgError::NotSupported(format!("a write over copies of '{}' whose primary key column '{k}' is generated", table.name()))))
        .collect::<Result<_, _>>()?;
    let shard_col = match home {
        Home::Sharded(t) => position(&t.column),
        Home::Broadcast(_) => None,
    };
    let key_of_row = |r: &Row| key.iter().map(|&i| r[i].clone()).collect::<Row>();
    let key_literal = |r: &Row| format!("({})", key.iter().map(|&i| table.literal(i, &r[i])).collect::<Vec<_>>().join(", "));
    let old: HashMap<Row, &Row> = before.iter().map(|r| (key_of_row(r), r)).collect();
    let new: HashMap<Row, &Row> = after.iter().map(|r| (key_of_row(r), r)).collect();
    for (k, was) in &old {
        let from = places(home, table, shard_col, was)?;
        match new.get(k) {
            None => from.into_iter().for_each(|p| out.entry(p).or_default().deletes.push(key_literal(was))),
            Some(now) if now == was => {}
            Some(now) => {
                let to = places(home, table, shard_col, now)?;
                if to == from {
                    let set: Vec<String> = (0..now.len())
                        .filter(|&i| now[i] != was[i])
                        .map(|i| format!("{} = {}", table.columns()[i], table.literal(i, &now[i])))
                        .collect();
                    for p in to {
                        out.entry(p).or_default().updates.entry(set.join(", ")).or_default().push(key_literal(was));
                    }
                } else {
                    // The sharding column names another node: the row moves.
                    from.into_iter().for_each(|p| out.entry(p).or_default().deletes.push(key_literal(was)));
                    let values = table.values(std::slice::from_ref(now)).collect::<String>();
                    to.into_iter().for_each(|p| out.entry(p).or_default().inserts.push(values.clone()));
                }
            }
        }
    }
    for (k, now) in &new {
        if !old.contains_key(k) {
            let values = table.values(std::slice::from_ref(*now)).collect::<String>();
            for p in places(home, table, shard_col, now)? {
                out.entry(p).or_default().inserts.push(values.clone());
            }
        }
    }
    // The key list of every statement, in a stable order (the same statement text for the same rows).
    for c in out.values_mut() {
        c.deletes.sort();
        c.updates.values_mut().for_each(|keys| keys.sort());
        c.inserts.sort();
    }
    Ok((key_names.iter().map(|k| quote_ident(k, None)).collect::<Vec<_>>().join(", "), out))
}

/// Runs `sql` on `ds` in the transaction, checking that it changed exactly `expected` rows.
async fn apply_one(ctx: &mut ExecCtx, ds: &str, physical: &str, sql: String, expected: usize) -> Result<(), SgError> {
    let got = xa::enlisted_affected(ctx, ds, &sql).await?;
    if got != expected as u64 {
        return Err(SgError::Failed(format!("writing back to '{physical}' on '{ds}' changed {got} rows where {expected} were expected")));
    }
    Ok(())
}

/// Step 3: every copy's changes, written where its rows live.
async fn write_back(ctx: &mut ExecCtx, plan: &MultiWrite, tables: &[Changed]) -> Result<(), SgError> {
    for (table, home) in tables.iter().zip(&plan.homes) {
        let (key, all) = changes(ctx, home, table).await?;
        for ((ds, physical), c) in all {
            let target = quote_ident(&physical, None);
            for keys in c.deletes.chunks(CHUNK) {
                let sql = format!("{COPY_MODE}DELETE FROM {target} WHERE ({key}) IN ({})", keys.join(", "));
                apply_one(ctx, &ds, &physical, sql, keys.len()).await?;
            }
            for (set, keys) in &c.updates {
                for keys in keys.chunks(CHUNK) {
                    let sql = format!("{COPY_MODE}UPDATE {target} SET {set} WHERE ({key}) IN ({})", keys.join(", "));
                    apply_one(ctx, &ds, &physical, sql, keys.len()).await?;
                }
            }
            for rows in c.inserts.chunks(CHUNK) {
                let sql = format!("{COPY_MODE}INSERT INTO {target} ({}) VALUES {}", table.columns().join(", "), rows.join(", "));
                apply_one(ctx, &ds, &physical, sql, rows.len()).await?;
            }
        }
    }
    Ok(())
}

/// Runs the three steps and answers with the compute server's affected rows and warnings.
pub async fn run(ctx: &mut ExecCtx, plan: &MultiWrite, how: &Exec<'_>) -> Result<(), SgError> {
    let command = how.command();
    let sql = std::str::from_utf8(&command[1..])
        .map_err(|_| SgError::NotSupported("an UPDATE or DELETE run over copies whose text is not UTF-8".into()))?
        .to_string();
    let own = !ctx.in_transaction();
    // The compute data source first: what the statement writes in place (tables without rules) is part
    // of the same transaction.
    let over_copies = match xa::enlist(ctx, &plan.compute.data_source).await {
        Ok(()) => super::compute::write_over(ctx, &plan.compute, &sql).await,
        Err(e) => Err(e),
    };
    let steps = match over_copies {
        Ok(w) => write_back(ctx, plan, &w.tables).await.map(|()| (w.ok.affected_rows, w.ok.warnings)),
        // The server refused the statement (or a copy could not be read): nothing reached the shards,
        // and the statement's own changes there were undone with it, as on one server.
        Err(e @ SgError::Backend { .. }) if !own => return Err(e),
        Err(e) => Err(e),
    };
    xa::finish_counted(ctx, own, steps, "an UPDATE or DELETE over copies").await
}

#[cfg(test)]
mod tests {
    use crate::execute::fake_ctx::{err, ok, rows, typed_rows, Harness, SCHEMA};
    use crate::plan::Plan;

    const JOIN: &str = "UPDATE k JOIN nr ON nr.id = k.id SET k.c = nr.c";

    /// Scripts k's copy (id 2 'a' on ds_0, id 3 NULL on ds_1, both locked as read) and the statement over
    /// it, whose read-back finds id 2 now 'b'.
    fn script(h: &Harness) {
        for fake in [&h.ds0, &h.ds1] {
            fake.on_prefix("XA ", ok(0));
        }
        let ddl = "CREATE TABLE `k_0` (\n  `id` int(11) NOT NULL,\n  `c` varchar(5) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB";
        h.ds0.on("SET STATEMENT sql_mode='' FOR SHOW CREATE TABLE `k_0`", rows(&["Table", "Create Table"], &[&["k_0", ddl]]));
        h.ds0.on_prefix("SELECT COLUMN_NAME, DATA_TYPE", rows(&["n", "t", "cs", "g"], &[&["id", "int", "0", "0"], &["c", "varchar", "1", "0"]]));
        let read = |t: &str| typed_rows(&[("id", 0x03), ("HEX(`c`)", 0xFD)], &[&["2", t]]);
        h.ds0.on("SELECT `id`, HEX(`c`) FROM `k_0` LIMIT 100001 FOR UPDATE", read("61"));
        h.ds1.on("SELECT `id`, HEX(`c`) FROM `k_1` LIMIT 100000 FOR UPDATE", typed_rows(&[("id", 0x03), ("HEX(`c`)", 0xFD)], &[&["3", "NULL"]]));
        h.ds0.on_prefix("SET STATEMENT sql_mode='NO_AUTO_VALUE_ON_ZERO' FOR CREATE TEMPORARY TABLE `k`", ok(0));
        h.ds0.on("SET STATEMENT sql_mode='NO_AUTO_VALUE_ON_ZERO' FOR INSERT INTO `k` (`id`, `c`) VALUES (2, X'61'), (3, NULL)", ok(2));
        h.ds0.on(JOIN, ok(1));
        h.ds0.on("SELECT `id`, HEX(`c`) FROM `k`", typed_rows(&[("id", 0x03), ("HEX(`c`)", 0xFD)], &[&["2", "62"], &["3", "NULL"]]));
        h.ds0.on("DROP TEMPORARY TABLE IF EXISTS `k`", ok(0));
        h.ds0.on("SHOW KEYS FROM `k_0` WHERE Key_name = 'PRIMARY'", rows(&["Table", "Non_unique", "Key_name", "Seq_in_index", "Column_name"], &[&["k_0", "0", "PRIMARY", "1", "id"]]));
    }

    const WRITE_BACK: &str = "SET STATEMENT sql_mode='NO_AUTO_VALUE_ON_ZERO' FOR UPDATE `k_0` SET `c` = X'62' WHERE (`id`) IN ((2))";

    #[tokio::test]
    async fn the_copys_difference_is_written_back_by_key_in_one_xa_transaction() {
        let mut h = Harness::xa(SCHEMA).await;
        assert!(matches!(h.plan(JOIN), Plan::MultiWrite(_)), "{:?}", h.plan(JOIN));
        script(&h);
        h.ds0.on(WRITE_BACK, ok(1));
        h.run(JOIN).await.unwrap();
        assert_eq!(h.read_reply().await.ok().affected_rows, 1, "the compute server's own count");
        let home = h.xa_queries(0);
        let at = |q: &str| home.iter().position(|x| x == q).unwrap_or_else(|| panic!("{q} not in {home:?}"));
        assert!(at(JOIN) < at("DROP TEMPORARY TABLE IF EXISTS `k`") && at("DROP TEMPORARY TABLE IF EXISTS `k`") < at(WRITE_BACK));
        assert!(home.last().is_some_and(|q| q.starts_with("XA COMMIT")), "{home:?}");
        // Nothing changed on ds_1: it was only read (and locked).
        assert!(!h.xa_queries(1).iter().any(|q| q.contains("UPDATE `k_1`")), "{:?}", h.xa_queries(1));
        assert!(h.ctx.xa.is_none());
    }

    #[tokio::test]
    async fn a_write_back_that_finds_other_rows_rolls_everything_back() {
        let mut h = Harness::xa(SCHEMA).await;
        script(&h);
        h.ds0.on(WRITE_BACK, ok(0));
        let e = h.run(JOIN).await.unwrap_err();
        assert!(e.to_string().contains("changed 0 rows where 1 were expected"), "{e}");
        assert!(h.xa_queries(0).last().is_some_and(|q| q.starts_with("XA ROLLBACK")), "{:?}", h.xa_queries(0));
        // The statement's own error leaves nothing to write back.
        let mut h = Harness::xa(SCHEMA).await;
        script(&h);
        h.ds0.on(JOIN, err(1242, "Subquery returns more than 1 row"));
        let e = h.run(JOIN).await.unwrap_err();
        assert!(matches!(e, crate::error::SgError::Backend { code: 1242, .. }), "{e:?}");
        assert!(!h.xa_queries(0).iter().any(|q| q.contains("UPDATE `k_0`")));
    }
}
