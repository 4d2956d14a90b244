//! Differential test: the same rows in the lab's unsharded reference instance and, through shardgate, in
//! tables sharded over both shards (a binding group, a table sharded by another key, a broadcast table and a
//! table without rules); a corpus of queries (tests/differential/corpus.rs) must answer identically on both
//! — column names and types, values (as the protocol carries them, so also their binary types), affected rows,
//! warnings and the transaction bits of the status flags — as text and as prepared statements, with autocommit
//! on, after `SET autocommit = 0` and inside `BEGIN … COMMIT`; then a script of writes (with transactions
//! committed and rolled back) must have the same effects, and the tables are compared in full. Rows are
//! compared in order where the ORDER BY is total, as multisets otherwise.

mod common;
#[path = "differential/corpus.rs"]
mod corpus;
#[path = "differential/engine.rs"]
mod engine;

use std::collections::HashSet;
use std::time::Instant;

use common::{direct, lab_port, opts, start_proxy_with, unique};
use corpus::{Names, Step};
use mysql_async::consts::ColumnType;
use mysql_async::prelude::*;
use mysql_async::{Conn, Params, QueryResult, Row, Value};

/// IN_TRANS | AUTOCOMMIT | IN_TRANS_READONLY: what a driver reads to decide whether to COMMIT.
const TRANSACTION_BITS: u16 = 0x0001 | 0x0002 | 0x2000;

/// Everything a client sees of one statement's answer.
#[derive(Clone, Debug, PartialEq)]
struct Answer {
    /// Names and types of the result set's columns (empty when the statement has none).
    columns: Vec<(String, ColumnType)>,
    rows: Vec<Vec<Value>>,
    affected: u64,
    warnings: u16,
    /// The transaction bits of the final OK/EOF packet.
    status: u16,
}

/// An answer, or the server error's code and message.
type Outcome = Result<Answer, (u16, String)>;

async fn drain<P: Protocol>(mut r: QueryResult<'_, '_, P>) -> mysql_async::Result<(Vec<(String, ColumnType)>, Vec<Row>, u64)> {
    let columns = r.columns().map(|cs| cs.iter().map(|c| (c.name_str().into_owned(), c.column_type())).collect()).unwrap_or_default();
    let rows: Vec<Row> = r.collect().await?;
    let affected = r.affected_rows();
    r.drop_result().await?;
    Ok((columns, rows, affected))
}

