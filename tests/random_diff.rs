//! Randomized differential testing (SQLancer's idea): seeded random SELECTs and DML over five tables that
//! exist twice — sharded through an in-process shardgate (a binding group `people`/`orders` on ds_0/ds_1,
//! `items` sharded by `sku`, a broadcast table, an unsharded table on ds_0) and plainly in the lab's unsharded
//! reference MariaDB. Every statement the reference accepts must get the same answer through shardgate
//! (rows, column names and count, affected rows; rows in order only where the ORDER BY is total), or be
//! refused with ER_NOT_SUPPORTED_YET (1235, counted by reason). A difference is shrunk to a minimal
//! reproduction and printed; tests/random_diff_regressions.txt is replayed first on every run.
//!
//! `SHARDGATE_RANDOM_SECONDS` (default 120) bounds the run, `SHARDGATE_RANDOM_SEED` picks the statements
//! (deterministic for a seed apart from the time cut); `SHARDGATE_RANDOM_RECORD=1` appends new minimal
//! reproductions to the regression file.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{direct, ds0_port, ds1_port, lab_port, opts, start_proxy_with, unique};
use mysql_async::prelude::*;
use mysql_async::{Conn, QueryResult, Row, Value};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const REGRESSIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/random_diff_regressions.txt");
/// Per table (people, orders, items, bcast, plain): placeholder in the corpus, alias, unique key, seed rows.
const PLACEHOLDER: [&str; 5] = ["{people}", "{orders}", "{items}", "{bcast}", "{plain}"];
const ALIAS: [&str; 5] = ["p", "o", "i", "b", "u"];
const KEY: [&str; 5] = ["id", "id", "sku", "code", "id"];
const ROWS: [i64; 5] = [300, 450, 150, 20, 60];

#[derive(Clone, Copy, PartialEq)]
enum K { Int, Big, Dec, Dbl, Date, Time, Str, Tricky }

/// Columns every table has besides its keys. `Tricky` strings contain values equal under the collation but
/// different in bytes ('a'/'A'/'a '), so they never feed GROUP BY, DISTINCT, MIN/MAX or UNION: which of the
/// equal values a server shows there is unspecified, and a difference would be no bug.
const COLS: [(&str, K); 8] = [("name", K::Tricky), ("grp", K::Str), ("qty", K::Int), ("big", K::Big), ("amount", K::Dec), ("score", K::Dbl), ("born", K::Date), ("seen", K::Time)];
const TRICKY: &[&str] = &["", " ", "a", "a ", "A", "a\t", "\ta", "abc", "ABC", "Abc  ", "é", "e", "É", "straße", "strasse", "Zoë", "zoe", "O'Brien", "50%", "x_y", "back\\slash", "NULL"];
const GRPS: &[&str] = &["red", "green", "blue", "", "x y"];
const LIKES: &[&str] = &["'a%'", "'%a'", "'%e%'", "'_'", "'a_'", "'%'", "'% '", "'É%'", "'50\\%'", "'x\\_y'", "'%''%'"];
const OPS: &[&str] = &["=", "<>", "<", "<=", ">", ">="];
/// Joins the generator may add: (left table, right table, right alias, ON with {l}/{r} for the aliases).
/// The binding-group join is listed twice to weigh it; the rest are broadcast joins or not co-located.
const JOINS: &[(usize, usize, &str, &str)] = &[
    (0, 1, "o", "{r}.customer_id = {l}.id"), (0, 1, "o", "{r}.customer_id = {l}.id"), (1, 0, "p", "{r}.id = {l}.customer_id"),
    (0, 3, "b", "{r}.code = {l}.qty"), (1, 3, "b", "{r}.code = {l}.qty"), (2, 3, "b", "{r}.code = {l}.qty"), (4, 3, "b", "{r}.code = {l}.qty"),
    (3, 0, "p", "{r}.qty = {l}.code"), (0, 1, "o", "{r}.id = {l}.id"), (0, 2, "i", "{r}.sku = {l}.qty"), (1, 2, "i", "{r}.sku = {l}.customer_id"),
    (0, 4, "u", "{r}.id = {l}.qty"), (2, 4, "u", "{r}.id = {l}.sku"), (0, 0, "p2", "{r}.id = {l}.qty"),
];

fn lit_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''").replace('\t', "\\t"))
}

/// A literal of kind `k`, NULL one time in `null_in` (never when 0). Doubles are multiples of 1/8 well below
/// 2^50 so that sums are exact in any order; BIGINT and DECIMAL extremes are rare but present.
fn value(rng: &mut StdRng, k: K, null_in: u32) -> String {
    if null_in > 0 && rng.gen_ratio(1, null_in) {
        return "NULL".into();
    }
    match k {
        K::Int => rng.gen_range(-5..45).to_string(),
        K::Big => match rng.gen_range(0..150) { 0 => i64::MAX.to_string(), 1 => i64::MIN.to_string(), _ => rng.gen_range(-1_000_000_000_000i64..1_000_000_000_000).to_string() },
        K::Dec => match rng.gen_range(0..15usize) {
            n @ 0..=3 => ["999999999.999", "-999999999.999", "0.001", "0"][n].into(),
            _ => { let v: i64 = rng.gen_range(-10_000_000..10_000_000); format!("{}{}.{:03}", if v < 0 { "-" } else { "" }, v.abs() / 1000, v.abs() % 1000) }
        },
        K::Dbl => format!("{}", rng.gen_range(-8_000_000i64..8_000_000) as f64 / 8.0),
        K::Date => format!("'{}-{:02}-{:02}'", rng.gen_range(1950..2031), rng.gen_range(1..13), rng.gen_range(1..29)),
        K::Time => format!("'{}-{:02}-{:02} {:02}:{:02}:{:02}'", rng.gen_range(2000..2031), rng.gen_range(1..13), rng.gen_range(1..29), rng.gen_range(0..24), rng.gen_range(0..60), rng.gen_range(0..60)),
        K::Str => lit_str(GRPS.choose(rng).unwrap()),
        K::Tricky if rng.gen_bool(0.6) => lit_str(TRICKY.choose(rng).unwrap()),
        K::Tricky => lit_str(&format!("{}{}", TRICKY.choose(rng).unwrap(), rng.gen_range(0..40))),
    }
}

fn columns(t: usize) -> String {
    let keys: &[&str] = if t == 1 { &["id", "customer_id"] } else { &[KEY[t]] };
    keys.iter().copied().chain(COLS.iter().map(|c| c.0)).collect::<Vec<_>>().join(", ")
}

