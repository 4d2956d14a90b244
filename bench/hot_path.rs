//! criterion micro-benchmarks of shardgate's hot path (issue 3), through the library's public API only.
//!
//!     nice -n 19 cargo bench --bench hot_path                 # everything (~8 min on the 2-core box)
//!     nice -n 19 cargo bench --bench hot_path -- plan/        # one group (criterion's name filter)
//!
//! Groups:
//! - `framing/`   relay bookkeeping: frame_header + ReplyScanner::feed over a backend's reply as the relay sees
//!                it (one contiguous read buffer of frames), for a point select's reply and a 100-row range;
//! - `classify/`  the cheap lexer classifier (lexer::classify) and the hint reader (lexer::hint) that every
//!                COM_QUERY passes through;
//! - `sql/`       the two sqlparser stages the router runs for sharded tables: tokenize, and a full parse;
//! - `plan/`      classify + plan::planner::plan for sysbench's statements, over the single-data-source rules
//!                of the `shardgate` bench target and the sharded rules of `shardgate-sharded`: `sharded_*` is
//!                a plan-cache hit (what every statement of a known shape costs), `full_*` plans from scratch
//!                (plan::route::route, a cache miss without the learning), `prepared_bind_*` binds a prepared
//!                statement's template to its parameter;
//! - `key_to_node/` ShardedTable::node_for (sbtest1 of the sharded rules) and ConsistentHash itself;
//! - `merge_sort/` MergeSort over 4 in-memory streams × 10,000 rows (by an integer and by a utf8mb4 text column).
//!
//! Results and the command are in bench/README.md ("Micro-benchmarks").

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hint::black_box;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use shardgate::config::Rules;
use shardgate::execute::merge_sort::MergeSort;
use shardgate::execute::stream::{Row, RowStream};
use shardgate::execute::value::{column, Collation, Column, Kind};
use shardgate::plan::planner::plan;
use shardgate::plan::Plan;
use shardgate::protocol::packet::frame_header;
use shardgate::protocol::reply::{ReplyKind, ReplyScanner};
use shardgate::protocol::resultset::{encode_column, encode_resultset, ColumnType};
use shardgate::sharding::algorithm::ShardingAlgorithm;
use shardgate::sharding::consistent_hash::ConsistentHash;
use shardgate::sharding::key::{KeyValue, Literal};
use shardgate::sharding::table::{build, SchemaLayout};
use shardgate::sql::lexer::{classify, hint};

// ------------------------------------------------------------------------------------------------ data

/// sysbench 1.0.20's statements as the text protocol (--db-ps-mode=disable, or the client-side emulation
/// of auto mode on sharded tables) sends them: values inlined, `c` 119 and `pad` 59 characters.
const C: &str = "83868641912-28773972837-60736120486-75162659906-27563526494-20381887404-41576422241-93426793964-56405065102-33518432330";
const PAD: &str = "67847967377-48000963322-62604785301-91415491898-96926520291";

fn statements() -> Vec<(&'static str, String)> {
    vec![
        ("point_select", "SELECT c FROM sbtest1 WHERE id=4975".to_string()),
        ("simple_range", "SELECT c FROM sbtest1 WHERE id BETWEEN 5018 AND 5117".to_string()),
        ("sum_range", "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 5018 AND 5117".to_string()),
        ("order_range", "SELECT c FROM sbtest1 WHERE id BETWEEN 5018 AND 5117 ORDER BY c".to_string()),
        ("distinct_range", "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 5018 AND 5117 ORDER BY c".to_string()),
        ("update_index", "UPDATE sbtest1 SET k=k+1 WHERE id=5012".to_string()),
        ("update_non_index", format!("UPDATE sbtest1 SET c='{C}' WHERE id=4893")),
        ("delete", "DELETE FROM sbtest1 WHERE id=5012".to_string()),
        ("insert", format!("INSERT INTO sbtest1 (id, k, c, pad) VALUES (5012, 4988, '{C}', '{PAD}')")),
        ("insert_auto_id", format!("INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, 4988, '{C}', '{PAD}')")),
        ("begin", "BEGIN".to_string()),
    ]
}

/// The `shardgate` bench target's rules: one data source, schema sbtest on it (pass-through).
const SINGLE_RULES: &str = r#"
default_data_source = "ds_0"
[server]
listen = "127.0.0.1:3307"
[[users]]
name = "app"
password = "app"
[data_sources.ds_0]
primary = "127.0.0.1:3310"
user = "app"
password = "app"
[schemas.sbtest]
data_source = "ds_0"
"#;