/// `sql` as text, or prepared (binary protocol) with `params`.
async fn run(c: &mut Conn, sql: &str, prepared: Option<&[Value]>) -> Outcome {
    let result = match prepared {
        None => match c.query_iter(sql).await {
            Ok(r) => drain(r).await,
            Err(e) => Err(e),
        },
        Some(params) => {
            let params = if params.is_empty() { Params::Empty } else { Params::Positional(params.to_vec()) };
            match c.exec_iter(sql, params).await {
                Ok(r) => drain(r).await,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok((columns, rows, affected)) => Ok(Answer {
            columns,
            rows: rows.into_iter().map(Row::unwrap).collect(),
            affected,
            warnings: c.get_warnings(),
            status: c.last_ok_packet().map_or(0xFFFF, |ok| ok.status_flags().bits()) & TRANSACTION_BITS,
        }),
        Err(mysql_async::Error::Server(e)) => Err((e.code, e.message)),
        Err(e) => panic!("{sql}: {e}"),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Bytes(b) => format!("{:?}", String::from_utf8_lossy(b)),
        other => format!("{other:?}"),
    }
}

fn show_row(r: Option<&Vec<Value>>) -> String {
    r.map_or("(none)".into(), |r| format!("[{}]", r.iter().map(show).collect::<Vec<_>>().join(", ")))
}

/// A sort key for multiset comparison (Value's Debug shortens long strings: not a key).
fn key(r: &[Value]) -> Vec<Vec<u8>> {
    r.iter()
        .map(|v| match v {
            Value::Bytes(b) => [&[1u8][..], b].concat(),
            other => [vec![0u8], format!("{other:?}").into_bytes()].concat(),
        })
        .collect()
}

/// How the two answers differ, if they do.
fn difference(ordered: bool, got: &Outcome, want: &Outcome) -> Option<String> {
    let (g, w) = match (got, want) {
        (Ok(g), Ok(w)) => (g, w),
        (Err(g), Err(w)) if g.0 == w.0 => return None,
        (g, w) => {
            let brief = |o: &Outcome| match o {
                Ok(a) => format!("{} rows, {} affected, status {:#x}, first row {}", a.rows.len(), a.affected, a.status, show_row(a.rows.first())),
                Err((code, msg)) => format!("ERROR {code}: {msg}"),
            };
            return Some(format!("shardgate {}\n  MariaDB   {}", brief(g), brief(w)));
        }
    };
    let mut out = Vec::new();
    if g.columns != w.columns {
        out.push(format!("columns: shardgate {:?}\n           MariaDB   {:?}", g.columns, w.columns));
    }
    for (what, a, b) in [("status bits", g.status as u64, w.status as u64), ("affected rows", g.affected, w.affected), ("warnings", g.warnings as u64, w.warnings as u64)] {
        if a != b {
            out.push(format!("{what}: shardgate {a:#x} MariaDB {b:#x}"));
        }
    }
    let (mut gr, mut wr) = (g.rows.clone(), w.rows.clone());
    if !ordered {
        gr.sort_by_cached_key(|r| key(r));
        wr.sort_by_cached_key(|r| key(r));
    }
    if gr != wr && !ordered {
        // Multisets: what only one side has (a few of each).
        let (mut only_g, mut only_w) = (Vec::new(), Vec::new());
        let (mut a, mut b) = (gr.iter().peekable(), wr.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x == y => {
                    a.next();
                    b.next();
                }
                (Some(x), Some(y)) if key(x) < key(y) => only_g.push(show_row(a.next())),
                (Some(_), Some(_)) | (None, Some(_)) => only_w.push(show_row(b.next())),
                (Some(_), None) => only_g.push(show_row(a.next())),
                (None, None) => break,
            }
        }
        out.push(format!(
            "rows: shardgate {} MariaDB {}; {} only through shardgate: {}; {} only on MariaDB: {}",
            gr.len(),
            wr.len(),
            only_g.len(),
            only_g.iter().take(4).cloned().collect::<Vec<_>>().join(" "),
            only_w.len(),
            only_w.iter().take(4).cloned().collect::<Vec<_>>().join(" ")
        ));
    } else if gr != wr {
        let first = gr.iter().zip(&wr).position(|(a, b)| a != b).unwrap_or(gr.len().min(wr.len()));
        out.push(format!(
            "rows: shardgate {} MariaDB {}; first difference at row {first}:\n    shardgate {}\n    MariaDB   {}",
            gr.len(),
            wr.len(),
            show_row(gr.get(first)),
            show_row(wr.get(first))
        ));
    }
    (!out.is_empty()).then(|| out.join("\n  "))
}

/// The two sides, and what differed so far.
struct Lab {
    via: Conn,
    reference: Conn,
    failures: Vec<String>,
    refused: Vec<String>,
    compared: usize,
    /// Answers that came without column definitions (there should be none).
    without_columns: usize,
    /// The reference's transaction bits seen per mode (the modes must really differ).
    seen: HashSet<(String, u16)>,
}

impl Lab {
    /// Runs `sql` on both sides at once and records any difference; returns the reference's answer.
    async fn step(&mut self, mode: &str, sql: &str, prepared: Option<&[Value]>, ordered: bool) -> Outcome {
        let (want, got) = tokio::join!(run(&mut self.reference, sql, prepared), run(&mut self.via, sql, prepared));
        self.compared += 1;
        if let Ok(a) = &want {
            self.seen.insert((mode.to_string(), a.status));
        }
        let how = if prepared.is_some() { "prepared" } else { "text" };
        match &got {
            Err((1235, msg)) if want.is_ok() => self.refused.push(format!("[{mode}, {how}] {sql}\n  refused: {msg}")),
            _ => {
                if let Some(d) = difference(ordered, &got, &want) {
                    self.failures.push(format!("[{mode}, {how}] {sql}\n  {d}"));
                }
            }
        }
        want
    }

    /// A statement that must succeed on the reference (corpus queries, session statements).
    async fn must(&mut self, mode: &str, sql: &str, prepared: Option<&[Value]>, ordered: bool) -> Answer {
        self.step(mode, sql, prepared, ordered).await.unwrap_or_else(|e| panic!("the reference rejects {sql}: {e:?}"))
    }
}

const MODES: [(&str, &[&str], &[&str]); 3] =
    [("autocommit", &[], &[]), ("autocommit = 0", &["SET autocommit = 0"], &["COMMIT", "SET autocommit = 1"]), ("BEGIN", &["BEGIN"], &["COMMIT"])];

/// The corpus in three modes — autocommit on; autocommit off (a transaction opened by the first read,
/// committed now and then); inside BEGIN … COMMIT — as text (every query in every mode) or prepared (every
/// query with autocommit on, and in one of the two transaction modes). Returns how many queries found no rows.
async fn reads(lab: &mut Lab, queries: &[(String, bool)], prepared: bool) -> usize {
    let mut empty = 0;
    for (m, (mode, open, close)) in MODES.iter().enumerate() {
        for sql in *open {
            lab.must(mode, sql, None, true).await;
        }
        for (k, (sql, ordered)) in queries.iter().enumerate() {
            if prepared && m > 0 && k % 2 != m - 1 {
                continue;
            }
            let want = lab.must(mode, sql, prepared.then_some(&[][..]), *ordered).await;
            empty += usize::from(m == 0 && want.rows.is_empty());
            lab.without_columns += usize::from(want.columns.is_empty());
            if *mode == "autocommit = 0" && k % 150 == 149 {
                lab.must(mode, "COMMIT", None, true).await;
            }
        }
        for sql in *close {
            lab.must(mode, sql, None, true).await;
        }
    }
    empty
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_answers_equal_one_unsharded_mariadb() {
    let started = Instant::now();
    let n = Names { p: unique("dp"), o: unique("dor"), i: unique("di"), c: unique("dc"), u: unique("du") };
    let proxy = start_proxy_with(|text| {
        let header = "[schemas.demo]\ndata_source = \"ds_0\"\n";
        let more = format!("{header}broadcast_tables = [\"{}\"]\nbinding_groups = [[\"{}\", \"{}\"]]\n", n.c, n.p, n.o);
        let table = |t: &str, col: &str| format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"{col}\"\nactual_nodes = \"ds_${{0..1}}.{t}_${{0..1}}\"\n");
        text.replacen(header, &more, 1) + &table(&n.p, "id") + &table(&n.o, "customer_id") + &table(&n.i, "sku")
    })
    .await;
    // Two pairs of sessions: the text and the prepared runs go side by side.
    let mut labs = Vec::new();
    for _ in 0..2 {
        let via = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
        let reference = direct(lab_port() + 4, Some("demo")).await;
        labs.push(Lab { via, reference, failures: Vec::new(), refused: Vec::new(), compared: 0, without_columns: 0, seen: HashSet::new() });
    }
    let (mut lab, mut other) = (labs.remove(0), labs.remove(0));
    for stmt in corpus::schema(&n).iter().chain(corpus::inserts(&n).iter()) {
        lab.via.query_drop(stmt).await.unwrap_or_else(|e| panic!("through shardgate: {e}\n{}", &stmt[..stmt.len().min(300)]));
        lab.reference.query_drop(stmt).await.unwrap();
    }

    // The corpus, distinct statements only.
    let mut seen = HashSet::new();
    let queries: Vec<(String, bool)> = corpus::queries(&n).into_iter().chain(engine::queries(&n)).filter(|(sql, _)| seen.insert(sql.clone())).collect();
    assert!(queries.len() >= 600, "the corpus has {} distinct queries", queries.len());
    let (empty, _) = tokio::join!(reads(&mut lab, &queries, false), reads(&mut other, &queries, true));
    let reads = lab.compared + other.compared;
    eprintln!("differential: reads compared after {:.1?}", started.elapsed());

    // The writes: affected rows, errors, status bits and warnings compared statement by statement.
    let script = corpus::writes(&n);
    let (mut writes, mut changed, mut errors, mut checked_after) = (0, 0, 0, 0);
    for step in &script {
        let (sql, params) = match step {
            Step::Text(sql) => (sql, None),
            Step::Prepared(sql, params) => (sql, Some(params.as_slice())),
        };
        writes += usize::from(["INSERT", "UPDATE", "DELETE"].iter().any(|w| sql.starts_with(w)));
        match lab.step("writes", sql, params, true).await {
            Ok(a) => changed += usize::from(a.affected > 0),
            Err(_) => errors += 1,
        }
        // A write across shards in several steps (INSERT … SELECT, ORDER BY … LIMIT, over copies): every
        // table compared in full right after it, inside its transaction too (each side sees its own).
        let several_steps = ["INSERT", "UPDATE", "DELETE"].iter().any(|w| sql.starts_with(w)) && [" JOIN ", "SELECT ", " LIMIT "].iter().any(|k| sql.contains(k));
        if several_steps {
            for t in corpus::tables(&n) {
                lab.must("after a write across shards", &format!("SELECT * FROM {} ORDER BY {}", t.name, t.key), None, true).await;
            }
            checked_after += 1;
        }
    }
    assert!(checked_after >= 25, "{checked_after} writes across shards were followed by a full comparison");

    // Every table in full afterwards, both protocols (the other sessions: the writes were committed).
    let mut smallest = usize::MAX;
    for t in corpus::tables(&n) {
        let sql = format!("SELECT * FROM {} ORDER BY {}", t.name, t.key);
        for prepared in [None, Some(&[][..])] {
            smallest = smallest.min(other.must("after the writes", &sql, prepared, true).await.rows.len());
        }
    }

    // Every copy of the broadcast table alike (a read through the proxy sees one of them).
    let copy = format!("SELECT CONCAT_WS('|', code, IFNULL(cname, '-'), IFNULL(rate, '-'), IFNULL(region, '-')) FROM {} ORDER BY code", n.c);
    let on0: Vec<String> = common::direct(common::ds0_port(), Some("demo")).await.query(&copy).await.unwrap();
    let on1: Vec<String> = common::direct(common::ds1_port(), Some("demo")).await.query(&copy).await.unwrap();
    assert!(on0.len() >= 8 && on0 == on1, "the broadcast table's copies differ:\n{on0:?}\n{on1:?}");

    for t in corpus::tables(&n) {
        lab.via.query_drop(format!("DROP TABLE {}", t.name)).await.unwrap();
        lab.reference.query_drop(format!("DROP TABLE {}", t.name)).await.unwrap();
    }
    eprintln!(
        "differential: {} queries ({empty} without rows) × {} modes, text and prepared ({reads} comparisons), {writes} writes, {} statements compared in {:.1?}",
        queries.len(),
        MODES.len(),
        lab.compared + other.compared,
        started.elapsed()
    );
    let mut report: Vec<String> = lab.failures.iter().chain(&other.failures).cloned().collect();
    let refused: Vec<&String> = lab.refused.iter().chain(&other.refused).collect();
    report.extend(refused.iter().map(|r| format!("REFUSED (no place in this corpus): {r}")));
    assert!(report.is_empty(), "{} differences and {} refusals:\n{}", report.len() - refused.len(), refused.len(), report.join("\n"));
    // Nothing passes vacuously: the queries find rows and have columns, the modes differ, the writes change rows.
    assert!(empty * 20 < queries.len(), "{empty} queries return no rows: the corpus must exercise the merge");
    assert_eq!(lab.without_columns + other.without_columns, 0, "answers without column definitions: nothing to compare names and types of");
    for l in [&lab, &other] {
        for (mode, bits) in [("autocommit", 0x0002), ("autocommit = 0", 0x0001), ("BEGIN", 0x0003)] {
            assert!(l.seen.contains(&(mode.to_string(), bits)), "no statement in mode {mode} left status bits {bits:#x}: {:?}", l.seen);
        }
    }
    assert!(writes >= 80, "the script has {writes} writes");
    assert!(changed >= 70 && errors == 4, "{changed} statements changed rows, {errors} failed (two duplicate keys, one overflow and one subquery of several rows expected)");
    assert!(smallest >= 8, "a table has {smallest} rows after the writes");
}