fn row(rng: &mut StdRng, t: usize, key: i64) -> String {
    let mut v = vec![key.to_string()];
    v.extend((t == 1).then(|| rng.gen_range(1..=320).to_string())); // customer_id, some without a person
    v.extend(COLS.iter().map(|&(_, k)| value(rng, k, 8)));
    format!("({})", v.join(", "))
}

fn create(t: usize, name: &str) -> String {
    let keys = ["id BIGINT PRIMARY KEY", "id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL", "sku INT PRIMARY KEY", "code INT PRIMARY KEY", "id INT PRIMARY KEY"][t];
    format!("CREATE TABLE {name} ({keys}, name VARCHAR(40), grp VARCHAR(10), qty INT, big BIGINT, amount DECIMAL(12,3), score DOUBLE, born DATE, seen DATETIME) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci")
}

/// One SELECT of a (possibly UNION) query; ORDER BY and LIMIT live on the [`Query`].
#[derive(Clone)]
struct Select { distinct: bool, items: Vec<String>, from: String, joins: Vec<String>, conds: Vec<String>, group: Vec<String>, having: Vec<String> }

/// `setop`: how the parts combine (UNION, INTERSECT or EXCEPT; `all` only with UNION); `wrap`: the query
/// counted through a derived table, as ORM paginators do.
#[derive(Clone)]
struct Query { parts: Vec<Select>, all: bool, setop: &'static str, order: Vec<String>, limit: Option<String>, cte: bool, wrap: bool, ordered: bool }

impl Select {
    fn sql(&self) -> String {
        let mut s = format!("SELECT {}{} FROM {}", if self.distinct { "DISTINCT " } else { "" }, self.items.join(", "), self.from);
        self.joins.iter().for_each(|j| s += j);
        for (kw, list, sep) in [(" WHERE ", &self.conds, " AND "), (" GROUP BY ", &self.group, ", "), (" HAVING ", &self.having, " AND ")] {
            if !list.is_empty() { s += &format!("{kw}{}", list.join(sep)) }
        }
        s
    }
}

impl Query {
    fn sql(&self) -> String {
        let op = format!(" {}{} ", self.setop, if self.all { " ALL" } else { "" });
        let mut s = self.parts.iter().map(Select::sql).collect::<Vec<_>>().join(&op);
        if !self.order.is_empty() { s += &format!(" ORDER BY {}", self.order.join(", ")) }
        if let Some(l) = &self.limit { s += &format!(" LIMIT {l}") }
        if self.cte {
            let cols = (0..self.parts[0].items.len()).map(|i| format!("c{i}")).collect::<Vec<_>>().join(", ");
            s = format!("WITH w ({cols}) AS ({s}) SELECT * FROM w");
        }
        if self.wrap {
            s = format!("SELECT COUNT(*) FROM ({s}) AS d");
        }
        s
    }

    /// Smaller variants for shrinking, biggest cuts first. None may make a compared order partial: dropping
    /// ORDER BY also drops LIMIT and the ordered comparison, DISTINCT goes only without LIMIT.
    fn smaller(&self) -> Vec<Query> {
        let mut out = Vec::new();
        let mut with = |f: &dyn Fn(&mut Query)| { let mut q = self.clone(); f(&mut q); out.push(q) };
        for i in (0..self.parts.len()).filter(|_| self.parts.len() > 1) { with(&|q| { q.parts.remove(i); }) }
        if self.cte { with(&|q| q.cte = false) }
        if self.wrap { with(&|q| { q.wrap = false; q.ordered = !q.order.is_empty() }) }
        if self.limit.is_some() { with(&|q| q.limit = None) }
        if !self.order.is_empty() { with(&|q| { q.order.clear(); q.limit = None; q.ordered = false }) }
        for (j, p) in self.parts.iter().enumerate() {
            for i in (0..p.joins.len()).rev() { with(&|q| { q.parts[j].joins.remove(i); }) }
            for i in 0..p.conds.len() { with(&|q| { q.parts[j].conds.remove(i); }) }
            for i in 0..p.having.len() { with(&|q| { q.parts[j].having.remove(i); }) }
            if p.distinct && self.limit.is_none() { with(&|q| { q.parts[j].distinct = false; q.ordered = false }) }
        }
        // An item goes from every UNION part at once; DISTINCT with an ORDER BY keeps its items.
        let p0 = &self.parts[0];
        for i in (0..p0.items.len()).filter(|_| p0.items.len() > 1 && !(p0.distinct && !self.order.is_empty())) {
            with(&|q| q.parts.iter_mut().for_each(|p| { if i < p.items.len() { p.items.remove(i); } }));
        }
        out
    }
}

/// Statement generator: only the seeded rng decides, never an answer, so a seed replays the same statements.
struct Gen { rng: StdRng, names: [String; 5], sub: usize, next_key: [i64; 5] }

type Scope = Vec<(String, usize)>; // (qualifier or "", table)

impl Gen {
    fn qual(q: &str) -> String { if q.is_empty() { String::new() } else { format!("{q}.") } }
    fn col(&mut self, scope: &Scope, clean: bool) -> (String, K) {
        let (q, t) = scope.choose(&mut self.rng).unwrap().clone();
        let mut cands: Vec<(&str, K)> = vec![(KEY[t], K::Int)];
        if t == 1 { cands.push(("customer_id", K::Int)) }
        cands.extend(COLS.iter().copied().filter(|c| !clean || c.1 != K::Tricky));
        let (c, k) = *cands.choose(&mut self.rng).unwrap();
        (format!("{}{c}", Self::qual(&q)), k)
    }

    fn num_col(&mut self, scope: &Scope) -> String {
        loop { if let (c, K::Int | K::Big | K::Dec | K::Dbl) = self.col(scope, true) { return c } }
    }

    fn expr(&mut self, scope: &Scope, clean: bool) -> (String, K) {
        let (c, k) = self.col(scope, clean);
        let numeric = matches!(k, K::Int | K::Dec | K::Dbl);
        match self.rng.gen_range(0..12) {
            0 => { let l = value(&mut self.rng, k, 0); (format!("COALESCE({c}, {l})"), k) }
            1 if numeric => (format!("ABS({c})"), k),
            2 if matches!(k, K::Dec | K::Dbl) => (format!("ROUND({c}, {})", self.rng.gen_range(0..3)), k),
            3 if k == K::Tricky => (format!("UPPER({c})"), k),
            4 => { let (d, dk) = self.col(scope, clean); (format!("CONCAT({c}, '|', {d})"), if k == K::Tricky || dk == K::Tricky { K::Tricky } else { K::Str }) }
            5 => { let w = self.cond(scope, 0); (format!("CASE WHEN {w} THEN 'yes' WHEN {c} IS NULL THEN 'null' ELSE 'no' END"), K::Str) }
            6 if k == K::Int => { let d = self.num_col(scope); (format!("{c} + {d}"), K::Dec) }
            _ => (c, k),
        }
    }

