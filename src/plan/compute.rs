//! The exact fallback: a SELECT the shards cannot answer as it is (a subquery, derived table or CTE over a
//! sharded table, a join of tables that are not co-located, a set operation, an aggregate inside an
//! expression, a window function …) runs on one MariaDB, the *compute* data source (the schema's default
//! data source), over copies of the sharded tables' rows in session-private temporary tables named as the
//! logical tables. A temporary table shadows a base table of the same name, so the statement runs there
//! unchanged and MariaDB's own semantics (collations, NULLs, DECIMAL arithmetic, ROLLUP, window frames)
//! produce the answer one server holding all the rows gives. Tables without rules and broadcast tables
//! are read in place on the compute data source, in the session's own transaction there.
//!
//! Bounded by `[server] max_fallback_rows` (rows copied per statement; 0 turns the fallback off, and
//! these statements are refused as before).

use crate::sharding::table::SchemaLayout;
use crate::sql::tokens::{TableRef, Tok};
use sqlparser::tokenizer::Token;

/// One sharded table copied for the statement: its logical name and the nodes whose rows are copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedTable {
    /// The logical name (the temporary table's name on the compute data source).
    pub name: String,
    /// (data source, physical table) of each node read, in node order.
    pub nodes: Vec<(String, String)>,
    /// Conditions the shards apply while copying (plan/pushdown.rs): the alias they name the table by,
    /// and the conjuncts joined with AND.
    pub filter: Option<(String, String)>,
    /// Read with `FOR UPDATE` in the session's XA transaction: the table a keyed write changes
    /// (plan/keyed_write.rs), whose rows must still match when they are written.
    pub lock: bool,
}

/// A statement run on the compute data source over copies of its sharded tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputePlan {
    /// Where the statement runs (the schema's default data source).
    pub data_source: String,
    /// The sharded tables it reads.
    pub tables: Vec<CopiedTable>,
    /// Why the statement could not go to the shards as it is (EXPLAIN SHARDING shows it).
    pub reason: String,
}

impl ComputePlan {
    /// The plan reading only nodes `nodes` of every table (the WHERE clause's key allows no others; the
    /// tables are one binding group, laid out alike).
    pub fn only_nodes(&self, nodes: &[usize]) -> ComputePlan {
        let tables = self
            .tables
            .iter()
            .map(|t| CopiedTable { name: t.name.clone(), nodes: nodes.iter().filter_map(|&n| t.nodes.get(n).cloned()).collect(), filter: t.filter.clone(), lock: t.lock })
            .collect();
        ComputePlan { data_source: self.data_source.clone(), tables, reason: self.reason.clone() }
    }

    /// Every data source the plan reads or runs on, the compute one last.
    pub fn data_sources(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (ds, _) in self.tables.iter().flat_map(|t| &t.nodes) {
            if !out.contains(&ds.as_str()) && *ds != self.data_source {
                out.push(ds);
            }
        }
        out.push(&self.data_source);
        out
    }
}

/// Whether `toks` is an UPDATE of a join or table list, or a DELETE naming its tables before FROM or with
/// USING (the statement may write more than its first table).
pub(crate) fn multi_table_write(toks: &[Tok]) -> bool {
    let first = &toks[0];
    if first.is_keyword("UPDATE") {
        let set = toks.iter().position(|t| t.is_keyword("SET")).unwrap_or(toks.len());
        return toks[..set].iter().any(|t| t.is_keyword("JOIN") || t.token == Token::Comma);
    }
    if first.is_keyword("DELETE") {
        let after = toks[1..].iter().find(|t| !(t.is_keyword("LOW_PRIORITY") || t.is_keyword("QUICK") || t.is_keyword("IGNORE")));
        return !after.is_some_and(|t| t.is_keyword("FROM")) || toks.iter().any(|t| t.is_keyword("USING"));
    }
    false
}

