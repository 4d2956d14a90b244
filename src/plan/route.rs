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
pub(super) fn written_table(toks: &[Tok]) -> Option<String> {
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

/// The tokens that name the tables a multi-table UPDATE or DELETE may write: before SET in `UPDATE a JOIN b
/// SET …`, the list in `DELETE a, b FROM …`, the FROM list in `DELETE FROM a, b USING …`; empty for a
/// single-table statement (whose subqueries only read).
pub(super) fn target_region(toks: &[Tok]) -> std::ops::Range<usize> {
    let Some(first) = toks.first() else { return 0..0 };
    let find = |kw: &str, from: usize| toks.iter().skip(from).position(|t| t.is_keyword(kw)).map(|i| i + from);
    if first.is_keyword("UPDATE") {
        return 1..find("SET", 1).unwrap_or(0).max(1);
    }
    if !first.is_keyword("DELETE") {
        return 0..0;
    }
    let Some(from) = find("FROM", 1) else { return 0..0 };
    let modifier = |t: &Tok| ["LOW_PRIORITY", "QUICK", "IGNORE"].iter().any(|k| t.is_keyword(k));
    if toks[1..from].iter().any(|t| !modifier(t)) {
        return 1..from;
    }
    match find("USING", from) {
        Some(using) => from + 1..using,
        None => 0..0,
    }
}

/// The table an `INSERT` or `REPLACE` that leaves out INTO writes (`INSERT IGNORE t VALUES …`).
fn target_without_into(toks: &[Tok]) -> Option<&str> {
    let first = toks.first()?;
    if !(first.is_keyword("INSERT") || first.is_keyword("REPLACE")) {
        return None;
    }
    let modifier = |t: &Tok| ["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE"].iter().any(|k| t.is_keyword(k));
    let i = toks.iter().skip(1).position(|t| !modifier(t))? + 1;
    if toks[i].is_keyword("INTO") {
        return None;
    }
    // schema.table
    match toks.get(i + 1) {
        Some(dot) if dot.token == sqlparser::tokenizer::Token::Period => toks.get(i + 2)?.word(),
        _ => toks[i].word(),
    }
}

/// Aggregates and clauses whose result over several shards is not the concatenation of the shards' results.
fn needs_merge(toks: &[Tok]) -> Option<&'static str> {
    const AGGREGATES: &[&str] = &["COUNT", "SUM", "MIN", "MAX", "AVG", "GROUP_CONCAT", "STD", "STDDEV", "VARIANCE", "BIT_AND", "BIT_OR", "BIT_XOR", "JSON_ARRAYAGG", "JSON_OBJECTAGG"];
    for (i, t) in toks.iter().enumerate() {
        let next_paren = toks.get(i + 1).is_some_and(|n| n.token == sqlparser::tokenizer::Token::LParen);
        if next_paren && AGGREGATES.iter().any(|a| t.is_keyword(a)) {
            return Some("aggregate functions");
        }
        for (kw, what) in [("ORDER", "ORDER BY"), ("LIMIT", "LIMIT"), ("GROUP", "GROUP BY"), ("HAVING", "HAVING"), ("DISTINCT", "DISTINCT"), ("UNION", "UNION"), ("INTERSECT", "INTERSECT"), ("EXCEPT", "EXCEPT"), ("MINUS", "MINUS")] {
            if t.is_keyword(kw) {
                return Some(what);
            }
        }
    }
    None
}