    fn key_cond(&mut self, scope: &Scope) -> String {
        let (q, t) = scope.choose(&mut self.rng).unwrap().clone();
        let (c, hi) = if t == 1 && self.rng.gen_bool(0.5) { ("customer_id", 320) } else { (KEY[t], ROWS[t] + 10) };
        let c = format!("{}{c}", Self::qual(&q));
        let (k, k2, k3, d) = (self.rng.gen_range(0..hi), self.rng.gen_range(0..hi), self.rng.gen_range(0..hi), self.rng.gen_range(0..30));
        vec![format!("{c} = {k}"), format!("{c} IN ({k}, {k2}, {k3})"), format!("{c} BETWEEN {k} AND {}", k + d)].swap_remove(self.rng.gen_range(0..3))
    }

    /// A boolean condition; `depth` bounds OR/NOT nesting and subqueries.
    fn cond(&mut self, scope: &Scope, depth: u32) -> String {
        match self.rng.gen_range(0..if depth > 0 { 15 } else { 10 }) {
            0..=2 => { let (e, k) = self.expr(scope, false); format!("{e} {} {}", OPS.choose(&mut self.rng).unwrap(), value(&mut self.rng, k, 0)) }
            3 => { let (c, _) = self.col(scope, false); format!("{c} IS {}NULL", if self.rng.gen() { "NOT " } else { "" }) }
            4 => { let (c, k) = self.col(scope, false); let (a, b) = (value(&mut self.rng, k, 0), value(&mut self.rng, k, 0)); format!("{c} BETWEEN {a} AND {b}") }
            5 => { let (c, k) = self.col(scope, false); let l: Vec<String> = (0..self.rng.gen_range(1..5)).map(|_| value(&mut self.rng, k, 0)).collect(); format!("{c} {}IN ({})", self.not(), l.join(", ")) }
            6 => { let (q, _) = scope.choose(&mut self.rng).unwrap().clone(); let c = ["name", "grp"].choose(&mut self.rng).unwrap(); format!("{}{c} LIKE {}", Self::qual(&q), LIKES.choose(&mut self.rng).unwrap()) }
            7 | 8 => self.key_cond(scope),
            9 => { let (a, b) = (self.num_col(scope), self.num_col(scope)); format!("{a} {} {b}", OPS.choose(&mut self.rng).unwrap()) }
            10 => format!("({} OR {})", self.cond(scope, depth - 1), self.cond(scope, depth - 1)),
            11 => format!("NOT ({})", self.cond(scope, depth - 1)),
            _ => self.subquery(scope, depth - 1, false),
        }
    }

    /// A window function whose value does not depend on the order of peers: ROW_NUMBER over every table's
    /// key, or an aggregate over a partition.
    fn window(&mut self, scope: &Scope) -> String {
        let part = self.col(scope, true).0;
        match self.rng.gen_range(0..4) {
            0 => { let keys: Vec<String> = scope.iter().map(|(q, t)| format!("{}{}{}", Self::qual(q), KEY[*t], self.dir())).collect(); format!("ROW_NUMBER() OVER (ORDER BY {})", keys.join(", ")) }
            1 => format!("COUNT(*) OVER (PARTITION BY {part})"),
            2 => { let n = self.num_col(scope); format!("SUM({n}) OVER (PARTITION BY {part})") }
            _ => { let n = self.num_col(scope); format!("RANK() OVER (PARTITION BY {part} ORDER BY {n})") }
        }
    }

    fn not(&mut self) -> &'static str { if self.rng.gen_ratio(1, 4) { "NOT " } else { "" } }
    fn int_col(&mut self, t: usize) -> &'static str {
        let c = if t == 1 { vec!["id", "customer_id", "qty"] } else { vec![KEY[t], "qty", KEY[t]] };
        c.choose(&mut self.rng).unwrap()
    }

    /// IN (SELECT …), [NOT] EXISTS (correlated), or a comparison with a scalar subquery, over any table;
    /// with `item`, a correlated scalar subquery for the select list.
    fn subquery(&mut self, scope: &Scope, depth: u32, item: bool) -> String {
        let (q, t) = scope.choose(&mut self.rng).unwrap().clone();
        let outer = if q.is_empty() { self.names[t].clone() } else { q };
        let it = self.rng.gen_range(0..5);
        self.sub += 1;
        let s = format!("s{}", self.sub);
        let inner = if self.rng.gen_bool(0.6) { Some(self.cond(&vec![(s.clone(), it)], depth)) } else { None };
        let (ic, oc, tbl) = (self.int_col(it), self.int_col(t), self.names[it].clone());
        let not = self.not();
        let w = inner.as_ref().map(|c| format!(" WHERE {c}")).unwrap_or_default();
        let and = inner.as_ref().map(|c| format!(" AND {c}")).unwrap_or_default();
        if item {
            let agg = ["COUNT(*)", "MAX(s.grp)", "SUM(s.qty)"].choose(&mut self.rng).unwrap().replace("s.", &format!("{s}."));
            return format!("(SELECT {agg} FROM {tbl} {s} WHERE {s}.{ic} = {outer}.{oc})");
        }
        match self.rng.gen_range(0..4) {
            0 => format!("{outer}.{oc} {not}IN (SELECT {s}.{ic} FROM {tbl} {s}{w})"),
            1 => format!("{not}EXISTS (SELECT 1 FROM {tbl} {s} WHERE {s}.{ic} = {outer}.{oc}{and})"),
            2 => { let (agg, c) = (["AVG", "MIN", "MAX", "SUM", "COUNT"].choose(&mut self.rng).unwrap(), ["qty", "amount", "score"].choose(&mut self.rng).unwrap()); format!("{outer}.{c} {} (SELECT {agg}({s}.{c}) FROM {tbl} {s}{w})", OPS.choose(&mut self.rng).unwrap()) }
            _ => format!("(SELECT COUNT(*) FROM {tbl} {s} WHERE {s}.{ic} = {outer}.{oc}{and}) {} {}", OPS.choose(&mut self.rng).unwrap(), self.rng.gen_range(0..3)),
        }
    }

