//! Merged comparisons equal MariaDB's own for each collation (issue 23, point 6): generated strings with
//! trailing blanks, tabs and newlines, case, accents, ligatures, ß, dotless i and emoji, in columns of
//! several collations, sharded over four tables; ORDER BY, GROUP BY, DISTINCT, MIN/MAX and COUNT(DISTINCT)
//! through shardgate are compared with the unsharded reference server's answers — the server is the oracle,
//! not the proxy's idea of a collation.

mod common;

use common::{direct, lab_port, opts, start_proxy_with, unique};
use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};

const COLLATIONS: &[(&str, &str)] = &[
    ("gci", "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"),
    ("uci", "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
    ("u520", "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci"),
    ("bin", "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
    ("nopad", "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"),
    ("l1", "VARCHAR(40) CHARACTER SET latin1 COLLATE latin1_swedish_ci"),
    ("vb", "VARBINARY(80)"),
];

const PARTS: &[&str] = &[
    "a", "A", "b", "B", "ä", "Ä", "ae", "æ", "Æ", "ß", "ss", "SS", "é", "e", "E", "ﬁ", "fi", "😀", "😁", "\t", "\n", " ", "_", "-", "0", "9",
    "Œ", "oe", "ı", "I", "i", "z", "Z", "å", "ø", "x",
];

/// A deterministic pseudo-random sequence.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => Some(other.as_sql(true)),
    }
}

async fn rows(c: &mut Conn, sql: &str) -> Result<Vec<Vec<Option<String>>>, mysql_async::Error> {
    let result: Vec<Row> = c.query(sql).await?;
    Ok(result.into_iter().map(|r| r.unwrap().iter().map(text).collect()).collect())
}

/// A string literal MariaDB reads back exactly (hex, converted to the column's character set).
fn literal(s: &str) -> String {
    let hex: String = s.bytes().map(|b| format!("{b:02X}")).collect();
    if hex.is_empty() {
        "''".into()
    } else {
        format!("CONVERT(X'{hex}' USING utf8mb4)")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_comparisons_equal_the_servers_for_each_collation() {
    let t = unique("coll");
    let proxy = start_proxy_with(|text| text + &format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}_${{0..1}}\"\n")).await;
    let mut via = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    let mut reference = direct(lab_port() + 4, Some("demo")).await;
    let columns: Vec<String> = COLLATIONS.iter().map(|(n, ty)| format!("{n} {ty}")).collect();
    let create = format!("CREATE TABLE {t} (id INT PRIMARY KEY, {}) DEFAULT CHARSET=utf8mb4", columns.join(", "));
    let mut rng = Lcg(23);
    let mut values = Vec::new();
    for id in 1..=400 {
        let mut s = String::new();
        for _ in 0..rng.next(4) {
            s.push_str(PARTS[rng.next(PARTS.len() as u64) as usize]);
        }
        if rng.next(4) == 0 {
            s.push_str(&" ".repeat(1 + rng.next(2) as usize));
        }
        // latin1 cannot hold everything: characters outside it become '?' on both sides alike.
        let v = literal(&s);
        let cells: Vec<String> = COLLATIONS.iter().map(|_| v.clone()).collect();
        values.push(format!("({id}, {})", cells.join(", ")));
    }
    for c in [&mut via, &mut reference] {
        c.query_drop("SET NAMES utf8mb4").await.unwrap();
        c.query_drop(&create).await.unwrap();
        for chunk in values.chunks(100) {
            c.query_drop(format!("INSERT IGNORE INTO {t} VALUES {}", chunk.join(", "))).await.unwrap();
        }
    }
    let mut failures = Vec::new();
    let mut compared = 0;
    for (col, _) in COLLATIONS {
        let queries = [
            (format!("SELECT id, {col} FROM {t} ORDER BY {col}, id"), true),
            (format!("SELECT id, {col} FROM {t} ORDER BY {col} DESC, id DESC LIMIT 50"), true),
            (format!("SELECT COUNT(*), MIN(id) AS m FROM {t} GROUP BY {col} ORDER BY m"), true),
            (format!("SELECT COUNT(DISTINCT {col}) FROM {t}"), true),
            (format!("SELECT MIN(id) AS m FROM {t} GROUP BY {col} HAVING COUNT(*) > 1 ORDER BY m"), true),
            (format!("SELECT COUNT(*) FROM (SELECT DISTINCT {col} FROM {t}) d"), false),
        ];
        for (sql, must) in &queries {
            let want = rows(&mut reference, sql).await.unwrap_or_else(|e| panic!("reference: {e}: {sql}"));
            match rows(&mut via, sql).await {
                Ok(got) if got == want => compared += 1,
                Err(mysql_async::Error::Server(e)) if e.code == 1235 && !must => {}
                Ok(got) => {
                    let at = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
                    failures.push(format!("{sql}\n  first difference at row {at}: shardgate {:?} MariaDB {:?}", got.get(at), want.get(at)));
                }
                Err(e) => failures.push(format!("{sql}\n  shardgate: {e}")),
            }
        }
        // MIN and MAX: among values equal under the collation either may be returned; the server says
        // whether ours is equal to its own.
        for f in ["MIN", "MAX"] {
            let sql = format!("SELECT {f}({col}) FROM {t}");
            let want = rows(&mut reference, &sql).await.unwrap().remove(0).remove(0).unwrap_or_default();
            let got = rows(&mut via, &sql).await.map(|mut r| r.remove(0).remove(0).unwrap_or_default());
            match got {
                Ok(g) if g == want => compared += 1,
                Ok(g) => {
                    let same: Option<i64> = reference
                        .query_first(format!("SELECT {} = (SELECT {f}({col}) FROM {t})", literal(&g).replace("USING utf8mb4", "USING utf8mb4")))
                        .await
                        .unwrap();
                    if same != Some(1) {
                        failures.push(format!("{sql}: shardgate {g:?}, MariaDB {want:?}"));
                    }
                    compared += 1;
                }
                Err(e) => failures.push(format!("{sql}: {e}")),
            }
        }
    }
    via.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    reference.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    assert!(failures.is_empty(), "{} differences ({compared} answers equal):\n{}", failures.len(), failures.join("\n"));
}
