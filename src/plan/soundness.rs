//! When a statement over sharded tables may go to the shards as it is: each shard answers it over its own
//! rows only, so the combined answer is the unsharded one only if no row of one shard needs a row of
//! another. Checked here, before routing; what fails is refused (1235) with the reason.
//!
//! Sound shapes: one occurrence of a sharded table (with broadcast tables, which every shard holds whole);
//! several occurrences of tables of one binding group, each joined to the others by equality of their
//! sharding columns (ON, USING or WHERE conjuncts), since equal keys live on the same shard. Not sound: a
//! sharded table inside a subquery, derived table or CTE (each shard would evaluate it over its own rows),
//! and joins on anything else.

use std::collections::HashMap;

use sqlparser::ast::{BinaryOperator, Expr, FromTable, GroupByExpr, JoinConstraint, JoinOperator, SetExpr, Statement, TableFactor, TableWithJoins, Visit};
use sqlparser::tokenizer::Token;

use crate::sharding::table::SchemaLayout;
use crate::sql::analyze::last_name;
use crate::sql::tokens::{TableRef, Tok};

/// Refuses a sharded table referenced inside parentheses that hold a query (`(SELECT …`, `(WITH …`).
pub fn no_nested_sharded(toks: &[Tok], refs: &[TableRef], layout: &SchemaLayout) -> Result<(), String> {
    let mut stack: Vec<bool> = Vec::new();
    let mut nested_at = Vec::with_capacity(toks.len());
    for (i, t) in toks.iter().enumerate() {
        match t.token {
            Token::LParen => {
                let next = toks.get(i + 1);
                stack.push(next.is_some_and(|n| n.is_keyword("SELECT") || n.is_keyword("WITH") || n.token == Token::LParen));
            }
            Token::RParen => {
                stack.pop();
            }
            _ => {}
        }
        nested_at.push(stack.iter().any(|q| *q));
    }
    for r in refs {
        if layout.tables.contains_key(&r.name) && nested_at[r.index] {
            return Err(format!(
                "a subquery, derived table or CTE over sharded table '{}' (each shard would answer it over its own rows only)",
                r.name
            ));
        }
    }
    Ok(())
}

