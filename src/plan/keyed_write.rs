//! `UPDATE t SET … WHERE …` / `DELETE FROM t WHERE …` of a sharded table whose WHERE clause the shards cannot
//! evaluate alone (a subquery over another sharded table, a table without rules, a join condition that is
//! not co-located). Planned as two steps (execute/keyed_write.rs), in one XA transaction:
//! 1. `SELECT <primary key>, <sharding column> FROM t WHERE …` runs on the compute data source over copies
//!    (plan/compute.rs); `t`'s copy is read with `FOR UPDATE` on every shard, so the rows found still match
//!    when they are changed;
//! 2. each node changes its rows found: `UPDATE phys AS t SET … WHERE (<primary key>) IN (…)` /
//!    `DELETE FROM phys WHERE …`.
//!
//! Only where that is exact: one table written, its SET free of subqueries and of the sharding column (a
//! moved row would need MoveRows), no ORDER BY or LIMIT, no placeholders; the executor refuses a table
//! without an integer primary key.

use std::sync::Arc;

use sqlparser::tokenizer::Token;

use super::compute::ComputePlan;
use crate::sharding::table::{SchemaLayout, ShardedTable};
use crate::sql::tokens::{quote_ident, table_refs, tokenize, Tok};

/// A keyed write (see the module comment).
#[derive(Debug, Clone)]
pub struct KeyedWrite {
    /// The table written.
    pub table: Arc<ShardedTable>,
    /// The name the statement knows the table by (its alias, or its name).
    pub alias: String,
    /// Step 1's query, with `{key}` where the primary key's columns go (qualified by `alias`).
    pub select: String,
    /// Its copies (the written table's locked).
    pub compute: ComputePlan,
    /// Per node of `table`, step 2's statement without its WHERE clause.
    pub writes: Vec<String>,
}

/// The plan of `sql` (an UPDATE or DELETE of a sharded table), or why it cannot be exact.
pub fn plan(sql: &str, toks: &[Tok], layout: &SchemaLayout) -> Result<KeyedWrite, String> {
    if super::compute::multi_table_write(toks) {
        return Err("a multi-table UPDATE or DELETE over sharded tables".into());
    }
    let name = super::route::written_table(toks).ok_or("a write without a table")?;
    let table = layout.tables.get(&name).ok_or("a write to a table that is not sharded")?.clone();
    let find = |kw: &str| super::limited_write::top_level(toks, |t| t.is_keyword(kw));
    if find("ORDER").is_some() || find("LIMIT").is_some() || toks.iter().any(|t| matches!(t.token, Token::Placeholder(_))) {
        return Err("an UPDATE or DELETE with ORDER BY, LIMIT or placeholders, reading other sharded tables".into());
    }
    let delete = toks[0].is_keyword("DELETE");
    let where_ = find("WHERE").ok_or("an UPDATE or DELETE without WHERE reading other sharded tables")?;
    let set = if delete { None } else { Some(find("SET").ok_or("an UPDATE without SET")?) };
    let named = toks.iter().position(|t| t.word() == Some(name.as_str())).ok_or("the written table's name")?;
    let head_end = set.unwrap_or(where_);
    let alias = super::limited_write::alias_of(&toks[named + 1..head_end], &name);
    if delete && alias != name {
        return Err("a DELETE with an alias over several shards".into());
    }
    if let Some(set) = set {
        let assignments = &toks[set + 1..where_];
        if assignments.iter().any(|t| t.is_keyword("SELECT")) {
            return Err("an UPDATE whose SET reads a subquery, over several shards".into());
        }
        // `col = …` or `alias.col = …` at the top level of SET names an assigned column.
        let assigned = assignments.windows(2).any(|w| w[1].token == Token::Eq && w[0].word().is_some_and(|c| c.eq_ignore_ascii_case(&table.column)));
        if assigned {
            return Err(format!("an UPDATE of sharding column '{}' reading other sharded tables", table.column));
        }
    }
    let (alias_q, condition) = (quote_ident(&alias, None), &sql[toks[where_].start..]);
    let from = format!(" FROM {} AS {alias_q} {condition}", quote_ident(&name, None));
    // The copies, as a query over them would have them (conditions on the table alone pushed down).
    let probe = format!("SELECT 1{from}");
    let probe_toks = tokenize(&probe)?;
    let refs = table_refs(&probe_toks, |n| layout.has_rule(n));
    let mut compute = match super::compute::fallback("an UPDATE or DELETE reading other sharded tables".into(), &probe, &probe_toks, &refs, layout) {
        super::Plan::Compute(c) => *c,
        super::Plan::Refuse(reason) => return Err(reason),
        other => return Err(format!("{other:?}")),
    };
    for t in compute.tables.iter_mut().filter(|t| t.name == name) {
        t.lock = true;
    }
    let writes = table
        .nodes
        .iter()
        .map(|n| {
            let physical = quote_ident(&n.table, None);
            match set {
                None => format!("{}{physical}", &sql[..toks[named].start]),
                Some(set) => format!("{}{physical} AS {alias_q} {}", &sql[..toks[named].start], sql[toks[set].start..toks[where_].start].trim_end()),
            }
        })
        .collect();
    let select = format!("SELECT {{key}}, {alias_q}.{}{from}", quote_ident(&table.column, None));
    Ok(KeyedWrite { table, alias, select, compute, writes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(sql: &str) -> Result<KeyedWrite, String> {
        plan(sql, &tokenize(sql).unwrap(), &crate::plan::schema_s())
    }

    #[test]
    fn the_rows_are_found_over_copies_with_the_written_table_locked() {
        let k = planned("UPDATE t SET c = c + 1 WHERE id IN (SELECT id FROM h WHERE h.k > 2) AND t.c < 5").unwrap();
        assert_eq!(k.select, "SELECT {key}, `t`.`id` FROM `t` AS `t` WHERE id IN (SELECT id FROM h WHERE h.k > 2) AND t.c < 5");
        assert_eq!(k.writes[1], "UPDATE `t_1` AS `t` SET c = c + 1");
        let locked: Vec<(&str, bool)> = k.compute.tables.iter().map(|t| (t.name.as_str(), t.lock)).collect();
        assert_eq!(locked, [("t", true), ("h", false)]);
        let d = planned("DELETE FROM t WHERE EXISTS (SELECT 1 FROM h WHERE h.id = t.id)").unwrap();
        assert_eq!(d.writes[0], "DELETE FROM `t_0`");
    }

    #[test]
    fn what_would_not_be_exact_is_refused() {
        for sql in [
            "UPDATE t SET id = 5 WHERE c IN (SELECT c FROM h)",
            "UPDATE t SET c = (SELECT MAX(c) FROM h) WHERE id IN (SELECT id FROM h)",
            "DELETE FROM t WHERE id IN (SELECT id FROM h) ORDER BY id LIMIT 1",
            "UPDATE t JOIN h ON h.c = t.c SET t.c = 1 WHERE h.k = 1",
            "UPDATE t SET c = 1 WHERE id IN (SELECT id FROM h WHERE k = ?)",
        ] {
            assert!(planned(sql).is_err(), "{sql}");
        }
    }
}
