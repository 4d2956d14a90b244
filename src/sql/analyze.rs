//! Reading the parts of a statement routing needs from sqlparser's AST: the WHERE clause with the names
//! tables go by in it, INSERT columns and VALUES, UPDATE targets.

use std::collections::{BTreeSet, HashMap};

use sqlparser::ast::{
    AssignmentTarget, BinaryOperator, Expr, FromTable, ObjectName, OnInsert, SetExpr, Statement, TableFactor, TableWithJoins,
    UnaryOperator, Value,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use crate::sharding::key::Literal;
use crate::sql::tokens::Tok;

/// A statement's `?` placeholders (matched to the AST by position in the text) and the values bound to them,
/// if any: a plan template is built with none and bound later.
#[derive(Debug, Default)]
pub struct Params {
    by_position: HashMap<(u64, u64), usize>,
    values: Vec<Literal>,
}

impl Params {
    /// No parameters (a text-protocol statement).
    pub fn none() -> Self {
        Params::default()
    }

    /// Numbers the placeholders of `toks` in order of appearance and binds `values` to them.
    pub fn new(toks: &[Tok], values: &[Literal]) -> Self {
        let placeholders = toks.iter().filter(|t| matches!(&t.token, sqlparser::tokenizer::Token::Placeholder(p) if p == "?"));
        Params { by_position: placeholders.enumerate().map(|(i, t)| (t.line_col, i)).collect(), values: values.to_vec() }
    }

    /// The bound values, in placeholder order.
    pub fn values(&self) -> Vec<Literal> {
        self.values.clone()
    }

    fn index(&self, span: &sqlparser::tokenizer::Span) -> Option<usize> {
        self.by_position.get(&(span.start.line, span.start.column)).copied()
    }

    fn get(&self, span: &sqlparser::tokenizer::Span) -> Literal {
        self.index(span).and_then(|i| self.values.get(i)).cloned().unwrap_or(Literal::Other)
    }
}

/// Parses exactly one statement.
pub fn parse(sql: &str) -> Result<Statement, String> {
    let mut v = Parser::parse_sql(&MySqlDialect {}, sql).map_err(|e| e.to_string())?;
    match v.len() {
        1 => Ok(v.remove(0)),
        0 => Err("empty statement".into()),
        _ => Err("several statements in one query".into()),
    }
}

/// The last part of an object name (`db.t` → `t`).
pub fn last_name(name: &ObjectName) -> String {
    name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default()
}

/// WHERE clause and the table each name in scope (table name or alias) stands for.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    /// The WHERE expression.
    pub selection: Option<&'a Expr>,
    /// Name in scope → table name.
    pub scope: HashMap<String, String>,
}

fn add_scope(twj: &[TableWithJoins], scope: &mut HashMap<String, String>) {
    let mut add = |f: &TableFactor| {
        if let TableFactor::Table { name, alias, .. } = f {
            let table = last_name(name);
            scope.insert(table.clone(), table.clone());
            if let Some(a) = alias {
                scope.insert(a.name.value.clone(), table);
            }
        }
    };
    for t in twj {
        add(&t.relation);
        for j in &t.joins {
            add(&j.relation);
        }
    }
}

/// The filter of a SELECT, UPDATE or DELETE (`None` for other statements or set operations).
pub fn filter(stmt: &Statement) -> Option<Filter<'_>> {
    let mut f = Filter::default();
    match stmt {
        Statement::Query(q) => {
            let SetExpr::Select(s) = q.body.as_ref() else { return None };
            add_scope(&s.from, &mut f.scope);
            f.selection = s.selection.as_ref();
        }
        Statement::Update(u) => {
            add_scope(std::slice::from_ref(&u.table), &mut f.scope);
            f.selection = u.selection.as_ref();
        }
        Statement::Delete(d) => {
            let (FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t)) = &d.from;
            add_scope(t, &mut f.scope);
            f.selection = d.selection.as_ref();
        }
        _ => return None,
    }
    Some(f)
}

/// The nodes a statement can touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nodes {
    /// Every node.
    All,
    /// Only these (possibly none).
    Only(BTreeSet<usize>),
}