/// The `shardgate-sharded` bench target's rules (bench/sharded-rules.toml.in, 4 tables).
fn sharded_rules() -> String {
    let mut s = String::from(
        r#"
default_data_source = "ds_0"
[server]
listen = "127.0.0.1:3307"
[[users]]
name = "app"
password = "app"
[data_sources.ds_0]
primary = "127.0.0.1:3310"
user = "app"
password = "app"
[data_sources.ds_1]
primary = "127.0.0.1:3312"
user = "app"
password = "app"
[schemas.sbtest]
data_source = "ds_0"
database = "sbtest_sharded"
"#,
    );
    for n in 1..=4 {
        s += &format!(
            "[schemas.sbtest.tables.sbtest{n}]\nsharding_column = \"id\"\nkey_type = \"integer\"\nalgorithm = \"consistent_hash\"\n\
             actual_nodes = \"ds_${{0..1}}.sbtest{n}\"\nkey_generator = \"sequence\"\n"
        );
    }
    s
}

fn load(text: &str) -> (Rules, HashMap<String, SchemaLayout>) {
    let rules = shardgate::config::parse(text, Path::new("bench.toml")).unwrap_or_else(|e| panic!("rules: {e:?}"));
    let layouts = build(&rules).unwrap_or_else(|e| panic!("layouts: {e:?}"));
    (rules, layouts)
}

/// A reply's payloads framed back to back (header + payload, seq ids from 1), as one read buffer.
fn framed(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes()[..3]);
        out.push((i + 1) as u8);
        out.extend_from_slice(p);
    }
    out
}

/// What the relay loop (backend::conn::relay) does per read buffer, minus the socket calls.
fn scan(buf: &[u8], deprecate_eof: bool) -> u64 {
    let mut scanner = ReplyScanner::new(ReplyKind::ResultSets, deprecate_eof);
    let mut pos = 0;
    while !scanner.is_done() {
        let Some((len, _seq)) = frame_header(&buf[pos..]) else { break };
        scanner.feed(&buf[pos + 4..pos + 4 + len]).expect("well-formed reply");
        pos += 4 + len;
    }
    assert!(scanner.is_done());
    scanner.rows
}

/// Polls a future that never waits (in-memory row streams) to completion.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

// ------------------------------------------------------------------------------------------------ benches

fn framing(c: &mut Criterion) {
    let mut g = c.benchmark_group("framing");
    let cols = [("c", ColumnType::Text)];
    let one_row = vec![vec![Some(C.as_bytes().to_vec())]];
    let hundred: Vec<Vec<Option<Vec<u8>>>> = (0..100).map(|_| vec![Some(C.as_bytes().to_vec())]).collect();
    for deprecate_eof in [false, true] {
        let eof = if deprecate_eof { "ok_eof" } else { "eof" };
        let point = framed(&encode_resultset(&cols, &one_row, deprecate_eof, 2));
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("scan_point_select_reply_{eof}"), |b| b.iter(|| scan(black_box(&point), deprecate_eof)));
        let range = framed(&encode_resultset(&cols, &hundred, deprecate_eof, 2));
        g.throughput(Throughput::Elements(100));
        g.bench_function(format!("scan_100_row_reply_{eof}"), |b| b.iter(|| scan(black_box(&range), deprecate_eof)));
    }
    g.finish();
}

fn classification(c: &mut Criterion) {
    let mut g = c.benchmark_group("classify");
    for (name, sql) in statements() {
        g.bench_function(name, |b| b.iter(|| classify(black_box(&sql))));
    }
    let sql = "SELECT c FROM sbtest1 WHERE id=4975";
    g.bench_function("hint_none_point_select", |b| b.iter(|| hint(black_box(sql))));
    let hinted = "/* shardgate: shard_key=4975 */ SELECT c FROM sbtest1 WHERE id=4975";
    g.bench_function("hint_shard_key_point_select", |b| b.iter(|| hint(black_box(hinted))));
    g.finish();
}

fn sql_stages(c: &mut Criterion) {
    let mut g = c.benchmark_group("sql");
    for (name, sql) in statements().into_iter().filter(|(n, _)| ["point_select", "order_range", "update_non_index", "insert"].contains(n)) {
        g.bench_function(format!("tokenize_{name}"), |b| b.iter(|| shardgate::sql::tokens::tokenize(black_box(&sql))));
        g.bench_function(format!("parse_{name}"), |b| b.iter(|| shardgate::sql::analyze::parse(black_box(&sql))));
    }
    g.finish();
}

