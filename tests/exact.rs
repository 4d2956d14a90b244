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

/// Shapes that were pushed down unsoundly (issue 23, point 7): each is either exactly the reference's
/// answer or refused with 1235, never a silently different one; writes leave the same rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_unsound_pushdown() {
    let (_proxy, mut p) = pair().await;
    let [t, u, k, b] = p.names.clone();
    let reads = [
        // Joins in the binding group on other columns, non-equi, and self-joins off the key.
        format!("SELECT t.id, u.id FROM {t} t JOIN {u} u ON u.id = t.id"),
        format!("SELECT t.id, u.id FROM {t} t JOIN {u} u ON u.t_id < t.id WHERE t.id < 4"),
        format!("SELECT a.id, b.id FROM {t} a JOIN {t} b ON a.v = b.v AND a.id < b.id"),
        format!("SELECT a.id, c.sku FROM {t} a JOIN {k} c ON c.t_id = a.id"),
        format!("SELECT t.id, u.id FROM {t} t, {u} u WHERE u.t_id = t.id OR u.w = 9"),
        // Sound: co-located joins, broadcast joins and subqueries over broadcast tables.
        format!("SELECT t.id, u.id FROM {t} t JOIN {u} u ON u.t_id = t.id"),
        format!("SELECT t.id, x.label FROM {t} t JOIN {b} x ON x.code = t.v"),
        format!("SELECT id FROM {t} WHERE v IN (SELECT code FROM {b} WHERE code > 2)"),
        // Subqueries over sharded tables: under a broadcast outer table, with their own key, as derived
        // tables and CTEs.
        format!("SELECT code FROM {b} WHERE code IN (SELECT v FROM {t})"),
        format!("SELECT id FROM {t} WHERE id = 5 AND v IN (SELECT w FROM {u} WHERE t_id = 9)"),
        format!("SELECT COUNT(*) FROM (SELECT id FROM {t} WHERE v > 1) d"),
        format!("WITH c AS (SELECT id, v FROM {t}) SELECT COUNT(*), SUM(v) FROM c"),
        format!("SELECT id, (SELECT COUNT(*) FROM {u} WHERE {u}.t_id = {t}.id) FROM {t}"),
        format!("SELECT id FROM {t} WHERE EXISTS (SELECT 1 FROM {k} WHERE {k}.t_id = {t}.id)"),
    ];
    let mut failures = Vec::new();
    for sql in &reads {
        if let Err(e) = p.same(sql, false, true).await {
            failures.push(e);
        }
    }
    // The sound shapes must not be refused.
    for sql in &reads[5..8] {
        if let Err(e) = p.same(sql, false, false).await {
            failures.push(format!("refused or different: {e}"));
        }
    }
    let writes = [
        format!("UPDATE {t} SET v = 100 ORDER BY id LIMIT 3"),
        format!("DELETE FROM {t} WHERE v = 4 ORDER BY id DESC LIMIT 2"),
        format!("UPDATE {t} SET v = 7 WHERE id = 12 LIMIT 1"),
        format!("INSERT INTO {b} SELECT id + 100, name FROM {t}"),
        format!("UPDATE {t} t JOIN {u} u ON u.id = t.id SET t.v = 50 WHERE u.w = 1"),
    ];
    for sql in &writes {
        // The reference runs each write in a transaction, rolled back when shardgate refuses it (shardgate
        // must then have changed nothing: the tables are compared at the end).
        p.reference.query_drop("BEGIN").await.unwrap();
        let want = p.reference.query_drop(sql).await.map(|_| p.reference.affected_rows());
        let got = p.via.query_drop(sql).await.map(|_| p.via.affected_rows());
        let refused = matches!(&got, Err(mysql_async::Error::Server(e)) if e.code == 1235);
        p.reference.query_drop(if refused { "ROLLBACK" } else { "COMMIT" }).await.unwrap();
        match (got, want) {
            _ if refused => {}
            (Ok(g), Ok(w)) if g == w => {}
            (g, w) => failures.push(format!("{sql}\n  shardgate {g:?}\n  MariaDB {w:?}")),
        }
    }
    for table in [&t, &u, &b] {
        let sql = format!("SELECT * FROM {table}");
        if let Err(e) = p.same(&sql, false, false).await {
            failures.push(format!("after the writes: {e}"));
        }
    }
    p.drop_all().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}