impl Nodes {
    fn and(self, other: Nodes) -> Nodes {
        match (self, other) {
            (Nodes::All, x) | (x, Nodes::All) => x,
            (Nodes::Only(a), Nodes::Only(b)) => Nodes::Only(a.intersection(&b).copied().collect()),
        }
    }
    fn or(self, other: Nodes) -> Nodes {
        match (self, other) {
            (Nodes::Only(a), Nodes::Only(b)) => Nodes::Only(a.union(&b).copied().collect()),
            _ => Nodes::All,
        }
    }
}

/// A literal's value, or a bound parameter's (`Literal::Other` for anything else).
pub fn literal(e: &Expr, params: &Params) -> Literal {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(_) => params.get(&v.span),
            Value::Number(n, _) => n.parse::<i128>().map_or(Literal::Other, Literal::Int),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Literal::Str(s.clone()),
            Value::Null => Literal::Null,
            _ => Literal::Other,
        },
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => match literal(expr, params) {
            Literal::Int(i) => Literal::Int(-i),
            _ => Literal::Other,
        },
        Expr::Nested(e) => literal(e, params),
        _ => Literal::Other,
    }
}

/// What the key analysis needs from the routing layer.
pub trait KeyResolver {
    /// Whether `qualifier.column` (qualifier already resolved to a table name, or `None`) is a sharding column.
    fn is_key(&self, table: Option<&str>, column: &str) -> bool;
    /// The node of a key literal (`None`: not usable as a key → every node).
    fn node(&self, lit: &Literal) -> Option<usize>;
    /// Nodes for an integer key range (`None`: the algorithm scatters ranges).
    fn range(&self, low: std::ops::Bound<i64>, high: std::ops::Bound<i64>) -> Option<Vec<usize>>;
}

fn is_key_column(e: &Expr, scope: &HashMap<String, String>, r: &dyn KeyResolver) -> bool {
    match e {
        Expr::Identifier(i) => r.is_key(None, &i.value),
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let q = &parts[parts.len() - 2].value;
            scope.get(q).is_some_and(|t| r.is_key(Some(t), &parts[parts.len() - 1].value))
        }
        Expr::Nested(e) => is_key_column(e, scope, r),
        _ => false,
    }
}

fn int_of(lit: &Literal) -> Option<i64> {
    match lit {
        Literal::Int(i) => i64::try_from(*i).ok(),
        _ => None,
    }
}

/// One side of a key condition: a literal written in the statement (with the line and column where it
/// starts, so a plan cache can turn it into a slot) or a placeholder's slot, bound when the plan is used.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A literal value.
    Lit(Literal, Option<(u64, u64)>),
    /// The value of placeholder `index`, negated if `negate` (`-?`).
    Slot {
        /// Placeholder number, in order of appearance.
        index: usize,
        /// Whether a unary minus precedes it.
        negate: bool,
    },
}

impl Term {
    fn value(&self, values: &[Literal]) -> Literal {
        match self {
            Term::Lit(l, _) => l.clone(),
            Term::Slot { index, negate } => match (values.get(*index), negate) {
                (Some(Literal::Int(i)), true) => Literal::Int(-i),
                (Some(_), true) | (None, _) => Literal::Other,
                (Some(v), false) => v.clone(),
            },
        }
    }
}

/// Comparison of the key with a value (the key on the left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

/// What a WHERE clause says about the sharding key, with its values left symbolic so that one analysis
/// serves every execution of a prepared statement or every statement of one normalised shape.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyExpr {
    /// No restriction: every node.
    All,
    /// `key = v`.
    Eq(Term),
    /// `key <op> v`.
    Cmp(Cmp, Term),
    /// `key IN (…)`.
    In(Vec<Term>),
    /// `key BETWEEN a AND b`.
    Between(Term, Term),
    /// Both hold.
    And(Box<KeyExpr>, Box<KeyExpr>),
    /// Either holds.
    Or(Box<KeyExpr>, Box<KeyExpr>),
}

fn one(r: &dyn KeyResolver, lit: &Literal) -> Nodes {
    r.node(lit).map_or(Nodes::All, |n| Nodes::Only([n].into()))
}

