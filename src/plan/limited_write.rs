//! `UPDATE … ORDER BY … LIMIT n` and `DELETE … ORDER BY … LIMIT n` over several shards of one table (ORMs'
//! batch deletes): each shard's LIMIT alone would change n rows on every shard. Planned as three steps
//! (execute/limited_write.rs), in one XA transaction:
//! 1. each node locks and returns its first n candidates: `SELECT <primary key>, <ORDER BY columns> FROM
//!    phys AS t WHERE … ORDER BY … LIMIT n FOR UPDATE` (the global first n are among them);
//! 2. the proxy orders all candidates by the ORDER BY columns and keeps the first n;
//! 3. each node changes its kept rows: `UPDATE phys AS t SET … WHERE (<primary key>) IN (…)` / `DELETE FROM
//!    phys WHERE …`. The rows are locked since step 1, so they still match the WHERE clause.
//!
//! Only where that is exact: one table, no join; ORDER BY plain columns; LIMIT a row count; the
//! executor refuses (1235) a table without a primary key, a key that is not an integer, or ORDER BY
//! columns of text (their order would need the collation's).

use std::sync::Arc;

use sqlparser::tokenizer::Token;

use crate::sharding::table::ShardedTable;
use crate::sql::tokens::{quote_ident, Tok};

/// The parts of a limited write (see the module comment). `{key}` in `read` stands for the primary key's
/// columns, which the executor learns from the first node.
#[derive(Debug, Clone)]
pub struct LimitedWrite {
    /// The table written.
    pub table: Arc<ShardedTable>,
    /// The nodes it may change, in node order.
    pub nodes: Vec<usize>,
    /// Per node of `table` (all of them), the locking read of step 1.
    pub reads: Vec<String>,
    /// Per node of `table`, the write of step 3 without its WHERE clause.
    pub writes: Vec<String>,
    /// The ORDER BY columns' directions (true: DESC), as the read's columns after the key.
    pub desc: Vec<bool>,
    /// The statement's ORDER BY clause, which the writes keep (an UPDATE of a unique column may depend on
    /// the order rows change in).
    pub order: String,
    /// The LIMIT.
    pub limit: u64,
}

/// Index of the first token at depth 0 (outside parentheses) for which `f` holds.
pub(super) fn top_level(toks: &[Tok], f: impl Fn(&Tok) -> bool) -> Option<usize> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ if depth == 0 && f(t) => return Some(i),
            _ => {}
        }
    }
    None
}

/// The name a written table goes by: the alias among `after_name` (the tokens between its name and SET or
/// WHERE: `AS x` or `x`), else `name`.
pub(super) fn alias_of(after_name: &[Tok], name: &str) -> String {
    after_name.iter().rev().find_map(Tok::word).filter(|w| !w.eq_ignore_ascii_case("AS")).unwrap_or(name).to_string()
}

