//! Differential test: the same rows in the lab's unsharded reference instance and, through shardgate, in
//! tables sharded over both shards; a corpus of queries must answer identically on both (in order where the
//! ORDER BY is total, as multisets otherwise).

mod common;

use common::{direct, lab_port, opts, start_proxy_with, unique};
use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};

/// A deterministic pseudo-random sequence (no external seed, same data every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const FIRST: &[&str] = &["Émile", "emma", "Zoë", "zack", "Álvaro", "alice", "Øyvind", "Bob", "björn", "Çelik", "dana", "Ève", "frank", "Gö", "hank", "Íñigo", "ivy", "Jürgen", "kim", "Łukasz"];
const ALIASES: &[&str] = &["Straße", "Strasse", "strase", "Strässe", "STRASSE", "Müller", "Mueller", "muller", "Öl", "oel"];
const CITIES: &[&str] = &["Paris", "Zürich", "Málaga", "berlin", "Oslo", "Ærø", "Łódź", "Rome"];

fn text(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => Some(other.as_sql(true)),
    }
}

/// Column names (as the client sees them) and rows, values rendered the same way on both sides.
fn named(result: Vec<Row>) -> (Vec<String>, Rows) {
    let names = result.first().map(|r| r.columns_ref().iter().map(|c| c.name_str().into_owned()).collect()).unwrap_or_default();
    (names, result.into_iter().map(|r| r.unwrap().iter().map(text).collect()).collect())
}

/// The same query as a prepared statement (binary protocol).
async fn exec_rows(c: &mut Conn, sql: &str) -> Result<(Vec<String>, Rows), mysql_async::Error> {
    Ok(named(c.exec(sql, ()).await?))
}

async fn rows(c: &mut Conn, sql: &str) -> Result<(Vec<String>, Rows), mysql_async::Error> {
    Ok(named(c.query(sql).await?))
}

fn schema(p: &str, o: &str, c: &str) -> [String; 3] {
    [
        format!("CREATE TABLE {p} (id BIGINT PRIMARY KEY, name VARCHAR(40), city VARCHAR(20), amount DECIMAL(10,2), qty INT, born DATE, score DOUBLE, code CHAR(2), alias VARCHAR(20) COLLATE utf8mb4_unicode_ci) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"),
        format!("CREATE TABLE {o} (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, total DECIMAL(12,3), placed DATETIME, note VARCHAR(20) COLLATE utf8mb4_bin)"),
        format!("CREATE TABLE {c} (code CHAR(2) PRIMARY KEY, cname VARCHAR(30))"),
    ]
}

fn inserts(p: &str, o: &str, c: &str) -> Vec<String> {
    let mut rng = Lcg(42);
    let mut out = Vec::new();
    let codes = ["FR", "CH", "ES", "DE", "NO", "DK", "PL", "IT"];
    out.push(format!(
        "INSERT INTO {c} (code, cname) VALUES {}",
        codes.iter().zip(CITIES).map(|(k, v)| format!("('{k}', 'land of {v}')")).collect::<Vec<_>>().join(", ")
    ));
    let mut people = Vec::new();
    for id in 1..=2000u64 {
        let name = format!("{} {}", FIRST[rng.next(FIRST.len() as u64) as usize], id);
        let city = if rng.next(10) == 0 { "NULL".to_string() } else { format!("'{}'", CITIES[rng.next(CITIES.len() as u64) as usize]) };
        let amount = if rng.next(12) == 0 { "NULL".to_string() } else { format!("{}.{:02}", rng.next(100_000) as i64 - 20_000, rng.next(100)) };
        let qty = if rng.next(15) == 0 { "NULL".to_string() } else { (rng.next(50) as i64 - 5).to_string() };
        let born = if rng.next(20) == 0 { "NULL".to_string() } else { format!("'{}-{:02}-{:02}'", 1950 + rng.next(60), 1 + rng.next(12), 1 + rng.next(28)) };
        let score = if rng.next(9) == 0 { "NULL".to_string() } else { format!("{}.5", rng.next(1000)) };
        let code = codes[rng.next(codes.len() as u64) as usize];
        let alias = ALIASES[rng.next(ALIASES.len() as u64) as usize];
        people.push(format!("({id}, '{name}', {city}, {amount}, {qty}, {born}, {score}, '{code}', '{alias}')"));
    }
    for chunk in people.chunks(250) {
        out.push(format!("INSERT INTO {p} (id, name, city, amount, qty, born, score, code, alias) VALUES {}", chunk.join(", ")));
    }
    let mut orders = Vec::new();
    for id in 1..=3000u64 {
        let customer = 1 + rng.next(2000);
        let total = format!("{}.{:03}", rng.next(5000), rng.next(1000));
        let placed = format!("'2026-{:02}-{:02} {:02}:{:02}:00'", 1 + rng.next(12), 1 + rng.next(28), rng.next(24), rng.next(60));
        let note = ["a", "B", "b", "A", "c"][rng.next(5) as usize];
        orders.push(format!("({id}, {customer}, {total}, {placed}, '{note}')"));
    }
    for chunk in orders.chunks(500) {
        out.push(format!("INSERT INTO {o} (id, customer_id, total, placed, note) VALUES {}", chunk.join(", ")));
    }
    out
}

