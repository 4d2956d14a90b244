//! The differential test's schema, rows, queries and writes (tests/differential.rs runs them).
//!
//! Five tables: `people` (sharded by `id`) and `orders` (by `customer_id`) in one binding group, `items`
//! sharded by another key (`sku`), the broadcast table `bcast` and `plain`, a table without rules (it lives
//! on ds_0 only). Strings that are equal under a collation but different in bytes (`K::Ambig`: 'a'/'A'/'a ')
//! never feed GROUP BY, DISTINCT or MIN/MAX: which of the equal values a server shows there is unspecified.

use mysql_async::Value;

/// A deterministic pseudo-random sequence (no external seed, same data every run).
pub struct Lcg(std::cell::Cell<u64>);
impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(std::cell::Cell::new(seed))
    }
    pub fn next(&self, n: u64) -> u64 {
        self.0.set(self.0.get().wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407));
        (self.0.get() >> 33) % n
    }
    fn pick<'a>(&self, s: &[&'a str]) -> &'a str {
        s[self.next(s.len() as u64) as usize]
    }
    /// `v`, or NULL one time in `one_in`.
    fn or_null(&self, one_in: u64, v: String) -> String {
        if self.next(one_in) == 0 { "NULL".into() } else { v }
    }
}

/// The run's table names.
pub struct Names {
    pub p: String,
    pub o: String,
    pub i: String,
    pub c: String,
    pub u: String,
}

const FIRST: &[&str] = &["Émile", "emma", "Zoë", "zack", "Álvaro", "alice", "Øyvind", "Bob", "björn", "Çelik", "dana", "Ève", "frank", "Gö", "hank", "Íñigo", "ivy", "Jürgen", "kim", "Łukasz"];
const ALIASES: &[&str] = &["Straße", "Strasse", "strase", "Strässe", "STRASSE", "Müller", "Mueller", "muller", "Öl", "oel"];
const CITIES: &[&str] = &["Paris", "Zürich", "Málaga", "berlin", "Oslo", "Ærø", "Łódź", "Rome"];
const CODES: &[&str] = &["FR", "CH", "ES", "DE", "NO", "DK", "PL", "IT"];
/// Trailing spaces, tabs, case variants, accents, ß, emoji, the empty string, quotes and wildcards.
pub const TRICKY: &[&str] = &[
    "", " ", "a", "a ", "A", "a\t", "\ta", "abc", "ABC", "Abc  ", "é", "e", "É", "straße", "strasse", "STRASSE", "ß", "ss", "Zoë", "zoe", "😀", "😀 smile", "🎉",
    "O'Brien", "50%", "x_y", "back\\slash", "NULL", "ǅ", "Ω",
];
const DECIMALS: &[&str] = &["99999999999999.999999", "-99999999999999.999999", "0.000001", "-0.000001", "0", "-0.000000"];

pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''").replace('\t', "\\t"))
}

#[derive(Clone, Copy, PartialEq)]
pub enum K {
    Num,
    Str,
    Date,
    /// Strings equal under the collation but different in bytes.
    Ambig,
}

pub struct Table {
    pub name: String,
    pub key: &'static str,
    pub cols: &'static [(&'static str, K)],
    /// WHERE clauses (without the keyword): by key, key lists, ranges, other columns.
    pub filters: Vec<&'static str>,
    pub groups: &'static [&'static str],
    pub aggs: &'static [&'static str],
    pub distinct: &'static [&'static str],
    /// Sharded (merged by the proxy), or broadcast / without rules (answered by one data source).
    pub sharded: bool,
}

pub fn tables(n: &Names) -> Vec<Table> {
    use K::*;
    vec![
        Table {
            name: n.p.clone(),
            key: "id",
            cols: &[("name", Str), ("city", Str), ("amount", Num), ("qty", Num), ("born", Date), ("score", Num), ("code", Str), ("alias", Ambig)],
            filters: vec!["id = 17", "id IN (3, 30, 300, 1300, 1999)", "id BETWEEN 200 AND 900", "qty > 20", "city IS NULL OR amount < 0"],
            groups: &["city", "code", "qty", "YEAR(born)", "qty % 3"],
            aggs: &["COUNT(*)", "COUNT(*), SUM(amount), AVG(qty)", "MIN(name), MAX(born), COUNT(DISTINCT code), SUM(score), AVG(score)"],
            distinct: &["city", "qty", "code", "born"],
            sharded: true,
        },
        Table {
            name: n.o.clone(),
            key: "id",
            cols: &[("customer_id", Num), ("total", Num), ("placed", Date), ("note", Str)],
            filters: vec!["customer_id = 17", "customer_id IN (5, 50, 500, 1500)", "id BETWEEN 1000 AND 1800", "note = 'b'"],
            groups: &["note", "MONTH(placed)", "customer_id % 7"],
            aggs: &["COUNT(*)", "COUNT(*), SUM(total), AVG(total)", "MIN(placed), MAX(note), COUNT(DISTINCT customer_id), MIN(total)"],
            distinct: &["note", "MONTH(placed)"],
            sharded: true,
        },
        Table {
            name: n.i.clone(),
            key: "sku",
            cols: &[("label", Ambig), ("raw", Str), ("price", Num), ("weight", Num), ("stock", Num), ("big", Num), ("ubig", Num), ("added", Date), ("code", Str)],
            filters: vec!["sku = 3200", "sku IN (-463, 570, 3200, 9223372036854775807, -9223372036854775808)", "sku BETWEEN 1000 AND 9000", "stock < 10", "label = 'a' OR raw LIKE '%s%'"],
            groups: &["code", "stock % 5", "raw"],
            aggs: &["COUNT(*)", "SUM(price), AVG(price), SUM(big), AVG(weight)", "MIN(raw), MAX(added), COUNT(DISTINCT label), SUM(ubig), MAX(big)"],
            distinct: &["code", "raw", "stock"],
            sharded: true,
        },
        Table {
            name: n.c.clone(),
            key: "code",
            cols: &[("cname", Str), ("rate", Num), ("region", Str)],
            filters: vec!["code = 'FR'", "code IN ('DE', 'IT', 'XX')", "rate > 0"],
            groups: &["region"],
            aggs: &["COUNT(*)", "SUM(rate), MIN(cname), MAX(code)"],
            distinct: &["region"],
            sharded: false,
        },
        Table {
            name: n.u.clone(),
            key: "id",
            cols: &[("code", Str), ("memo", Ambig), ("val", Num), ("n", Num), ("day", Date)],
            filters: vec!["id = 12", "id < 40", "n IS NULL OR val > 0"],
            groups: &["code", "n"],
            aggs: &["COUNT(*)", "SUM(val), AVG(n)", "MIN(day), MAX(code), COUNT(DISTINCT memo)"],
            distinct: &["code", "n"],
            sharded: false,
        },
    ]
}