    fn aliased(&mut self, e: String, i: usize) -> String { if self.rng.gen_ratio(1, 3) { format!("{e} AS c{i}") } else { e } }
    fn conds(&mut self, scope: &Scope, max: usize) -> Vec<String> { (0..self.rng.gen_range(0..=max)).map(|_| self.cond(scope, 2)).collect() }
    fn limit(&mut self) -> Option<String> {
        let (n, off) = (self.rng.gen_range(1..40), self.rng.gen_range(0..60));
        match self.rng.gen_range(0..5) { 0 => Some(n.to_string()), 1 => Some(format!("{off}, {n}")), 2 => Some(format!("{n} OFFSET {off}")), _ => None }
    }

    fn dir(&mut self) -> &'static str { ["", " ASC", " DESC"].choose(&mut self.rng).unwrap() }
    /// ORDER BY terms: `keys` in random order, each in a random direction.
    fn order_by(&mut self, mut keys: Vec<String>) -> Vec<String> {
        keys.shuffle(&mut self.rng);
        keys.into_iter().map(|k| format!("{k}{}", self.dir())).collect()
    }

    /// FROM with 0–2 joins; a single table is sometimes unaliased (columns bare or qualified by its name).
    fn from(&mut self) -> (String, Vec<String>, Scope) {
        let t = self.rng.gen_range(0..5);
        let name = self.names[t].clone();
        let joins = if self.rng.gen_ratio(2, 5) { self.rng.gen_range(1..=2) } else { 0 };
        match self.rng.gen_range(0..4) { 0 if joins == 0 => return (name, vec![], vec![(String::new(), t)]), 1 if joins == 0 => return (name.clone(), vec![], vec![(name, t)]), _ => {} }
        let mut scope = vec![(ALIAS[t].to_string(), t)];
        let (mut from, mut js) = (format!("{name} {}{}", if self.rng.gen() { "AS " } else { "" }, ALIAS[t]), vec![]);
        for _ in 0..joins {
            let fits: Vec<_> = JOINS.iter().filter(|j| scope.iter().any(|s| s.1 == j.0 && s.0 == ALIAS[j.0]) && !scope.iter().any(|s| s.0 == j.2)).collect();
            let Some(&&(l, r, ra, on)) = fits.choose(&mut self.rng) else { break };
            let kind = ["JOIN", "JOIN", "INNER JOIN", "LEFT JOIN"].choose(&mut self.rng).unwrap();
            js.push(format!(" {kind} {} {ra} ON {}", self.names[r], on.replace("{l}", ALIAS[l]).replace("{r}", ra)));
            scope.push((ra.to_string(), r));
        }
        if js.is_empty() { from = format!("{name} {}", ALIAS[t]) }
        (from, js, scope)
    }

    fn query(&mut self) -> Query {
        let shape = self.rng.gen_range(0..20);
        if shape >= 18 { return self.union() }
        let (from, joins, scope) = self.from();
        let mut s = Select { distinct: false, items: vec![], from, joins, conds: self.conds(&scope, 3), group: vec![], having: vec![] };
        let mut q = Query { parts: vec![], all: false, setop: "UNION", order: vec![], limit: None, cte: false, wrap: false, ordered: false };
        let order_it = self.rng.gen_bool(0.5);
        if shape < 10 {
            // Plain rows: ordered by random expressions, then every table's unique key, so the order is total.
            if self.rng.gen_ratio(1, 10) { s.items.push(if scope[0].0.is_empty() { "*".into() } else { format!("{}.*", scope[0].0) }) }
            for i in 0..self.rng.gen_range(1..5) {
                let e = if self.rng.gen_ratio(1, 15) { self.subquery(&scope, 0, true) } else if self.rng.gen_ratio(1, 12) { self.window(&scope) } else { self.expr(&scope, false).0 };
                s.items.push(self.aliased(e, i));
            }
            if order_it {
                for _ in 0..self.rng.gen_range(0..3) { let (e, d) = (self.expr(&scope, false).0, self.dir()); q.order.push(format!("{e}{d}")) }
                for (qual, t) in scope.clone() { let d = self.dir(); q.order.push(format!("{}{}{d}", Self::qual(&qual), KEY[t])) }
            }
        } else if shape < 16 {
            // Aggregates: items are group keys and aggregates only, keys never tricky strings.
            for _ in 0..self.rng.gen_range(0..=2) {
                let (c, k) = self.col(&scope, true);
                s.group.push(match self.rng.gen_range(0..6) { 0 if k == K::Int => format!("{c} % 3"), 1 if k == K::Date => format!("YEAR({c})"), 2 => self.expr(&scope, true).0, _ => c });
            }
            let aggs: Vec<(String, K)> = (0..self.rng.gen_range(1..=3)).map(|_| { let n = self.num_col(&scope); match self.rng.gen_range(0..12) {
                // Aggregates inside expressions, DISTINCT aggregates, GROUP_CONCAT (of values whose order is total).
                7 => (format!("SUM({n}) / COUNT(*)"), K::Dbl),
                8 => (format!("COUNT(*) * 2 - COUNT({})", self.col(&scope, false).0), K::Int),
                9 => (format!("MAX({n}) - MIN({n})"), K::Dbl),
                10 => (format!("{}(DISTINCT {n})", ["SUM", "AVG", "COUNT"].choose(&mut self.rng).unwrap()), K::Dbl),
                11 => { let c = self.col(&scope, true).0; (format!("GROUP_CONCAT({c} ORDER BY {c} SEPARATOR ',')"), K::Str) }
                0 => ("COUNT(*)".into(), K::Int),
                1 => (format!("COUNT({})", self.col(&scope, false).0), K::Int),
                2 => (format!("COUNT(DISTINCT {})", self.col(&scope, false).0), K::Int),
                3 => (format!("SUM({n})"), K::Dbl),
                4 => (format!("AVG({n})"), K::Dbl),
                f => { let (e, k) = self.expr(&scope, true); (format!("{}({e})", if f == 5 { "MIN" } else { "MAX" }), k) }
            }}).collect();
            let mut items: Vec<String> = s.group.iter().cloned().chain(aggs.iter().map(|a| a.0.clone())).collect();
            items.shuffle(&mut self.rng);
            s.items = items.into_iter().enumerate().map(|(i, e)| self.aliased(e, i)).collect();
            if !s.group.is_empty() && self.rng.gen_ratio(1, 3) {
                // Mostly a literal of the aggregate's type; sometimes a number, to compare across types.
                let (a, k) = aggs.choose(&mut self.rng).unwrap().clone();
                let l = if matches!(k, K::Int | K::Dbl) || self.rng.gen_ratio(1, 4) { self.rng.gen_range(0..5).to_string() } else { value(&mut self.rng, k, 0) };
                s.having.push(format!("{a} {} {l}", OPS.choose(&mut self.rng).unwrap()));
            }
            q.ordered = s.group.is_empty(); // one row
            if order_it && !s.group.is_empty() {
                if self.rng.gen() { let (a, d) = (aggs[0].0.clone(), self.dir()); q.order.push(format!("{a}{d}")) }
                q.order.extend(self.order_by(s.group.clone()));
            }
        } else {
            s.distinct = true;
            s.items = (0..self.rng.gen_range(1..4)).map(|_| self.expr(&scope, true).0).collect();
            if order_it { q.order = self.order_by(s.items.clone()) }
        }
        if !q.order.is_empty() { (q.ordered, q.limit) = (true, self.limit()) }
        q.cte = q.order.is_empty() && !s.items.iter().any(|i| i.ends_with('*')) && self.rng.gen_ratio(1, 12);
        // Counted through a derived table (its columns must have distinct names: the reference rejects the rest).
        if !q.cte && self.rng.gen_ratio(1, 12) {
            q.wrap = true;
            q.ordered = true;
        }
        q.parts.push(s);
        q
    }