/// The corpus; `true` marks queries whose ORDER BY is total (compared in order).
fn corpus(p: &str, o: &str, c: &str) -> Vec<(String, bool)> {
    let mut q: Vec<(String, bool)> = Vec::new();
    let mut add = |sql: String, ordered: bool| q.push((sql, ordered));
    // ORDER BY on strings, numbers, dates, doubles, NULLs, both directions, with pages.
    for col in ["name", "city", "amount", "qty", "born", "score", "code"] {
        for dir in ["ASC", "DESC"] {
            add(format!("SELECT id, {col} FROM {p} ORDER BY {col} {dir}, id {dir}"), true);
            for (off, n) in [(0, 10), (5, 7), (1990, 20)] {
                add(format!("SELECT id, {col} FROM {p} ORDER BY {col} {dir}, id LIMIT {off}, {n}"), true);
            }
            add(format!("SELECT {col}, id FROM {p} WHERE id > 100 ORDER BY 1 {dir}, 2 LIMIT 25 OFFSET 3"), true);
        }
    }
    // ORDER BY a column that is not selected.
    add(format!("SELECT id FROM {p} ORDER BY amount DESC, id LIMIT 30"), true);
    add(format!("SELECT name FROM {p} WHERE qty IS NOT NULL ORDER BY qty, id LIMIT 40"), true);
    // Aggregates over everything.
    for agg in ["COUNT(*)", "COUNT(city)", "SUM(amount)", "SUM(qty)", "AVG(amount)", "AVG(qty)", "MIN(name)", "MAX(name)", "MIN(amount)", "MAX(born)", "MIN(score)", "SUM(score)", "AVG(score)", "MAX(city)"] {
        add(format!("SELECT {agg} FROM {p}"), true);
        add(format!("SELECT {agg} FROM {p} WHERE qty > 20"), true);
    }
    add(format!("SELECT COUNT(*), SUM(amount), AVG(amount), MIN(qty), MAX(qty) FROM {p} WHERE id < 0"), true);
    // GROUP BY with aggregates, implicit group order, ORDER BY an aggregate, LIMIT.
    for key in ["city", "code", "qty"] {
        add(format!("SELECT {key}, COUNT(*), SUM(amount), AVG(amount), MIN(name), MAX(born) FROM {p} GROUP BY {key}"), true);
        add(format!("SELECT {key}, COUNT(*) AS n FROM {p} GROUP BY {key} ORDER BY n DESC, {key} LIMIT 5"), true);
        add(format!("SELECT {key}, AVG(qty) AS a FROM {p} GROUP BY {key} ORDER BY a, {key}"), true);
        add(format!("SELECT {key}, SUM(qty) FROM {p} WHERE amount > 0 GROUP BY 1 ORDER BY 1 DESC"), true);
        add(format!("SELECT COUNT(*), {key} FROM {p} GROUP BY {key} ORDER BY COUNT(*) DESC, {key} LIMIT 2, 3"), true);
    }
    add(format!("SELECT city, code, COUNT(*), SUM(qty) FROM {p} GROUP BY city, code"), true);
    // HAVING on selected and hidden aggregates, aliases, NULLs.
    add(format!("SELECT city, COUNT(*) AS n FROM {p} GROUP BY city HAVING n > 240"), true);
    add(format!("SELECT code, SUM(amount) FROM {p} GROUP BY code HAVING SUM(amount) > 1000000 ORDER BY code"), true);
    add(format!("SELECT qty, COUNT(*) FROM {p} GROUP BY qty HAVING AVG(amount) < 28000 AND COUNT(*) >= 40"), true);
    add(format!("SELECT city FROM {p} GROUP BY city HAVING MAX(born) >= '2008-06-01' OR MIN(qty) = -5"), true);
    add(format!("SELECT code, MIN(city) AS m FROM {p} GROUP BY code HAVING m IS NOT NULL ORDER BY m, code"), true);
    // COUNT(DISTINCT …): distinct values pushed down, deduplicated in the proxy.
    add(format!("SELECT COUNT(DISTINCT city) FROM {p}"), true);
    add(format!("SELECT COUNT(DISTINCT qty), COUNT(*) FROM {p} WHERE amount > 0"), true);
    add(format!("SELECT code, COUNT(DISTINCT city) AS c FROM {p} GROUP BY code ORDER BY c DESC, code"), true);
    add(format!("SELECT COUNT(DISTINCT note) FROM {o}"), true);
    add(format!("SELECT customer_id % 3 AS r, COUNT(DISTINCT customer_id) FROM {o} GROUP BY customer_id % 3"), true);
    add(format!("SELECT YEAR(born) AS y, COUNT(*) FROM {p} GROUP BY YEAR(born) ORDER BY y"), true);
    // DISTINCT.
    for col in ["city", "code", "qty", "born"] {
        add(format!("SELECT DISTINCT {col} FROM {p}"), false);
        add(format!("SELECT DISTINCT {col} FROM {p} ORDER BY {col}"), true);
        add(format!("SELECT DISTINCT {col} FROM {p} ORDER BY {col} DESC LIMIT 3"), true);
    }
    add(format!("SELECT DISTINCT city, code FROM {p} ORDER BY city, code"), true);
    add(format!("SELECT DISTINCT note FROM {o} ORDER BY note"), true);
    // Binary collation: 'A' < 'B' < 'a' < 'b'.
    add(format!("SELECT note, COUNT(*) FROM {o} GROUP BY note"), true);
    add(format!("SELECT id, note FROM {o} ORDER BY note, id LIMIT 50"), true);
    // Key-routed and key-range queries.
    for id in [1, 7, 500, 1999] {
        add(format!("SELECT * FROM {p} WHERE id = {id}"), true);
        add(format!("SELECT id, total FROM {o} WHERE customer_id = {id} ORDER BY id"), true);
    }
    add(format!("SELECT id, name FROM {p} WHERE id IN (3, 30, 300, 1300) ORDER BY id"), true);
    add(format!("SELECT id FROM {p} WHERE id BETWEEN 100 AND 120 ORDER BY id"), true);
    add(format!("SELECT COUNT(*), SUM(amount) FROM {p} WHERE id BETWEEN 100 AND 1200"), true);
    // Binding-group joins (co-located by key) and broadcast joins.
    add(format!("SELECT p.id, p.name, o.id, o.total FROM {p} p JOIN {o} o ON o.customer_id = p.id WHERE p.id = 17 ORDER BY o.id"), true);
    add(format!("SELECT p.id, o.id FROM {p} p JOIN {o} o ON o.customer_id = p.id ORDER BY o.id LIMIT 100"), true);
    add(format!("SELECT p.city, COUNT(*), SUM(o.total) FROM {p} p JOIN {o} o ON o.customer_id = p.id GROUP BY p.city"), true);
    add(format!("SELECT p.id, x.cname FROM {p} p JOIN {c} x ON x.code = p.code ORDER BY p.id LIMIT 60"), true);
    add(format!("SELECT x.cname, COUNT(*) FROM {p} p JOIN {c} x ON x.code = p.code GROUP BY x.cname"), true);
    add(format!("SELECT cname FROM {c} ORDER BY cname"), true);
    // Orders: DECIMAL(12,3) sums and averages, datetimes.
    add(format!("SELECT SUM(total), AVG(total), MIN(placed), MAX(placed) FROM {o}"), true);
    add(format!("SELECT customer_id, SUM(total) AS s FROM {o} GROUP BY customer_id ORDER BY s DESC, customer_id LIMIT 10"), true);
    add(format!("SELECT id, placed FROM {o} ORDER BY placed DESC, id LIMIT 15"), true);
    add(format!("SELECT MONTH(placed) AS m, COUNT(*), AVG(total) FROM {o} GROUP BY MONTH(placed)"), true);
    // utf8mb4_unicode_ci (ß = ss, ä = a), which MariaDB's result metadata does not announce.
    add(format!("SELECT id, alias FROM {p} ORDER BY alias, id LIMIT 60"), true);
    add(format!("SELECT id FROM {p} ORDER BY alias DESC, id DESC LIMIT 30 OFFSET 100"), true);
    add(format!("SELECT COUNT(DISTINCT alias) FROM {p}"), true);
    add(format!("SELECT code, COUNT(DISTINCT alias) FROM {p} GROUP BY code"), true);
    // Column names as the client wrote the select list (the merge re-prints it for the shards).
    add(format!("SELECT id, BINARY name FROM {p} ORDER BY id LIMIT 5"), true);
    add(format!("SELECT id, qty+1, CONCAT(city,'x'), amount  *  2 FROM {p} ORDER BY id DESC LIMIT 4"), true);
    add(format!("SELECT qty+1, COUNT(*) FROM {p} GROUP BY qty+1 ORDER BY qty+1"), true);
    add(format!("SELECT code, MIN(BINARY alias) FROM {p} GROUP BY code ORDER BY code"), true);
    // Plain scatter (no merge needed): compared as multisets.
    add(format!("SELECT id, city FROM {p} WHERE qty = 3"), false);
    add(format!("SELECT id FROM {o} WHERE total > 4990"), false);
    q
}