/// Qualified names (point 3) from no schema and from another schema are planned with their own schema's
/// rules; SHOW TABLES lists only tables that exist (point 10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qualified_names_and_show_tables() {
    let (proxy, mut p) = pair().await;
    let [t, u, _, _] = p.names.clone();
    let mut failures = Vec::new();
    for db in [None, Some("sbtest")] {
        let mut via = Conn::new(opts(&proxy, "app", "app", db)).await.unwrap();
        let mut reference = direct(lab_port() + 4, db).await;
        let id = if db.is_none() { 1001 } else { 1002 };
        for sql in [
            format!("INSERT INTO demo.{t} (id, name, v) VALUES ({id}, 'q', 1)"),
            format!("UPDATE demo.{t} SET v = v + 1 WHERE id = {id} OR id = 7"),
        ] {
            via.query_drop(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            reference.query_drop(&sql).await.unwrap();
        }
        for sql in [
            format!("SELECT COUNT(*), SUM(v) FROM demo.{t}"),
            format!("SELECT id, v FROM demo.{t} WHERE id = {id}"),
            format!("SELECT x.id, y.id FROM demo.{t} x JOIN demo.{u} y ON y.t_id = x.id WHERE x.id = 9 ORDER BY y.id"),
            format!("SELECT name, COUNT(*) FROM demo.{t} GROUP BY name ORDER BY name"),
        ] {
            let (got, want) = (rows(&mut via, &sql).await, rows(&mut reference, &sql).await.unwrap());
            match got {
                Ok(g) if g == want => {}
                other => failures.push(format!("from {db:?}: {sql}\n  shardgate {other:?}\n  MariaDB {want:?}")),
            }
        }
    }
    // The rows landed where the rules say: the demo session finds each by its key.
    for id in [1001, 1002] {
        p.same(&format!("SELECT id, v FROM {t} WHERE id = {id}"), true, false).await.unwrap_or_else(|e| failures.push(e));
    }
    // SHOW TABLES lists the sharded tables that exist, and no table that exists only in the rules.
    let listed: Vec<String> = p.via.query("SHOW TABLES").await.unwrap();
    for name in [&t, &u] {
        if !listed.contains(name) {
            failures.push(format!("SHOW TABLES misses {name}"));
        }
    }
    p.via.query_drop(format!("DROP TABLE {u}")).await.unwrap();
    let listed: Vec<String> = p.via.query("SHOW TABLES").await.unwrap();
    if listed.contains(&u) {
        failures.push(format!("SHOW TABLES lists {u}, which exists only in the rules"));
    }
    p.via.query_drop(format!("CREATE TABLE {u} (id INT PRIMARY KEY, t_id INT, w INT)")).await.unwrap();
    p.drop_all().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// CREATE / ALTER / DROP DATABASE of a logical schema with sharding rules reach every data source (point 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_ddl_reaches_every_shard() {
    let shop = unique("shop");
    let proxy = start_proxy_with(|text| {
        text + &format!("\n[schemas.{shop}]\ndata_source = \"ds_0\"\n[schemas.{shop}.tables.orders]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.orders_${{0..1}}\"\n")
    })
    .await;
    let mut c = Conn::new(opts(&proxy, "app", "app", None)).await.unwrap();
    let exists = |port: u16, name: String| async move {
        let found: Vec<String> = direct(port, None).await.query(format!("SHOW DATABASES LIKE '{name}'")).await.unwrap();
        !found.is_empty()
    };
    c.query_drop(format!("CREATE DATABASE {shop}")).await.unwrap();
    for port in [common::ds0_port(), common::ds1_port()] {
        assert!(exists(port, shop.clone()).await, "{shop} created on the primary at {port}");
    }
    c.query_drop(format!("ALTER DATABASE {shop} CHARACTER SET utf8mb4")).await.unwrap();
    c.query_drop(format!("USE {shop}")).await.unwrap();
    c.query_drop("CREATE TABLE orders (id INT PRIMARY KEY, v INT)").await.unwrap();
    c.query_drop("INSERT INTO orders VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 5)").await.unwrap();
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM orders").await.unwrap();
    assert_eq!(n, Some(5));
    c.query_drop(format!("DROP DATABASE {shop}")).await.unwrap();
    for port in [common::ds0_port(), common::ds1_port()] {
        assert!(!exists(port, shop.clone()).await, "{shop} dropped on the primary at {port}");
    }
}

/// Column names of prepared statements whose rows the proxy merges are MariaDB's (`?` for a placeholder),
/// not the values bound into the text (point 8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_column_names_are_mariadbs() {
    let (_proxy, mut p) = pair().await;
    let [t, _, _, _] = p.names.clone();
    let mut failures = Vec::new();
    for (sql, params) in [
        (format!("SELECT ?, COUNT(*) FROM {t} WHERE v > ?"), vec![Value::from(5), Value::from(1)]),
        (format!("SELECT id, ? AS tag, BINARY name FROM {t} WHERE v = ? ORDER BY id"), vec![Value::from("x"), Value::from(2)]),
        (format!("SELECT name, ?, SUM(v) FROM {t} GROUP BY name ORDER BY name"), vec![Value::from(3)]),
    ] {
        let mut answers = Vec::new();
        for c in [&mut p.via, &mut p.reference] {
            let result: Vec<Row> = c.exec(&sql, params.clone()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            let names: Vec<String> = result[0].columns_ref().iter().map(|c| c.name_str().into_owned()).collect();
            let values: Rows = result.into_iter().map(|r| r.unwrap().iter().map(text).collect()).collect();
            answers.push((names, values));
        }
        if answers[0] != answers[1] {
            failures.push(format!("{sql}\n  shardgate {:?}\n  MariaDB {:?}", answers[0], answers[1]));
        }
    }
    p.drop_all().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
