//! Planning a SELECT whose rows come from several shards and must be merged: what each shard is asked
//! (AVG split into SUM and COUNT, sort and group keys appended as derived columns, LIMIT offset+count pushed
//! down) and what the proxy does with the answers (merge-sort, aggregate, distinct, limit).

use sqlparser::ast::{
    Distinct, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, LimitClause, OrderByKind, OrderBySort,
    Query, SelectItem, SetExpr, Statement,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::{Parser, ParserOptions};

/// Where a column the merge needs sits in the shards' rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColRef {
    /// Position in the client-visible columns.
    Visible(usize),
    /// The k-th derived column appended after them.
    Derived(usize),
}

/// One sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// The column.
    pub col: ColRef,
    /// Descending.
    pub desc: bool,
}

/// An aggregate function the proxy completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    /// COUNT: the shards' counts summed.
    Count,
    /// SUM: summed exactly.
    Sum,
    /// MIN.
    Min,
    /// MAX.
    Max,
    /// AVG: the shards return SUM here and COUNT in this derived column.
    Avg {
        /// Derived column holding COUNT(arg).
        count: usize,
    },
    /// COUNT(DISTINCT x): the shards group by x and return its values here; the proxy counts distinct ones.
    CountDistinct,
}

/// A HAVING condition, evaluated by the proxy on merged groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Having {
    /// Both hold.
    And(Box<Having>, Box<Having>),
    /// Either holds.
    Or(Box<Having>, Box<Having>),
    /// Negation.
    Not(Box<Having>),
    /// A comparison.
    Cmp {
        /// `=`, `<>`, `<`, `<=`, `>`, `>=`.
        op: String,
        /// Left side.
        left: Operand,
        /// Right side.
        right: Operand,
    },
    /// IS [NOT] NULL.
    IsNull {
        /// The operand.
        operand: Operand,
        /// IS NOT NULL.
        negated: bool,
    },
}

/// A HAVING operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A column of the merged rows.
    Col(ColRef),
    /// A literal, as text.
    Lit(String),
}

/// The proxy's half of a merged SELECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSpec {
    /// Derived columns appended to the shards' select list (removed before the client sees rows).
    pub derived: usize,
    /// Sort keys, applied after aggregation when there is any.
    pub order: Vec<SortKey>,
    /// GROUP BY keys (derived columns).
    pub group: Vec<usize>,
    /// Aggregates by column index (visible ones, then hidden ones that only HAVING uses).
    pub aggregates: Vec<(usize, AggFunc)>,
    /// HAVING, evaluated after the merge.
    pub having: Option<Having>,
    /// GROUP BY or aggregates present.
    pub aggregated: bool,
    /// SELECT DISTINCT.
    pub distinct: bool,
    /// Rows to skip after merging.
    pub offset: u64,
    /// Rows to return after the offset.
    pub limit: Option<u64>,
    /// Text keys compared by the server's weights: (the key, its weight's derived column, its pad's).
    pub weights: Vec<(ColRef, usize, usize)>,
    /// The exact fallback, for when the shards' column types show the merge would not be exact (a HAVING
    /// comparing text); set when the plan is bound to its nodes.
    pub fallback: Option<Box<super::compute::ComputePlan>>,
}

impl MergeSpec {
    /// No merging at all: rows pass through (re-encoded, for binary-protocol answers).
    pub fn none() -> Self {
        MergeSpec { derived: 0, order: vec![], group: vec![], aggregates: vec![], having: None, aggregated: false, distinct: false, offset: 0, limit: None, weights: vec![], fallback: None }
    }
}

fn parse(sql: &str) -> Result<Statement, String> {
    let dialect = MySqlDialect {};
    // Escapes are kept as written so that re-printing the statement reproduces its literals exactly.
    let mut parser = Parser::new(&dialect).with_options(ParserOptions::new().with_unescape(false)).try_with_sql(sql).map_err(|e| e.to_string())?;
    let mut v = parser.parse_statements().map_err(|e| e.to_string())?;
    if v.len() != 1 {
        return Err("several statements".into());
    }
    Ok(v.remove(0))
}