type Rows = Vec<Vec<Option<String>>>;

/// Records a difference between shardgate's answer and the reference's (as multisets unless `ordered`).
fn compare(what: &str, ordered: bool, got: Result<(Vec<String>, Rows), mysql_async::Error>, want: (Vec<String>, Rows), failures: &mut Vec<String>) {
    let (mut got, (want_names, mut want)) = match got {
        Ok((names, g)) if want.0 == names || want.1.is_empty() => (g, want),
        Ok((names, _)) => return failures.push(format!("{what}\n  column names: shardgate {names:?} reference {:?}", want.0)),
        Err(e) => return failures.push(format!("{what}\n  shardgate: {e}")),
    };
    let _ = want_names;
    if !ordered {
        got.sort();
        want.sort();
    }
    if got != want {
        let first = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        failures.push(format!(
            "{what}\n  rows: shardgate {} reference {}; first difference at row {first}: {:?} vs {:?}",
            got.len(),
            want.len(),
            got.get(first),
            want.get(first)
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_answers_equal_one_unsharded_mariadb() {
    let (p, o, c) = (unique("dp"), unique("dor"), unique("dc"));
    let proxy = start_proxy_with(|text| {
        let header = "[schemas.demo]\ndata_source = \"ds_0\"\n";
        let more = format!("{header}broadcast_tables = [\"{c}\"]\nbinding_groups = [[\"{p}\", \"{o}\"]]\n");
        text.replacen(header, &more, 1)
            + &format!("\n[schemas.demo.tables.{p}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{p}_${{0..1}}\"\n")
            + &format!("\n[schemas.demo.tables.{o}]\nsharding_column = \"customer_id\"\nactual_nodes = \"ds_${{0..1}}.{o}_${{0..1}}\"\n")
    })
    .await;
    let mut sharded = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    let mut reference = direct(lab_port() + 4, Some("demo")).await;
    for stmt in schema(&p, &o, &c).iter().chain(inserts(&p, &o, &c).iter()) {
        sharded.query_drop(stmt).await.unwrap_or_else(|e| panic!("through shardgate: {e}\n{}", &stmt[..stmt.len().min(200)]));
        reference.query_drop(stmt).await.unwrap();
    }
    let queries = corpus(&p, &o, &c);
    assert!(queries.len() >= 150, "the corpus has {} queries", queries.len());
    let mut failures = Vec::new();
    let mut empty = 0;
    for (sql, ordered) in &queries {
        let want = rows(&mut reference, sql).await.unwrap_or_else(|e| panic!("reference rejects {sql}: {e}"));
        empty += usize::from(want.1.is_empty());
        compare(sql, *ordered, rows(&mut sharded, sql).await, want, &mut failures);
    }
    // The corpus again as prepared statements: binary rows, merged and re-encoded by the proxy.
    for (sql, ordered) in &queries {
        let want = exec_rows(&mut reference, sql).await.unwrap_or_else(|e| panic!("reference rejects prepared {sql}: {e}"));
        compare(&format!("prepared {sql}"), *ordered, exec_rows(&mut sharded, sql).await, want, &mut failures);
    }
    for t in [&p, &o, &c] {
        sharded.query_drop(format!("DROP TABLE {t}")).await.unwrap();
        reference.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    }
    assert!(failures.is_empty(), "{} of {} queries differ:\n{}", failures.len(), queries.len(), failures.join("\n"));
    assert!(empty * 20 < queries.len(), "{empty} queries return no rows: the corpus must exercise the merge");
}