/// The tables `stmt` names that have no rules in `layout` (they live on its default data source only), by
/// the name written; names qualified with another database count too (they exist wherever they exist).
pub fn tables_without_rules(stmt: &Statement, layout: &SchemaLayout) -> Vec<String> {
    let mut out = Vec::new();
    let _ = sqlparser::ast::visit_relations(stmt, |name| {
        let parts: Vec<String> = name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.clone()).collect();
        let own = parts.len() < 2 || parts[parts.len() - 2] == layout.database;
        let table = parts.last().cloned().unwrap_or_default();
        if !(own && layout.has_rule(&table)) && !table.eq_ignore_ascii_case("dual") && !out.contains(&table) {
            out.push(table);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    out
}

/// Refuses an outer join whose preserved side has no sharded table while the other side has one (a
/// broadcast table LEFT JOIN a sharded one): each shard would keep the unmatched rows of its own copy.
pub fn outer_joins_sound(stmt: &Statement, layout: &SchemaLayout) -> Result<(), String> {
    let from: &[TableWithJoins] = match stmt {
        Statement::Query(q) => match q.body.as_ref() {
            SetExpr::Select(s) => &s.from,
            _ => return Ok(()),
        },
        Statement::Update(u) => std::slice::from_ref(&u.table),
        Statement::Delete(d) => match &d.from {
            FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
        },
        _ => return Ok(()),
    };
    let sharded = |f: &TableFactor| {
        let mut occ = Vec::new();
        occurrences(&[TableWithJoins { relation: f.clone(), joins: vec![] }], layout, &mut occ, &mut Vec::new());
        !occ.is_empty()
    };
    for twj in from {
        let mut left_sharded = sharded(&twj.relation);
        for j in &twj.joins {
            let right_sharded = sharded(&j.relation);
            let (left_outer, right_outer) = match j.join_operator {
                JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => (true, false),
                JoinOperator::Right(_) | JoinOperator::RightOuter(_) => (false, true),
                JoinOperator::FullOuter(_) => (true, true),
                _ => (false, false),
            };
            if (left_outer && !left_sharded && right_sharded) || (right_outer && !right_sharded && left_sharded) {
                return Err("an outer join that keeps the unmatched rows of a broadcast or unsharded table against a sharded one (each shard would keep them once)".into());
            }
            left_sharded |= right_sharded;
        }
    }
    Ok(())
}

/// One occurrence of a sharded table in the statement's FROM: the name it is known by, and its sharding
/// column.
struct Occurrence {
    scope_name: String,
    table: String,
    column: String,
}

/// Collects the occurrences, and each join's constraint with the index of the occurrence it joins (if the
/// joined table is sharded).
fn occurrences(twj: &[TableWithJoins], layout: &SchemaLayout, out: &mut Vec<Occurrence>, ons: &mut Vec<(Option<usize>, Constraint)>) {
    fn factor(f: &TableFactor, layout: &SchemaLayout, out: &mut Vec<Occurrence>, ons: &mut Vec<(Option<usize>, Constraint)>) {
        match f {
            TableFactor::Table { name, alias, .. } => {
                let table = last_name(name);
                if let Some(t) = layout.tables.get(&table) {
                    let scope_name = alias.as_ref().map_or_else(|| table.clone(), |a| a.name.value.clone());
                    out.push(Occurrence { scope_name, table, column: t.column.clone() });
                }
            }
            TableFactor::NestedJoin { table_with_joins, .. } => occurrences(std::slice::from_ref(table_with_joins), layout, out, ons),
            _ => {}
        }
    }
    for t in twj {
        factor(&t.relation, layout, out, ons);
        for j in &t.joins {
            let before = out.len();
            factor(&j.relation, layout, out, ons);
            if let Some(c) = constraint(&j.join_operator) {
                ons.push(((out.len() > before).then_some(before), c));
            }
        }
    }
}

/// A join's constraint, owned.
enum Constraint {
    On(Expr),
    Using(Vec<String>),
}

fn constraint(op: &JoinOperator) -> Option<Constraint> {
    let c = match op {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c)
        | JoinOperator::StraightJoin(c) => c,
        _ => return None,
    };
    match c {
        JoinConstraint::On(e) => Some(Constraint::On(e.clone())),
        JoinConstraint::Using(names) => Some(Constraint::Using(names.iter().map(last_name).collect())),
        _ => None,
    }
}

fn conjuncts<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Nested(inner) => conjuncts(inner, out),
        other => out.push(other),
    }
}

/// `scope.column` → (scope name, column), for qualified names only (an unqualified one is ambiguous here).
fn qualified(e: &Expr) -> Option<(String, String)> {
    match e {
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let n = parts.len();
            Some((parts[n - 2].value.clone(), parts[n - 1].value.clone()))
        }
        _ => None,
    }
}

fn find(parent: &mut [usize], i: usize) -> usize {
    if parent[i] != i {
        parent[i] = find(parent, parent[i]);
    }
    parent[i]
}