impl KeyExpr {
    /// The nodes this restriction allows when the slots hold `values`.
    pub fn nodes(&self, r: &dyn KeyResolver, values: &[Literal]) -> Nodes {
        use std::ops::Bound::*;
        let range = |lo, hi| r.range(lo, hi).map_or(Nodes::All, |v| Nodes::Only(v.into_iter().collect()));
        match self {
            KeyExpr::All => Nodes::All,
            KeyExpr::Eq(t) => one(r, &t.value(values)),
            KeyExpr::Cmp(op, t) => match (op, int_of(&t.value(values))) {
                (_, None) => Nodes::All,
                (Cmp::Lt, Some(k)) => range(Unbounded, Excluded(k)),
                (Cmp::LtEq, Some(k)) => range(Unbounded, Included(k)),
                (Cmp::Gt, Some(k)) => range(Excluded(k), Unbounded),
                (Cmp::GtEq, Some(k)) => range(Included(k), Unbounded),
            },
            KeyExpr::In(list) => list.iter().fold(Nodes::Only(BTreeSet::new()), |acc, t| acc.or(one(r, &t.value(values)))),
            KeyExpr::Between(lo, hi) => {
                let (lo, hi) = (lo.value(values), hi.value(values));
                if lo == hi {
                    return one(r, &lo);
                }
                match (int_of(&lo), int_of(&hi)) {
                    (Some(a), Some(b)) => range(Included(a), Included(b)),
                    _ => Nodes::All,
                }
            }
            KeyExpr::And(a, b) => a.nodes(r, values).and(b.nodes(r, values)),
            KeyExpr::Or(a, b) => a.nodes(r, values).or(b.nodes(r, values)),
        }
    }

    /// Calls `f` with every term this restriction reads.
    pub fn for_each_term(&self, f: &mut impl FnMut(&Term)) {
        match self {
            KeyExpr::All => {}
            KeyExpr::Eq(t) | KeyExpr::Cmp(_, t) => f(t),
            KeyExpr::In(list) => list.iter().for_each(f),
            KeyExpr::Between(a, b) => {
                f(a);
                f(b);
            }
            KeyExpr::And(a, b) | KeyExpr::Or(a, b) => {
                a.for_each_term(f);
                b.for_each_term(f);
            }
        }
    }
}

/// A value expression as a term: placeholders become slots; literals keep their position.
fn term(e: &Expr, params: &Params) -> Term {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(_) => params.index(&v.span).map_or(Term::Lit(Literal::Other, None), |index| Term::Slot { index, negate: false }),
            _ => Term::Lit(literal(e, params), Some((v.span.start.line, v.span.start.column))),
        },
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => match term(expr, params) {
            Term::Slot { index, negate } => Term::Slot { index, negate: !negate },
            Term::Lit(Literal::Int(i), at) => Term::Lit(Literal::Int(-i), at),
            Term::Lit(_, at) => Term::Lit(Literal::Other, at),
        },
        Expr::Nested(e) => term(e, params),
        _ => Term::Lit(Literal::Other, None),
    }
}

/// What a WHERE clause restricts the sharding key to: `=`, `IN`, `BETWEEN`, `<`/`>` (range algorithms),
/// combined through AND (intersection) and OR (union). Anything else leaves every node possible.
pub fn key_expr(e: &Expr, scope: &HashMap<String, String>, r: &dyn KeyResolver, params: &Params) -> KeyExpr {
    let boxed = |a, b| (Box::new(a), Box::new(b));
    match e {
        Expr::Nested(inner) => key_expr(inner, scope, r, params),
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            let (a, b) = boxed(key_expr(left, scope, r, params), key_expr(right, scope, r, params));
            KeyExpr::And(a, b)
        }
        Expr::BinaryOp { left, op: BinaryOperator::Or, right } => {
            let (a, b) = boxed(key_expr(left, scope, r, params), key_expr(right, scope, r, params));
            KeyExpr::Or(a, b)
        }
        Expr::BinaryOp { left, op, right } => {
            let (val, flipped) = if is_key_column(left, scope, r) {
                (right, false)
            } else if is_key_column(right, scope, r) {
                (left, true)
            } else {
                return KeyExpr::All;
            };
            let t = term(val, params);
            match (op, flipped) {
                (BinaryOperator::Eq, _) => KeyExpr::Eq(t),
                (BinaryOperator::Lt, false) | (BinaryOperator::Gt, true) => KeyExpr::Cmp(Cmp::Lt, t),
                (BinaryOperator::LtEq, false) | (BinaryOperator::GtEq, true) => KeyExpr::Cmp(Cmp::LtEq, t),
                (BinaryOperator::Gt, false) | (BinaryOperator::Lt, true) => KeyExpr::Cmp(Cmp::Gt, t),
                (BinaryOperator::GtEq, false) | (BinaryOperator::LtEq, true) => KeyExpr::Cmp(Cmp::GtEq, t),
                _ => KeyExpr::All,
            }
        }
        Expr::InList { expr, list, negated: false } if is_key_column(expr, scope, r) => KeyExpr::In(list.iter().map(|v| term(v, params)).collect()),
        Expr::Between { expr, negated: false, low, high } if is_key_column(expr, scope, r) => KeyExpr::Between(term(low, params), term(high, params)),
        _ => KeyExpr::All,
    }
}

