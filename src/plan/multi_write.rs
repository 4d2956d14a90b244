//! An UPDATE or DELETE over sharded tables that neither the shards nor a keyed write (plan/keyed_write.rs)
//! can run exactly: a multi-table UPDATE or DELETE whose tables are not co-located, an UPDATE whose SET
//! reads a subquery or moves rows to another shard, ORDER BY … LIMIT reading other sharded tables. Planned
//! as a write over copies (execute/multi_write.rs), in one XA transaction:
//! 1. every sharded table the statement names is copied to the compute data source (plan/compute.rs), read
//!    `FOR UPDATE` on each shard so its rows cannot change before step 3; so is every broadcast table in
//!    its table list, read on the compute data source (the statement may write it);
//! 2. the client's statement runs there unchanged: MariaDB decides which rows it changes, in its own order,
//!    with its own affected rows and warnings (tables without rules are written in place, in the same
//!    transaction);
//! 3. each copy is compared with what was copied, by primary key, and the difference is written back where
//!    each row lives: deleted rows deleted, changed rows updated (or moved, when the sharding column now
//!    names another node), each statement checked to change exactly the rows expected.
//!
//! Written-back rows are named by primary key: a table without one is refused if the statement changes it.

use std::sync::Arc;

use sqlparser::tokenizer::Token;

use super::compute::{ComputePlan, CopiedTable};
use crate::sharding::table::{SchemaLayout, ShardedTable};
use crate::sql::tokens::{TableRef, Tok};

/// Where a copied table's changes are written back.
#[derive(Debug, Clone)]
pub enum Home {
    /// A sharded table: each row to the node its sharding column names.
    Sharded(Arc<ShardedTable>),
    /// A broadcast table: every row to each of these data sources.
    Broadcast(Vec<String>),
}

/// A write over copies (see the module comment).
#[derive(Debug, Clone)]
pub struct MultiWrite {
    /// The copies (every one locked as read) and where the statement runs.
    pub compute: ComputePlan,
    /// Per copied table, in the same order, where its changes go.
    pub homes: Vec<Home>,
}

/// The tokens of the statement's table list: `UPDATE <list> SET`, `DELETE … FROM <list> WHERE`,
/// `DELETE FROM … USING <list> WHERE`.
fn table_list(toks: &[Tok]) -> Option<std::ops::Range<usize>> {
    let top = |kw: &str| super::limited_write::top_level(toks, |t| t.is_keyword(kw));
    let end = ["WHERE", "ORDER", "LIMIT"].iter().filter_map(|k| top(k)).min().unwrap_or(toks.len());
    let modifier = |t: &Tok| ["LOW_PRIORITY", "IGNORE", "QUICK"].iter().any(|k| t.is_keyword(k));
    let start = |from: usize| (from..toks.len()).find(|&i| !modifier(&toks[i]));
    let list = if toks[0].is_keyword("UPDATE") {
        start(1)?..top("SET")?
    } else {
        match top("USING") {
            Some(using) => using + 1..end,
            None => top("FROM")? + 1..end,
        }
    };
    // Nothing between the keywords (`DELETE … FROM` at the end, `SET` first): no table list.
    (list.start < list.end).then_some(list)
}

/// Whether an UPDATE or DELETE naming several tables may write a broadcast table among them: an UPDATE
/// assigning a column of it (or a column named without its table), a DELETE listing it. Sent to the shards
/// as it is, each would change its own copy by its own rows only.
pub fn may_write_broadcast(toks: &[Tok], refs: &[TableRef], layout: &SchemaLayout) -> bool {
    let Some(list) = table_list(toks) else { return false };
    // The names the statement may know each broadcast table of its table list by: its name, its alias.
    let mut names: Vec<&str> = Vec::new();
    for r in refs.iter().filter(|r| list.contains(&r.index) && layout.broadcast.contains(&r.name)) {
        names.push(&r.name);
        let after = toks.get(r.index + 1).filter(|t| t.is_keyword("AS")).map_or(r.index + 1, |_| r.index + 2);
        let clause = ["JOIN", "ON", "USING", "WHERE", "SET", "INNER", "LEFT", "RIGHT", "CROSS", "STRAIGHT_JOIN", "NATURAL", "ORDER", "LIMIT"];
        if let Some(alias) = toks.get(after).filter(|t| !clause.iter().any(|k| t.is_keyword(k))).and_then(Tok::word) {
            names.push(alias);
        }
    }
    if names.is_empty() {
        return false;
    }
    let named = |w: &str| names.iter().any(|n| n.eq_ignore_ascii_case(w));
    if toks[0].is_keyword("DELETE") {
        // The targets: before FROM, or between FROM and USING.
        return toks[super::route::target_region(toks)].iter().filter_map(Tok::word).any(named);
    }
    let top = |kw: &str| super::limited_write::top_level(toks, |t| t.is_keyword(kw));
    let Some(set) = top("SET") else { return false };
    let end = ["WHERE", "ORDER", "LIMIT"].iter().filter_map(|k| top(k)).min().unwrap_or(toks.len());
    // Each top-level assignment's target (`col =`, any table's, or `q.col =`), up to the next top-level comma.
    let mut depth = 0i32;
    let mut start = set + 1;
    for i in set + 1..=end {
        let comma = toks.get(i).is_some_and(|t| t.token == Token::Comma);
        if depth == 0 && (i == end || comma) {
            let target = &toks[start..i];
            let qualified = target.get(1).is_some_and(|t| t.token == Token::Period);
            if !qualified || target.first().and_then(Tok::word).is_some_and(named) {
                return true;
            }
            start = i + 1;
        } else if let Some(t) = toks.get(i) {
            match t.token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                _ => {}
            }
        }
    }
    false
}