/// The reason of a refusal plan.
fn refusal_reason(plan: Plan) -> String {
    match plan {
        Plan::Refuse(reason) => reason,
        other => format!("{other:?}"),
    }
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
    let first = toks.first();
    let is = |kw: &str| first.is_some_and(|t| t.is_keyword(kw));
    // `INSERT t …` / `REPLACE t …` (INTO left out): the table reference finder keys on INTO, so such a
    // statement would reach the default data source unchanged.
    if let Some(name) = target_without_into(&toks).filter(|n| layout.has_rule(n)) {
        return refuse(format!("INSERT or REPLACE without INTO into '{name}', a table with sharding rules; write INSERT INTO {name} …"));
    }
    let refs = table_refs(&toks, |n| layout.has_rule(n));
    if refs.is_empty() {
        return default();
    }
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
    // A query the shards cannot answer as it is runs on the compute data source (plan/compute.rs).
    let fallback = |reason: String| Template::Plan(super::compute::fallback(reason, sql, &toks, &refs, layout));
    if is("WITH") && !sharded.is_empty() {
        return fallback(format!("WITH (a common table expression) over sharded table '{}': its rows would come from one shard", sharded[0].name));
    }
    if sharded.is_empty() {
        // Broadcast tables only: read one copy, write every copy.
        if read_only {
            return default();
        }
        // A write to a table without rules that only reads broadcast tables runs where that table lives.
        let written = written_table(&toks);
        // A multi-table UPDATE or DELETE names its written tables anywhere (`DELETE b FROM nr JOIN b`,
        // `UPDATE nr JOIN b SET b.v = …`): with a broadcast table besides the first one named, the proxy
        // cannot tell cheaply whether every copy must change.
        let targets = target_region(&toks);
        let other_target = if is("DELETE") {
            // `DELETE b FROM nr JOIN b`: the list may name aliases, so any name but the first table counts.
            let not_written = |w: &str| !written.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(w));
            toks[targets].iter().filter_map(|t| t.word()).any(not_written) && refs.iter().any(|r| layout.broadcast.contains(&r.name))
        } else {
            refs.iter().any(|r| targets.contains(&r.index) && layout.broadcast.contains(&r.name) && written.as_deref() != Some(r.name.as_str()))
        };
        if other_target {
            let reason = "a multi-table UPDATE or DELETE that names a broadcast table after another table".to_string();
            if layout.xa {
                // Run over a copy of it, the changes written to every copy (plan/multi_write.rs).
                return fallback(reason);
            }
            return refuse(format!("{reason}; write each table in its own statement"));
        }
        if written.as_deref().is_some_and(|w| !layout.broadcast.contains(w)) && !ddl {
            return default();
        }
        // A write to a broadcast table reading a table without rules: that table exists on one data source.
        if let Ok(stmt) = analyze::parse(sql) {
            if let Some(other) = super::soundness::tables_without_rules(&stmt, layout).into_iter().find(|t| written.as_deref() != Some(t.as_str())) {
                // INSERT … SELECT: the SELECT runs where that table is, its rows go to every copy.
                if (is("INSERT") || is("REPLACE")) && layout.xa {
                    if let Ok(p) = super::insert_select::plan(sql, &toks, layout) {
                        return Template::Once(Plan::InsertSelect(Box::new(p)));
                    }
                }
                let reason = format!("a write to broadcast tables reading table '{other}', which has no rules (it lives on data source '{}' only)", layout.default_data_source);
                if (is("UPDATE") || is("DELETE")) && layout.xa {
                    return fallback(reason);
                }
                return refuse(reason);
            }
        }
        let targets = layout.all_data_sources.iter().map(|ds| Target { data_source: ds.clone(), sql: sql.to_string() }).collect();
        let combine = if ddl { Combine::First } else { Combine::Mirror };
        return Template::Once(Plan::Scatter { targets, combine, reset_sequences: Vec::new() });
    }
    if sharded.len() > 1 && (sharded[0].binding_group.is_none() || sharded.iter().any(|t| t.binding_group != sharded[0].binding_group)) {
        let names: Vec<&str> = sharded.iter().map(|t| t.name.as_str()).collect();
        let reason = format!("a statement over sharded tables {} that are not in one binding group", names.join(", "));
        // INSERT … SELECT into a sharded table reading another: the SELECT over copies, its rows where they belong.
        if (is("INSERT") || is("REPLACE")) && layout.xa && written_table(&toks).is_some_and(|w| layout.has_rule(&w)) {
            return Template::Once(match super::insert_select::plan(sql, &toks, layout) {
                Ok(p) => Plan::InsertSelect(Box::new(p)),
                Err(why) => Plan::Refuse(format!("{reason} ({why})")),
            });
        }
        return fallback(reason);
    }
    // Sent to the shards as it is, a write of a broadcast table joined with sharded ones would change each
    // copy by that shard's rows only.
    if (is("UPDATE") || is("DELETE")) && super::compute::multi_table_write(&toks) && super::multi_write::may_write_broadcast(&toks, &refs, layout) {
        return fallback(format!("a multi-table UPDATE or DELETE that may write a broadcast table joined with sharded table '{}'", sharded[0].name));
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
            let reason = format!("INSERT into {into} reading sharded table '{}' (it would read one shard's rows only)", sharded[0].name);
            // Into a broadcast table: the SELECT's rows to every copy, when the proxy can run it in two steps.
            if written.is_some_and(|r| layout.broadcast.contains(&r.name)) && layout.xa {
                return Template::Once(match super::insert_select::plan(sql, &toks, layout) {
                    Ok(p) => Plan::InsertSelect(Box::new(p)),
                    Err(why) => Plan::Refuse(format!("{reason} ({why})")),
                });
            }
            return fallback(reason);
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
            let reason = format!("INSERT … SELECT into sharded table '{}'", table.name);
            if !layout.xa || !info.from_query {
                return refuse(reason);
            }
            return Template::Once(match super::insert_select::plan(sql, &toks, layout) {
                Ok(p) => Plan::InsertSelect(Box::new(p)),
                Err(why) => Plan::Refuse(format!("{reason} ({why})")),
            });
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
    // A query over one derived table that each shard can answer for its own rows merges like a query over
    // one sharded table (soundness::row_local_derived); its outer WHERE says nothing about the key.
    let mut over_derived = false;
    if let Err(reason) = super::soundness::no_nested_sharded(&toks, &refs, layout) {
        over_derived = is("SELECT") && analyze::parse(sql).is_ok_and(|s| super::soundness::row_local_derived(&s, layout));
        if !over_derived {
            return fallback(reason);
        }
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
        return fallback(reason);
    }
    if let Some(other) = super::soundness::tables_without_rules(&stmt, layout).first() {
        return fallback(format!(
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
    // A hint's value that is no key of a table would place nothing: never a silent scatter (a write too).
    if let Some(k) = forced_key {
        if let Some(t) = sharded.iter().find(|t| t.node_for(k).is_none()) {
            let shown = match k {
                Literal::Int(i) => i.to_string(),
                Literal::Str(s) => format!("'{s}'"),
                other => format!("{other:?}"),
            };
            let kind = match t.key_type {
                crate::config::rules::KeyType::Integer => "an integer",
                crate::config::rules::KeyType::String => "a string",
            };
            return refuse(format!(
                "a shard_key hint whose value {shown} is not {kind} key of sharded table '{}': give the value of its sharding column '{}'",
                t.name, t.column
            ));
        }
    }
    let resolver = Bound_ { tables: sharded.clone() };
    let key = match (forced_key, analyze::filter(&stmt)) {
        (Some(key), _) => KeyExpr::Eq(Term::Lit(key.clone(), None)),
        _ if over_derived => KeyExpr::All,
        (None, Some(f)) => f.selection.map_or(KeyExpr::All, |w| analyze::key_expr(w, &f.scope, &resolver, &params)),
        (None, None) => KeyExpr::All,
    };
    if analyze::update_columns(&stmt).iter().any(|c| sharded.iter().any(|t| t.column.eq_ignore_ascii_case(c))) {
        let table = sharded[0];
        if !layout.xa {
            return refuse(format!("UPDATE of sharding column '{}' (moving a row between shards needs transaction_mode = \"xa\")", table.column));
        }
        // What MoveRows cannot do runs over copies, the moved rows written where their new keys place them.
        if sharded.len() > 1 || toks.iter().any(|t| t.is_keyword("LIMIT") || t.is_keyword("JOIN")) {
            return fallback(format!("UPDATE of sharding column '{}' with a join or LIMIT", table.column));
        }
        let Some(new_key) = analyze::assigned_literal(&stmt, &table.column, &params) else {
            return fallback(format!("UPDATE of sharding column '{}' to an expression", table.column));
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
    let mut limited = None;
    let merge = if !is_select && top_level_limit() {
        // In xa mode, with ORDER BY plain columns: lock, pick and change the global first rows.
        let placeholders = toks.iter().any(|t| matches!(t.token, sqlparser::tokenizer::Token::Placeholder(_)));
        if layout.xa && !placeholders && sharded.len() == 1 {
            limited = super::limited_write::plan(sql, &toks, sharded[0]).ok().map(Box::new);
        }
        Some(Err(format!(
            "UPDATE or DELETE … LIMIT over several shards of '{}' (each shard would apply its own LIMIT); add the sharding key",
            sharded[0].name
        )))
    } else {
        (is_select && needs_merge(&toks).is_some()).then(|| {
            let (shard_sql, spec) = super::merge::plan(sql, over_derived)?;
            let shard_toks = tokenize(&shard_sql).map_err(|_| "a statement the proxy cannot re-print".to_string())?;
            let shard_refs = table_refs(&shard_toks, |n| layout.has_rule(n));
            let per_node = all_nodes().into_iter().map(|node| {
                cut(rewrite(&shard_sql, &shard_toks, &shard_refs, |name| layout.tables.get(name).map(|t| t.nodes[node].table.clone())))
            });
            let per_node = per_node.collect::<Option<Vec<_>>>().ok_or_else(|| "a statement the proxy cannot re-print".to_string())?;
            Ok((per_node, spec))
        })
    };
    // What the shards cannot merge runs on the compute data source when it reaches several nodes; a merge
    // with HAVING keeps it in reserve (execute::run), for column types that make the HAVING inexact.
    let mut compute = None;
    let merge = merge.map(|m| match m {
        Ok((per_node, spec)) => {
            if spec.having.is_some() {
                if let Plan::Compute(c) = super::compute::fallback("a HAVING the proxy cannot evaluate exactly for these column types".into(), sql, &toks, &refs, layout) {
                    compute = Some(c);
                }
            }
            Ok((per_node, spec))
        }
        Err(reason) => Err(match super::compute::fallback(reason, sql, &toks, &refs, layout) {
            Plan::Compute(c) => {
                compute = Some(c);
                String::new()
            }
            refused => refusal_reason(refused),
        }),
    });
    let table = sharded[0].clone();
    Template::Routed(Box::new(Routed { table, key, select: is_select, node_sql, renamed, merge, limited, compute, literal_starts }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::analyze::{Cmp, KeyExpr, Term};

    fn layout() -> SchemaLayout {
        crate::plan::schema_s()
    }

    /// (data source, SQL) of `sql` routed without hint or parameters.
    fn routed(layout: &SchemaLayout, sql: &str) -> Vec<(String, String)> {
        route(sql, layout, None, &[]).describe(sql)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(d, s)| (d.to_string(), s.to_string())).collect()
    }

    fn refusal(p: Plan) -> String {
        match p {
            Plan::Refuse(reason) => reason,
            other => panic!("a Refuse: {other:?}"),
        }
    }

    /// A compute plan's reason and each copied table's (data source, physical table) list.
    fn computed(p: Plan) -> (String, Vec<Vec<(String, String)>>) {
        match p {
            Plan::Compute(c) => (c.reason.clone(), c.tables.iter().map(|t| t.nodes.clone()).collect()),
            other => panic!("a Compute: {other:?}"),
        }
    }

    #[test]
    fn written_table_is_the_one_after_into_update_or_from() {
        let w = |sql: &str| written_table(&tokenize(sql).unwrap());
        assert_eq!(w("INSERT INTO b (k) VALUES (1)").as_deref(), Some("b"));
        assert_eq!(w("INSERT IGNORE INTO s.b VALUES (1)").as_deref(), Some("b"));
        assert_eq!(w("REPLACE INTO `b` VALUES (1)").as_deref(), Some("b"));
        assert_eq!(w("UPDATE LOW_PRIORITY IGNORE b SET v = 1").as_deref(), Some("b"));
        assert_eq!(w("DELETE QUICK FROM s.b WHERE k = 1").as_deref(), Some("b"));
        // Multi-table forms: the first table named, whichever one the statement writes.
        assert_eq!(w("UPDATE nr JOIN b ON nr.k = b.k SET b.v = 1").as_deref(), Some("nr"));
        assert_eq!(w("DELETE b FROM nr JOIN b ON nr.k = b.k").as_deref(), Some("nr"));
        // INSERT without INTO, and statements that write nothing.
        assert_eq!(w("INSERT b VALUES (1)"), None);
        assert_eq!(w("SELECT * FROM b"), None);
    }

    #[test]
    fn needs_merge_names_the_first_clause_the_proxy_must_complete() {
        let m = |sql: &str| needs_merge(&tokenize(sql).unwrap());
        assert_eq!(m("SELECT c FROM t WHERE id > 1"), None);
        assert_eq!(m("SELECT count, 'ORDER BY' FROM t"), None);
        assert_eq!(m("SELECT Count(*) FROM t"), Some("aggregate functions"));
        assert_eq!(m("SELECT c FROM t ORDER BY c"), Some("ORDER BY"));
        assert_eq!(m("SELECT c FROM t LIMIT 1"), Some("LIMIT"));
        assert_eq!(m("SELECT c FROM t GROUP BY c HAVING c > 1"), Some("GROUP BY"));
        assert_eq!(m("SELECT DISTINCT c FROM t ORDER BY c"), Some("DISTINCT"));
        assert_eq!(m("SELECT c FROM t UNION SELECT c FROM t"), Some("UNION"));
    }

    #[test]
    fn splice_cuts_the_text_at_placeholders_only() {
        assert_eq!(splice("SELECT c FROM t WHERE id = ? AND c = '?' AND v = ?").unwrap().parts, vec!["SELECT c FROM t WHERE id = ", " AND c = '?' AND v = ", ""]);
        assert_eq!(splice("SELECT 1").unwrap().parts, vec!["SELECT 1"]);
    }

    #[test]
    fn point_key_is_renamed_for_its_node_and_qualifiers_keep_the_logical_name() {
        let l = layout();
        assert_eq!(routed(&l, "SELECT t.c FROM t WHERE t.id = 7"), pairs(&[("ds_1", "SELECT t.c FROM `t_1` AS `t` WHERE t.id = 7")]));
        // A table without rules is not rewritten: the client's own packet is forwarded.
        assert!(matches!(route("SELECT * FROM nr", &l, None, &[]), Plan::Passthrough { data_source, sql: None } if data_source == "ds_0"));
    }

    #[test]
    fn range_conditions_reach_only_the_nodes_of_the_range() {
        let l = layout();
        let between = "SELECT * FROM r WHERE k BETWEEN 150 AND 250";
        let p = route(between, &l, None, &[]);
        assert!(matches!(p, Plan::Scatter { combine: Combine::Concat, .. }), "{p:?}");
        assert_eq!(p.describe(between), pairs(&[("ds_0", "SELECT * FROM `r_1` WHERE k BETWEEN 150 AND 250"), ("ds_1", "SELECT * FROM `r_0` WHERE k BETWEEN 150 AND 250")]));
        assert_eq!(routed(&l, "SELECT * FROM r WHERE k < 100"), pairs(&[("ds_0", "SELECT * FROM `r_0` WHERE k < 100")]));
        assert_eq!(routed(&l, "SELECT * FROM r WHERE k >= 300"), pairs(&[("ds_1", "SELECT * FROM `r_1` WHERE k >= 300")]));
        assert_eq!(routed(&l, "SELECT * FROM r WHERE 150 > k"), pairs(&[("ds_0", "SELECT * FROM `r_0` WHERE 150 > k"), ("ds_0", "SELECT * FROM `r_1` WHERE 150 > k")]));
        assert_eq!(
            routed(&l, "SELECT * FROM r WHERE k > 50 AND k < 150"),
            pairs(&[("ds_0", "SELECT * FROM `r_0` WHERE k > 50 AND k < 150"), ("ds_0", "SELECT * FROM `r_1` WHERE k > 50 AND k < 150")])
        );
        assert_eq!(routed(&l, "SELECT * FROM r WHERE k = 250 OR k = 5"), pairs(&[("ds_0", "SELECT * FROM `r_0` WHERE k = 250 OR k = 5"), ("ds_1", "SELECT * FROM `r_0` WHERE k = 250 OR k = 5")]));
    }

    #[test]
    fn a_range_that_holds_nowhere_is_answered_by_the_first_node() {
        let l = layout();
        assert_eq!(routed(&l, "SELECT * FROM r WHERE k < 100 AND k > 200"), pairs(&[("ds_0", "SELECT * FROM `r_0` WHERE k < 100 AND k > 200")]));
    }

    #[test]
    fn consistent_hash_is_the_default_and_scatters_ranges() {
        let l = layout();
        assert!(format!("{:?}", l.tables["h"].algorithm).starts_with("ConsistentHash"));
        // As sharding/golden_mapping.txt pins keys 1, 2, 6 and 9 for this ring.
        for (key, ds, physical) in [("1", "ds_0", "h_0"), ("2", "ds_1", "h_1"), ("6", "ds_1", "h_0"), ("9", "ds_0", "h_1"), ("'9'", "ds_0", "h_1")] {
            let sql = format!("SELECT * FROM h WHERE id = {key}");
            assert_eq!(routed(&l, &sql), pairs(&[(ds, &format!("SELECT * FROM `{physical}` WHERE id = {key}"))]), "{sql}");
        }
        let sql = "SELECT * FROM h WHERE id BETWEEN 1 AND 3";
        let ds: Vec<String> = routed(&l, sql).into_iter().map(|(d, s)| format!("{d}:{s}")).collect();
        assert_eq!(ds, ["ds_0:SELECT * FROM `h_0` WHERE id BETWEEN 1 AND 3", "ds_0:SELECT * FROM `h_1` WHERE id BETWEEN 1 AND 3", "ds_1:SELECT * FROM `h_0` WHERE id BETWEEN 1 AND 3", "ds_1:SELECT * FROM `h_1` WHERE id BETWEEN 1 AND 3"]);
    }

    #[test]
    fn slotted_template_is_cut_at_slots_and_bound_later() {
        let l = layout();
        let template = build("SELECT c FROM t WHERE id = ? AND c = ?", &l, None, &[], true);
        assert!(template.reusable());
        let Template::Routed(r) = &template else { panic!("Routed: {template:?}") };
        assert_eq!(r.key, KeyExpr::And(Box::new(KeyExpr::Eq(Term::Slot { index: 0, negate: false })), Box::new(KeyExpr::All)));
        assert_eq!(r.node_sql[3].parts, vec!["SELECT c FROM `t_1` WHERE id = ", " AND c = ", ""]);
        assert!(r.select && r.renamed && r.merge.is_none());
        let p = template.bind(&[Literal::Int(2), Literal::Other], &["2", "'z'"]);
        assert!(matches!(&p, Plan::Passthrough { data_source, sql: Some(s) } if data_source == "ds_1" && s == "SELECT c FROM `t_0` WHERE id = 2 AND c = 'z'"), "{p:?}");
        // A key slot bound to no usable key: every node, as a concatenation.
        let p = template.bind(&[Literal::Other, Literal::Other], &["x", "'z'"]);
        assert!(matches!(&p, Plan::Scatter { targets, combine: Combine::Concat, .. } if targets.len() == 4 && targets[1].sql == "SELECT c FROM `t_1` WHERE id = x AND c = 'z'"), "{p:?}");
    }

    #[test]
    fn range_key_with_a_literal_records_where_the_literal_starts() {
        let l = layout();
        let Template::Routed(r) = build("SELECT * FROM r WHERE k < 120", &l, None, &[], false) else { panic!("Routed") };
        assert_eq!(r.key, KeyExpr::Cmp(Cmp::Lt, Term::Lit(Literal::Int(120), Some((1, 27)))));
        assert_eq!(r.literal_starts, vec![26]);
        assert_eq!(r.nodes(&[]), vec![0, 1]);
    }

    #[test]
    fn bound_parameters_route_and_stay_placeholders_in_the_text() {
        let l = layout();
        let p = route("UPDATE t SET c = ? WHERE id = ?", &l, None, &[Literal::Str("x".into()), Literal::Int(3)]);
        assert!(matches!(&p, Plan::Passthrough { data_source, sql: Some(s) } if data_source == "ds_1" && s == "UPDATE `t_1` SET c = ? WHERE id = ?"), "{p:?}");
        let p = route("INSERT INTO t (id, c) VALUES (?, ?)", &l, None, &[Literal::Int(3), Literal::Str("x".into())]);
        let Plan::Insert(insert) = &p else { panic!("Insert: {p:?}") };
        assert_eq!(insert.keys, vec![Literal::Int(3)]);
    }

    #[test]
    fn only_complete_plans_without_statement_text_are_reusable() {
        let l = layout();
        let insert = build("INSERT INTO t (id) VALUES (1)", &l, None, &[], false);
        assert!(matches!(insert, Template::Once(Plan::Insert(_))) && !insert.reusable());
        let refused = build("OPTIMIZE TABLE t", &l, None, &[], false);
        assert!(matches!(refused, Template::Plan(Plan::Refuse(_))) && refused.reusable());
        let unsharded = build("SELECT 1", &l, None, &[], false);
        assert!(matches!(unsharded, Template::Plan(Plan::Passthrough { sql: None, .. })) && unsharded.reusable());
        let ddl = build("DROP TABLE t", &l, None, &[], false);
        assert!(matches!(&ddl, Template::Once(Plan::Scatter { combine: Combine::First, reset_sequences, .. }) if reset_sequences.len() == 1) && !ddl.reusable());
    }

    #[test]
    fn a_shard_key_hint_that_is_no_key_is_refused_not_scattered() {
        let layout = crate::plan::schema_s();
        for sql in ["/* shardgate: shard_key=7x */ UPDATE t SET c = 1", "/* shardgate: shard_key=7x */ SELECT * FROM t"] {
            let key = crate::plan::planner::forced_key("7x".into());
            match route(sql, &layout, Some(&key), &[]) {
                Plan::Refuse(reason) => assert_eq!(
                    reason,
                    "a shard_key hint whose value '7x' is not an integer key of sharded table 't': give the value of its sharding column 'id'"
                ),
                other => panic!("{sql}: {other:?}"),
            }
        }
        assert!(matches!(crate::sql::lexer::hint("/* shardgate: shard_key= */ SELECT 1"), Some(Err(e)) if e.contains("no value")));
    }

    #[test]
    fn forced_key_replaces_the_where_clause() {
        let l = layout();
        let p = route("SELECT * FROM t WHERE c = 1", &l, Some(&Literal::Int(2)), &[]);
        assert!(matches!(&p, Plan::Passthrough { data_source, sql: Some(s) } if data_source == "ds_1" && s == "SELECT * FROM `t_0` WHERE c = 1"), "{p:?}");
        let reason = refusal(route("INSERT INTO t (id) VALUES (1)", &l, Some(&Literal::Int(2)), &[]));
        assert_eq!(reason, "a shard_key hint on INSERT (each row is routed by its own key)");
    }

    #[test]
    fn inserts_that_cannot_be_split_are_refused() {
        let l = layout();
        for (sql, reason) in [
            ("INSERT INTO t (c) SELECT c FROM t", "INSERT … SELECT into sharded table 't' (INSERT … SELECT into 't' without its sharding column 'id')"),
            ("INSERT INTO b SELECT id FROM t", "INSERT into 'b' reading sharded table 't' (it would read one shard's rows only) (INSERT … SELECT into 'b' without a column list)"),
            ("INSERT INTO t (id, c) VALUES (1, 2) ON DUPLICATE KEY UPDATE id = 5", "ON DUPLICATE KEY UPDATE of sharding column 'id' (it would move the row to another shard)"),
            ("INSERT INTO t (c) VALUES (1)", "INSERT into 't' without its sharding column 'id'"),
        ] {
            assert_eq!(refusal(route(sql, &l, None, &[])), reason, "{sql}");
        }
        // Into a table without rules: that table lives on the compute data source, which runs it over copies.
        assert!(matches!(route("INSERT INTO nr (id) SELECT id FROM t", &l, None, &[]), Plan::Compute(_)));
        assert!(matches!(route("INSERT INTO b (k) SELECT k FROM nr", &l, None, &[]), Plan::InsertSelect(_)));
        // Into a sharded or broadcast table: the SELECT over copies, its rows inserted where they belong.
        assert!(matches!(route("INSERT INTO t (id, c) SELECT id + 1, c FROM t", &l, None, &[]), Plan::InsertSelect(_)));
        assert!(matches!(route("INSERT INTO b (k) SELECT id FROM t", &l, None, &[]), Plan::InsertSelect(_)));
    }

    #[test]
    fn broadcast_writes_reach_every_copy() {
        let l = layout();
        for (sql, combine) in [("CREATE TABLE b (k INT)", Combine::First), ("REPLACE INTO b VALUES (1)", Combine::Mirror), ("UPDATE b SET v = 1", Combine::Mirror)] {
            let p = route(sql, &l, None, &[]);
            assert!(matches!(&p, Plan::Scatter { combine: c, .. } if *c == combine), "{sql}: {p:?}");
            assert_eq!(p.describe(sql), pairs(&[("ds_0", sql), ("ds_1", sql)]), "{sql}");
        }
        // Reading a table without rules: over a copy of b on nr's data source, the changes to every copy.
        assert!(matches!(route("UPDATE b SET v = 1 WHERE k IN (SELECT k FROM nr)", &l, None, &[]), Plan::MultiWrite(_)));
        // A write to a table without rules that reads a broadcast table runs where that table lives.
        assert!(matches!(route("INSERT INTO nr (k) SELECT k FROM b", &l, None, &[]), Plan::Passthrough { data_source, sql: None } if data_source == "ds_0"));
    }

    #[test]
    fn other_statements_on_a_sharded_table_ask_the_first_node_or_are_refused() {
        let l = layout();
        let p = route("DESCRIBE t", &l, None, &[]);
        assert!(
            matches!(&p, Plan::RenameResult { data_source, sql, physical, logical } if (data_source.as_str(), sql.as_str(), physical.as_str(), logical.as_str()) == ("ds_0", "DESCRIBE `t_0`", "t_0", "t")),
            "{p:?}"
        );
        assert_eq!(refusal(route("OPTIMIZE TABLE t", &l, None, &[])), "this statement on sharded table 't'");
    }

    #[test]
    fn tables_without_rules_and_unsound_outer_joins_are_computed_or_refused_for_writes() {
        let l = layout();
        let (reason, tables) = computed(route("SELECT * FROM t JOIN nr ON t.id = nr.id", &l, None, &[]));
        assert!(reason.starts_with("a statement over sharded table 't' and table 'nr', which has no rules (it lives on data source 'ds_0' only)"), "{reason}");
        assert_eq!(tables.len(), 1, "nr is read in place on the compute data source");
        let (reason, _) = computed(route("SELECT * FROM b LEFT JOIN t ON b.k = t.id", &l, None, &[]));
        assert!(reason.starts_with("an outer join that keeps the unmatched rows of a broadcast or unsharded table"), "{reason}");
        let (reason, tables) = computed(route("SELECT * FROM t JOIN h ON t.id = h.id", &l, None, &[]));
        assert_eq!(reason, "a statement over sharded tables t, h that are not in one binding group");
        assert_eq!(tables.len(), 2);
        // A multi-table write: run over copies (nr in place), the changes written back.
        assert!(matches!(route("UPDATE t JOIN nr ON t.id = nr.id SET t.c = 1", &l, None, &[]), Plan::MultiWrite(_)));
        // A single-table write of the sharded table: its rows found over copies, changed by key.
        assert!(matches!(route("UPDATE t SET c = 1 WHERE id IN (SELECT id FROM nr)", &l, None, &[]), Plan::KeyedWrite(_)));
        // A write to the table without rules alone runs there over copies.
        assert!(matches!(route("UPDATE nr SET c = 1 WHERE id IN (SELECT id FROM t)", &l, None, &[]), Plan::Compute(_)));
        assert!(matches!(route("DELETE FROM nr WHERE id IN (SELECT id FROM t)", &l, None, &[]), Plan::Compute(_)));
        assert!(matches!(route("DELETE nr FROM nr JOIN t ON t.id = nr.id", &l, None, &[]), Plan::MultiWrite(_)));
    }

    #[test]
    fn a_merge_the_proxy_cannot_do_is_refused_only_across_shards() {
        let l = layout();
        let (reason, tables) = computed(route("SELECT SUM(DISTINCT c) FROM t", &l, None, &[]));
        assert!(reason.contains("DISTINCT aggregates"), "{reason}");
        assert_eq!(tables[0].len(), 4);
        // Each shard's EXCEPT / INTERSECT is over its own rows only: the set operation runs over the copies.
        for op in ["EXCEPT", "INTERSECT", "UNION"] {
            let (reason, _) = computed(route(&format!("SELECT c FROM t {op} SELECT k FROM b"), &l, None, &[]));
            assert!(reason.contains("set operations"), "{op}: {reason}");
        }
        // The key prunes the copied nodes as it prunes a merge's.
        let (_, tables) = computed(route("SELECT SUM(DISTINCT c) FROM t WHERE id IN (1, 2)", &l, None, &[]));
        assert_eq!(tables, [vec![("ds_0".to_string(), "t_1".to_string()), ("ds_1".to_string(), "t_0".to_string())]]);
        let reason = refusal(route("SELECT SUM(DISTINCT c) FROM t FOR UPDATE", &l, None, &[]));
        assert!(reason.starts_with("locking reads") && reason.ends_with("that the shards cannot answer as it is)"), "{reason}");
        assert_eq!(routed(&l, "SELECT SUM(DISTINCT c) FROM t WHERE id = 4"), pairs(&[("ds_0", "SELECT SUM(DISTINCT c) FROM `t_0` WHERE id = 4")]));
    }

    #[test]
    fn a_derived_table_each_shard_answers_for_its_rows_merges_like_a_table() {
        let l = layout();
        let Plan::Merge { targets, spec } = route("SELECT COUNT(*) FROM (SELECT id FROM t WHERE c > 1) AS d", &l, None, &[]) else { panic!("a Merge") };
        assert_eq!(targets.len(), 4);
        assert_eq!(targets[3].sql, "SELECT COUNT(*) FROM (SELECT id FROM `t_1` WHERE c > 1) AS d");
        assert!(spec.aggregated);
        // The outer WHERE names the derived table's columns: no pruning by what looks like the key.
        assert_eq!(routed(&l, "SELECT * FROM (SELECT c AS id FROM t) d WHERE id = 5").len(), 4);
        // Not row by row (DISTINCT, aggregates, LIMIT, a window), not co-located, or a second reference: over copies.
        for sql in [
            "SELECT COUNT(*) FROM (SELECT DISTINCT c FROM t) d",
            "SELECT COUNT(*) FROM (SELECT c, COUNT(*) FROM t GROUP BY c) d",
            "SELECT COUNT(*) FROM (SELECT id FROM t LIMIT 5) d",
            "SELECT COUNT(*) FROM (SELECT ROW_NUMBER() OVER (ORDER BY id) AS n FROM t) d",
            "SELECT COUNT(*) FROM (SELECT t.id FROM t JOIN h ON t.id = h.id) d",
            "SELECT COUNT(*) FROM (SELECT id FROM t) d WHERE d.id IN (SELECT id FROM t)",
            "SELECT COUNT(*) FROM (SELECT id FROM t WHERE id IN (SELECT id FROM h)) d",
        ] {
            assert!(matches!(route(sql, &l, None, &[]), Plan::Compute(_)), "{sql}");
        }
    }

    #[test]
    fn refuse_unsafe_dml_refuses_dml_without_where() {
        let mut l = layout();
        l.refuse_unsafe_dml = true;
        let reason = refusal(route("DELETE FROM t", &l, None, &[]));
        assert!(reason.starts_with("UPDATE or DELETE without WHERE on sharded table 't' (refuse_unsafe_dml is on"), "{reason}");
        assert_eq!(routed(&l, "DELETE FROM t WHERE c = 1").len(), 4);
    }

    #[test]
    fn sharding_key_updates_move_rows_only_when_they_can() {
        let mut l = layout();
        let sql = "UPDATE t SET id = 5 WHERE id = 1";
        let Plan::MoveRows(m) = route(sql, &l, None, &[]) else { panic!("MoveRows") };
        assert_eq!((m.updates.iter().map(|(n, _)| *n).collect::<Vec<_>>(), m.target, m.new_key.as_str()), (vec![1], 1, "5"));
        // A join, ORDER BY … LIMIT or a computed new key: over copies, the rows moved where their keys say.
        for sql in ["UPDATE t SET id = 5 WHERE c = 1 ORDER BY id LIMIT 1", "UPDATE t SET id = id + 1 WHERE c = 2", "UPDATE t JOIN h ON h.id = t.c SET t.id = h.c"] {
            assert!(matches!(route(sql, &l, None, &[]), Plan::MultiWrite(_)), "{sql}");
        }
        let reason = refusal(route("UPDATE t SET id = 5 WHERE c = 1 LIMIT 1", &l, None, &[]));
        assert!(reason.starts_with("UPDATE of sharding column 'id' with a join or LIMIT") && reason.contains("without ORDER BY"), "{reason}");
        l.xa = false;
        assert_eq!(refusal(route(sql, &l, None, &[])), "UPDATE of sharding column 'id' (moving a row between shards needs transaction_mode = \"xa\")");
    }

    /// Statements that would reach one copy or one shard only, pinned so that a refactor changes them only
    /// on purpose: refused, or run over copies with their changes written to every copy.
    #[test]
    fn statements_that_would_reach_one_copy_or_one_shard_are_refused_or_run_over_copies() {
        let l = layout();
        let refused = |sql: &str, word: &str| match route(sql, &l, None, &[]) {
            Plan::Refuse(reason) => assert!(reason.contains(word), "{sql}: {reason}"),
            p => panic!("{sql}: {p:?}"),
        };
        // INSERT / REPLACE without INTO into a table with rules.
        refused("INSERT t (id, c) VALUES (1, 'a')", "without INTO into 't'");
        refused("INSERT IGNORE t VALUES (1, 'a')", "without INTO into 't'");
        refused("REPLACE b VALUES (1)", "without INTO into 'b'");
        refused("INSERT LOW_PRIORITY s.b VALUES (1)", "without INTO into 'b'");
        // Multi-table UPDATE/DELETE writing a broadcast table named after a table without rules: over a
        // copy of it, the changes written to every copy (xa mode); refused otherwise.
        for sql in ["DELETE b FROM nr JOIN b ON nr.k = b.k", "UPDATE nr JOIN b ON nr.k = b.k SET b.v = 1", "UPDATE t JOIN b ON b.k = t.id SET b.v = 1"] {
            assert!(matches!(route(sql, &l, None, &[]), Plan::MultiWrite(_)), "{sql}");
            let mut best_effort = layout();
            best_effort.xa = false;
            assert!(matches!(route(sql, &best_effort, None, &[]), Plan::Refuse(r) if r.contains("multi-table")), "{sql}");
        }
        // Only reading the broadcast table, the shards run it as it is.
        assert!(matches!(route("UPDATE t JOIN b ON b.k = t.id SET t.c = b.v", &l, None, &[]), Plan::Scatter { .. }));
        // WITH over a sharded table runs on the compute data source.
        assert!(matches!(route("WITH x AS (SELECT 1 AS a) SELECT * FROM t WHERE id = 2", &l, None, &[]), Plan::Compute(_)));
        for sql in ["DELETE nr, b FROM nr JOIN b ON nr.k = b.k", "DELETE FROM b USING nr JOIN b ON nr.k = b.k"] {
            assert!(matches!(route(sql, &l, None, &[]), Plan::MultiWrite(_)), "{sql}");
        }
        // Still planned as before: INTO present, a broadcast table alone, a broadcast table read in a
        // subquery or in a multi-table DELETE's USING list, WITH over broadcast or unruled tables.
        assert!(matches!(route("UPDATE nr SET n = NULL WHERE k IN (SELECT k FROM b)", &l, None, &[]), Plan::Passthrough { sql: None, .. }));
        assert!(matches!(route("DELETE FROM nr USING nr JOIN b ON nr.k = b.k", &l, None, &[]), Plan::Passthrough { sql: None, .. }));
        assert!(matches!(route("INSERT INTO b VALUES (1)", &l, None, &[]), Plan::Scatter { combine: Combine::Mirror, .. }));
        assert!(matches!(route("UPDATE b SET v = 1", &l, None, &[]), Plan::Scatter { combine: Combine::Mirror, .. }));
        assert!(matches!(route("INSERT nr VALUES (1)", &l, None, &[]), Plan::Passthrough { sql: None, .. }));
        assert!(matches!(route("WITH x AS (SELECT 1) SELECT * FROM b", &l, None, &[]), Plan::Passthrough { sql: None, .. }));
    }
}
