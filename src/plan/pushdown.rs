//! Conditions the exact fallback may evaluate on the shards while copying a table (plan/compute.rs), so
//! that only the rows that can matter are copied.
//!
//! A conjunct of some SELECT's WHERE clause is pushed down to the copy of sharded table `t` only when
//! filtering `t`'s rows first cannot change that SELECT's answer:
//! - `t` occurs once in the whole statement (no CTE, no second reference), in that SELECT's FROM, and that
//!   FROM has no outer join (a filtered nullable side would produce NULL-extended rows instead);
//! - the conjunct reads only `t`'s columns, named with its alias (or unqualified, in the outermost SELECT
//!   when `t` is its only table: nowhere else can an unqualified name mean a column of an outer query),
//!   literals, comparisons, AND/OR/NOT, IS [NOT] NULL, BETWEEN, IN lists and LIKE — no function, no
//!   arithmetic, no subquery, no placeholder, nothing that depends on when or where it is evaluated;
//! - its text, cut from the statement by the parser's spans, parses back to the same expression.
//!
//! A pushed condition that warns on a shard (a string column compared with a number) is dropped at run
//! time and that table copied whole (execute/compute.rs), so the warnings are the compute server's own.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, JoinOperator, Query, SetExpr, Spanned, Statement, TableFactor, UnaryOperator, Visit, Visitor};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Location;

use crate::sharding::table::SchemaLayout;

/// The conditions pushed down per sharded table: the alias its copy query gives the physical table, and
/// the conjuncts' texts.
pub type Pushed = HashMap<String, (String, Vec<String>)>;

/// The byte offset of a parser location (1-based line and character column) in `sql`.
fn offset(sql: &str, at: Location) -> Option<usize> {
    let mut line_start = 0;
    for _ in 1..at.line {
        line_start += sql[line_start..].find('\n')? + 1;
    }
    let col = usize::try_from(at.column).ok()?.checked_sub(1)?;
    sql[line_start..].char_indices().map(|(i, _)| line_start + i).chain(std::iter::once(sql.len())).nth(col)
}

/// The conjunct's own text: from where its span starts to the first token end at which the text parses
/// back to the same expression (the parser's spans stop short for some expressions, `x IS NULL` among
/// them, so the span's end is only the first candidate).
fn text_of(sql: &str, ends: &[usize], e: &Expr) -> Option<String> {
    // A parenthesized expression's span is its content's.
    if let Expr::Nested(inner) = e {
        return text_of(sql, ends, inner).map(|t| format!("({t})"));
    }
    let start = offset(sql, e.span().start)?;
    let same = |end: usize| {
        let text = sql.get(start..end)?;
        let back = Parser::new(&MySqlDialect {}).try_with_sql(text).ok()?.parse_expr().ok()?;
        (back == *e).then(|| text.to_string())
    };
    let first = ends.partition_point(|&end| end <= start);
    ends[first..].iter().take(64).find_map(|&end| same(end))
}

/// Whether `e` reads only columns of `qualifier` (or unqualified ones, with `bare`) through the safe
/// operators listed in the module comment.
fn safe(e: &Expr, qualifier: &str, bare: bool) -> bool {
    let s = |x: &Expr| safe(x, qualifier, bare);
    match e {
        Expr::Identifier(_) => bare,
        Expr::CompoundIdentifier(parts) => parts.len() == 2 && parts[0].value == qualifier,
        Expr::Value(v) => !matches!(v.value, sqlparser::ast::Value::Placeholder(_)),
        Expr::BinaryOp { left, op, right } => {
            use BinaryOperator::*;
            matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq | Spaceship | And | Or) && s(left) && s(right)
        }
        Expr::UnaryOp { op: UnaryOperator::Not, expr } | Expr::Nested(expr) | Expr::IsNull(expr) | Expr::IsNotNull(expr) => s(expr),
        Expr::Between { expr, low, high, .. } => s(expr) && s(low) && s(high),
        Expr::InList { expr, list, .. } => s(expr) && list.iter().all(s),
        Expr::Like { expr, pattern, any: false, .. } => s(expr) && s(pattern),
        _ => false,
    }
}

/// The top-level AND conjuncts of `e`.
fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => [conjuncts(left), conjuncts(right)].concat(),
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::And, .. }) => conjuncts(inner),
        other => vec![other],
    }
}

/// Walks every query of the statement, collecting what each SELECT allows.
struct Finder<'a> {
    sql: &'a str,
    /// Where each token of `sql` ends (byte offsets, increasing).
    ends: Vec<usize>,
    layout: &'a SchemaLayout,
    /// How often each sharded table is named in the statement.
    counts: HashMap<String, usize>,
    /// Whether the next query visited is the statement's outermost.
    outermost: bool,
    found: Pushed,
}

