//! Routing a statement that names sharded or broadcast tables: which nodes, and the SQL each receives.

use std::ops::Bound;
use std::sync::Arc;

use crate::sharding::key::Literal;
use crate::sharding::table::{SchemaLayout, ShardedTable};
use crate::sql::analyze::{self, KeyExpr, KeyResolver, Params, Term};
use crate::sql::tokens::{insert_spans, rewrite, table_refs, tokenize, Tok};

use super::insert::InsertPlan;
use super::planner::{Combine, Plan, Target};
use super::template::{Routed, Spliced, Template};

/// The sharded tables of one statement (one table, or tables of one binding group).
struct Bound_<'a> {
    tables: Vec<&'a Arc<ShardedTable>>,
}

impl KeyResolver for Bound_<'_> {
    fn is_key(&self, table: Option<&str>, column: &str) -> bool {
        self.tables.iter().any(|t| t.column.eq_ignore_ascii_case(column) && table.is_none_or(|q| q == t.name))
    }
    fn node(&self, _: &Literal) -> Option<usize> {
        unreachable!("templates place keys when bound")
    }
    fn range(&self, _: Bound<i64>, _: Bound<i64>) -> Option<Vec<usize>> {
        unreachable!("templates place keys when bound")
    }
}

/// The table an INSERT, REPLACE, UPDATE or DELETE writes (the first named after INTO, UPDATE or FROM; for
/// a multi-table UPDATE/DELETE, the first one), without its schema.
fn written_table(toks: &[Tok]) -> Option<String> {
    let first = toks.first()?;
    let after = if first.is_keyword("UPDATE") {
        "UPDATE"
    } else if first.is_keyword("DELETE") {
        "FROM"
    } else if first.is_keyword("INSERT") || first.is_keyword("REPLACE") {
        "INTO"
    } else {
        return None;
    };
    let at = toks.iter().position(|t| t.is_keyword(after))? + 1;
    let mut i = at;
    while toks.get(i).is_some_and(|t| t.is_keyword("LOW_PRIORITY") || t.is_keyword("IGNORE") || t.is_keyword("QUICK")) {
        i += 1;
    }
    let name = toks.get(i)?.word()?;
    // schema.table
    if toks.get(i + 1).is_some_and(|t| t.token == sqlparser::tokenizer::Token::Period) {
        return toks.get(i + 2)?.word().map(str::to_string);
    }
    Some(name.to_string())
}

/// Aggregates and clauses whose result over several shards is not the concatenation of the shards' results.
fn needs_merge(toks: &[Tok]) -> Option<&'static str> {
    const AGGREGATES: &[&str] = &["COUNT", "SUM", "MIN", "MAX", "AVG", "GROUP_CONCAT", "STD", "STDDEV", "VARIANCE", "BIT_AND", "BIT_OR", "BIT_XOR", "JSON_ARRAYAGG", "JSON_OBJECTAGG"];
    for (i, t) in toks.iter().enumerate() {
        let next_paren = toks.get(i + 1).is_some_and(|n| n.token == sqlparser::tokenizer::Token::LParen);
        if next_paren && AGGREGATES.iter().any(|a| t.is_keyword(a)) {
            return Some("aggregate functions");
        }
        for (kw, what) in [("ORDER", "ORDER BY"), ("LIMIT", "LIMIT"), ("GROUP", "GROUP BY"), ("HAVING", "HAVING"), ("DISTINCT", "DISTINCT"), ("UNION", "UNION")] {
            if t.is_keyword(kw) {
                return Some(what);
            }
        }
    }
    None
}

fn refuse(reason: String) -> Template {
    Template::Plan(Plan::Refuse(reason))
}

/// Plans a statement in a schema that has sharding rules. `forced_key` (a hint) replaces the WHERE clause's
/// key conditions; `params` are a prepared statement's bound values.
pub fn route(sql: &str, layout: &SchemaLayout, forced_key: Option<&Literal>, params: &[Literal]) -> Plan {
    build(sql, layout, forced_key, params, false).bind(params, &[])
}