/// The plan of `sql` (an UPDATE or DELETE the shards cannot run as it is, for `reason`), or why it cannot
/// be exact.
pub fn plan(reason: &str, sql: &str, toks: &[Tok], refs: &[TableRef], layout: &SchemaLayout) -> Result<MultiWrite, String> {
    if toks.iter().any(|t| matches!(t.token, Token::Placeholder(_))) {
        return Err("an UPDATE or DELETE over copies with placeholders; run it as plain SQL".into());
    }
    if layout.max_fallback_rows == 0 {
        return Err("the exact fallback is off (max_fallback_rows = 0)".into());
    }
    if let Some(why) = super::compute::qualified_sharded(toks, refs, layout) {
        return Err(why.into());
    }
    let top = |kw: &str| super::limited_write::top_level(toks, |t| t.is_keyword(kw));
    if top("LIMIT").is_some() && top("ORDER").is_none() {
        return Err("UPDATE or DELETE … LIMIT without ORDER BY over several shards (which rows it changes is unspecified); add ORDER BY".into());
    }
    let list = table_list(toks).ok_or("an UPDATE or DELETE without a table list")?;
    let mut compute = super::compute::plan(reason.to_string(), refs, layout);
    let mut homes: Vec<Home> = compute.tables.iter().map(|t| Home::Sharded(layout.tables[&t.name].clone())).collect();
    for r in refs.iter().filter(|r| list.contains(&r.index) && layout.broadcast.contains(&r.name)) {
        if compute.tables.iter().any(|t| t.name == r.name) {
            continue;
        }
        let nodes = vec![(compute.data_source.clone(), r.name.clone())];
        compute.tables.push(CopiedTable { name: r.name.clone(), nodes, filter: None, lock: false });
        homes.push(Home::Broadcast(layout.all_data_sources.clone()));
    }
    // Conditions on one table alone, as a query over the same table list and WHERE clause would push them;
    // only for tables named once in it and, for an UPDATE, once in the whole statement (a SET subquery may
    // read one again; a DELETE's list of targets only names them).
    let condition = super::limited_write::top_level(toks, |t| t.is_keyword("WHERE")).map_or("", |w| &sql[toks[w].start..]);
    let probe = format!("SELECT 1 FROM {} {condition}", &sql[toks[list.start].start..toks[list.end - 1].end]);
    if let (Ok(stmt), Ok(whole)) = (crate::sql::analyze::parse(&probe), crate::sql::analyze::parse(sql)) {
        let mut pushed = super::pushdown::find(&probe, &stmt, layout);
        let counts = super::pushdown::relation_counts(&whole);
        for t in &mut compute.tables {
            let once = toks[0].is_keyword("DELETE") || counts.get(&t.name) == Some(&1);
            t.filter = pushed.remove(&t.name).filter(|_| once && layout.tables.contains_key(&t.name)).map(|(alias, conds)| (alias, conds.join(" AND ")));
        }
    }
    for t in &mut compute.tables {
        t.lock = true;
    }
    Ok(MultiWrite { compute, homes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::tokens::{table_refs, tokenize};

    fn planned(sql: &str) -> Result<MultiWrite, String> {
        let layout = crate::plan::schema_s();
        let toks = tokenize(sql).unwrap();
        let refs = table_refs(&toks, |n| layout.has_rule(n));
        plan("why", sql, &toks, &refs, &layout)
    }

    fn copies(m: &MultiWrite) -> Vec<(&str, Option<&str>, bool)> {
        m.compute.tables.iter().map(|t| (t.name.as_str(), t.filter.as_ref().map(|f| f.1.as_str()), t.lock)).collect()
    }

    #[test]
    fn every_table_of_the_statement_is_copied_locked_with_its_own_conditions() {
        let m = planned("UPDATE t JOIN h ON h.c = t.c SET t.c = h.d, h.d = 0 WHERE h.k = 1 AND t.id > 5").unwrap();
        assert_eq!(copies(&m), [("t", Some("t.id > 5"), true), ("h", Some("h.k = 1"), true)]);
        assert_eq!(m.compute.tables[0].nodes.len(), 4);
        let m = planned("DELETE t, h FROM t JOIN h ON h.c = t.c JOIN b ON b.k = h.k WHERE b.v = 'x'").unwrap();
        assert_eq!(copies(&m), [("h", None, true), ("t", None, true), ("b", None, true)]);
        assert!(matches!(&m.homes[2], Home::Broadcast(ds) if ds.len() == 2));
        assert_eq!(m.compute.tables[2].nodes, [("ds_0".to_string(), "b".to_string())]);
        let m = planned("DELETE FROM t USING t JOIN h ON h.c = t.c WHERE t.c < 3 ORDER BY t.id").unwrap();
        assert_eq!(copies(&m), [("t", Some("t.c < 3"), true), ("h", None, true)]);
        // A table named twice (here in SET too) is copied whole: the second reference needs every row.
        let m = planned("UPDATE t SET c = (SELECT MAX(c) FROM h) WHERE id IN (SELECT id FROM h WHERE h.k = 2)").unwrap();
        assert_eq!(copies(&m), [("t", None, true), ("h", None, true)]);
        // A broadcast table only read in a subquery stays where it is.
        let m = planned("UPDATE t SET id = id + 10 WHERE c IN (SELECT c FROM h) AND EXISTS (SELECT 1 FROM b)").unwrap();
        assert_eq!(copies(&m).len(), 2);
    }

    #[test]
    fn a_broadcast_table_is_written_when_assigned_unqualified_or_listed() {
        let layout = crate::plan::schema_s();
        let may = |sql: &str| {
            let toks = tokenize(sql).unwrap();
            may_write_broadcast(&toks, &table_refs(&toks, |n| layout.has_rule(n)), &layout)
        };
        for sql in [
            "UPDATE t JOIN b ON b.k = t.id SET b.v = 1",
            "UPDATE t JOIN b AS x ON x.k = t.id SET t.c = 2, x.v = IF(t.c > 1, 1, 2)",
            "UPDATE t JOIN b ON b.k = t.id SET v = 1",
            "DELETE t, b FROM t JOIN b ON b.k = t.id",
            "DELETE FROM x USING t JOIN b x ON x.k = t.id",
        ] {
            assert!(may(sql), "{sql}");
        }
        for sql in [
            "UPDATE t JOIN b ON b.k = t.id SET t.c = b.v, t.d = (SELECT MAX(v) FROM b)",
            "UPDATE t JOIN b x ON x.k = t.id SET t.c = x.v WHERE x.v = 1",
            "DELETE t FROM t JOIN b ON b.k = t.id WHERE b.v = 2",
            "UPDATE t SET c = 1 WHERE id IN (SELECT k FROM b)",
        ] {
            assert!(!may(sql), "{sql}");
        }
    }

    #[test]
    fn the_router_fuzzers_input_plans_without_a_panic() {
        let sql = String::from_utf8_lossy(include_bytes!("../../tests/fuzz/regressions/router-multi-write-empty-list")).into_owned();
        let (rules, layouts) = crate::plan::test_rules("", "[schemas.s]\ndata_source = \"ds_0\"\nbroadcast_tables = [\"b\"]\n[schemas.s.tables.t]\nsharding_column = \"id\"\nactual_nodes = \"ds_${0..1}.t_${0..1}\"\n");
        let plan = crate::plan::planner::plan(crate::sql::lexer::classify(&sql), &sql, Some("s"), &rules, &layouts);
        let _ = plan.describe(&sql);
    }

    #[test]
    fn what_the_copies_cannot_answer_is_refused() {
        for (sql, word) in [
            ("UPDATE t JOIN h ON h.c = t.c SET t.c = ? WHERE h.k = 1", "placeholders"),
            ("UPDATE s.t JOIN h ON h.c = t.c SET t.c = 1", "with its schema"),
            ("DELETE FROM t WHERE id IN (SELECT id FROM h) LIMIT 2", "without ORDER BY"),
            // Found by the router fuzzer: no table after FROM (a comment ends the statement), SET first.
            ("DELETE t, b.x FROM -- = :", "without a table list"),
            ("UPDATE SET t JOIN h", "without a table list"),
        ] {
            assert!(planned(sql).is_err_and(|e| e.contains(word)), "{sql}");
        }
    }
}