/// Refuses a join of several occurrences of sharded tables unless every one is tied to the others by
/// equality of sharding columns.
pub fn joins_colocated(stmt: &Statement, layout: &SchemaLayout) -> Result<(), String> {
    let mut occ = Vec::new();
    let mut ons = Vec::new();
    let selection = match stmt {
        Statement::Query(q) => match q.body.as_ref() {
            SetExpr::Select(s) => {
                occurrences(&s.from, layout, &mut occ, &mut ons);
                s.selection.as_ref()
            }
            _ => None,
        },
        Statement::Update(u) => {
            occurrences(std::slice::from_ref(&u.table), layout, &mut occ, &mut ons);
            u.selection.as_ref()
        }
        Statement::Delete(d) => {
            let (FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t)) = &d.from;
            occurrences(t, layout, &mut occ, &mut ons);
            if let Some(using) = &d.using {
                occurrences(using, layout, &mut occ, &mut ons);
            }
            d.selection.as_ref()
        }
        _ => None,
    };
    if occ.len() <= 1 {
        return Ok(());
    }
    let mut parent: Vec<usize> = (0..occ.len()).collect();
    let index: HashMap<String, usize> = occ.iter().enumerate().map(|(i, o)| (o.scope_name.to_ascii_lowercase(), i)).collect();
    let key_of = |e: &Expr| {
        let (scope, column) = qualified(e)?;
        let &i = index.get(&scope.to_ascii_lowercase())?;
        occ[i].column.eq_ignore_ascii_case(&column).then_some(i)
    };
    let mut equalities = Vec::new();
    let mut exprs: Vec<&Expr> = Vec::new();
    for (joined, c) in &ons {
        match c {
            Constraint::On(e) => conjuncts(e, &mut exprs),
            Constraint::Using(cols) => {
                // USING (c): the joined table's c equals c of the tables before it that have it.
                let Some(j) = *joined else { continue };
                if cols.iter().any(|c| c.eq_ignore_ascii_case(&occ[j].column)) {
                    for (i, o) in occ.iter().enumerate().take(j) {
                        if o.column.eq_ignore_ascii_case(&occ[j].column) {
                            equalities.push((i, j));
                        }
                    }
                }
            }
        }
    }
    if let Some(w) = selection {
        conjuncts(w, &mut exprs);
    }
    for e in exprs {
        if let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = e {
            if let (Some(a), Some(b)) = (key_of(left), key_of(right)) {
                equalities.push((a, b));
            }
        }
    }
    for (a, b) in equalities {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        parent[ra] = rb;
    }
    let root = find(&mut parent, 0);
    if (1..occ.len()).all(|i| find(&mut parent, i) == root) {
        return Ok(());
    }
    let names: Vec<String> = occ.iter().map(|o| format!("{} ({}.{})", o.table, o.scope_name, o.column)).collect();
    Err(format!(
        "a join of sharded tables {} on something other than equal sharding columns (matching rows may live on different shards)",
        names.join(", ")
    ))
}

/// How many times `node` names a sharded table of `layout` (at any depth).
fn sharded_relations<V: Visit>(node: &V, layout: &SchemaLayout) -> usize {
    let mut n = 0;
    let _ = sqlparser::ast::visit_relations(node, |name| {
        n += usize::from(layout.tables.contains_key(&last_name(name)));
        std::ops::ControlFlow::<()>::Continue(())
    });
    n
}

/// Aggregate and window functions: a select list with one is not a row-by-row projection.
const SET_FUNCTIONS: &[&str] = &[
    "count", "sum", "min", "max", "avg", "group_concat", "std", "stddev", "stddev_pop", "stddev_samp", "var_pop", "var_samp", "variance", "bit_and", "bit_or",
    "bit_xor", "json_arrayagg", "json_objectagg",
];