    /// UNION [ALL] of single-table SELECTs of the same columns; ordered by every column when none is tricky.
    fn union(&mut self) -> Query {
        let all = self.rng.gen();
        let mut cols: Vec<(&str, K)> = COLS.iter().copied().filter(|c| all || c.1 != K::Tricky).collect();
        cols.shuffle(&mut self.rng);
        cols.truncate(self.rng.gen_range(1..=2));
        let with_key = self.rng.gen();
        let mut parts = vec![];
        for _ in 0..self.rng.gen_range(2..=3) {
            let t = self.rng.gen_range(0..5);
            let a = if self.rng.gen() { ALIAS[t] } else { "" };
            let scope = vec![(a.to_string(), t)];
            let mut items: Vec<String> = cols.iter().map(|c| format!("{}{}", Self::qual(a), c.0)).collect();
            if with_key { items.insert(0, format!("{}{}", Self::qual(a), KEY[t])) }
            let from = format!("{} {a}", self.names[t]).trim_end().to_string();
            parts.push(Select { distinct: false, items, from, joins: vec![], conds: self.conds(&scope, 2), group: vec![], having: vec![] });
        }
        let setop = *["UNION", "UNION", "UNION", "INTERSECT", "EXCEPT"].choose(&mut self.rng).unwrap();
        let mut q = Query { parts, all: all && setop == "UNION", setop, order: vec![], limit: None, cte: false, wrap: false, ordered: false };
        if cols.iter().all(|c| c.1 != K::Tricky) && self.rng.gen() {
            q.order = (1..=cols.len() + usize::from(with_key)).map(|i| format!("{i}{}", self.dir())).collect();
            (q.ordered, q.limit) = (true, self.limit());
        }
        q
    }

    /// A multi-table UPDATE or DELETE of table `t` joined by key with another table (sharded alike or not,
    /// broadcast or without rules), within a key range; an UPDATE may write both. Returns the tables written.
    fn multi_dml(&mut self, t: usize) -> (String, Vec<usize>) {
        let s = **[0, 1, 2, 3, 4].iter().filter(|&&s| s != t).collect::<Vec<_>>().choose(&mut self.rng).unwrap();
        let (x, y) = (format!("{} x", self.names[t]), format!("{} y", self.names[s]));
        let k = self.rng.gen_range(0..ROWS[t]);
        let on = format!("y.{} = x.{}", KEY[s], KEY[t]);
        let where_ = format!("x.{} BETWEEN {k} AND {} AND {}", KEY[t], k + 30, self.cond(&vec![("y".to_string(), s)], 1));
        if self.rng.gen_ratio(1, 3) {
            return (format!("DELETE x FROM {x} JOIN {y} ON {on} WHERE {where_}"), vec![t]);
        }
        let both = self.rng.gen_bool(0.5);
        let also = if both { ", y.score = y.score + 1" } else { "" };
        (format!("UPDATE {x} JOIN {y} ON {on} SET x.qty = y.qty + 1, x.grp = y.grp{also} WHERE {where_}"), if both { vec![t, s] } else { vec![t] })
    }

    /// INSERT (one or more rows, explicit new keys), UPDATE or DELETE, by key or by other predicates,
    /// sometimes with ORDER BY key LIMIT n, or a multi-table one. Returns the statement and its tables.
    fn dml(&mut self) -> (String, Vec<usize>) {
        let t = *[0, 0, 1, 1, 2, 3, 4].choose(&mut self.rng).unwrap();
        if t != 3 && self.rng.gen_ratio(1, 7) {
            return self.multi_dml(t);
        }
        let name = self.names[t].clone();
        let scope = vec![(String::new(), t)];
        // Mostly a few rows (by key, or a predicate within a key range): unbounded writes would soon leave
        // tables empty or uniform.
        let k = self.rng.gen_range(0..ROWS[t]);
        let where_ = match self.rng.gen_range(0..8) { 0..=3 => self.key_cond(&scope), 4 => self.cond(&scope, 1), _ => format!("{} AND {} BETWEEN {k} AND {}", self.cond(&scope, 1), KEY[t], k + 30) };
        let tail = if self.rng.gen_ratio(1, 6) { format!(" ORDER BY {} DESC LIMIT {}", KEY[t], self.rng.gen_range(1..4)) } else { String::new() };
        let sql = match self.rng.gen_range(0..12) {
            // INSERT … SELECT from any table (keys shifted past every existing one), a bounded key range.
            10 | 11 => {
                let s = self.rng.gen_range(0..5);
                self.sub += 1;
                let shift = 200_000 + self.sub as i64 * 1000;
                let customer = if t == 1 { format!(", {} % 320", KEY[s]) } else { String::new() };
                let cols: Vec<&str> = COLS.iter().map(|c| c.0).collect();
                let from = self.rng.gen_range(0..ROWS[s]);
                format!("INSERT INTO {name} ({}) SELECT {} + {shift}{customer}, {} FROM {} WHERE {} BETWEEN {from} AND {}", columns(t), KEY[s], cols.join(", "), self.names[s], KEY[s], from + 15)
            }
            0..=3 => {
                let rows: Vec<String> = (0..self.rng.gen_range(1..=4)).map(|_| { self.next_key[t] += 1; row(&mut self.rng, t, self.next_key[t]) }).collect();
                format!("INSERT INTO {name} ({}) VALUES {}", columns(t), rows.join(", "))
            }
            4..=7 => {
                let sets: Vec<String> = (0..self.rng.gen_range(1..=2)).map(|_| match self.rng.gen_range(0..7usize) {
                    n @ 0..=3 => ["qty = qty + 1", "name = CONCAT(name, 'x ')", "score = score * 2", "amount = NULL"][n].into(),
                    4 if t == 1 && self.rng.gen_ratio(1, 4) => format!("customer_id = {}", self.rng.gen_range(1..320)), // moves the row
                    _ => { let (c, k) = *COLS.choose(&mut self.rng).unwrap(); format!("{c} = {}", value(&mut self.rng, k, 5)) }
                }).collect();
                format!("UPDATE {name} SET {} WHERE {where_}{tail}", sets.join(", "))
            }
            _ => format!("DELETE FROM {name} WHERE {where_}{tail}"),
        };
        (sql, vec![t])
    }
}

