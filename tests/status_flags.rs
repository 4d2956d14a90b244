//! Status flags and transaction outcomes exactly as one MariaDB gives them (issue 23, points 1 and 12):
//! the same session scripts run through shardgate (a sharded table, a broadcast table, xa mode) and on the
//! lab's unsharded reference; after every statement the transaction bits of the OK/EOF status (IN_TRANS,
//! AUTOCOMMIT, IN_TRANS_READONLY) must be equal, and the rows a script leaves must be equal.

mod common;

use common::{direct, lab_port, opts, start_proxy_with, unique, Proxy};
use mysql_async::prelude::*;
use mysql_async::Conn;

/// IN_TRANS | AUTOCOMMIT | IN_TRANS_READONLY: what a driver reads to decide whether to COMMIT.
const TRANSACTION_BITS: u16 = 0x0001 | 0x0002 | 0x2000;

async fn sharded_proxy(t: &str, b: &str) -> Proxy {
    start_proxy_with(|text| {
        let header = "[schemas.demo]\ndata_source = \"ds_0\"\n";
        let more = format!("{header}broadcast_tables = [\"{b}\"]\n");
        text.replacen(header, &more, 1)
            + &format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}_${{0..1}}\"\n")
    })
    .await
}

/// The transaction bits after `sql`, or the error code.
async fn step(c: &mut Conn, sql: &str) -> Result<u16, u16> {
    match c.query_drop(sql).await {
        Ok(()) => Ok(c.last_ok_packet().map_or(0xFFFF, |ok| ok.status_flags().bits()) & TRANSACTION_BITS),
        Err(mysql_async::Error::Server(e)) => Err(e.code),
        Err(e) => panic!("{sql}: {e}"),
    }
}

async fn table_rows(c: &mut Conn, t: &str) -> Vec<(i64, i64)> {
    c.query(format!("SELECT id, v FROM {t} ORDER BY id")).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_status_bits_equal_one_mariadb() {
    let (t, b) = (unique("st"), unique("sb"));
    let proxy = sharded_proxy(&t, &b).await;
    let mut via = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    let mut reference = direct(lab_port() + 4, Some("demo")).await;
    for c in [&mut via, &mut reference] {
        c.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)")).await.unwrap();
        c.query_drop(format!("CREATE TABLE {b} (id INT PRIMARY KEY, v INT)")).await.unwrap();
        c.query_drop(format!("INSERT INTO {t} VALUES (1, 0), (2, 0), (3, 0), (4, 0)")).await.unwrap();
        c.query_drop(format!("INSERT INTO {b} VALUES (1, 0)")).await.unwrap();
    }
    // Each script starts from autocommit on, outside a transaction.
    let scripts: Vec<Vec<String>> = vec![
        vec!["SET autocommit = 0".into(), format!("INSERT INTO {t} VALUES (10, 1)"), "COMMIT".into(), format!("SELECT * FROM {t} WHERE id = 10")],
        vec!["SET autocommit = 0".into(), format!("UPDATE {t} SET v = v + 1"), format!("SELECT COUNT(*) FROM {t}"), "ROLLBACK".into()],
        vec!["SET autocommit = 0".into(), "SELECT 1".into(), format!("SELECT * FROM {t} WHERE id = 2"), format!("SELECT * FROM {t}"), "COMMIT".into()],
        vec!["SET autocommit = 0".into(), format!("UPDATE {b} SET v = v + 1"), "COMMIT".into(), format!("SELECT v FROM {b}")],
        vec!["SET autocommit = 0".into(), format!("DELETE FROM {t} WHERE id = 10"), "SELECT VERSION() IS NOT NULL".into(), "COMMIT".into()],
        vec!["BEGIN".into(), format!("SELECT * FROM {t}"), format!("UPDATE {t} SET v = 5 WHERE id = 3"), "COMMIT".into(), "SELECT 1".into()],
        vec!["START TRANSACTION".into(), format!("INSERT INTO {t} VALUES (11, 1), (12, 2)"), "ROLLBACK".into()],
        vec!["START TRANSACTION READ ONLY".into(), format!("SELECT * FROM {t}"), "COMMIT".into()],
        vec!["SET autocommit = 0".into(), format!("INSERT INTO {t} VALUES (13, 1)"), "SET autocommit = 1".into(), format!("SELECT * FROM {t} WHERE id = 13")],
        vec!["SET autocommit = 0".into(), format!("INSERT INTO {t} VALUES (14, 1)"), "BEGIN".into(), "ROLLBACK".into(), "SET autocommit = 1".into()],
        vec![format!("UPDATE {t} SET v = v + 1 WHERE id = 1"), format!("SELECT * FROM {t}"), "BEGIN".into(), "COMMIT".into()],
    ];
    let mut failures = Vec::new();
    for (n, script) in scripts.iter().enumerate() {
        for sql in script {
            let (got, want) = (step(&mut via, sql).await, step(&mut reference, sql).await);
            if got != want {
                failures.push(format!("script {n}, `{sql}`: shardgate {got:x?}, MariaDB {want:x?}"));
            }
        }
        for c in [&mut via, &mut reference] {
            c.query_drop("ROLLBACK").await.unwrap();
            c.query_drop("SET autocommit = 1").await.unwrap();
        }
    }
    assert_eq!(table_rows(&mut via, &t).await, table_rows(&mut reference, &t).await, "rows after the scripts");
    assert_eq!(table_rows(&mut via, &b).await, table_rows(&mut reference, &b).await, "broadcast rows after the scripts");
    for c in [&mut via, &mut reference] {
        c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
        c.query_drop(format!("DROP TABLE {b}")).await.unwrap();
    }
    assert!(failures.is_empty(), "status bits differ from MariaDB's:\n{}", failures.join("\n"));
}