/// Cuts `sql` at its `?` placeholders.
fn splice(sql: &str) -> Option<Spliced> {
    let toks = tokenize(sql).ok()?;
    let mut parts = Vec::new();
    let mut at = 0;
    for t in toks.iter().filter(|t| matches!(&t.token, sqlparser::tokenizer::Token::Placeholder(p) if p == "?")) {
        parts.push(sql[at..t.start].to_string());
        at = t.end;
    }
    parts.push(sql[at..].to_string());
    Some(Spliced { parts })
}

/// The template of a statement in a schema that has sharding rules. `forced_key` (a hint) replaces the WHERE
/// clause's key conditions; `params` are bound values, needed only by INSERT (whose plan is then `Once`).
/// With `slotted`, the statement's `?` placeholders are slots for literals (the plan cache) and each node's
/// text is cut there; otherwise they are a prepared statement's own and stay in the text.
pub fn build(sql: &str, layout: &SchemaLayout, forced_key: Option<&Literal>, params: &[Literal], slotted: bool) -> Template {
    let default = || Template::Plan(Plan::Passthrough { data_source: layout.default_data_source.clone(), sql: None });
    let Ok(toks) = tokenize(sql) else { return default() };
    let params = Params::new(&toks, params);
    let refs = table_refs(&toks, |n| layout.has_rule(n));
    if refs.is_empty() {
        return default();
    }
    let first = toks.first();
    let is = |kw: &str| first.is_some_and(|t| t.is_keyword(kw));
    let read_only = is("SELECT") || is("SHOW") || is("DESC") || is("DESCRIBE") || is("EXPLAIN") || is("WITH");
    let ddl = is("CREATE") || is("ALTER") || is("DROP") || is("TRUNCATE") || is("RENAME");

    let mut sharded: Vec<&Arc<ShardedTable>> = Vec::new();
    for r in &refs {
        if let Some(t) = layout.tables.get(&r.name) {
            if !sharded.iter().any(|s| s.name == t.name) {
                sharded.push(t);
            }
        }
    }
    if sharded.is_empty() {
        // Broadcast tables only: read one copy, write every copy.
        if read_only {
            return default();
        }
        // A write to a table without rules that only reads broadcast tables runs where that table lives.
        let written = written_table(&toks);
        if written.as_deref().is_some_and(|w| !layout.broadcast.contains(w)) && !ddl {
            return default();
        }
        // A write to a broadcast table reading a table without rules: that table exists on one data source.
        if let Ok(stmt) = analyze::parse(sql) {
            if let Some(other) = super::soundness::tables_without_rules(&stmt, layout).into_iter().find(|t| written.as_deref() != Some(t.as_str())) {
                return refuse(format!("a write to broadcast tables reading table '{other}', which has no rules (it lives on data source '{}' only)", layout.default_data_source));
            }
        }
        let targets = layout.all_data_sources.iter().map(|ds| Target { data_source: ds.clone(), sql: sql.to_string() }).collect();
        let combine = if ddl { Combine::First } else { Combine::Mirror };
        return Template::Once(Plan::Scatter { targets, combine, reset_sequences: Vec::new() });
    }
    if sharded.len() > 1 && (sharded[0].binding_group.is_none() || sharded.iter().any(|t| t.binding_group != sharded[0].binding_group)) {
        let names: Vec<&str> = sharded.iter().map(|t| t.name.as_str()).collect();
        return refuse(format!("a statement over sharded tables {} that are not in one binding group", names.join(", ")));
    }
    let rename_for = |node: usize| {
        rewrite(sql, &toks, &refs, |name| layout.tables.get(name).map(|t| t.nodes[node].table.clone()))
    };
    let target = |node: usize| Target { data_source: sharded[0].nodes[node].data_source.clone(), sql: rename_for(node) };
    let all_nodes = || (0..sharded[0].nodes.len()).collect::<Vec<_>>();

    if ddl {
        let resets = if is("DROP") || is("TRUNCATE") { sharded.iter().map(|t| (*t).clone()).collect() } else { Vec::new() };
        return Template::Once(Plan::Scatter { targets: all_nodes().into_iter().map(target).collect(), combine: Combine::First, reset_sequences: resets });
    }
    if is("INSERT") || is("REPLACE") {
        // The table written is the one after INTO (or after INSERT/REPLACE): a sharded table elsewhere is read.
        let written = toks.iter().skip(1).find(|t| !t.is_keyword("INTO") && !t.is_keyword("IGNORE") && !t.is_keyword("LOW_PRIORITY") && !t.is_keyword("DELAYED") && !t.is_keyword("HIGH_PRIORITY"));
        let written = refs.iter().find(|r| written.is_some_and(|w| toks[r.index].start == w.start || toks.get(r.index.wrapping_sub(2)).is_some_and(|q| q.start == w.start)));
        if !written.is_some_and(|r| layout.tables.contains_key(&r.name)) {
            let into = written.map_or_else(|| "an unsharded table".to_string(), |r| format!("'{}'", r.name));
            return refuse(format!("INSERT into {into} reading sharded table '{}' (it would read one shard's rows only)", sharded[0].name));
        }
        let stmt = match analyze::parse(sql) {
            Ok(s) => s,
            Err(_) => return default(),
        };
        let Some(mut info) = analyze::insert_info(&stmt, &params) else { return default() };
        let table = sharded[0];
        if info.columns.is_empty() {
            // No column list: the table's own order, learnt once from its first node.
            match table.known_columns() {
                Some(columns) => info.columns = columns,
                None => return Template::Once(Plan::LearnColumns(table.clone())),
            }
        }
        if forced_key.is_some() {
            return refuse("a shard_key hint on INSERT (each row is routed by its own key)".into());
        }
        if sharded.len() > 1 || info.from_query {
            return refuse(format!("INSERT … SELECT into sharded table '{}'", table.name));
        }
        if info.updated_columns.iter().any(|c| c.eq_ignore_ascii_case(&table.column)) {
            return refuse(format!("ON DUPLICATE KEY UPDATE of sharding column '{}' (it would move the row to another shard)", table.column));
        }
        let Some(spans) = insert_spans(&toks) else { return refuse("INSERT without VALUES into a sharded table".into()) };
        let names = refs.iter().map(|r| (toks[r.index].start, toks[r.index].end, toks[r.index].quote())).collect();
        return Template::Once(match InsertPlan::new(table.clone(), sql, spans, names, &info.columns, &info.rows) {
            Ok(p) => Plan::Insert(Box::new(p)),
            Err(e) => Plan::Refuse(e.to_string().trim_start_matches("This version of shardgate doesn't yet support ").to_string()),
        });
    }
    if let Err(reason) = super::soundness::no_nested_sharded(&toks, &refs, layout) {
        return refuse(reason);
    }
    let is_select = is("SELECT");
    if !(is_select || is("UPDATE") || is("DELETE")) {
        if read_only {
            // SHOW CREATE TABLE, DESCRIBE, SHOW COLUMNS/INDEX: every node has the same definition; ask the first.
            let t = target(0);
            let physical = &sharded[0].nodes[0].table;
            if sharded.len() == 1 && *physical != sharded[0].name {
                let (physical, logical) = (physical.clone(), sharded[0].name.clone());
                return Template::Once(Plan::RenameResult { data_source: t.data_source, sql: t.sql, physical, logical });
            }
            return Template::Once(Plan::Passthrough { data_source: t.data_source, sql: Some(t.sql) });
        }
        return refuse(format!("this statement on sharded table '{}'", sharded[0].name));
    }
    let stmt = match analyze::parse(sql) {
        Ok(s) => s,
        Err(_) => return default(),
    };
    if let Err(reason) = super::soundness::joins_colocated(&stmt, layout).and_then(|_| super::soundness::outer_joins_sound(&stmt, layout)) {
        return refuse(reason);
    }
    if let Some(other) = super::soundness::tables_without_rules(&stmt, layout).first() {
        return refuse(format!(
            "a statement over sharded table '{}' and table '{other}', which has no rules (it lives on data source '{}' only); make it a broadcast table or shard it alike",
            sharded[0].name, layout.default_data_source
        ));
    }
    if layout.refuse_unsafe_dml && !is_select && analyze::filter(&stmt).is_some_and(|f| f.selection.is_none()) {
        return refuse(format!(
            "UPDATE or DELETE without WHERE on sharded table '{}' (refuse_unsafe_dml is on: it would change every row on every shard)",
            sharded[0].name
        ));
    }
    let resolver = Bound_ { tables: sharded.clone() };
    let key = match (forced_key, analyze::filter(&stmt)) {
        (Some(key), _) => KeyExpr::Eq(Term::Lit(key.clone(), None)),
        (None, Some(f)) => f.selection.map_or(KeyExpr::All, |w| analyze::key_expr(w, &f.scope, &resolver, &params)),
        (None, None) => KeyExpr::All,
    };
    if analyze::update_columns(&stmt).iter().any(|c| sharded.iter().any(|t| t.column.eq_ignore_ascii_case(c))) {
        let table = sharded[0];
        if !layout.xa {
            return refuse(format!("UPDATE of sharding column '{}' (moving a row between shards needs transaction_mode = \"xa\")", table.column));
        }
        if sharded.len() > 1 || toks.iter().any(|t| t.is_keyword("LIMIT") || t.is_keyword("JOIN")) {
            return refuse(format!("UPDATE of sharding column '{}' with a join or LIMIT (rows can be moved for single-table UPDATEs)", table.column));
        }
        let Some(new_key) = analyze::assigned_literal(&stmt, &table.column, &params) else {
            return refuse(format!("UPDATE of sharding column '{}' to an expression (rows can be moved to a literal new key)", table.column));
        };
        let sources = super::template::Placement(table).nodes(&key, &params.values());
        return match super::move_rows::MovePlan::new(table.clone(), &new_key, sources, rename_for) {
            Ok(m) => Template::Once(Plan::MoveRows(Box::new(m))),
            Err(reason) => refuse(reason),
        };
    }
    let mut positions = Vec::new();
    key.for_each_term(&mut |t| {
        if let Term::Lit(_, Some(at)) = t {
            positions.push(*at);
        }
    });
    let literal_starts = toks.iter().filter(|t| positions.contains(&t.line_col)).map(|t| t.start).collect();
    let cut = |text: String| if slotted { splice(&text) } else { Some(Spliced { parts: vec![text] }) };
    let Some(node_sql) = all_nodes().into_iter().map(|n| cut(rename_for(n))).collect::<Option<Vec<_>>>() else { return default() };
    let renamed = all_nodes().into_iter().any(|n| rename_for(n) != sql);
    // UPDATE/DELETE … LIMIT n on several nodes would change n rows on each: only one node may take it.
    let top_level_limit = || {
        let mut depth = 0i32;
        toks.iter().any(|t| {
            match t.token {
                sqlparser::tokenizer::Token::LParen => depth += 1,
                sqlparser::tokenizer::Token::RParen => depth -= 1,
                _ => {}
            }
            depth == 0 && t.is_keyword("LIMIT")
        })
    };
    let merge = if !is_select && top_level_limit() {
        Some(Err(format!(
            "UPDATE or DELETE … LIMIT over several shards of '{}' (each shard would apply its own LIMIT); add the sharding key",
            sharded[0].name
        )))
    } else {
        (is_select && needs_merge(&toks).is_some()).then(|| {
            let (shard_sql, spec) = super::merge::plan(sql)?;
            let shard_toks = tokenize(&shard_sql).map_err(|_| "a statement the proxy cannot re-print".to_string())?;
            let shard_refs = table_refs(&shard_toks, |n| layout.has_rule(n));
            let per_node = all_nodes().into_iter().map(|node| {
                cut(rewrite(&shard_sql, &shard_toks, &shard_refs, |name| layout.tables.get(name).map(|t| t.nodes[node].table.clone())))
            });
            let per_node = per_node.collect::<Option<Vec<_>>>().ok_or_else(|| "a statement the proxy cannot re-print".to_string())?;
            Ok((per_node, spec))
        })
    };
    let table = sharded[0].clone();
    Template::Routed(Box::new(Routed { table, key, select: is_select, node_sql, renamed, merge, literal_starts }))
}