fn planning(c: &mut Criterion) {
    let mut g = c.benchmark_group("plan");
    let (single, single_layouts) = load(SINGLE_RULES);
    let sharded_text = sharded_rules();
    let (sharded, sharded_layouts) = load(&sharded_text);
    // What session::dispatch does for a COM_QUERY: classify, then plan (through the plan cache).
    let run = |sql: &str, rules: &Rules, layouts: &HashMap<String, SchemaLayout>| plan(classify(sql), sql, Some("sbtest"), rules, layouts);
    for (name, sql) in statements() {
        if name == "point_select" || name == "begin" {
            g.bench_function(format!("passthrough_{name}"), |b| b.iter(|| run(black_box(&sql), &single, &single_layouts)));
        }
        g.bench_function(format!("sharded_{name}"), |b| b.iter(|| run(black_box(&sql), &sharded, &sharded_layouts)));
    }
    // An INSERT's plan is finished at run time with the generated ids: the split per node is part of its cost.
    let sql = statements().into_iter().find(|(n, _)| *n == "insert_auto_id").unwrap().1;
    let layout = &sharded_layouts["sbtest"];
    for (name, sql) in statements() {
        if matches!(name, "point_select" | "simple_range" | "order_range" | "distinct_range" | "sum_range" | "update_index") {
            g.bench_function(format!("full_{name}"), |b| b.iter(|| shardgate::plan::route::route(black_box(&sql), layout, None, &[])));
        }
    }
    let template = shardgate::plan::planner::prepared_template("SELECT c FROM sbtest1 WHERE id=?", Some("sbtest"), &sharded_layouts).expect("a template");
    let id = [shardgate::sharding::key::Literal::Int(4242)];
    g.bench_function("prepared_bind_point_select", |b| b.iter(|| template.bind(black_box(&id), &[])));
    g.bench_function("sharded_insert_auto_id_plan_and_split", |b| {
        b.iter(|| match run(black_box(&sql), &sharded, &sharded_layouts) {
            Plan::Insert(p) => p.targets(&[1234]).expect("split"),
            other => panic!("not an insert plan: {other:?}"),
        })
    });
    g.finish();
}

fn key_to_node(c: &mut Criterion) {
    let mut g = c.benchmark_group("key_to_node");
    let (_rules, layouts) = load(&sharded_rules());
    let table = layouts["sbtest"].tables["sbtest1"].clone();
    let mut k: i128 = 0;
    g.bench_function("sharded_table_node_for_int", |b| {
        b.iter(|| {
            k = (k + 7919) % 10_000;
            table.node_for(black_box(&Literal::Int(k + 1)))
        })
    });
    let lit = Literal::Str("4975".into());
    g.bench_function("sharded_table_node_for_quoted_int", |b| b.iter(|| table.node_for(black_box(&lit))));
    let names: Vec<String> = (0..2).map(|i| format!("ds_{i}#0")).collect();
    let ring = ConsistentHash::new(&names, 160);
    let mut i: i64 = 0;
    g.bench_function("consistent_hash_2_nodes_160_vnodes", |b| {
        b.iter(|| {
            i = (i + 7919) % 10_000;
            ring.node_for(black_box(&KeyValue::Int(i + 1)))
        })
    });
    let names: Vec<String> = (0..16).map(|i| format!("ds_{i}#0")).collect();
    let ring16 = ConsistentHash::new(&names, 160);
    g.bench_function("consistent_hash_16_nodes_160_vnodes", |b| {
        b.iter(|| {
            i = (i + 7919) % 10_000;
            ring16.node_for(black_box(&KeyValue::Int(i + 1)))
        })
    });
    g.finish();
}

fn merge_sort(c: &mut Criterion) {
    const STREAMS: usize = 4;
    const ROWS: usize = 10_000;
    let mut g = c.benchmark_group("merge_sort");
    g.sample_size(20);
    g.throughput(Throughput::Elements((STREAMS * ROWS) as u64));
    // Read from column definitions as the merge reads a shard's: BIGINT and utf8mb4_general_ci text.
    let columns: Vec<Column> = [("id", ColumnType::Integer), ("c", ColumnType::Text)]
        .iter()
        .map(|(name, ty)| column(&encode_column("sbtest_sharded", "sbtest1", name, *ty)).expect("column definition"))
        .collect();
    assert_eq!(columns[0].kind, Kind::Int);
    assert_eq!(columns[1].kind, Kind::Text(Collation::GeneralCi));
    // Stream s holds ids s+1, s+1+4, …: interleaved like hashed shards; c is the id spelled out, zero-padded,
    // after sysbench's c prefix so text comparisons run past a common prefix.
    let streams = || -> Vec<VecDeque<Row>> {
        (0..STREAMS)
            .map(|s| {
                (0..ROWS)
                    .map(|r| {
                        let id = (r * STREAMS + s + 1) as u64;
                        vec![Some(id.to_string().into_bytes()), Some(format!("{}-{id:08}", &C[..48]).into_bytes())]
                    })
                    .collect()
            })
            .collect()
    };
    let drain = |mut m: MergeSort<VecDeque<Row>>| {
        block_on(async {
            let mut n = 0usize;
            while let Some(row) = m.next_row().await.expect("in-memory") {
                black_box(&row);
                n += 1;
            }
            assert_eq!(n, STREAMS * ROWS);
        })
    };
    for (name, keys) in [("4x10000_by_int", vec![(0, false)]), ("4x10000_by_text_general_ci", vec![(1, false)])] {
        g.bench_function(name, |b| {
            b.iter_batched(|| MergeSort::new(streams(), keys.clone(), columns.clone()), drain, BatchSize::LargeInput)
        });
    }
    g.finish();
}

criterion_group!(benches, framing, classification, sql_stages, planning, key_to_node, merge_sort);
criterion_main!(benches);