/// Whether `stmt` reads its sharded tables only through one derived table, the whole of its FROM, whose
/// rows are the union of what each shard gives for it: one SELECT over co-located sharded tables (and
/// broadcast ones) without aggregates, window functions, GROUP BY, HAVING, DISTINCT, LIMIT or a nested
/// sharded table. Each shard can then answer the outer query over its part of the derived table, and the
/// proxy merges those answers as it merges a query over one sharded table (`SELECT COUNT(*) FROM (…) d`,
/// the ORM paginator's count).
pub fn row_local_derived(stmt: &Statement, layout: &SchemaLayout) -> bool {
    let Statement::Query(q) = stmt else { return false };
    let SetExpr::Select(outer) = q.body.as_ref() else { return false };
    let [twj] = &outer.from[..] else { return false };
    let TableFactor::Derived { subquery, lateral: false, .. } = &twj.relation else { return false };
    if q.with.is_some() || !twj.joins.is_empty() || sharded_relations(stmt, layout) != sharded_relations(subquery.as_ref(), layout) {
        return false;
    }
    let inner = subquery.as_ref();
    if inner.with.is_some() || inner.limit_clause.is_some() || inner.fetch.is_some() || !inner.locks.is_empty() {
        return false;
    }
    let SetExpr::Select(s) = inner.body.as_ref() else { return false };
    let grouped = !matches!(&s.group_by, GroupByExpr::Expressions(keys, modifiers) if keys.is_empty() && modifiers.is_empty());
    if s.distinct.is_some() || s.having.is_some() || grouped || !s.named_window.is_empty() || s.qualify.is_some() || s.into.is_some() {
        return false;
    }
    let mut set_function = false;
    let _ = sqlparser::ast::visit_expressions(&s.projection, |e| {
        if let Expr::Function(f) = e {
            set_function |= f.over.is_some() || SET_FUNCTIONS.contains(&last_name(&f.name).to_ascii_lowercase().as_str());
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    let inner_stmt = Statement::Query(subquery.clone());
    let mut occ = Vec::new();
    occurrences(&s.from, layout, &mut occ, &mut Vec::new());
    !set_function
        && !occ.is_empty()
        && occ.len() == sharded_relations(&inner_stmt, layout)
        && joins_colocated(&inner_stmt, layout).is_ok()
        && outer_joins_sound(&inner_stmt, layout).is_ok()
        && tables_without_rules(&inner_stmt, layout).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> SchemaLayout {
        let rules = "[schemas.s]\ndata_source = \"ds_0\"\nbinding_groups = [[\"o\", \"i\"]]\n\
                     [schemas.s.tables.o]\nsharding_column = \"user_id\"\nactual_nodes = \"ds_${0..1}.o_${0..1}\"\n\
                     [schemas.s.tables.i]\nsharding_column = \"user_id\"\nactual_nodes = \"ds_${0..1}.i_${0..1}\"\n";
        crate::plan::test_layouts(rules).remove("s").unwrap()
    }

    fn check(sql: &str) -> Result<(), String> {
        let l = layout();
        let toks = crate::sql::tokens::tokenize(sql).unwrap();
        let refs = crate::sql::tokens::table_refs(&toks, |n| l.has_rule(n));
        no_nested_sharded(&toks, &refs, &l)?;
        joins_colocated(&crate::sql::analyze::parse(sql).unwrap(), &l)
    }

    #[test]
    fn co_located_joins_pass() {
        for sql in [
            "SELECT * FROM o JOIN i ON i.user_id = o.user_id",
            "SELECT * FROM o a, i b WHERE a.user_id = b.user_id AND a.x > 1",
            "SELECT * FROM o LEFT JOIN i USING (user_id)",
            "SELECT * FROM o a JOIN o b ON a.user_id = b.user_id AND a.id < b.id",
            "SELECT * FROM o WHERE user_id = 3",
            "SELECT * FROM o WHERE x IN (SELECT code FROM bcast)",
        ] {
            assert_eq!(check(sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn unsound_shapes_are_refused() {
        for sql in [
            "SELECT * FROM o JOIN i ON i.id = o.id",
            "SELECT * FROM o JOIN i ON i.user_id < o.user_id",
            "SELECT * FROM o a JOIN o b ON a.x = b.x",
            "SELECT * FROM o a, i b WHERE a.user_id = b.user_id OR a.x = 1",
            "SELECT * FROM bcast WHERE code IN (SELECT x FROM o)",
            "SELECT COUNT(*) FROM (SELECT * FROM o) d",
            "WITH c AS (SELECT * FROM o) SELECT * FROM c",
            "SELECT * FROM o WHERE user_id = 1 AND EXISTS (SELECT 1 FROM i WHERE i.user_id = 2)",
        ] {
            assert!(check(sql).is_err(), "{sql}");
        }
    }
}