/// Why a statement that cannot go to the shards cannot run on the compute data source either, if so.
fn not_computable(toks: &[Tok], refs: &[TableRef], layout: &SchemaLayout) -> Option<&'static str> {
    if layout.max_fallback_rows == 0 {
        return Some("the exact fallback is off (max_fallback_rows = 0)");
    }
    let first = toks.first()?;
    let query = first.is_keyword("SELECT") || first.is_keyword("WITH") || first.token == Token::LParen;
    if !query {
        // A write runs there too when it writes one table without rules, which lives on the compute data
        // source: `INSERT INTO u SELECT … FROM t`, `UPDATE u SET … WHERE id IN (SELECT … FROM t)`.
        if !["INSERT", "REPLACE", "UPDATE", "DELETE"].iter().any(|w| first.is_keyword(w)) {
            return Some("only queries and writes to a table without rules run on the compute data source");
        }
        match super::route::written_table(toks) {
            Some(w) if !layout.has_rule(&w) => {}
            _ => return Some("only queries and writes to a table without rules run on the compute data source"),
        }
        if multi_table_write(toks) {
            return Some("a multi-table UPDATE or DELETE over sharded tables");
        }
    }
    for (i, t) in toks.iter().enumerate().filter(|_| query) {
        let next = |kw: &str| toks.get(i + 1).is_some_and(|n| n.is_keyword(kw));
        // Locks would be taken on the copies, not on the shards' rows.
        if (t.is_keyword("FOR") && (next("UPDATE") || next("SHARE"))) || (t.is_keyword("LOCK") && next("IN")) {
            return Some("a locking read (FOR UPDATE / LOCK IN SHARE MODE) that the shards cannot answer as it is");
        }
        // SELECT … INTO would set variables or write a file on the compute connection only.
        if t.is_keyword("INTO") {
            return Some("SELECT … INTO that the shards cannot answer as it is");
        }
    }
    qualified_sharded(toks, refs, layout)
}

/// Why the copies cannot stand in for a sharded table named with its schema (`schema.t` would read the base
/// table, not the copy), if one is.
pub(super) fn qualified_sharded(toks: &[Tok], refs: &[TableRef], layout: &SchemaLayout) -> Option<&'static str> {
    let qualified = refs.iter().any(|r| layout.tables.contains_key(&r.name) && r.index > 0 && toks[r.index - 1].token == Token::Period);
    qualified.then_some("a sharded table named with its schema in a statement the shards cannot answer as it is; name it without the schema")
}

/// The compute plan for a query the shards cannot answer as it is (`reason`), reading every node of each
/// sharded table it names, or the refusal when it cannot run there either.
pub fn fallback(reason: String, sql: &str, toks: &[Tok], refs: &[TableRef], layout: &SchemaLayout) -> super::Plan {
    // An UPDATE or DELETE that writes a sharded table (or may, naming several): the rows to change found
    // over copies and changed by key, or the statement run over copies and its changes written back.
    let write = toks.first().is_some_and(|t| t.is_keyword("UPDATE") || t.is_keyword("DELETE"));
    let written = super::route::written_table(toks);
    let sharded_target = written.as_ref().is_some_and(|w| layout.tables.contains_key(w));
    let broadcast_target = written.as_ref().is_some_and(|w| layout.broadcast.contains(w));
    if write && layout.xa && (sharded_target || broadcast_target || multi_table_write(toks)) {
        if let Ok(p) = super::keyed_write::plan(sql, toks, layout) {
            return super::Plan::KeyedWrite(Box::new(p));
        }
        return match super::multi_write::plan(&reason, sql, toks, refs, layout) {
            Ok(p) => super::Plan::MultiWrite(Box::new(p)),
            Err(why) => super::Plan::Refuse(format!("{reason} ({why})")),
        };
    }
    if let Some(why) = not_computable(toks, refs, layout) {
        return super::Plan::Refuse(format!("{reason} ({why})"));
    }
    let mut plan = plan(reason, refs, layout);
    if let Ok(stmt) = crate::sql::analyze::parse(sql) {
        let mut pushed = super::pushdown::find(sql, &stmt, layout);
        for t in &mut plan.tables {
            t.filter = pushed.remove(&t.name).map(|(alias, conds)| (alias, conds.join(" AND ")));
        }
    }
    super::Plan::Compute(Box::new(plan))
}