pub(super) fn expr(text: &str) -> Expr {
    try_expr(text).expect("the proxy's own expressions parse")
}

/// `text` as an expression, if the parser reads it back (a re-printed expression may not).
pub(super) fn try_expr(text: &str) -> Option<Expr> {
    Parser::new(&MySqlDialect {}).try_with_sql(text).and_then(|mut p| p.parse_expr()).ok()
}

const AGGREGATES: &[&str] = &["count", "sum", "min", "max", "avg"];

/// The aggregates whose shard results combine as they are (AVG, the other one, needs SUM and COUNT).
fn simple_aggregate(name: &str) -> Option<AggFunc> {
    match name {
        "count" => Some(AggFunc::Count),
        "sum" => Some(AggFunc::Sum),
        "min" => Some(AggFunc::Min),
        "max" => Some(AggFunc::Max),
        _ => None,
    }
}
const UNSUPPORTED_AGGREGATES: &[&str] =
    &["group_concat", "std", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "bit_and", "bit_or", "bit_xor", "json_arrayagg", "json_objectagg"];

/// An aggregate call at the top of a select item: (function name, argument text, DISTINCT?).
fn aggregate_call(e: &Expr) -> Option<(String, String, bool)> {
    let Expr::Function(f) = e else { return None };
    let name = f.name.to_string().to_ascii_lowercase();
    if !AGGREGATES.contains(&name.as_str()) {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else { return None };
    let distinct = matches!(list.duplicate_treatment, Some(sqlparser::ast::DuplicateTreatment::Distinct));
    let arg = match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] => "*".to_string(),
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(a))] => a.to_string(),
        _ => return None,
    };
    Some((name, arg, distinct))
}

/// Whether an expression contains any aggregate or window function anywhere (a nested one cannot be merged).
fn contains_function(e: &Expr, names: &[&str]) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    names.iter().any(|n| {
        text.match_indices(n).any(|(i, _)| {
            let before_ok = i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric() && text.as_bytes()[i - 1] != b'_';
            let after = text[i + n.len()..].trim_start();
            before_ok && after.starts_with('(')
        })
    })
}

/// Turns a HAVING expression into a condition over merged columns.
struct HavingCtx<'a> {
    names: &'a [(String, String)],
    group_exprs: &'a [Expr],
    group: &'a [usize],
    visible: usize,
    derived: &'a mut Vec<SelectItem>,
    aggregates: &'a mut Vec<(usize, AggFunc)>,
}