/// The nodes a WHERE clause restricts the sharding key to, with the parameters' bound values.
pub fn nodes_of(e: &Expr, scope: &HashMap<String, String>, r: &dyn KeyResolver, params: &Params) -> Nodes {
    key_expr(e, scope, r, params).nodes(r, &params.values)
}

/// The parts of an INSERT/REPLACE … VALUES that routing needs.
#[derive(Debug, Clone)]
pub struct InsertInfo {
    /// Target table (last name part).
    pub table: String,
    /// Column list (empty when the statement has none).
    pub columns: Vec<String>,
    /// The VALUES rows as literals.
    pub rows: Vec<Vec<Literal>>,
    /// Columns assigned by ON DUPLICATE KEY UPDATE.
    pub updated_columns: Vec<String>,
    /// Whether the rows come from a SELECT (or another non-VALUES source).
    pub from_query: bool,
}

/// Reads an INSERT/REPLACE statement.
pub fn insert_info(stmt: &Statement, params: &Params) -> Option<InsertInfo> {
    let Statement::Insert(ins) = stmt else { return None };
    let table = match &ins.table {
        sqlparser::ast::TableObject::TableName(n) => last_name(n),
        _ => return None,
    };
    let columns = ins.columns.iter().map(|c| c.to_string().trim_matches('`').to_string()).collect();
    let (rows, from_query) = match ins.source.as_deref().map(|q| q.body.as_ref()) {
        Some(SetExpr::Values(v)) => (v.rows.iter().map(|r| r.iter().map(|e| literal(e, params)).collect()).collect(), false),
        _ => (Vec::new(), true),
    };
    let updated_columns = match &ins.on {
        Some(OnInsert::DuplicateKeyUpdate(a)) => assigned(a),
        _ => Vec::new(),
    };
    Some(InsertInfo { table, columns, rows, updated_columns, from_query })
}

fn assigned(assignments: &[sqlparser::ast::Assignment]) -> Vec<String> {
    let mut out = Vec::new();
    for a in assignments {
        match &a.target {
            AssignmentTarget::ColumnName(n) => out.push(last_name(n)),
            AssignmentTarget::Tuple(ns) => out.extend(ns.iter().map(last_name)),
        }
    }
    out
}

/// The value an UPDATE assigns to `column`, when it is a literal (or a bound parameter); `None` when the
/// column is not assigned or gets an expression.
pub fn assigned_literal(stmt: &Statement, column: &str, params: &Params) -> Option<Literal> {
    let Statement::Update(u) = stmt else { return None };
    u.assignments.iter().find_map(|a| match &a.target {
        AssignmentTarget::ColumnName(n) if last_name(n).eq_ignore_ascii_case(column) => match literal(&a.value, params) {
            Literal::Other => None,
            lit => Some(lit),
        },
        _ => None,
    })
}

