//! Exact or refused (issue 23): shapes that used to be refused or silently wrong, each compared with the lab's
//! unsharded reference MariaDB holding the same rows, or checked for an honest refusal (1235).

mod common;

use common::{direct, lab_port, opts, start_proxy_with, unique, Proxy};
use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};

/// Rules with `t` sharded by id over four tables (two per data source), `u` in its binding group by
/// `t_id`, `k` sharded by another column, and broadcast table `b`.
async fn proxy(t: &str, u: &str, k: &str, b: &str) -> Proxy {
    start_proxy_with(|text| {
        let header = "[schemas.demo]\ndata_source = \"ds_0\"\n";
        let more = format!("{header}broadcast_tables = [\"{b}\"]\nbinding_groups = [[\"{t}\", \"{u}\"]]\n");
        text.replacen(header, &more, 1)
            + &format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}_${{0..1}}\"\n")
            + &format!("\n[schemas.demo.tables.{u}]\nsharding_column = \"t_id\"\nactual_nodes = \"ds_${{0..1}}.{u}_${{0..1}}\"\n")
            + &format!("\n[schemas.demo.tables.{k}]\nsharding_column = \"sku\"\nactual_nodes = \"ds_${{0..1}}.{k}_${{0..1}}\"\n")
    })
    .await
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => Some(other.as_sql(true)),
    }
}

type Rows = Vec<Vec<Option<String>>>;

async fn rows(c: &mut Conn, sql: &str) -> Result<Rows, mysql_async::Error> {
    let result: Vec<Row> = c.query(sql).await?;
    Ok(result.into_iter().map(|r| r.unwrap().iter().map(text).collect()).collect())
}

/// Both sides set up with the same tables and rows.
struct Pair {
    via: Conn,
    reference: Conn,
    names: [String; 4],
}

async fn pair() -> (Proxy, Pair) {
    let names = [unique("xt"), unique("xu"), unique("xk"), unique("xb")];
    let [t, u, k, b] = names.clone();
    let proxy = proxy(&t, &u, &k, &b).await;
    let mut via = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    let mut reference = direct(lab_port() + 4, Some("demo")).await;
    let setup = [
        format!("CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20), v INT)"),
        format!("CREATE TABLE {u} (id INT PRIMARY KEY, t_id INT, w INT)"),
        format!("CREATE TABLE {k} (sku INT PRIMARY KEY, t_id INT, price DECIMAL(10,2))"),
        format!("CREATE TABLE {b} (code INT PRIMARY KEY, label VARCHAR(10))"),
        format!("INSERT INTO {t} VALUES {}", (1..=40).map(|i| format!("({i}, 'n{}', {})", i % 7, i % 5)).collect::<Vec<_>>().join(", ")),
        format!("INSERT INTO {u} VALUES {}", (1..=60).map(|i| format!("({i}, {}, {})", 1 + (i * 7) % 40, i % 4)).collect::<Vec<_>>().join(", ")),
        format!("INSERT INTO {k} VALUES {}", (1..=30).map(|i| format!("({i}, {}, {}.25)", 1 + (i * 3) % 40, i)).collect::<Vec<_>>().join(", ")),
        format!("INSERT INTO {b} VALUES (0, 'zero'), (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four')"),
    ];
    for sql in &setup {
        via.query_drop(sql).await.unwrap_or_else(|e| panic!("through shardgate: {e}\n{sql}"));
        reference.query_drop(sql).await.unwrap();
    }
    (proxy, Pair { via, reference, names })
}

impl Pair {
    /// The same statement on both sides: equal rows (sorted unless `ordered`), or a refusal (1235) through
    /// shardgate when `may_refuse`.
    async fn same(&mut self, sql: &str, ordered: bool, may_refuse: bool) -> Result<(), String> {
        let mut want = rows(&mut self.reference, sql).await.map_err(|e| format!("reference: {e}: {sql}"))?;
        let mut got = match rows(&mut self.via, sql).await {
            Ok(g) => g,
            Err(mysql_async::Error::Server(e)) if e.code == 1235 && may_refuse => return Ok(()),
            Err(e) => return Err(format!("{sql}\n  shardgate: {e}")),
        };
        if !ordered {
            got.sort();
            want.sort();
        }
        (got == want).then_some(()).ok_or_else(|| format!("{sql}\n  shardgate {got:?}\n  MariaDB   {want:?}"))
    }

    async fn both(&mut self, sql: &str) {
        self.via.query_drop(sql).await.unwrap_or_else(|e| panic!("through shardgate: {e}\n{sql}"));
        self.reference.query_drop(sql).await.unwrap();
    }

    async fn drop_all(mut self) {
        for n in self.names.clone() {
            self.both(&format!("DROP TABLE {n}")).await;
        }
    }
}

/// Merged reads inside a transaction (autocommit off, and BEGIN) over two tables per data source run on
/// the transaction's own connections: they see its uncommitted writes, as one MariaDB does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_reads_inside_transactions() {
    let (_proxy, mut p) = pair().await;
    let [t, u, _, _] = p.names.clone();
    let queries = [
        (format!("SELECT COUNT(*), SUM(v), MIN(name), MAX(id) FROM {t}"), true),
        (format!("SELECT id, v FROM {t} ORDER BY v DESC, id LIMIT 7"), true),
        (format!("SELECT name, COUNT(*) FROM {t} GROUP BY name ORDER BY name"), true),
        (format!("SELECT DISTINCT v FROM {t} ORDER BY v"), true),
        (format!("SELECT id, name FROM {t} WHERE v = 3"), false),
        (format!("SELECT t.id, COUNT(*) FROM {t} t JOIN {u} u ON u.t_id = t.id GROUP BY t.id ORDER BY t.id"), true),
    ];
    let mut failures = Vec::new();
    for opening in ["SET autocommit = 0", "BEGIN"] {
        p.both(opening).await;
        p.both(&format!("UPDATE {t} SET v = v + 10 WHERE id IN (3, 17, 28)")).await;
        p.both(&format!("INSERT INTO {t} VALUES (41, 'new', 99)")).await;
        for (sql, ordered) in &queries {
            if let Err(e) = p.same(sql, *ordered, false).await {
                failures.push(format!("{opening}: {e}"));
            }
        }
        p.both("ROLLBACK").await;
        p.both("SET autocommit = 1").await;
    }
    for (sql, ordered) in &queries {
        if let Err(e) = p.same(sql, *ordered, false).await {
            failures.push(format!("after ROLLBACK: {e}"));
        }
    }
    p.drop_all().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