impl Finder<'_> {
    fn select(&mut self, s: &sqlparser::ast::Select, outermost: bool) {
        let Some(selection) = &s.selection else { return };
        let outer_join = s.from.iter().flat_map(|f| &f.joins).any(|j| !matches!(j.join_operator, JoinOperator::Inner(_) | JoinOperator::Join(_) | JoinOperator::CrossJoin(_)));
        if outer_join {
            return;
        }
        let single = s.from.len() == 1 && s.from[0].joins.is_empty();
        let factors = s.from.iter().flat_map(|f| std::iter::once(&f.relation).chain(f.joins.iter().map(|j| &j.relation)));
        for factor in factors {
            let TableFactor::Table { name, alias, args: None, .. } = factor else { continue };
            let [part] = &name.0[..] else { continue };
            let Some(table) = part.as_ident().map(|i| i.value.clone()) else { continue };
            if !self.layout.tables.contains_key(&table) || self.counts.get(&table) != Some(&1) {
                continue;
            }
            let qualifier = alias.as_ref().map_or(table.clone(), |a| a.name.value.clone());
            let pushed: Vec<String> =
                conjuncts(selection).into_iter().filter(|c| safe(c, &qualifier, single && outermost)).filter_map(|c| text_of(self.sql, &self.ends, c)).collect();
            if !pushed.is_empty() {
                self.found.insert(table, (qualifier, pushed));
            }
        }
    }

    fn body(&mut self, body: &SetExpr, outermost: bool) {
        match body {
            SetExpr::Select(s) => self.select(s, outermost),
            // The parts of a set operation share its scope: no outer query either.
            SetExpr::SetOperation { left, right, .. } => {
                self.body(left, outermost);
                self.body(right, outermost);
            }
            _ => {}
        }
    }
}

impl Visitor for Finder<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        let outermost = std::mem::take(&mut self.outermost);
        self.body(&q.body, outermost);
        ControlFlow::Continue(())
    }
}

/// How often each table is named in `stmt` (by its last name part), subqueries included.
pub fn relation_counts(stmt: &Statement) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let _ = sqlparser::ast::visit_relations(stmt, |name| {
        if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
            *counts.entry(last.value.clone()).or_insert(0) += 1;
        }
        ControlFlow::<()>::Continue(())
    });
    counts
}

/// The conditions the copies of `stmt`'s sharded tables may be filtered by (see the module comment).
pub fn find(sql: &str, stmt: &Statement, layout: &SchemaLayout) -> Pushed {
    let Statement::Query(q) = stmt else { return Pushed::new() };
    if q.with.is_some() {
        return Pushed::new();
    }
    let counts = relation_counts(stmt);
    let Ok(toks) = crate::sql::tokens::tokenize(sql) else { return Pushed::new() };
    let ends = toks.iter().map(|t| t.end).collect();
    let mut finder = Finder { sql, ends, layout, counts, outermost: true, found: Pushed::new() };
    let _ = stmt.visit(&mut finder);
    finder.found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pushed(sql: &str) -> Vec<(String, String, Vec<String>)> {
        let stmt = crate::sql::analyze::parse(sql).unwrap();
        let mut out: Vec<_> = find(sql, &stmt, &crate::plan::schema_s()).into_iter().map(|(t, (q, c))| (t, q, c)).collect();
        out.sort();
        out
    }

    fn one(table: &str, qualifier: &str, conds: &[&str]) -> (String, String, Vec<String>) {
        (table.into(), qualifier.into(), conds.iter().map(|c| c.to_string()).collect())
    }

    #[test]
    fn single_table_conditions_go_to_the_copies_as_written() {
        assert_eq!(
            pushed("SELECT * FROM t WHERE id IN (SELECT id FROM h WHERE h.c = 'x\\\\y' AND h.d > t.d) AND c LIKE 'a%' AND (d BETWEEN 1 AND 5 OR d IS NULL)"),
            [one("h", "h", &["h.c = 'x\\\\y'"]), one("t", "t", &["c LIKE 'a%'", "(d BETWEEN 1 AND 5 OR d IS NULL)"])]
        );
        assert_eq!(
            pushed("SELECT COUNT(*) FROM t a JOIN h b ON a.c = b.c WHERE a.k >= 10 AND b.name <> 'é' AND a.x = b.x"),
            [one("h", "b", &["b.name <> 'é'"]), one("t", "a", &["a.k >= 10"])]
        );
        assert_eq!(pushed("SELECT * FROM (SELECT c FROM t WHERE t.k IN (1, 2)) d WHERE d.c = 1"), [one("t", "t", &["t.k IN (1, 2)"])]);
        assert_eq!(pushed("SELECT id FROM t WHERE k = 5 UNION SELECT id FROM h WHERE w = 7"), [one("h", "h", &["w = 7"]), one("t", "t", &["k = 5"])]);
    }

    #[test]
    fn nothing_is_pushed_where_filtering_first_could_change_the_answer() {
        for sql in [
            // Outer joins, a second occurrence, a CTE.
            "SELECT * FROM t LEFT JOIN h ON t.id = h.id WHERE t.c = 1 AND h.c = 2",
            "SELECT * FROM t WHERE c = 1 AND id IN (SELECT id FROM t WHERE c = 2)",
            "WITH x AS (SELECT 1) SELECT * FROM t WHERE c = 1",
            // Functions, arithmetic, subqueries, placeholders, another table's columns.
            "SELECT * FROM t WHERE d > NOW() AND e + 1 = 2 AND f = (SELECT 1) AND g = ? AND id IN (SELECT id FROM h WHERE h.c = t.c)",
            // An unqualified name inside a subquery may be the outer query's column.
            "SELECT * FROM t WHERE EXISTS (SELECT 1 FROM h WHERE c = 1)",
        ] {
            assert_eq!(pushed(sql), [], "{sql}");
        }
    }
}