type Rows = Vec<Vec<Option<String>>>;

/// What one side answered.
#[derive(Clone, PartialEq)]
enum Answer { Rows(Vec<String>, Rows), Affected(u64), Err(u16, String), Broken(String) }

enum Outcome { Skip, Same, Refused(String), Differs(String) }

fn text(v: &Value) -> Option<String> {
    match v { Value::NULL => None, Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()), other => Some(other.as_sql(true)) }
}

async fn drain<P: Protocol>(mut r: QueryResult<'_, '_, P>) -> mysql_async::Result<Answer> {
    // The result's columns, not a row's: they exist for empty results too.
    let cols: Vec<String> = r.columns_ref().iter().map(|c| c.name_str().into_owned()).collect();
    let rows: Vec<Row> = r.collect().await?;
    let affected = r.affected_rows();
    r.drop_result().await?;
    Ok(if cols.is_empty() { Answer::Affected(affected) } else { Answer::Rows(cols, rows.into_iter().map(|r| r.unwrap().iter().map(text).collect()).collect()) })
}

async fn run(c: &mut Conn, sql: &str, prepared: bool) -> Answer {
    let answer = async { if prepared { drain(c.exec_iter(sql, ()).await?).await } else { drain(c.query_iter(sql).await?).await } };
    match tokio::time::timeout(Duration::from_secs(20), answer).await {
        Ok(Ok(a)) => a,
        Ok(Err(mysql_async::Error::Server(e))) => Answer::Err(e.code, e.message),
        Ok(Err(e)) => Answer::Broken(e.to_string()),
        Err(_) => Answer::Broken("no answer in 20 s".into()),
    }
}

fn show(a: &Answer) -> String {
    match a {
        Answer::Rows(c, r) => format!("columns {c:?}, {} rows: {:?}{}", r.len(), &r[..r.len().min(6)], if r.len() > 6 { " …" } else { "" }),
        Answer::Affected(n) => format!("{n} affected rows"),
        Answer::Err(c, m) => format!("ERROR {c}: {m}"),
        Answer::Broken(m) => format!("connection broken: {m}"),
    }
}

/// None when `got` equals `want` (as multisets unless `ordered`), else where they part.
fn differ(want: &Answer, got: &Answer, ordered: bool) -> Option<String> {
    let (Answer::Rows(wc, wr), Answer::Rows(gc, gr)) = (want, got) else { return (want != got).then(String::new) };
    let (mut wr, mut gr) = (wr.clone(), gr.clone());
    if !ordered { (wr.sort(), gr.sort()); }
    // Rows first: wrong rows matter more than names, and give the class.
    let i = wr.iter().zip(&gr).position(|(a, b)| a != b).unwrap_or(wr.len().min(gr.len()));
    if wr != gr || wc.len() != gc.len() {
        return Some(format!("first difference at row {i}: shardgate {:?} vs reference {:?}", gr.get(i), wr.get(i)));
    }
    (wc != gc).then(|| format!("columns differ: {gc:?} vs {wc:?}"))
}

/// A difference's class, so that a bug met a hundred times is reported once: the error (digits dropped), a
/// column-name difference, or the kind of row difference with the minimal statement's tables and clauses.
fn class(minimal: &str, got: &Answer, detail: &str) -> String {
    let digitless = |s: &str| s.chars().filter(|c| !c.is_ascii_digit()).collect::<String>();
    match got {
        // After a write, what the tables hold matters more than the write's own answer.
        _ if detail.starts_with("table") => format!("{} after a write", detail.split(" differs").next().unwrap()),
        Answer::Err(c, m) => format!("error {c}: {}", digitless(m)),
        Answer::Broken(m) => format!("broken connection: {}", digitless(m)),
        _ if detail.starts_with("columns") => format!("column names{}", if minimal.contains("}.") { " (table-qualified columns)" } else { "" }),
        _ => {
            let kind = if matches!(got, Answer::Affected(_)) { "affected rows" } else if minimal.contains("-- ordered") { "ordered rows" } else { "rows" };
            let features = PLACEHOLDER.iter().chain(&["LEFT JOIN", " JOIN", "GROUP BY", "HAVING", "DISTINCT", "UNION", "ORDER BY", "LIMIT", "(SELECT", "WITH", "COUNT(DISTINCT", "AVG(", "SUM(", "MIN(", "MAX(", "*", "prepared"]);
            format!("{kind}: {}", features.filter(|f| minimal.contains(*f)).copied().collect::<Vec<_>>().join(" "))
        }
    }
}

struct Harness { seed: u64, names: [String; 5], opts: mysql_async::Opts, sharded: Conn, reference: Conn, copies: Vec<Conn>, compared: usize, skipped: usize, refusals: BTreeMap<String, usize>, failures: usize, classes: BTreeMap<String, (usize, String)>, shrinks_left: usize }

impl Harness {
    /// `sql` with the run's table names put back as placeholders (for messages and the corpus).
    fn generic(&self, sql: &str) -> String { (0..5).fold(sql.to_string(), |s, t| s.replace(&self.names[t], PLACEHOLDER[t])) }