pub fn schema(n: &Names) -> Vec<String> {
    let Names { p, o, i, c, u } = n;
    vec![
        format!("CREATE TABLE {p} (id BIGINT PRIMARY KEY, name VARCHAR(40), city VARCHAR(20), amount DECIMAL(10,2), qty INT, born DATE, score DOUBLE, code CHAR(2), alias VARCHAR(20) COLLATE utf8mb4_unicode_ci) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"),
        format!("CREATE TABLE {o} (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, total DECIMAL(12,3), placed DATETIME, note VARCHAR(20) COLLATE utf8mb4_bin, KEY (customer_id)) DEFAULT CHARSET=utf8mb4"),
        format!("CREATE TABLE {i} (sku BIGINT PRIMARY KEY, label VARCHAR(30), raw VARCHAR(30) COLLATE utf8mb4_nopad_bin, price DECIMAL(20,6), weight DOUBLE, stock INT, big BIGINT, ubig BIGINT UNSIGNED, added DATETIME, code CHAR(2)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"),
        format!("CREATE TABLE {c} (code CHAR(2) PRIMARY KEY, cname VARCHAR(30), rate DECIMAL(20,6), region VARCHAR(10)) DEFAULT CHARSET=utf8mb4"),
        format!("CREATE TABLE {u} (id INT PRIMARY KEY, code CHAR(2), memo VARCHAR(30) COLLATE utf8mb4_bin, val DECIMAL(20,6), n INT, day DATE) DEFAULT CHARSET=utf8mb4"),
    ]
}

fn decimal(rng: &Lcg) -> String {
    if rng.next(5) == 0 {
        return rng.pick(DECIMALS).into();
    }
    let sign = if rng.next(3) == 0 { "-" } else { "" };
    format!("{sign}{}.{:06}", rng.next(1 << 30) * rng.next(1000), rng.next(1_000_000))
}

pub fn inserts(n: &Names) -> Vec<String> {
    let Names { p, o, i, c, u } = n;
    let rng = Lcg::new(42);
    let mut out = Vec::new();
    let (rates, regions) = (["1.5", "-0.000001", "99999999999999.999999", "0", "2.25", "NULL", "0.000001", "-7.125", "3"], ["'EU'", "'North'", "'South'", "NULL"]);
    let bc: Vec<String> = CODES.iter().chain(&["XX"]).enumerate().map(|(n, k)| {
        let cname = CITIES.get(n).map_or("NULL".into(), |v| lit(&format!("land of {v}")));
        format!("('{k}', {cname}, {}, {})", rates[n], regions[n % 4])
    }).collect();
    out.push(format!("INSERT INTO {c} (code, cname, rate, region) VALUES {}", bc.join(", ")));
    let mut people = Vec::new();
    for id in 1..=2000u64 {
        let name = rng.or_null(40, lit(&format!("{} {}", rng.pick(FIRST), id)));
        let city = rng.or_null(10, lit(rng.pick(CITIES)));
        let amount = rng.or_null(12, format!("{}.{:02}", rng.next(100_000) as i64 - 20_000, rng.next(100)));
        let qty = rng.or_null(15, (rng.next(50) as i64 - 5).to_string());
        let born = rng.or_null(20, format!("'{}-{:02}-{:02}'", 1950 + rng.next(60), 1 + rng.next(12), 1 + rng.next(28)));
        let score = rng.or_null(9, format!("{}.5", rng.next(1000)));
        let code = rng.or_null(30, lit(rng.pick(CODES)));
        let alias = rng.or_null(25, lit(rng.pick(ALIASES)));
        people.push(format!("({id}, {name}, {city}, {amount}, {qty}, {born}, {score}, {code}, {alias})"));
    }
    for chunk in people.chunks(250) {
        out.push(format!("INSERT INTO {p} (id, name, city, amount, qty, born, score, code, alias) VALUES {}", chunk.join(", ")));
    }
    let mut orders = Vec::new();
    for id in 1..=3000u64 {
        let customer = 1 + rng.next(2000);
        let total = rng.or_null(20, format!("{}.{:03}", rng.next(5000), rng.next(1000)));
        let placed = rng.or_null(25, format!("'2026-{:02}-{:02} {:02}:{:02}:00'", 1 + rng.next(12), 1 + rng.next(28), rng.next(24), rng.next(60)));
        let note = rng.or_null(10, lit(rng.pick(&["a", "B", "b", "A", "c"])));
        orders.push(format!("({id}, {customer}, {total}, {placed}, {note})"));
    }
    for chunk in orders.chunks(500) {
        out.push(format!("INSERT INTO {o} (id, customer_id, total, placed, note) VALUES {}", chunk.join(", ")));
    }
    let mut items = Vec::new();
    let extreme_keys = [i64::MAX, i64::MIN, 1_000_000_000_000_001, -1_000_000_000_000_003, 4_611_686_018_427_387_904];
    for n in 1..=605i64 {
        let sku = if n <= 600 { n * 37 - 500 } else { extreme_keys[(n - 601) as usize] };
        let label = rng.or_null(12, lit(rng.pick(TRICKY)));
        let raw = rng.or_null(12, lit(rng.pick(TRICKY)));
        let price = rng.or_null(12, decimal(&rng));
        // Multiples of 1/8 well below 2^50: sums are exact in any order.
        let weight = rng.or_null(10, if rng.next(60) == 0 { "-0.0".into() } else { format!("{}", (rng.next(2_000_000) as f64 - 1_000_000.0) / 8.0) });
        let stock = rng.or_null(15, (rng.next(105) as i64 - 5).to_string());
        let big = rng.or_null(10, match rng.next(20) {
            0 => i64::MAX.to_string(),
            1 => i64::MIN.to_string(),
            2 => "-1".into(),
            _ => ((rng.next(1 << 30) * rng.next(1 << 20)) as i64 - (1 << 48)).to_string(),
        });
        let ubig = rng.or_null(10, match rng.next(15) {
            0 => u64::MAX.to_string(),
            1 => "9223372036854775808".into(),
            2 => "0".into(),
            _ => (rng.next(1 << 30) * rng.next(1 << 30)).to_string(),
        });
        let added = rng.or_null(15, format!("'20{:02}-{:02}-{:02} {:02}:{:02}:{:02}'", rng.next(30), 1 + rng.next(12), 1 + rng.next(28), rng.next(24), rng.next(60), rng.next(60)));
        let code = rng.or_null(10, lit(rng.pick(&["FR", "DE", "IT", "XX", "ZZ", "PL"])));
        items.push(format!("({sku}, {label}, {raw}, {price}, {weight}, {stock}, {big}, {ubig}, {added}, {code})"));
    }
    for chunk in items.chunks(200) {
        out.push(format!("INSERT INTO {i} (sku, label, raw, price, weight, stock, big, ubig, added, code) VALUES {}", chunk.join(", ")));
    }
    let plain: Vec<String> = (1..=80)
        .map(|id| {
            let code = rng.or_null(8, lit(rng.pick(&["FR", "DE", "IT", "XX", "NO"])));
            let memo = rng.or_null(8, lit(rng.pick(TRICKY)));
            let val = rng.or_null(8, decimal(&rng));
            let n = rng.or_null(6, rng.next(10).to_string());
            let day = rng.or_null(9, format!("'{}-{:02}-{:02}'", 1990 + rng.next(40), 1 + rng.next(12), 1 + rng.next(28)));
            format!("({id}, {code}, {memo}, {val}, {n}, {day})")
        })
        .collect();
    out.push(format!("INSERT INTO {u} (id, code, memo, val, n, day) VALUES {}", plain.join(", ")));
    out
}