/// Columns an UPDATE assigns.
pub fn update_columns(stmt: &Statement) -> Vec<String> {
    match stmt {
        Statement::Update(u) => assigned(&u.assignments),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Bound;

    /// Column `k` is the key; node = key mod 4; ranges map like range sharding with bounds 10, 20, 30.
    struct Mod4;
    impl KeyResolver for Mod4 {
        fn is_key(&self, table: Option<&str>, column: &str) -> bool {
            column == "k" && table.is_none_or(|t| t == "t")
        }
        fn node(&self, lit: &Literal) -> Option<usize> {
            match crate::sharding::key::KeyValue::from_literal(lit, crate::config::rules::KeyType::Integer)? {
                crate::sharding::key::KeyValue::Int(k) => Some(k.rem_euclid(4) as usize),
                _ => None,
            }
        }
        fn range(&self, lo: Bound<i64>, hi: Bound<i64>) -> Option<Vec<usize>> {
            crate::sharding::algorithm::ShardingAlgorithm::nodes_for_range(
                &crate::sharding::range::RangeSharding { boundaries: vec![10, 20, 30] },
                lo,
                hi,
            )
        }
    }

    fn nodes_with(where_clause: &str, values: &[Literal]) -> Nodes {
        let sql = format!("SELECT * FROM t AS x WHERE {where_clause}");
        let stmt = parse(&sql).unwrap();
        let f = filter(&stmt).unwrap();
        let params = Params::new(&crate::sql::tokens::tokenize(&sql).unwrap(), values);
        nodes_of(f.selection.unwrap(), &f.scope, &Mod4, &params)
    }

    fn nodes(where_clause: &str) -> Nodes {
        nodes_with(where_clause, &[])
    }

    #[test]
    fn prepared_statement_parameters_route_like_literals() {
        assert_eq!(nodes_with("k = ?", &[Literal::Int(6)]), only(&[2]));
        assert_eq!(nodes_with("c = ? AND k IN (?, ?)", &[Literal::Str("x".into()), Literal::Int(1), Literal::Str("3".into())]), only(&[1, 3]));
        assert_eq!(nodes_with("k = ?", &[]), Nodes::All, "an unbound parameter is no key");
    }

    fn only(v: &[usize]) -> Nodes {
        Nodes::Only(v.iter().copied().collect())
    }

    #[test]
    fn predicate_shapes() {
        assert_eq!(nodes("k = 5"), only(&[1]));
        assert_eq!(nodes("5 = x.k"), only(&[1]));
        assert_eq!(nodes("t.k = '6'"), only(&[2]));
        assert_eq!(nodes("k = -1"), only(&[3]));
        assert_eq!(nodes("k IN (1, 2, 5)"), only(&[1, 2]));
        assert_eq!(nodes("k = 1 OR k = 2"), only(&[1, 2]));
        assert_eq!(nodes("k = 1 AND k = 2"), only(&[]));
        assert_eq!(nodes("(k = 1 OR k = 3) AND c = 'x'"), only(&[1, 3]));
        assert_eq!(nodes("k = 1 OR c = 'x'"), Nodes::All);
        assert_eq!(nodes("c = 1"), Nodes::All);
        assert_eq!(nodes("other.k = 1"), Nodes::All, "a qualifier not in scope is not our key");
        assert_eq!(nodes("k NOT IN (1)"), Nodes::All);
        assert_eq!(nodes("k BETWEEN 12 AND 25"), only(&[1, 2]));
        assert_eq!(nodes("k BETWEEN 7 AND 7"), only(&[3]));
        assert_eq!(nodes("k < 10"), only(&[0]));
        assert_eq!(nodes("k >= 30"), only(&[3]));
        assert_eq!(nodes("10 < k AND k <= 20"), only(&[1, 2]));
        assert_eq!(nodes("k = c"), Nodes::All);
    }

    #[test]
    fn insert_and_update_parts() {
        let none = Params::none();
        let i = insert_info(&parse("INSERT INTO db.t (id, `name`) VALUES (1, 'a'), (-2, NULL) ON DUPLICATE KEY UPDATE name = 'b'").unwrap(), &none).unwrap();
        assert_eq!((i.table.as_str(), i.columns.clone()), ("t", vec!["id".to_string(), "name".to_string()]));
        assert_eq!(i.rows, vec![vec![Literal::Int(1), Literal::Str("a".into())], vec![Literal::Int(-2), Literal::Null]]);
        assert_eq!(i.updated_columns, ["name"]);
        assert!(insert_info(&parse("INSERT INTO t SELECT * FROM u").unwrap(), &none).unwrap().from_query);
        assert_eq!(update_columns(&parse("UPDATE t SET a = 1, t.b = 2 WHERE k = 1").unwrap()), ["a", "b"]);
    }
}