    async fn check(&mut self, sql: &str, ordered: bool, prepared: bool) -> (Outcome, Answer, Answer) {
        let want = run(&mut self.reference, sql, prepared).await;
        if !matches!(want, Answer::Rows(..) | Answer::Affected(_)) {
            if matches!(want, Answer::Broken(_)) { self.reference = direct(lab_port() + 4, Some("demo")).await }
            return (Outcome::Skip, want.clone(), want);
        }
        let got = run(&mut self.sharded, sql, prepared).await;
        let outcome = match &got {
            Answer::Err(1235, m) => Outcome::Refused(self.generic(m).chars().take(80).collect()),
            Answer::Err(..) | Answer::Broken(_) => Outcome::Differs(String::new()),
            _ => differ(&want, &got, ordered).map_or(Outcome::Same, Outcome::Differs),
        };
        if matches!(got, Answer::Broken(_)) { self.sharded = Conn::new(self.opts.clone()).await.expect("reconnect through shardgate") }
        (outcome, want, got)
    }

    fn count(&mut self, o: &Outcome) {
        match o { Outcome::Skip => self.skipped += 1, Outcome::Refused(r) => { self.compared += 1; *self.refusals.entry(r.clone()).or_default() += 1 } _ => self.compared += 1 }
    }

    /// The corpus line for `sql` (placeholders, markers) and its difference's class.
    fn line_class(&self, sql: &str, ordered: bool, prepared: bool, got: &Answer, detail: &str) -> (String, String) {
        let markers = match (ordered, prepared) { (true, true) => " -- ordered prepared", (true, false) => " -- ordered", (false, true) => " -- prepared", _ => "" };
        let line = format!("{}{markers}", self.generic(sql));
        let got = match got { Answer::Err(c, m) => Answer::Err(*c, self.generic(m)), g => g.clone() };
        let c = class(&line, &got, detail);
        (line, c)
    }

    /// Records a difference; the first of its class is printed with both answers.
    #[allow(clippy::too_many_arguments)]
    fn fail(&mut self, what: &str, original: &str, minimal: &str, (ordered, prepared): (bool, bool), detail: &str, want: &Answer, got: &Answer) {
        let (line, class) = self.line_class(minimal, ordered, prepared, got, detail);
        self.failures += 1;
        let seen = self.classes.entry(class).or_insert((0, line.clone()));
        seen.0 += 1;
        if seen.0 == 1 { println!("DIFFERENCE ({what}, seed {}):\n  statement: {}\n  minimal:   {line}\n  reference: {}\n  shardgate: {}\n  {detail}\n", self.seed, self.generic(original), show(want), show(got)) }
    }

    /// Compares one SELECT; on a difference, greedily takes smaller variants that still differ the same way
    /// (same error, or rows, or only column names: else every table-qualified query would shrink to the
    /// column-name difference). A class of error already met is not shrunk again.
    async fn query(&mut self, q: Query, prepared: bool, what: &str) {
        let sql = q.sql();
        let (o, want, got) = self.check(&sql, q.ordered, prepared).await;
        self.count(&o);
        let Outcome::Differs(mut detail) = o else { return };
        let kind = |c: String| c.split(':').next().unwrap().replace("ordered ", "");
        let first = self.line_class(&sql, q.ordered, prepared, &got, &detail).1;
        let (mut best, mut want, mut got, want_kind) = (q, want, got, kind(first.clone()));
        let repeat = self.classes.contains_key(&first) && !first.contains("rows");
        let mut tries = if self.shrinks_left > 0 && !repeat { 150 } else { 0 };
        self.shrinks_left = self.shrinks_left.saturating_sub(usize::from(tries > 0));
        'shrink: while tries > 0 {
            for v in best.smaller() {
                tries -= 1;
                if let (Outcome::Differs(d), w, g) = self.check(&v.sql(), v.ordered, prepared).await {
                    if kind(self.line_class(&v.sql(), v.ordered, prepared, &g, &d).1) == want_kind {
                        (best, want, got, detail) = (v, w, g, d);
                        continue 'shrink;
                    }
                }
                if tries == 0 { break 'shrink }
            }
            break;
        }
        self.fail(what, &sql, &best.sql(), (best.ordered, prepared), &detail, &want, &got);
    }

    async fn both(&mut self, sql: &str) {
        self.sharded.query_drop(sql).await.unwrap_or_else(|e| panic!("through shardgate: {e}\n{}", &sql[..sql.len().min(300)]));
        self.reference.query_drop(sql).await.unwrap_or_else(|e| panic!("on the reference: {e}\n{}", &sql[..sql.len().min(300)]));
    }

    /// Table `t` emptied and refilled with its seed rows on both sides. The rows never depend on the run's
    /// seed (that picks statements), so the regression corpus always meets the same data; each table has a
    /// generator of its own, so reloading one after a divergence restores exactly its initial rows.
    async fn load(&mut self, t: usize) {
        self.both(&format!("DELETE FROM {}", self.names[t])).await;
        let mut rng = StdRng::seed_from_u64(0x5EED + t as u64);
        let first = if t == 3 { 0 } else { 1 };
        let rows: Vec<String> = (first..first + ROWS[t]).map(|k| row(&mut rng, t, k)).collect();
        for chunk in rows.chunks(100) { self.both(&format!("INSERT INTO {} ({}) VALUES {}", self.names[t], columns(t), chunk.join(", "))).await }
    }