/// The query corpus; `true` marks queries whose ORDER BY is total (compared in order).
pub fn queries(n: &Names) -> Vec<(String, bool)> {
    let mut q: Vec<(String, bool)> = Vec::new();
    let mut add = |sql: String, ordered: bool| q.push((sql, ordered));
    for t in tables(n) {
        let (name, key) = (&t.name, t.key);
        let filters: Vec<String> = std::iter::once(String::new()).chain(t.filters.iter().map(|f| format!(" WHERE {f}"))).collect();
        // Every column sorted both ways (ties broken by the key), with pages, under SELECT * too.
        for &(col, kind) in t.cols {
            add(format!("SELECT {key}, {col} FROM {name} ORDER BY {col}, {key}"), true);
            add(format!("SELECT {key}, {col} FROM {name} ORDER BY {col} DESC, {key} DESC LIMIT 9"), true);
            add(format!("SELECT {col}, {key} FROM {name} WHERE {col} IS NOT NULL ORDER BY 1 DESC, 2 LIMIT 4, 11"), true);
            add(format!("SELECT * FROM {name} ORDER BY {col} DESC, {key} LIMIT 3 OFFSET 2"), true);
            // Aggregates of the column under every filter.
            let aggs = match kind {
                K::Num => format!("COUNT({col}), SUM({col}), AVG({col}), MIN({col}), MAX({col})"),
                K::Str | K::Date => format!("COUNT({col}), MIN({col}), MAX({col}), COUNT(DISTINCT {col})"),
                K::Ambig => format!("COUNT({col}), COUNT(DISTINCT {col}), MAX(BINARY {col}), MIN(LENGTH({col}))"),
            };
            for f in &filters {
                add(format!("SELECT {aggs} FROM {name}{f}"), true);
            }
        }
        // Filters alone, as multisets and paged by key.
        for f in &filters[1..] {
            add(format!("SELECT * FROM {name}{f}"), false);
            add(format!("SELECT {key} FROM {name}{f} ORDER BY {key} DESC LIMIT 2, 5"), true);
            add(format!("SELECT COUNT(*) FROM demo.{name}{f}"), true);
        }
        // GROUP BY key × aggregate sets × shapes.
        for g in t.groups {
            for aggs in t.aggs {
                add(format!("SELECT {g}, {aggs} FROM {name} GROUP BY {g}"), false);
                add(format!("SELECT {g}, {aggs} FROM {name} GROUP BY {g} ORDER BY {g} DESC"), true);
                add(format!("SELECT {g}, COUNT(*) AS cnt, {aggs} FROM {name} GROUP BY {g} ORDER BY cnt DESC, {g} LIMIT 4"), true);
                // HAVING beside COUNT(DISTINCT …) over several shards is refused (1235): not in this corpus.
                let aggs = aggs.split(", ").filter(|a| !(t.sharded && a.starts_with("COUNT(DISTINCT"))).collect::<Vec<_>>().join(", ");
                add(format!("SELECT {g}, {aggs} FROM {name}{} GROUP BY {g} HAVING COUNT(*) > 1 ORDER BY {g}", filters[filters.len() - 1]), true);
            }
        }
        for d in t.distinct {
            add(format!("SELECT DISTINCT {d} FROM {name}"), false);
            add(format!("SELECT DISTINCT {d} FROM {name} ORDER BY {d} DESC"), true);
            add(format!("SELECT DISTINCT {d} FROM {name}{} ORDER BY {d} LIMIT 5", filters[filters.len() - 2]), true);
        }
        add(format!("SELECT COUNT(*), COUNT(DISTINCT {key}) FROM {name}"), true);
        add(format!("SELECT * FROM demo.{name} ORDER BY {key} LIMIT 20"), true);
    }
    let Names { p, o, i, c, u } = n;
    let (p, o, i, c, u) = (p.as_str(), o.as_str(), i.as_str(), c.as_str(), u.as_str());
    // Key-routed reads, a missing key, and aggregates over nothing.
    for id in [1, 7, 500, 1999, 4242] {
        add(format!("SELECT * FROM {p} WHERE id = {id}"), true);
        add(format!("SELECT id, total FROM {o} WHERE customer_id = {id} ORDER BY id"), true);
    }
    for sku in ["-463", "55", "92", "9223372036854775807", "-9223372036854775808", "1000000000000001", "-1000000000000003", "12"] {
        add(format!("SELECT * FROM {i} WHERE sku = {sku}"), true);
    }
    add(format!("SELECT COUNT(*), SUM(price), AVG(big), MIN(label), MAX(raw) FROM {i} WHERE sku = -999"), true);
    add(format!("SELECT COUNT(*), SUM(amount), AVG(amount), MIN(qty), MAX(qty) FROM {p} WHERE id < 0"), true);
    add(format!("SELECT sku, price FROM {i} WHERE sku IN (570, 3200, -463, 5) ORDER BY price, sku"), true);
    add(format!("SELECT sku FROM {i} WHERE sku > 4000000000000000000 OR sku < -1000000000000000000 ORDER BY sku"), true);
    // Tricky strings: comparisons, LIKE, trailing blanks, case, emoji.
    for s in ["a", "a ", "A", "", " ", "straße", "😀", "é", "ss", "back\\slash", "O'Brien"] {
        add(format!("SELECT sku, label FROM {i} WHERE label = {} ORDER BY sku", lit(s)), true);
        add(format!("SELECT COUNT(*) FROM {i} WHERE raw = {}", lit(s)), true);
        add(format!("SELECT id, memo FROM {u} WHERE memo = {} ORDER BY id", lit(s)), true);
    }
    for pat in ["'a%'", "'%a'", "'%ß%'", "'_'", "'%\\%%'", "'x\\_y'", "'😀%'", "'% '"] {
        add(format!("SELECT sku, raw FROM {i} WHERE raw LIKE {pat} ORDER BY raw, sku"), true);
        add(format!("SELECT COUNT(*), COUNT(DISTINCT label) FROM {i} WHERE label LIKE {pat}"), true);
    }
    add(format!("SELECT sku, label, LENGTH(label), CHAR_LENGTH(label), HEX(raw) FROM {i} ORDER BY label DESC, sku LIMIT 50"), true);
    add(format!("SELECT raw, COUNT(*), COUNT(label), MIN(sku), MAX(sku) FROM {i} GROUP BY raw ORDER BY raw"), true);
    add(format!("SELECT MIN(raw), MAX(raw), MIN(BINARY label), MAX(BINARY label) FROM {i}"), true);
    add(format!("SELECT code, MIN(raw), MAX(raw) FROM {i} GROUP BY code ORDER BY code"), true);
    // Expressions in the select list keep MariaDB's column names.
    add(format!("SELECT id, BINARY name FROM {p} ORDER BY id LIMIT 5"), true);
    add(format!("SELECT id, qty+1, CONCAT(city,'x'), amount  *  2 FROM {p} ORDER BY id DESC LIMIT 4"), true);
    add(format!("SELECT qty+1, COUNT(*) FROM {p} GROUP BY qty+1 ORDER BY qty+1"), true);
    add(format!("SELECT code, MIN(BINARY alias) FROM {p} GROUP BY code ORDER BY code"), true);
    add(format!("SELECT sku, ROUND(price, 2), price / 3, big DIV 7, ubig % 1000, weight * 2 AS w2, COALESCE(label, '?') FROM {i} ORDER BY sku LIMIT 40"), true);
    add(format!("SELECT sku, IFNULL(stock, -1) AS s, CASE WHEN price > 0 THEN 'pos' WHEN price < 0 THEN 'neg' ELSE 'zero' END AS sign FROM {i} ORDER BY s, sku LIMIT 60"), true);
    add(format!("SELECT UPPER(city) AS c, LOWER(name), YEAR(born) FROM {p} WHERE id BETWEEN 10 AND 30 ORDER BY id"), true);
    add(format!("SELECT {p}.id, {p}.amount + 0.5 FROM {p} ORDER BY {p}.amount DESC, {p}.id LIMIT 8"), true);
    add(format!("SELECT SUM(price * 2), AVG(price + 1), SUM(stock * 3), MAX(big DIV 2), SUM(ubig DIV 3) FROM {i}"), true);
    add(format!("SELECT COUNT(*) AS n, SUM(total) AS s, AVG(total) AS a FROM {o} WHERE total > 2500"), true);
    add(format!("SELECT 1 + 1, 'x' AS y, NULL, id FROM {p} WHERE id IN (4, 8) ORDER BY id"), true);
    add(format!("SELECT alias, id FROM {p} ORDER BY alias, id LIMIT 60"), true);
    add(format!("SELECT id FROM {p} ORDER BY alias DESC, id DESC LIMIT 30 OFFSET 100"), true);
    add(format!("SELECT code, COUNT(DISTINCT alias) FROM {p} GROUP BY code ORDER BY code"), true);
    add(format!("SELECT id, note FROM {o} ORDER BY note, id LIMIT 50"), true);
    add(format!("SELECT DISTINCT city, code FROM {p} ORDER BY city, code"), true);
    add(format!("SELECT city, code, COUNT(*), SUM(qty) FROM {p} GROUP BY city, code"), false);
    add(format!("SELECT code, SUM(amount) FROM {p} GROUP BY code HAVING SUM(amount) > 1000000 ORDER BY code"), true);
    add(format!("SELECT qty, COUNT(*) FROM {p} GROUP BY qty HAVING AVG(amount) < 28000 AND COUNT(*) >= 40"), false);
    add(format!("SELECT code, SUM(price) AS s FROM {i} GROUP BY code HAVING s > 0 ORDER BY s DESC, code"), true);
    add(format!("SELECT stock, COUNT(*) AS n FROM {i} GROUP BY stock HAVING n >= 8 ORDER BY stock"), true);
    add(format!("SELECT customer_id, SUM(total) AS s FROM {o} GROUP BY customer_id ORDER BY s DESC, customer_id LIMIT 10"), true);
    add(format!("SELECT customer_id % 3 AS r, COUNT(DISTINCT customer_id) FROM {o} GROUP BY customer_id % 3"), false);
    add(format!("SELECT SUM(total), AVG(total), MIN(placed), MAX(placed) FROM {o}"), true);
    // Binding-group joins (co-located by key).
    add(format!("SELECT p.id, p.name, o.id, o.total FROM {p} p JOIN {o} o ON o.customer_id = p.id WHERE p.id = 17 ORDER BY o.id"), true);
    add(format!("SELECT p.id, o.id FROM {p} p JOIN {o} o ON o.customer_id = p.id ORDER BY o.id LIMIT 100"), true);
    add(format!("SELECT p.city, COUNT(*), SUM(o.total) FROM {p} p JOIN {o} o ON o.customer_id = p.id GROUP BY p.city"), false);
    add(format!("SELECT p.code, COUNT(o.id) AS n, AVG(o.total) FROM {p} p LEFT JOIN {o} o ON o.customer_id = p.id GROUP BY p.code ORDER BY n DESC, p.code"), true);
    add(format!("SELECT p.id, COUNT(o.id) FROM {p} p LEFT JOIN {o} o ON o.customer_id = p.id WHERE p.id BETWEEN 40 AND 80 GROUP BY p.id ORDER BY p.id"), true);
    add(format!("SELECT p.name, o.note, o.total FROM {p} p JOIN {o} o USING (id) WHERE o.customer_id = p.id ORDER BY o.total DESC, o.id LIMIT 5"), true);
    add(format!("SELECT o.id, p.name FROM {o} o JOIN {p} p ON p.id = o.customer_id WHERE o.customer_id IN (7, 70, 700) ORDER BY o.id"), true);
    add(format!("SELECT DISTINCT p.city FROM {p} p JOIN {o} o ON o.customer_id = p.id WHERE o.note = 'A' ORDER BY p.city"), true);
    add(format!("SELECT COUNT(*), COUNT(DISTINCT o.customer_id), MAX(o.placed) FROM demo.{p} p JOIN demo.{o} o ON o.customer_id = p.id WHERE p.qty > 30"), true);
    add(format!("SELECT {p}.id, {o}.total FROM {p} JOIN {o} ON {o}.customer_id = {p}.id WHERE {p}.id < 12 ORDER BY {o}.id"), true);
    add(format!("SELECT a.id, b.id FROM {p} a JOIN {p} b ON b.id = a.id WHERE a.id BETWEEN 5 AND 15 ORDER BY a.id"), true);
    // Broadcast joins and the broadcast table alone.
    add(format!("SELECT p.id, x.cname FROM {p} p JOIN {c} x ON x.code = p.code ORDER BY p.id LIMIT 60"), true);
    add(format!("SELECT x.cname, COUNT(*) FROM {p} p JOIN {c} x ON x.code = p.code GROUP BY x.cname"), false);
    add(format!("SELECT x.region, SUM(p.amount), COUNT(*) FROM {p} p JOIN {c} x ON x.code = p.code GROUP BY x.region ORDER BY x.region"), true);
    add(format!("SELECT i.sku, i.code, x.rate FROM {i} i JOIN {c} x ON x.code = i.code WHERE i.stock > 90 ORDER BY i.sku"), true);
    add(format!("SELECT x.code, COUNT(i.sku), SUM(i.price) FROM {c} x JOIN {i} i ON i.code = x.code GROUP BY x.code ORDER BY x.code"), true);
    add(format!("SELECT i.sku, x.cname FROM {i} i LEFT JOIN {c} x ON x.code = i.code ORDER BY i.sku LIMIT 30"), true);
    add(format!("SELECT o.id, x.code FROM {o} o JOIN {p} p ON p.id = o.customer_id JOIN {c} x ON x.code = p.code WHERE o.id < 40 ORDER BY o.id"), true);
    // Subqueries over the broadcast table (merged ones, with ORDER BY, LIMIT, aggregates or DISTINCT, are refused).
    add(format!("SELECT id FROM {p} WHERE code IN (SELECT code FROM {c} WHERE region = 'EU')"), false);
    add(format!("SELECT id, qty FROM {p} WHERE qty IN (SELECT rate FROM {c} WHERE rate > 1)"), false);
    add(format!("SELECT sku, code FROM {i} WHERE code NOT IN (SELECT x.code FROM {c} x WHERE x.rate IS NOT NULL)"), false);
    add(format!("SELECT code, cname, rate FROM {c} ORDER BY rate DESC, code"), true);
    // The unsharded table alone, and with the broadcast table.
    add(format!("SELECT u.id, u.memo, x.cname FROM {u} u JOIN {c} x ON x.code = u.code ORDER BY u.id"), true);
    add(format!("SELECT x.region, COUNT(*), SUM(u.val) FROM {u} u LEFT JOIN {c} x ON x.code = u.code GROUP BY x.region"), false);
    add(format!("SELECT x.code, COUNT(u.id) FROM {c} x LEFT JOIN {u} u ON u.code = x.code GROUP BY x.code ORDER BY x.code"), true);
    add(format!("SELECT id, val FROM {u} WHERE code IN (SELECT code FROM {c} WHERE rate > 1) ORDER BY id"), true);
    add(format!("SELECT * FROM (SELECT code, COUNT(*) AS n FROM {u} GROUP BY code) d ORDER BY n DESC, code"), true);
    add(format!("SELECT id, memo, LENGTH(memo), HEX(memo) FROM {u} ORDER BY memo, id"), true);
    add(format!("SELECT demo.{u}.id, demo.{c}.region FROM demo.{u} JOIN demo.{c} ON demo.{c}.code = demo.{u}.code ORDER BY demo.{u}.id"), true);
    q
}