impl HavingCtx<'_> {
    fn convert(&mut self, e: &Expr) -> Result<Having, String> {
        use sqlparser::ast::BinaryOperator as B;
        Ok(match e {
            Expr::Nested(inner) => self.convert(inner)?,
            Expr::BinaryOp { left, op: B::And, right } => Having::And(Box::new(self.convert(left)?), Box::new(self.convert(right)?)),
            Expr::BinaryOp { left, op: B::Or, right } => Having::Or(Box::new(self.convert(left)?), Box::new(self.convert(right)?)),
            Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Not, expr } => Having::Not(Box::new(self.convert(expr)?)),
            Expr::IsNull(x) => Having::IsNull { operand: self.operand(x)?, negated: false },
            Expr::IsNotNull(x) => Having::IsNull { operand: self.operand(x)?, negated: true },
            Expr::BinaryOp { left, op, right } => {
                let op = match op {
                    B::Eq => "=",
                    B::NotEq => "<>",
                    B::Lt => "<",
                    B::LtEq => "<=",
                    B::Gt => ">",
                    B::GtEq => ">=",
                    other => return Err(format!("HAVING with operator {other} over several shards")),
                };
                Having::Cmp { op: op.into(), left: self.operand(left)?, right: self.operand(right)? }
            }
            other => return Err(format!("HAVING {other} over several shards")),
        })
    }

    fn operand(&mut self, e: &Expr) -> Result<Operand, String> {
        let text = e.to_string();
        if let Expr::Value(v) = e {
            let lit = match &v.value {
                sqlparser::ast::Value::Number(n, _) => n.clone(),
                sqlparser::ast::Value::SingleQuotedString(s) | sqlparser::ast::Value::DoubleQuotedString(s) => s.clone(),
                _ => return Err(format!("HAVING literal {text} over several shards")),
            };
            return Ok(Operand::Lit(lit));
        }
        if let Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Minus, expr: inner } = e {
            if let Operand::Lit(l) = self.operand(inner)? {
                return Ok(Operand::Lit(format!("-{l}")));
            }
        }
        if let Some(i) = self.names.iter().position(|(name, t)| *t == text || name.eq_ignore_ascii_case(text.trim_matches('`'))) {
            return Ok(Operand::Col(ColRef::Visible(i)));
        }
        if let Some(k) = self.group_exprs.iter().position(|g| g.to_string() == text) {
            return Ok(Operand::Col(ColRef::Derived(self.group[k])));
        }
        match aggregate_call(e) {
            Some((name, arg, false)) => {
                let k = self.derived.len();
                let func = match simple_aggregate(&name) {
                    Some(f) => f,
                    None => {
                        self.derived.push(SelectItem::ExprWithAlias { expr: expr(&format!("SUM({arg})")), alias: Ident::new(format!("__sg_h{k}")) });
                        self.derived.push(SelectItem::ExprWithAlias { expr: expr(&format!("COUNT({arg})")), alias: Ident::new(format!("__sg_h{}", k + 1)) });
                        self.aggregates.push((self.visible + k, AggFunc::Avg { count: k + 1 }));
                        return Ok(Operand::Col(ColRef::Derived(k)));
                    }
                };
                let call = format!("{}({arg})", name.to_uppercase());
                self.derived.push(SelectItem::ExprWithAlias { expr: expr(&call), alias: Ident::new(format!("__sg_h{k}")) });
                self.aggregates.push((self.visible + k, func));
                Ok(Operand::Col(ColRef::Derived(k)))
            }
            _ => Err(format!("HAVING on {text}, which is neither selected, grouped nor an aggregate, over several shards")),
        }
    }
}

fn limit_value(e: &Expr) -> Result<u64, String> {
    e.to_string().parse::<u64>().map_err(|_| format!("LIMIT {e} (only literal limits can be merged)"))
}