    /// One write on both sides: the reference's inside a transaction, rolled back unless shardgate's write
    /// succeeded (a refusal or error must have changed nothing). Then the affected rows and the written tables
    /// in full must match: a failed write that still changed a node shows up there.
    async fn dml(&mut self, sql: &str, tables: &[usize], what: &str) {
        self.reference.query_drop("BEGIN").await.unwrap();
        let (o, want, got) = self.check(sql, false, false).await;
        let applied = matches!(got, Answer::Affected(_));
        self.reference.query_drop(if applied { "COMMIT" } else { "ROLLBACK" }).await.unwrap();
        self.count(&o);
        if let Outcome::Differs(d) = &o { self.fail(what, sql, sql, (false, false), d, &want, &got) }
        if matches!(o, Outcome::Skip) { return }
        for &t in tables {
            let all = format!("SELECT * FROM {}", self.names[t]);
            let w = run(&mut self.reference, &all, false).await;
            // A broadcast table is read from one copy: each copy must equal the reference, or later joins differ.
            let mut seen = vec![("", run(&mut self.sharded, &all, false).await)];
            for (i, c) in self.copies.iter_mut().enumerate().filter(|_| t == 3) { seen.push(([" (ds_0's copy)", " (ds_1's copy)"][i], run(c, &all, false).await)) }
            if let Some((copy, d)) = seen.iter().find_map(|(copy, g)| differ(&w, g, false).map(|d| (copy, d))) {
                self.fail(what, sql, sql, (false, false), &format!("table {}{copy} differs afterwards: {d}", PLACEHOLDER[t]), &want, &got);
                self.load(t).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_statements_answer_like_one_unsharded_mariadb() {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (seed, secs) = (env("SHARDGATE_RANDOM_SEED", 20240611), env("SHARDGATE_RANDOM_SECONDS", 120));
    println!("random_diff: seed {seed}, {secs} s (SHARDGATE_RANDOM_SEED, SHARDGATE_RANDOM_SECONDS)");
    let names = [unique("rp"), unique("ro"), unique("ri"), unique("rb"), unique("ru")];
    let [p, o, i, b, _] = names.clone();
    let proxy = start_proxy_with(|text| {
        let header = "[schemas.demo]\ndata_source = \"ds_0\"\n";
        let more = format!("{header}broadcast_tables = [\"{b}\"]\nbinding_groups = [[\"{p}\", \"{o}\"]]\n");
        let table = |t: &str, col: &str| format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"{col}\"\nactual_nodes = \"ds_${{0..1}}.{t}_${{0..1}}\"\n");
        text.replacen(header, &more, 1) + &table(&p, "id") + &table(&o, "customer_id") + &table(&i, "sku")
    })
    .await;
    let opts = opts(&proxy, "app", "app", Some("demo"));
    let (sharded, reference) = (Conn::new(opts.clone()).await.unwrap(), direct(lab_port() + 4, Some("demo")).await);
    let copies = vec![direct(ds0_port(), Some("demo")).await, direct(ds1_port(), Some("demo")).await];
    let mut h = Harness { seed, names: names.clone(), opts, sharded, reference, copies, compared: 0, skipped: 0, refusals: BTreeMap::new(), failures: 0, classes: BTreeMap::new(), shrinks_left: 60 };
    for t in 0..5 { (h.both(&create(t, &names[t])).await, h.load(t).await); }

    // The regression corpus first: `statement [-- ordered] [prepared]`, placeholders for the table names.
    let corpus = std::fs::read_to_string(REGRESSIONS).unwrap_or_default();
    let (mut replayed, mut wrote) = (0, false);
    for line in corpus.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (stmt, marks) = line.rsplit_once(" -- ").filter(|(_, m)| m.split(' ').all(|w| w == "ordered" || w == "prepared")).unwrap_or((line, ""));
        let (sql, ordered, prepared) = ((0..5).fold(stmt.to_string(), |s, t| s.replace(PLACEHOLDER[t], &names[t])), marks.contains("ordered"), marks.contains("prepared"));
        replayed += 1;
        if ["INSERT", "UPDATE", "DELETE"].iter().any(|k| stmt.to_uppercase().starts_with(k)) {
            h.dml(&sql, &(0..5).filter(|&t| stmt.contains(PLACEHOLDER[t])).collect::<Vec<_>>(), "regression").await;
            wrote = true;
        } else {
            let (o, want, got) = h.check(&sql, ordered, prepared).await;
            h.count(&o);
            if let Outcome::Differs(d) = o { h.fail("regression", &sql, &sql, (ordered, prepared), &d, &want, &got) }
        }
    }
    for t in (0..5).filter(|_| wrote) { h.load(t).await } // the random part starts from the seed data whatever the corpus wrote

    let mut gen = Gen { rng: StdRng::seed_from_u64(seed), names: names.clone(), sub: 0, next_key: [10_000; 5] };
    let (start, before, mut n) = (Instant::now(), h.compared, 0usize);
    while start.elapsed() < Duration::from_secs(secs) {
        n += 1;
        for t in (0..5).filter(|_| n % 500 == 0) { h.load(t).await } // writes drift the tables toward empty or uniform
        if gen.rng.gen_ratio(1, 6) {
            for _ in 0..gen.rng.gen_range(1..=3) { let (sql, tables) = gen.dml(); h.dml(&sql, &tables, &format!("statement {n}, DML")).await }
        } else {
            let q = gen.query();
            let prepared = gen.rng.gen_ratio(1, 4);
            h.query(q.clone(), false, &format!("statement {n}")).await;
            if prepared { h.query(q, true, &format!("statement {n}, prepared")).await }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();

    for t in &names { h.both(&format!("DROP TABLE {t}")).await }
    let mut top: Vec<_> = h.refusals.iter().collect();
    top.sort_by_key(|r| std::cmp::Reverse(*r.1));
    println!("random_diff summary: seed {seed}, {replayed} regression lines, {} statements compared ({:.0}/s), {} skipped (reference error), {} refusals, {} differences in {} classes",
        h.compared, (h.compared - before) as f64 / elapsed.max(0.001), h.skipped, h.refusals.values().sum::<usize>(), h.failures, h.classes.len());
    top.iter().take(10).for_each(|(reason, count)| println!("  refused {count:>5}×  {reason}"));
    h.classes.iter().for_each(|(class, (count, line))| println!("  differs {count:>5}×  {class}\n                 {line}"));
    // bench/random_diff.sh keeps a long run's figures for bench/RESULTS.md.
    if let Ok(path) = std::env::var("SHARDGATE_RANDOM_JSON") {
        let doc = serde_json::json!({
            "seed": seed, "seconds": secs, "elapsed_s": elapsed, "regression_lines": replayed, "compared": h.compared,
            "per_second": (h.compared - before) as f64 / elapsed.max(0.001), "skipped": h.skipped,
            "refusals": h.refusals, "differences": h.failures,
            "classes": h.classes.iter().map(|(class, (n, line))| serde_json::json!({"class": class, "count": n, "example": line})).collect::<Vec<_>>(),
        });
        std::fs::write(&path, doc.to_string()).expect("write SHARDGATE_RANDOM_JSON");
    }
    let new: Vec<&String> = h.classes.values().map(|c| &c.1).filter(|r| !corpus.lines().any(|l| l.trim() == r.as_str())).collect();
    if !new.is_empty() && std::env::var("SHARDGATE_RANDOM_RECORD").is_ok_and(|v| v == "1") {
        let add: String = new.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(REGRESSIONS, corpus.clone() + &add).expect("append to the regression corpus");
        println!("{} new minimal reproductions appended to {REGRESSIONS}", new.len());
    }
    assert!(h.failures == 0, "{} differences between shardgate and the reference (seed {seed}); minimal reproductions above", h.failures);
}