/// The plan of `sql` (an UPDATE or DELETE of `table` with ORDER BY and LIMIT), or why it cannot be exact.
pub fn plan(sql: &str, toks: &[Tok], table: &Arc<ShardedTable>) -> Result<LimitedWrite, String> {
    let delete = toks[0].is_keyword("DELETE");
    let set = top_level(toks, |t| t.is_keyword("SET"));
    let (where_, order, limit) = (top_level(toks, |t| t.is_keyword("WHERE")), top_level(toks, |t| t.is_keyword("ORDER")), top_level(toks, |t| t.is_keyword("LIMIT")));
    let (Some(order), Some(limit)) = (order, limit) else { return Err("UPDATE or DELETE … LIMIT without ORDER BY over several shards (which rows it changes is unspecified)".into()) };
    // The table: after UPDATE (and its modifiers), or after FROM for DELETE; one table, no join.
    let from = if delete { top_level(toks, |t| t.is_keyword("FROM")).ok_or("a DELETE without FROM")? } else { 0 };
    let mut at = from + 1;
    while toks.get(at).is_some_and(|t| t.is_keyword("LOW_PRIORITY") || t.is_keyword("IGNORE") || t.is_keyword("QUICK")) {
        at += 1;
    }
    let head_end = if delete { where_.unwrap_or(order) } else { set.ok_or("an UPDATE without SET")? };
    if toks.get(at).and_then(Tok::word) != Some(table.name.as_str()) || toks[at + 1..head_end].iter().any(|t| t.token == Token::Comma || t.is_keyword("JOIN") || t.is_keyword("USING") || t.token == Token::Period) {
        return Err("a multi-table or qualified UPDATE or DELETE … LIMIT over several shards".into());
    }
    // An alias (`UPDATE t AS x SET …`) names the table in the statement; otherwise its logical name does.
    let alias = alias_of(&toks[at + 1..head_end], &table.name);
    if delete && alias != table.name {
        return Err("a DELETE with an alias over several shards".into());
    }
    // ORDER BY: plain columns, each optionally ASC/DESC.
    let mut columns = Vec::new();
    let mut desc = Vec::new();
    for item in toks[order + 2..limit].split(|t| t.token == Token::Comma) {
        let (name, dir) = match item {
            [c] => (c, false),
            [c, d] if d.is_keyword("ASC") || d.is_keyword("DESC") => (c, d.is_keyword("DESC")),
            [q, dot, c] if dot.token == Token::Period && q.word() == Some(alias.as_str()) => (c, false),
            [q, dot, c, d] if dot.token == Token::Period && q.word() == Some(alias.as_str()) && (d.is_keyword("ASC") || d.is_keyword("DESC")) => (c, d.is_keyword("DESC")),
            _ => return Err("UPDATE or DELETE … ORDER BY an expression, over several shards".into()),
        };
        let Some(name) = name.word() else { return Err("UPDATE or DELETE … ORDER BY an expression, over several shards".into()) };
        columns.push(quote_ident(name, None));
        desc.push(dir);
    }
    let limit_value = match &toks[limit + 1..] {
        [n] => match &n.token {
            Token::Number(v, _) => v.parse::<u64>().map_err(|_| "a LIMIT that is not a row count")?,
            _ => return Err("UPDATE or DELETE … LIMIT of a placeholder or expression over several shards".into()),
        },
        _ => return Err("UPDATE or DELETE … LIMIT followed by more, over several shards".into()),
    };
    let condition = where_.map_or(String::new(), |w| format!(" WHERE {}", &sql[toks[w].end..toks[order].start].trim()));
    let order_text = sql[toks[order].start..toks[limit].start].trim_end();
    let quoted_alias = quote_ident(&alias, None);
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    for node in &table.nodes {
        let physical = quote_ident(&node.table, None);
        reads.push(format!("SELECT {{key}}, {} FROM {physical} AS {quoted_alias}{condition} {order_text} LIMIT {limit_value} FOR UPDATE", columns.join(", ")));
        writes.push(if delete {
            format!("{}{physical}", &sql[..toks[at].start])
        } else {
            format!("{}{physical} AS {quoted_alias} {}", &sql[..toks[at].start], sql[toks[set.expect("an UPDATE has SET")].start..toks[where_.unwrap_or(order)].start].trim_end())
        });
    }
    Ok(LimitedWrite { table: table.clone(), nodes: (0..table.nodes.len()).collect(), reads, writes, desc, order: order_text.to_string(), limit: limit_value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(sql: &str) -> Result<LimitedWrite, String> {
        let layout = crate::plan::schema_s();
        plan(sql, &crate::sql::tokens::tokenize(sql).unwrap(), &layout.tables["t"])
    }

    #[test]
    fn the_reads_lock_each_nodes_first_rows_and_the_writes_name_them_by_key() {
        let p = planned("UPDATE LOW_PRIORITY t SET c = c + 1, d = 'x' WHERE c > 5 AND t.d IS NULL ORDER BY k DESC, t.id LIMIT 3").unwrap();
        assert_eq!(p.reads[1], "SELECT {key}, `k`, `id` FROM `t_1` AS `t` WHERE c > 5 AND t.d IS NULL ORDER BY k DESC, t.id LIMIT 3 FOR UPDATE");
        assert_eq!(p.writes[3], "UPDATE LOW_PRIORITY `t_1` AS `t` SET c = c + 1, d = 'x'");
        assert_eq!((p.desc, p.limit, p.nodes.len(), p.order.as_str()), (vec![true, false], 3, 4, "ORDER BY k DESC, t.id"));
        let d = planned("DELETE FROM t ORDER BY id LIMIT 10").unwrap();
        assert_eq!(d.reads[0], "SELECT {key}, `id` FROM `t_0` AS `t` ORDER BY id LIMIT 10 FOR UPDATE");
        assert_eq!(d.writes[2], "DELETE FROM `t_0`");
        let a = planned("UPDATE t AS x SET x.c = 1 ORDER BY x.k LIMIT 2").unwrap();
        assert_eq!((a.reads[0].as_str(), a.writes[0].as_str()), ("SELECT {key}, `k` FROM `t_0` AS `x` ORDER BY x.k LIMIT 2 FOR UPDATE", "UPDATE `t_0` AS `x` SET x.c = 1"));
    }

    #[test]
    fn what_would_not_be_exact_is_refused() {
        for sql in [
            "DELETE FROM t WHERE c = 1 LIMIT 3",
            "DELETE FROM t ORDER BY c + 1 LIMIT 3",
            "DELETE FROM t ORDER BY c LIMIT ?",
            "UPDATE t JOIN h ON h.id = t.id SET t.c = 1 ORDER BY t.id LIMIT 1",
            "DELETE FROM t AS x ORDER BY id LIMIT 1",
        ] {
            assert!(planned(sql).is_err(), "{sql}");
        }
    }
}