/// The compute plan for the sharded tables among `refs` (each once, every node, no condition).
pub fn plan(reason: String, refs: &[TableRef], layout: &SchemaLayout) -> ComputePlan {
    let mut tables: Vec<CopiedTable> = Vec::new();
    for r in refs {
        let Some(t) = layout.tables.get(&r.name) else { continue };
        if tables.iter().any(|c| c.name == t.name) {
            continue;
        }
        let nodes = t.nodes.iter().map(|n| (n.data_source.clone(), n.table.clone())).collect();
        tables.push(CopiedTable { name: t.name.clone(), nodes, filter: None, lock: false });
    }
    ComputePlan { data_source: layout.default_data_source.clone(), tables, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use crate::sql::tokens::{table_refs, tokenize};

    fn layout() -> SchemaLayout {
        crate::plan::schema_s()
    }

    fn fallback_of(sql: &str, layout: &SchemaLayout) -> Plan {
        let toks = tokenize(sql).unwrap();
        let refs = table_refs(&toks, |n| layout.has_rule(n));
        fallback("why".into(), sql, &toks, &refs, layout)
    }

    #[test]
    fn a_query_copies_each_sharded_table_it_names_once_from_every_node() {
        let Plan::Compute(p) = fallback_of("SELECT * FROM t WHERE id IN (SELECT id FROM h JOIN t ON t.id = h.id) AND EXISTS (SELECT 1 FROM b)", &layout()) else {
            panic!("a compute plan")
        };
        assert_eq!(p.data_source, "ds_0");
        let names: Vec<(&str, usize)> = p.tables.iter().map(|t| (t.name.as_str(), t.nodes.len())).collect();
        assert_eq!(names, [("t", 4), ("h", 4)]);
        assert_eq!(p.tables[0].nodes[3], ("ds_1".to_string(), "t_1".to_string()));
        assert_eq!(p.data_sources(), ["ds_1", "ds_0"]);
        assert_eq!(p.only_nodes(&[1]).tables[1].nodes, [("ds_0".to_string(), "h_1".to_string())]);
    }

    #[test]
    fn what_the_copies_cannot_answer_stays_refused_with_both_reasons() {
        for (sql, word) in [
            ("SELECT * FROM t WHERE id IN (SELECT id FROM h) FOR UPDATE", "locking read"),
            ("SELECT * FROM t WHERE id IN (SELECT id FROM h) LOCK IN SHARE MODE", "locking read"),
            ("SELECT COUNT(*) FROM (SELECT * FROM t) d INTO @n", "INTO"),
            ("SELECT * FROM s.t WHERE id IN (SELECT id FROM h)", "with its schema"),
        ] {
            match fallback_of(sql, &layout()) {
                Plan::Refuse(r) => assert!(r.starts_with("why (") && r.contains(word), "{sql}: {r}"),
                other => panic!("{sql}: {other:?}"),
            }
        }
        // A write to a broadcast table reading sharded ones runs over copies of both, outside xa mode refused.
        assert!(matches!(fallback_of("UPDATE b SET v = 1 WHERE k IN (SELECT id FROM h)", &layout()), Plan::MultiWrite(_)));
        let mut best_effort = layout();
        best_effort.xa = false;
        assert!(matches!(fallback_of("UPDATE b SET v = 1 WHERE k IN (SELECT id FROM h)", &best_effort), Plan::Refuse(r) if r.contains("writes to a table without rules")));
        let mut off = layout();
        off.max_fallback_rows = 0;
        assert!(matches!(fallback_of("SELECT COUNT(*) FROM (SELECT * FROM t) d", &off), Plan::Refuse(r) if r.contains("max_fallback_rows = 0")));
    }
}