/// Plans the merge of `sql`; `Err` is the reason it cannot be merged exactly (refused with 1235).
/// Returns the SQL for the shards (before table renaming) and the proxy's part.
/// `over_derived`: the FROM is one derived table that each shard answers for its own rows
/// (soundness::row_local_derived), merged as a table would be.
pub fn plan(sql: &str, over_derived: bool) -> Result<(String, MergeSpec), String> {
    let mut stmt = parse(sql)?;
    let Statement::Query(query) = &mut stmt else { return Err("this statement over several shards".into()) };
    let Query { body, order_by, limit_clause, with, locks, .. } = query.as_mut();
    if with.is_some() {
        return Err("WITH (common table expressions) over several shards".into());
    }
    if !locks.is_empty() {
        return Err("locking reads (FOR UPDATE / LOCK IN SHARE MODE) over several shards".into());
    }
    let SetExpr::Select(select) = body.as_mut() else { return Err("UNION and other set operations over several shards".into()) };
    if select.into.is_some() {
        return Err("SELECT … INTO over several shards".into());
    }
    for twj in &select.from {
        let derived = |f: &sqlparser::ast::TableFactor| !matches!(f, sqlparser::ast::TableFactor::Table { .. });
        if (derived(&twj.relation) && !over_derived) || twj.joins.iter().any(|j| derived(&j.relation)) {
            return Err("a subquery or derived table in FROM over several shards".into());
        }
    }
    let where_text = select.selection.as_ref().map(|w| w.to_string().to_ascii_lowercase()).unwrap_or_default();
    if where_text.contains("select") {
        return Err("a subquery in the WHERE clause of a statement whose rows the proxy merges (ORDER BY, GROUP BY, aggregates, DISTINCT) over several shards".into());
    }
    let wildcard = select.projection.iter().any(|i| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)));
    let visible = select.projection.len();
    let mut derived: Vec<SelectItem> = Vec::new();
    let mut spec =
        MergeSpec { derived: 0, order: vec![], group: vec![], aggregates: vec![], having: None, aggregated: false, distinct: false, offset: 0, limit: None, weights: vec![], fallback: None };
    let mut distinct_keys: Vec<Expr> = Vec::new();
    spec.distinct = matches!(select.distinct, Some(Distinct::Distinct));
    if matches!(select.distinct, Some(Distinct::On(_))) {
        return Err("DISTINCT ON".into());
    }

    // The shards get the select list re-printed by the parser (`BINARY x` becomes `CAST(x AS BINARY)`): an
    // unaliased item whose text changes is named as the client wrote it, as MariaDB names it.
    let written = crate::sql::tokens::tokenize(sql).ok().and_then(|t| crate::sql::tokens::select_items(sql, &t));
    if let Some(written) = written.filter(|w| w.len() == select.projection.len()) {
        for (item, text) in select.projection.iter_mut().zip(written) {
            if let SelectItem::UnnamedExpr(e) = item {
                if e.to_string() != text && text.len() <= 256 {
                    *item = SelectItem::ExprWithAlias { expr: e.clone(), alias: Ident::with_quote('`', text) };
                }
            }
        }
    }
    // Aggregates at the top of select items; anything nested is refused.
    let mut names: Vec<(String, String)> = Vec::new(); // (alias or text, expression text) per visible column
    for (i, item) in select.projection.iter_mut().enumerate() {
        let (e, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => {
                names.push((String::new(), String::new()));
                continue;
            }
        };
        if contains_function(e, &["over"]) || matches!(e, Expr::Function(f) if f.over.is_some()) {
            return Err("window functions over several shards".into());
        }
        if contains_function(e, UNSUPPORTED_AGGREGATES) {
            return Err(format!("{} over several shards", e));
        }
        let text = e.to_string();
        names.push((alias.clone().unwrap_or_else(|| text.clone()), text.clone()));
        match aggregate_call(e) {
            Some((name, arg, true)) if name == "count" && arg != "*" => {
                // COUNT(DISTINCT x): each shard returns its distinct x per group; the proxy counts them.
                spec.aggregated = true;
                let shown = alias.clone().unwrap_or_else(|| text.clone());
                let key = expr(&arg);
                distinct_keys.push(key.clone());
                *item = SelectItem::ExprWithAlias { expr: key, alias: Ident::with_quote('`', shown) };
                spec.aggregates.push((i, AggFunc::CountDistinct));
            }
            Some((_, _, true)) => return Err("SUM(DISTINCT …), AVG(DISTINCT …) and other DISTINCT aggregates over several shards".into()),
            Some((name, arg, false)) => {
                spec.aggregated = true;
                let func = match simple_aggregate(&name) {
                    Some(f) => f,
                    None => {
                        // AVG(x) → SUM(x) here (named as AVG was) and COUNT(x) as a derived column.
                        let name = alias.clone().unwrap_or_else(|| text.clone());
                        *item = SelectItem::ExprWithAlias { expr: expr(&format!("SUM({arg})")), alias: Ident::with_quote('`', name) };
                        derived.push(SelectItem::ExprWithAlias { expr: expr(&format!("COUNT({arg})")), alias: Ident::new(format!("__sg_c{i}")) });
                        AggFunc::Avg { count: derived.len() - 1 }
                    }
                };
                spec.aggregates.push((i, func));
            }
            None if contains_function(e, AGGREGATES) => return Err(format!("an aggregate inside an expression ({text}) over several shards")),
            None => {}
        }
    }
    if wildcard && spec.aggregated {
        return Err("SELECT * together with aggregates over several shards".into());
    }
    let group_exprs: Vec<Expr> = match &select.group_by {
        GroupByExpr::Expressions(v, modifiers) if modifiers.is_empty() => v.clone(),
        GroupByExpr::Expressions(..) => return Err("GROUP BY … WITH ROLLUP over several shards".into()),
        GroupByExpr::All(_) => return Err("GROUP BY ALL".into()),
    };
    if !group_exprs.is_empty() {
        spec.aggregated = true;
        if spec.distinct {
            return Err("DISTINCT with GROUP BY over several shards".into());
        }
    }
    let visible_of = |e: &Expr, names: &[(String, String)]| -> Option<usize> {
        let text = e.to_string();
        if let Ok(n) = text.parse::<usize>() {
            return (1..=visible).contains(&n).then(|| n - 1);
        }
        names.iter().position(|(name, t)| *t == text || name.eq_ignore_ascii_case(text.trim_matches('`')))
    };
    for g in &group_exprs {
        // A GROUP BY position or alias names a visible column; the shards group by the same thing.
        let key = match visible_of(g, &names) {
            Some(v) if !matches!(select.projection[v], SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }) => None,
            Some(v) => match &select.projection[v] {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e.clone()),
                _ => None,
            },
            None => Some(g.clone()),
        };
        let key = key.ok_or("GROUP BY a wildcard column")?;
        derived.push(SelectItem::ExprWithAlias { expr: key, alias: Ident::new(format!("__sg_g{}", derived.len())) });
        spec.group.push(derived.len() - 1);
    }

    // HAVING: evaluated on merged groups; aggregates it needs that are not selected become hidden columns.
    if let Some(h) = select.having.take() {
        if spec.aggregates.iter().any(|(_, f)| *f == AggFunc::CountDistinct) {
            return Err("HAVING together with COUNT(DISTINCT …) over several shards".into());
        }
        spec.aggregated = true;
        let mut ctx = HavingCtx { names: &names, group_exprs: &group_exprs, group: &spec.group, visible, derived: &mut derived, aggregates: &mut spec.aggregates };
        spec.having = Some(ctx.convert(&h)?);
    }
    if !distinct_keys.is_empty() {
        let GroupByExpr::Expressions(v, _) = &mut select.group_by else { unreachable!("checked above") };
        v.extend(distinct_keys);
    }

    // ORDER BY: visible columns by position, alias or expression; otherwise a derived column.
    if let Some(ob) = order_by.as_ref() {
        let OrderByKind::Expressions(items) = &ob.kind else { return Err("ORDER BY ALL".into()) };
        for item in items {
            let desc = matches!(item.options.sort, Some(OrderBySort::Desc));
            if item.options.nulls_first.is_some() {
                return Err("NULLS FIRST/LAST".into());
            }
            // Under a wildcard the select list's positions are not the row's: sort by a derived copy instead.
            let visible_key = if wildcard {
                if spec.distinct || item.expr.to_string().parse::<usize>().is_ok() {
                    return Err("ORDER BY a position, or DISTINCT, together with SELECT * over several shards".into());
                }
                None
            } else {
                visible_of(&item.expr, &names)
            };
            let col = match visible_key {
                Some(v) => ColRef::Visible(v),
                None if spec.aggregated => {
                    let text = item.expr.to_string();
                    match group_exprs.iter().position(|g| g.to_string() == text) {
                        Some(k) => ColRef::Derived(spec.group[k]),
                        None => return Err(format!("ORDER BY {text} that is neither selected nor grouped, over several shards")),
                    }
                }
                None if spec.distinct => return Err("ORDER BY a column that is not selected, with DISTINCT, over several shards".into()),
                None => {
                    derived.push(SelectItem::ExprWithAlias { expr: item.expr.clone(), alias: Ident::new(format!("__sg_o{}", derived.len())) });
                    ColRef::Derived(derived.len() - 1)
                }
            };
            spec.order.push(SortKey { col, desc });
        }
    }
    if wildcard && spec.order.iter().any(|k| matches!(k.col, ColRef::Visible(_))) && !derived.is_empty() {
        return Err("SELECT * with ORDER BY a column position and derived columns".into());
    }

    // LIMIT: offset+count on each shard (none when aggregating: groups span shards), offset applied once.
    let (offset, count) = match limit_clause.as_ref() {
        None => (0, None),
        Some(LimitClause::LimitOffset { limit, offset, limit_by }) => {
            if !limit_by.is_empty() {
                return Err("LIMIT BY".into());
            }
            (offset.as_ref().map(|o| limit_value(&o.value)).transpose()?.unwrap_or(0), limit.as_ref().map(limit_value).transpose()?)
        }
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => (limit_value(offset)?, Some(limit_value(limit)?)),
    };
    spec.offset = offset;
    spec.limit = count;
    if spec.aggregated {
        *order_by = None;
        *limit_clause = None;
    } else if let Some(c) = count {
        *limit_clause = Some(LimitClause::LimitOffset { limit: Some(expr(&(offset + c).to_string())), offset: None, limit_by: vec![] });
    } else if offset > 0 {
        return Err("OFFSET without LIMIT".into());
    }
    super::weights::add(&select.projection, &mut derived, &mut spec, wildcard)?;
    spec.derived = derived.len();
    select.projection.extend(derived);
    Ok((stmt.to_string(), spec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_limit_push_down_with_derived_sort_columns() {
        let (sql, spec) = plan("SELECT id, name FROM t WHERE a = 'x\\'y' ORDER BY created DESC, 2 LIMIT 10, 5", false).unwrap();
        assert_eq!(sql, "SELECT id, name, created AS __sg_o0, WEIGHT_STRING(created) AS __sg_w1, IF(IF(NULL, created, ' ') = IF(NULL, created, ''), WEIGHT_STRING(IF(NULL, created, ' ')), '') AS __sg_p1, WEIGHT_STRING(name) AS __sg_w3, IF(IF(NULL, name, ' ') = IF(NULL, name, ''), WEIGHT_STRING(IF(NULL, name, ' ')), '') AS __sg_p3 FROM t WHERE a = 'x\\'y' ORDER BY created DESC, 2 LIMIT 15");
        assert_eq!(spec.order, vec![SortKey { col: ColRef::Derived(0), desc: true }, SortKey { col: ColRef::Visible(1), desc: false }]);
        assert_eq!((spec.offset, spec.limit, spec.derived), (10, Some(5), 5));
        assert_eq!(spec.weights, vec![(ColRef::Derived(0), 1, 2), (ColRef::Visible(1), 3, 4)]);
    }

    #[test]
    fn aggregates_are_rewritten_and_grouped_in_the_proxy() {
        let (sql, spec) = plan("SELECT city, COUNT(*), AVG(amount) AS a FROM t GROUP BY city ORDER BY a DESC LIMIT 3", false).unwrap();
        assert_eq!(sql, "SELECT city, COUNT(*), SUM(amount) AS `a`, COUNT(amount) AS __sg_c2, city AS __sg_g1, WEIGHT_STRING(SUM(amount)) AS __sg_w2, IF(IF(NULL, SUM(amount), ' ') = IF(NULL, SUM(amount), ''), WEIGHT_STRING(IF(NULL, SUM(amount), ' ')), '') AS __sg_p2, WEIGHT_STRING(city) AS __sg_w4, IF(IF(NULL, city, ' ') = IF(NULL, city, ''), WEIGHT_STRING(IF(NULL, city, ' ')), '') AS __sg_p4 FROM t GROUP BY city");
        assert_eq!(spec.aggregates, vec![(1, AggFunc::Count), (2, AggFunc::Avg { count: 0 })]);
        assert_eq!(spec.group, vec![1]);
        assert_eq!(spec.order, vec![SortKey { col: ColRef::Visible(2), desc: true }]);
        assert!(spec.aggregated);
        assert_eq!(spec.limit, Some(3));
    }

    #[test]
    fn count_distinct_groups_the_shards_by_the_distinct_expression() {
        let (sql, spec) = plan("SELECT city, COUNT(DISTINCT name) AS n FROM t GROUP BY city", false).unwrap();
        assert_eq!(sql, "SELECT city, name AS `n`, city AS __sg_g0, WEIGHT_STRING(city) AS __sg_w1, IF(IF(NULL, city, ' ') = IF(NULL, city, ''), WEIGHT_STRING(IF(NULL, city, ' ')), '') AS __sg_p1, WEIGHT_STRING(name) AS __sg_w3, IF(IF(NULL, name, ' ') = IF(NULL, name, ''), WEIGHT_STRING(IF(NULL, name, ' ')), '') AS __sg_p3 FROM t GROUP BY city, name");
        assert_eq!(spec.aggregates, vec![(1, AggFunc::CountDistinct)]);
        let (sql, _) = plan("SELECT COUNT(DISTINCT city) FROM t", false).unwrap();
        assert_eq!(sql, "SELECT city AS `COUNT(DISTINCT city)`, WEIGHT_STRING(city) AS __sg_w0, IF(IF(NULL, city, ' ') = IF(NULL, city, ''), WEIGHT_STRING(IF(NULL, city, ' ')), '') AS __sg_p0 FROM t GROUP BY city");
    }

    #[test]
    fn having_uses_selected_columns_and_hidden_aggregates() {
        let (sql, spec) = plan("SELECT city, COUNT(*) FROM t GROUP BY city HAVING COUNT(*) > 2 AND SUM(x) >= -10", false).unwrap();
        assert_eq!(sql, "SELECT city, COUNT(*), city AS __sg_g0, SUM(x) AS __sg_h1, WEIGHT_STRING(city) AS __sg_w2, IF(IF(NULL, city, ' ') = IF(NULL, city, ''), WEIGHT_STRING(IF(NULL, city, ' ')), '') AS __sg_p2 FROM t GROUP BY city");
        assert_eq!(spec.aggregates, vec![(1, AggFunc::Count), (3, AggFunc::Sum)]);
        let cmp = |op: &str, col, lit: &str| Having::Cmp { op: op.into(), left: Operand::Col(col), right: Operand::Lit(lit.into()) };
        assert_eq!(spec.having, Some(Having::And(Box::new(cmp(">", ColRef::Visible(1), "2")), Box::new(cmp(">=", ColRef::Derived(1), "-10")))));
        assert!(plan("SELECT a, COUNT(DISTINCT b) FROM t GROUP BY a HAVING COUNT(*) > 1", false).is_err());
    }

    #[test]
    fn what_cannot_be_merged_exactly_is_refused_with_a_reason() {
        for (sql, reason) in [
            ("SELECT SUM(DISTINCT a) FROM t", "DISTINCT aggregates"),
            ("SELECT SUM(a) + 1 FROM t", "inside an expression"),
            ("SELECT a FROM t GROUP BY a HAVING COUNT(*) > 1 + 1", "HAVING"),
            ("SELECT a FROM t UNION SELECT a FROM u", "UNION"),
            ("SELECT GROUP_CONCAT(a) FROM t", "group_concat"),
            ("SELECT a, ROW_NUMBER() OVER (ORDER BY a) FROM t", "window"),
            ("SELECT a FROM t WHERE b IN (SELECT b FROM u)", "subquery"),
            ("SELECT a FROM (SELECT a FROM t) x", "derived table"),
        ] {
            let e = plan(sql, false).unwrap_err();
            assert!(e.to_lowercase().contains(&reason.to_lowercase()), "{sql}: {e}");
        }
    }
}