/// A deadlock inside cross-shard XA transactions (both span both shards; the lock cycle is on one of them,
/// where InnoDB sees it): the victim gets 1213 as on MariaDB, every branch of its transaction is rolled back,
/// and its next BEGIN, statements and COMMIT work; the rows are what one MariaDB leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_rolls_back_every_branch_and_the_session_goes_on() {
    let (t, b) = (unique("dl"), unique("dlb"));
    let proxy = sharded_proxy(&t, &b).await;
    let mut a = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    let mut v = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    a.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)")).await.unwrap();
    // Ids per data source, found through EXPLAIN SHARDING.
    let mut on: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for id in 1..=40 {
        let plan: Vec<(String, String)> = a.query(format!("EXPLAIN SHARDING SELECT * FROM {t} WHERE id = {id}")).await.unwrap();
        on.entry(plan[0].0.clone()).or_default().push(id);
    }
    let lists: Vec<&Vec<i64>> = on.values().collect();
    assert!(lists.len() == 2 && lists.iter().all(|l| l.len() >= 3), "ids on both data sources: {on:?}");
    let (x, y) = (lists[0][0], lists[0][1]); // the cycle, on one shard
    let (ax, vx) = (lists[1][0], lists[1][1]); // each transaction's own row on the other shard
    let all: Vec<String> = [x, y, ax, vx].iter().map(|id| format!("({id}, 0)")).collect();
    a.query_drop(format!("INSERT INTO {t} VALUES {}", all.join(", "))).await.unwrap();
    a.query_drop("BEGIN").await.unwrap();
    v.query_drop("BEGIN").await.unwrap();
    a.query_drop(format!("UPDATE {t} SET v = 1 WHERE id = {ax}")).await.unwrap();
    v.query_drop(format!("UPDATE {t} SET v = 2 WHERE id = {vx}")).await.unwrap();
    a.query_drop(format!("UPDATE {t} SET v = 1 WHERE id = {x}")).await.unwrap();
    v.query_drop(format!("UPDATE {t} SET v = 2 WHERE id = {y}")).await.unwrap();
    let t2 = t.clone();
    let waiter = tokio::spawn(async move {
        let r = a.query_drop(format!("UPDATE {t2} SET v = 1 WHERE id = {y}")).await;
        (a, r)
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let second = v.query_drop(format!("UPDATE {t} SET v = 2 WHERE id = {x}")).await;
    let (mut a, first) = waiter.await.unwrap();
    let codes: Vec<Option<u16>> = [&first, &second]
        .iter()
        .map(|r| match r {
            Ok(()) => None,
            Err(mysql_async::Error::Server(e)) => Some(e.code),
            Err(e) => panic!("{e}"),
        })
        .collect();
    assert_eq!(codes.iter().flatten().copied().collect::<Vec<_>>(), vec![1213], "exactly one deadlock victim: {codes:?}");
    let victim_first = codes[0].is_some();
    let (victim, survivor, survivor_value, victim_own) = if victim_first { (&mut a, &mut v, 2, ax) } else { (&mut v, &mut a, 1, vx) };
    survivor.query_drop("COMMIT").await.unwrap();
    // MariaDB rolled the victim's whole transaction back: its row on the other shard is unchanged, and it is
    // outside any transaction (autocommit on).
    let status = |c: &Conn| c.last_ok_packet().map_or(0, |ok| ok.status_flags().bits()) & TRANSACTION_BITS;
    victim.query_drop("DO 1").await.unwrap();
    assert_eq!(status(victim), 0x0002, "the victim is outside a transaction after the deadlock");
    victim.query_drop("BEGIN").await.unwrap();
    victim.query_drop(format!("UPDATE {t} SET v = 9 WHERE id = {victim_own}")).await.unwrap();
    victim.query_drop("COMMIT").await.unwrap();
    let rows = table_rows(victim, &t).await;
    for (id, val) in &rows {
        let want = if *id == victim_own { 9 } else if [x, y].contains(id) { survivor_value } else if [ax, vx].contains(id) { survivor_value } else { 0 };
        assert_eq!(*val, want, "row {id} in {rows:?}");
    }
    victim.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

/// SHOW WARNINGS, SHOW ERRORS, SHOW COUNT(*) WARNINGS and @@warning_count describe the previous statement
/// wherever it ran — merged over every shard of a scatter — as one MariaDB does (point 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_describe_the_previous_statement() {
    let (t, b) = (unique("sw"), unique("swb"));
    let proxy = sharded_proxy(&t, &b).await;
    let mut via = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    let mut reference = direct(lab_port() + 4, Some("demo")).await;
    let script = [
        "SET sql_mode = ''".to_string(),
        format!("CREATE TABLE {t} (id INT PRIMARY KEY, v TINYINT, s VARCHAR(3))"),
        format!("INSERT INTO {t} VALUES (1, 1000, 'abcdef'), (2, 5, 'x'), (3, -1000, 'y'), (4, 7, 'zzzzz')"),
        "SHOW WARNINGS".into(),
        "SHOW COUNT(*) WARNINGS".into(),
        "SELECT @@warning_count".into(),
        "SELECT 1".into(),
        "SHOW WARNINGS".into(),
        format!("UPDATE {t} SET v = v * 100"),
        "SHOW WARNINGS".into(),
        format!("SELECT id FROM {t} WHERE id = 2"),
        "SHOW COUNT(*) WARNINGS".into(),
        format!("SELECT nosuch FROM {t}"),
        "SHOW ERRORS".into(),
        "SELECT @@error_count".into(),
        format!("SELECT id, CAST(s AS DECIMAL(5,2)) FROM {t} ORDER BY id"),
        "SHOW WARNINGS".into(),
        format!("DROP TABLE {t}"),
    ];
    let mut failures = Vec::new();
    for sql in &script {
        let mut answers = Vec::new();
        for c in [&mut via, &mut reference] {
            let answer = match c.query::<mysql_async::Row, _>(sql).await {
                Ok(rows) => {
                    let mut out: Vec<Vec<String>> = rows.into_iter().map(|r| r.unwrap().iter().map(|v| v.as_sql(true)).collect()).collect();
                    if sql.starts_with("SHOW WARNINGS") || sql.starts_with("SHOW ERRORS") {
                        out.sort(); // rows of several shards come in data-source order
                    }
                    Ok((out, c.get_warnings()))
                }
                Err(mysql_async::Error::Server(e)) => Err(e.code),
                Err(e) => panic!("{sql}: {e}"),
            };
            answers.push(answer);
        }
        // Row numbers in messages count each shard's rows (README: a statement split over shards numbers
        // the rows of each part); everything else must be equal.
        let strip = |a: &Result<(Vec<Vec<String>>, u16), u16>| {
            let mut a = a.clone();
            if let Ok((rows, _)) = &mut a {
                for r in rows.iter_mut() {
                    for v in r.iter_mut() {
                        if let Some(at) = v.find(" at row ") {
                            v.truncate(at);
                        }
                    }
                }
                rows.sort();
            }
            format!("{a:?}")
        };
        if strip(&answers[0]) != strip(&answers[1]) {
            failures.push(format!("`{sql}`\n  shardgate {:?}\n  MariaDB   {:?}", answers[0], answers[1]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