/// One step of the write script: a statement as text, or prepared with parameters.
pub enum Step {
    Text(String),
    Prepared(String, Vec<Value>),
}

pub fn writes(n: &Names) -> Vec<Step> {
    let Names { p, o, i, c, u } = n;
    let cols = "sku, label, raw, price, weight, stock, big, ubig, added, code";
    let mut s: Vec<Step> = Vec::new();
    let mut t = |sql: String| s.push(Step::Text(sql));
    // UPDATE/DELETE of a sharded table whose WHERE reads another sharded table: rows found over copies, by key.
    t(format!("UPDATE {i} SET stock = stock + 1000 WHERE sku IN (SELECT id FROM {p} WHERE qty > 40)"));
    t(format!("DELETE FROM {o} WHERE customer_id IN (SELECT id FROM {p} WHERE city = 'Rome') AND total < 1000"));
    t("BEGIN".into());
    t(format!("UPDATE {p} SET score = score + 1 WHERE EXISTS (SELECT 1 FROM {i} WHERE {i}.sku = {p}.id AND {i}.stock > 90)"));
    t("COMMIT".into());
    // Multi-table UPDATE/DELETE over tables that are not co-located, an UPDATE whose SET reads a subquery or
    // moves rows, ORDER BY … LIMIT reading another sharded table: run over copies, changes written back.
    t(format!("UPDATE {i} x JOIN {p} y ON y.id = x.sku SET x.stock = y.qty, y.score = y.score + 2 WHERE y.qty > 35 AND x.sku < 400"));
    t(format!("DELETE x FROM {i} x JOIN {o} y ON y.id = x.sku WHERE y.note = 'b' AND x.stock < 50"));
    t(format!("UPDATE {p} SET score = (SELECT MAX(stock) FROM {i} WHERE {i}.sku = {p}.id) WHERE id < 60"));
    t(format!("UPDATE {i} SET sku = sku + 900000, label = CONCAT(label, '>') WHERE sku IN (SELECT id FROM {p} WHERE qty = 7)"));
    t("BEGIN".into());
    t(format!("DELETE {p}, {o} FROM {p} JOIN {o} ON {o}.customer_id = {p}.id JOIN {i} ON {i}.sku = {p}.id WHERE {i}.stock > 95"));
    // ERROR 1242 (the subquery returns more than one row): nothing changed, the transaction goes on.
    t(format!("UPDATE {p} SET qty = (SELECT stock FROM {i}) WHERE id = 1"));
    t(format!("UPDATE {u} x JOIN {i} y ON y.sku = x.id SET x.val = y.price, y.weight = x.val WHERE x.id < 50"));
    t("COMMIT".into());
    t(format!("UPDATE {i} x JOIN {p} y ON y.id = x.sku JOIN {c} z ON z.code = y.code SET z.cname = CONCAT(z.code, ' seen'), x.code = z.code WHERE x.stock > 90"));
    t(format!("UPDATE {p} x JOIN {c} z ON z.code = x.code SET z.region = 'Seen', x.score = x.score + 1 WHERE x.id BETWEEN 10 AND 30"));
    t(format!("DELETE FROM {o} WHERE customer_id IN (SELECT sku FROM {i} WHERE stock < 20) ORDER BY total DESC, id LIMIT 3"));
    t(format!("UPDATE {p} SET qty = qty + 5 WHERE id IN (SELECT sku FROM {i}) ORDER BY name, id LIMIT 4"));
    t("BEGIN".into());
    t(format!("UPDATE {i} x JOIN {o} y ON y.id = x.sku SET x.price = y.total WHERE y.total IS NOT NULL AND x.sku < 900"));
    t("ROLLBACK".into());
    // INSERT … SELECT into sharded and broadcast tables reading sharded ones: rows where they belong.
    t(format!("INSERT INTO {i} (sku, label, raw, price, stock, code) SELECT id + 500000, name, city, amount, qty, code FROM {p} WHERE id < 40"));
    t(format!("INSERT INTO {c} (code, cname, rate, region) SELECT 'QQ', MAX(name), SUM(amount), 'X' FROM {p}"));
    t("BEGIN".into());
    t(format!("INSERT INTO {o} (id, customer_id, total, note) SELECT id + 10000, id, amount, code FROM {p} WHERE id BETWEEN 100 AND 130"));
    t("ROLLBACK".into());
    t(format!("INSERT INTO {o} (id, customer_id, total, note) SELECT id + 20000, id, amount, code FROM {p} WHERE id BETWEEN 140 AND 150"));
    // UPDATE/DELETE … ORDER BY … LIMIT over several shards: the global first rows, locked, then changed.
    t(format!("UPDATE {i} SET stock = stock + 100 WHERE stock > 10 ORDER BY sku DESC LIMIT 5"));
    t(format!("DELETE FROM {o} WHERE note = 'a' ORDER BY placed, id LIMIT 7"));
    t("BEGIN".into());
    t(format!("UPDATE {p} SET qty = qty - 1 WHERE city = 'Oslo' ORDER BY amount DESC, id LIMIT 4"));
    t(format!("DELETE FROM {p} WHERE id > 1990 ORDER BY id LIMIT 2"));
    t("COMMIT".into());
    // Writes to the table without rules that read sharded tables (the exact fallback, on its data source).
    t(format!("INSERT INTO {u} (id, code, memo, val, n, day) SELECT id + 1000, code, name, amount, qty, born FROM {p} WHERE id < 25 AND id IN (SELECT customer_id FROM {o})"));
    t(format!("UPDATE {u} SET n = (SELECT COUNT(*) FROM {o} WHERE {o}.customer_id = {u}.id) WHERE id < 40"));
    t(format!("DELETE FROM {u} WHERE id > 1000 AND id - 1000 IN (SELECT customer_id FROM {o} WHERE total > 2500)"));
    // Autocommit: inserts with explicit keys, single and multi-row.
    for (k, label) in [(100_001i64, "a "), (100_002, "A"), (-100_003, "😀"), (100_004, ""), (100_005, "straße\t")] {
        t(format!("INSERT INTO {i} ({cols}) VALUES ({k}, {}, {}, -99999999999999.999999, -0.5, 7, {}, 18446744073709551615, '2030-01-01 00:00:00', 'DE')", lit(label), lit(label), i64::MIN));
    }
    for base in [200_000i64, 300_000, 400_000] {
        let rows: Vec<String> = (0..4).map(|d| format!("({}, 'multi {d}', NULL, {d}.000001, NULL, {d}, NULL, NULL, NULL, NULL)", base + d)).collect();
        t(format!("INSERT INTO {i} ({cols}) VALUES {}", rows.join(", ")));
    }
    t(format!("INSERT INTO {i} ({cols}) VALUES (100001, 'dup', NULL, 0, 0, 0, 0, 0, NULL, NULL)"));
    for id in [2001, 2002, 2003] {
        t(format!("INSERT INTO {p} (id, name, city, amount, qty) VALUES ({id}, 'new {id}', 'Oslo', 12.5, 3)"));
    }
    t(format!("INSERT INTO {p} (id, name, code, alias) VALUES (2004, NULL, 'FR', 'Ströße'), (2005, '', NULL, ''), (2006, ' x ', 'XX', NULL)"));
    t(format!("INSERT INTO {p} VALUES (2007, 'Zoë 2007', NULL, -99999999.99, -5, '1950-01-01', -0.5, 'IT', 'oel'), (2008, 'a\\tb', 'Rome', 99999999.99, 44, '2009-12-31', 999.5, 'PL', 'Öl')"));
    t(format!("INSERT INTO {o} (id, customer_id, total, placed, note) VALUES (3001, 2001, 1.5, '2026-05-05 05:05:05', 'a'), (3002, 2002, NULL, NULL, NULL), (3003, 17, 999999999.999, '2026-01-01 00:00:00', 'c')"));
    t(format!("INSERT INTO {o} (id, customer_id, total) VALUES (3004, 2005, 0.001), (3005, 2006, -0.001)"));
    // Updates by key, key list, key range, other columns; the key itself; nothing matched; nothing changed.
    for k in [55i64, 3200, -463, 9223372036854775807] {
        t(format!("UPDATE {i} SET stock = stock + 1, label = CONCAT(label, ' ') WHERE sku = {k}"));
    }
    t(format!("UPDATE {i} SET price = price / 2 WHERE sku IN (92, 129, 166, 203, -1000000000000003)"));
    t(format!("UPDATE {i} SET weight = -weight, added = NULL WHERE sku BETWEEN 1000 AND 2000"));
    t(format!("UPDATE {i} SET raw = NULL WHERE label = 'a'"));
    t(format!("UPDATE {i} SET stock = 0 WHERE stock < 0"));
    t(format!("UPDATE {i} SET big = NULL WHERE big = {}", i64::MIN));
    t(format!("UPDATE {i} SET code = 'ZZ' WHERE code = 'XX' AND price > 0"));
    t(format!("UPDATE {i} SET sku = 555555 WHERE sku = 240"));
    t(format!("UPDATE {i} SET stock = 1 WHERE sku = -424242"));
    t(format!("UPDATE {i} SET stock = stock WHERE sku = 277"));
    for id in [1, 2, 1024] {
        t(format!("UPDATE {p} SET qty = qty + 1, amount = amount - 0.01 WHERE id = {id}"));
    }
    t(format!("UPDATE {p} SET city = NULL WHERE id BETWEEN 100 AND 140"));
    t(format!("UPDATE {p} SET amount = 0 WHERE city = 'Oslo' AND qty > 40"));
    t(format!("UPDATE {p} SET alias = 'STRASSE' WHERE alias = 'straße' AND id < 300"));
    t(format!("UPDATE {o} SET total = total + 1 WHERE customer_id = 21"));
    // Order 3003 holds DECIMAL(12,3)'s maximum: ERROR 1264 and nothing changed.
    t(format!("UPDATE {o} SET total = total + 1 WHERE customer_id = 17"));
    t(format!("UPDATE {o} SET total = NULL WHERE customer_id IN (5, 6, 7)"));
    t(format!("UPDATE {o} SET note = 'z' WHERE id = 12"));
    t(format!("UPDATE {o} SET note = 'Z' WHERE id IN (13, 14, 15)"));
    t(format!("UPDATE demo.{o} SET placed = '2027-01-01 00:00:00' WHERE note = 'c' AND total < 100"));
    // Deletes by key, key list, range and other columns.
    for k in [-389i64, 314, 4_611_686_018_427_387_904] {
        t(format!("DELETE FROM {i} WHERE sku = {k}"));
    }
    t(format!("DELETE FROM {i} WHERE sku IN (351, 388, 999999)"));
    t(format!("DELETE FROM {i} WHERE stock = 7"));
    t(format!("DELETE FROM {i} WHERE label IS NULL AND stock > 90"));
    t(format!("DELETE FROM {i} WHERE sku BETWEEN 20000 AND 20500"));
    t(format!("DELETE FROM {p} WHERE id = 3"));
    t(format!("DELETE FROM {p} WHERE id IN (4, 5, 6)"));
    t(format!("DELETE FROM {o} WHERE customer_id = 18"));
    t(format!("DELETE FROM {o} WHERE total > 4995"));
    t(format!("DELETE FROM demo.{o} WHERE id BETWEEN 2990 AND 3000"));
    // The broadcast table and the table without rules.
    t(format!("INSERT INTO {c} (code, cname, rate, region) VALUES ('SE', 'land of Malmö', 0.000001, 'North')"));
    t(format!("INSERT INTO {c} (code, cname, rate, region) VALUES ('FI', NULL, NULL, NULL), ('EE', 'Tallinn ', -99999999999999.999999, 'North')"));
    t(format!("INSERT INTO {c} (code, cname) VALUES ('FR', 'duplicate')"));
    t(format!("UPDATE {c} SET rate = rate * 2 WHERE region = 'EU'"));
    t(format!("UPDATE {c} SET cname = 'Zürich' WHERE code = 'CH'"));
    t(format!("DELETE FROM {c} WHERE code = 'EE'"));
    t(format!("INSERT INTO {u} (id, code, memo, val, n, day) VALUES (81, 'FR', 'a ', 0.000001, 1, '2000-02-29')"));
    t(format!("INSERT INTO {u} (id, code, memo) VALUES (82, NULL, ''), (83, 'SE', '😀'), (84, 'DE', 'ß')"));
    t(format!("INSERT INTO {u} (id, code, memo, val) SELECT 100 + ASCII(code), code, cname, rate FROM {c} WHERE code IN ('SE', 'FR')"));
    t(format!("UPDATE {u} SET val = -val WHERE n = 3"));
    t(format!("UPDATE {u} SET memo = CONCAT(memo, '!') WHERE id < 10"));
    t(format!("UPDATE {u} SET n = NULL WHERE code IN (SELECT code FROM {c} WHERE region = 'South')"));
    t(format!("DELETE FROM {u} WHERE id = 12"));
    t(format!("DELETE FROM {u} WHERE day < '1995-01-01'"));
    // Transactions: BEGIN … ROLLBACK leaves nothing; reads inside see the transaction's writes.
    t("BEGIN".into());
    t(format!("INSERT INTO {i} ({cols}) VALUES (700001, 'gone', 'gone', 1, 1, 1, 1, 1, NULL, 'FR'), (700002, 'gone', NULL, 2, 2, 2, 2, 2, NULL, 'DE')"));
    t(format!("UPDATE {p} SET name = 'rolled back' WHERE id IN (10, 11)"));
    t(format!("UPDATE {c} SET rate = 0 WHERE code = 'DE'"));
    t(format!("DELETE FROM {o} WHERE customer_id = 19"));
    t(format!("UPDATE {u} SET val = 0"));
    t(format!("SELECT COUNT(*), SUM(price) FROM {i}"));
    t(format!("SELECT id, name FROM {p} WHERE id IN (10, 11) ORDER BY id"));
    t("ROLLBACK".into());
    t("BEGIN".into());
    t(format!("INSERT INTO {o} (id, customer_id, total, note) VALUES (3100, 21, 5.5, 'b'), (3101, 22, 6.5, 'B')"));
    t(format!("DELETE FROM {i} WHERE sku = 425 OR sku = 462"));
    t(format!("UPDATE {u} SET n = 9 WHERE id BETWEEN 20 AND 25"));
    t(format!("UPDATE {c} SET region = 'West' WHERE code = 'ES'"));
    t(format!("SELECT customer_id, SUM(total) FROM {o} WHERE id >= 3000 GROUP BY customer_id ORDER BY customer_id"));
    t("COMMIT".into());
    // autocommit off: COMMIT, ROLLBACK, and SET autocommit = 1 committing what is open.
    t("SET autocommit = 0".into());
    t(format!("INSERT INTO {i} ({cols}) VALUES (800001, 'ac0', 'ac0', 0.000001, 0.125, 1, 1, 1, NULL, 'IT')"));
    t(format!("UPDATE {i} SET price = 0 WHERE sku BETWEEN 3000 AND 3500"));
    t("COMMIT".into());
    t(format!("DELETE FROM {p} WHERE id BETWEEN 20 AND 29"));
    t(format!("UPDATE {o} SET total = 0 WHERE customer_id = 23"));
    t(format!("INSERT INTO {c} (code, cname) VALUES ('LV', 'Riga')"));
    t(format!("SELECT COUNT(*) FROM {p}"));
    t("ROLLBACK".into());
    t(format!("INSERT INTO {u} (id, memo) VALUES (90, 'ac0')"));
    t(format!("UPDATE {p} SET score = -0.5 WHERE id = 31"));
    t("COMMIT".into());
    t(format!("UPDATE {o} x JOIN {i} y ON y.sku = x.customer_id SET x.note = LEFT(y.label, 3) WHERE y.sku BETWEEN 40 AND 80"));
    t(format!("DELETE FROM {i} WHERE sku IN (SELECT customer_id FROM {o} WHERE note = 'c') ORDER BY price DESC, sku LIMIT 2"));
    t(format!("DELETE FROM {i} WHERE sku = 800001"));
    t(format!("INSERT INTO {p} (id, name) VALUES (2100, 'kept by SET autocommit = 1')"));
    t("SET autocommit = 1".into());
    t("START TRANSACTION".into());
    let prepared = [
        (format!("INSERT INTO {i} (sku, label, raw, price, big, ubig) VALUES (?, ?, ?, ?, ?, ?)"), vec![Value::from(900_001i64), Value::from("É"), Value::from("é "), Value::from("-0.000001"), Value::from(i64::MAX), Value::from(u64::MAX)]),
        (format!("INSERT INTO {i} (sku, label, raw, price, big, ubig) VALUES (?, ?, ?, ?, ?, ?)"), vec![Value::from(-900_002i64), Value::NULL, Value::from("\t"), Value::from("99999999999999.999999"), Value::from(-1i64), Value::from(0u64)]),
        (format!("UPDATE {i} SET stock = ? WHERE sku = ?"), vec![Value::from(77), Value::from(55)]),
        (format!("UPDATE {i} SET stock = ? WHERE sku BETWEEN ? AND ?"), vec![Value::from(-1), Value::from(400), Value::from(900)]),
        (format!("DELETE FROM {i} WHERE sku = ?"), vec![Value::from(499)]),
        (format!("UPDATE {p} SET city = ? WHERE id = ?"), vec![Value::from("Ærø"), Value::from(1500)]),
        (format!("INSERT INTO {o} (id, customer_id, total, note) VALUES (?, ?, ?, ?)"), vec![Value::from(3200), Value::from(1500), Value::from("12.345"), Value::from("ß")]),
        (format!("DELETE FROM {o} WHERE customer_id = ? AND id > ?"), vec![Value::from(1500), Value::from(3199)]),
        (format!("UPDATE {u} SET memo = ? WHERE id = ?"), vec![Value::from("🎉"), Value::from(1)]),
        // Over copies, prepared: planned with the values bound.
        (format!("UPDATE {i} x JOIN {p} y ON y.id = x.sku SET x.weight = y.amount + ?, y.qty = y.qty + ? WHERE y.id BETWEEN ? AND ?"), vec![Value::from(1.5), Value::from(1), Value::from(300), Value::from(360)]),
        (format!("DELETE x FROM {o} x JOIN {i} y ON y.sku = x.id WHERE y.stock < ? AND x.total > ?"), vec![Value::from(30), Value::from(100)]),
    ];
    s.extend(prepared.into_iter().map(|(sql, params)| Step::Prepared(sql, params)));
    s.push(Step::Text("COMMIT".into()));
    s
}
