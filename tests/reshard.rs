//! `shardgate reshard plan` against the lab grown to three shards: the moves it reports go only to the new
//! node, their estimated rows match the rows that really move, and what is not a reshard is refused.

mod common;

use mysql_async::prelude::Queryable;
use shardgate::sharding::key::Literal;

fn rules(table: &str, nodes: &str, algorithm: &str, ds2: u16) -> String {
    common::rules_text(&format!(
        r#"
[schemas.demo.tables.{table}]
sharding_column = "id"
actual_nodes = "{nodes}"
algorithm = "{algorithm}"

[data_sources.ds_2]
primary = "127.0.0.1:{ds2}"
user = "app"
password = "app"
"#
    ))
}

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

fn plan(config: &std::path::Path, to: &std::path::Path) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .args(["reshard", "plan", "--config"])
        .arg(config)
        .arg("--to")
        .arg(to)
        .output()
        .expect("run shardgate reshard plan");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A table sharded over two nodes through a proxy of its own, and the rules that grow it to three.
struct Grow {
    ds2: u16,
    t: String,
    two: String,
    three: String,
    c: mysql_async::Conn,
    port: u16,
    live: shardgate::server::Live,
}

async fn grow(prefix: &str) -> Grow {
    common::require_lab();
    let ds2 = common::shard3_up();
    let t = common::unique(prefix);
    let two = rules(&t, &format!("ds_${{0..1}}.{t}"), "consistent_hash", ds2);
    let three = two.replace(&format!("ds_${{0..1}}.{t}"), &format!("ds_${{0..2}}.{t}"));
    let server = shardgate::server::Server::bind(shardgate::config::parse(&two, "two.toml".as_ref()).unwrap()).await.unwrap();
    let (port, live) = (server.local_addr().port(), server.live());
    tokio::spawn(server.serve());
    let c = mysql_async::Conn::new(common::opts_at(port, "app", "app", Some("demo"))).await.unwrap();
    Grow { ds2, t, two, three, c, port, live }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_two_to_three_reports_the_moving_keys_and_refuses_what_is_not_a_reshard() {
    let Grow { t, two, three, mut c, .. } = grow("rplan").await;
    c.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v VARCHAR(20))")).await.unwrap();
    const N: i128 = 3000;
    for chunk in (1..=N).collect::<Vec<_>>().chunks(500) {
        let values: Vec<String> = chunk.iter().map(|i| format!("({i}, 'v{i}')")).collect();
        c.query_drop(format!("INSERT INTO {t} (id, v) VALUES {}", values.join(","))).await.unwrap();
    }
    // InnoDB's TABLE_ROWS is an estimate refreshed by ANALYZE; the plan reads it.
    for port in [common::ds0_port(), common::ds1_port()] {
        common::direct(port, Some("demo")).await.query_drop(format!("ANALYZE TABLE {t}")).await.unwrap();
    }

    // The rows that really move, by the same rings the proxy routes with.
    let (two_path, three_path) = (write("two", &two), write("three", &three));
    let moves = shardgate::reshard::plan::diff(&shardgate::config::load(&two_path).unwrap(), &shardgate::config::load(&three_path).unwrap()).unwrap();
    let m = &moves[0];
    let mut really = [0u64; 2];
    for id in 1..=N {
        let from = m.old.node_for(&Literal::Int(id)).unwrap();
        if m.destination(from, &Literal::Int(id)).is_some() {
            really[from] += 1;
        }
    }

    let (ok, out, err) = plan(&two_path, &three_path);
    assert!(ok, "plan failed: {out}\n{err}");
    println!("{out}");
    let mut estimated = [0u64; 2];
    for line in out.lines().filter(|l| l.starts_with(&format!("demo.{t} "))) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f[2], format!("ds_2.{t}"), "a key moved between the old nodes: {line}");
        let from = if f[1] == format!("ds_0.{t}") { 0 } else { 1 };
        estimated[from] = f[4].parse().unwrap();
    }
    for i in 0..2 {
        let (e, r) = (estimated[i] as f64, really[i] as f64);
        assert!(r > 0.0 && (e - r).abs() <= r * 0.25, "ds_{i}: estimated {e} rows, really {r}");
    }
    let share = (really[0] + really[1]) as f64 / N as f64;
    assert!((0.22..0.45).contains(&share), "moved share {share} (ideal 1/3)");
    assert!(out.contains("ideal share for the nodes added or removed is 33.3%"), "{out}");

    // Going back from three to two: the third node's table must exist to be measured; here it does not.
    let (ok, _, err) = plan(&three_path, &two_path);
    assert!(!ok && err.contains(&format!("ds_2.{t}")) && err.contains("does not exist"), "{err}");
    // A change of algorithm is not a reshard.
    let modulo = write("mod", &three.replace("algorithm = \"consistent_hash\"", "algorithm = \"mod\""));
    let (ok, _, err) = plan(&two_path, &modulo);
    assert!(!ok && err.contains("algorithm") && err.contains(&format!("demo.{t}")), "{err}");

    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

/// Reads the binlog until `n` row changes of `table` arrived; returns them and the commit positions seen.
async fn changes_of(
    reader: &mut shardgate::reshard::binlog::BinlogReader,
    table: &str,
    n: usize,
) -> (Vec<shardgate::reshard::binlog::Change>, Vec<shardgate::reshard::binlog::Position>) {
    use shardgate::reshard::binlog::Item;
    let (mut changes, mut commits) = (Vec::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while changes.len() < n {
        let item = tokio::time::timeout_at(deadline, reader.next()).await.expect("binlog changes within 20 s").expect("binlog read");
        match item {
            Item::Rows { database, table: t, changes: c } if database == "demo" && t == table => changes.extend(c),
            Item::Commit(p) => commits.push(p),
            _ => {}
        }
    }
    (changes, commits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binlog_reader_decodes_mariadb_row_events_and_resumes_at_a_commit() {
    use mysql_async::Value as V;
    use shardgate::reshard::binlog::{current, BinlogReader, Change};
    common::require_lab();
    let port = common::shard3_up();
    let text = rules("unused", "ds_${0..1}.unused", "consistent_hash", port);
    let rules = shardgate::config::parse(&text, std::path::Path::new("t.toml")).unwrap();
    let ds = &rules.data_sources["ds_2"];
    let t = common::unique("rbin");
    let start = current("ds_2", ds).await.unwrap();
    let mut c = common::direct(port, Some("demo")).await;
    c.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v VARCHAR(20), d DECIMAL(10,2), n INT NULL)")).await.unwrap();
    c.query_drop(format!("INSERT INTO {t} VALUES (1, 'a', 1.50, NULL), (2, 'b', 2.00, 7)")).await.unwrap();
    c.query_drop(format!("UPDATE {t} SET v = 'a2' WHERE id = 1")).await.unwrap();
    c.query_drop(format!("DELETE FROM {t} WHERE id = 2")).await.unwrap();

    let mut reader = BinlogReader::open("ds_2", ds, &start, 0x7fff_0001).await.unwrap();
    let (got, commits) = changes_of(&mut reader, &t, 4).await;
    let row = |id: i64, v: &str, d: &str, n: Option<i64>| vec![V::Int(id), V::Bytes(v.into()), V::Bytes(d.into()), n.map_or(V::NULL, V::Int)];
    assert_eq!(
        got,
        vec![
            Change::Insert(row(1, "a", "1.50", None)),
            Change::Insert(row(2, "b", "2.00", Some(7))),
            Change::Update(row(1, "a", "1.50", None), row(1, "a2", "1.50", None)),
            Change::Delete(row(2, "b", "2.00", Some(7))),
        ]
    );
    // The CREATE TABLE and the INSERT's transaction are commits; reopening after the INSERT's commit starts
    // with the UPDATE.
    assert!(commits.len() >= 2 && commits.iter().all(|p| *p > start && p.file == start.file), "{commits:?} after {start:?}");
    let after_insert = commits[1].clone();
    let mut again = BinlogReader::open("ds_2", ds, &after_insert, 0x7fff_0002).await.unwrap();
    let (resumed, _) = changes_of(&mut again, &t, 2).await;
    assert!(matches!(&resumed[0], Change::Update(..)) && matches!(&resumed[1], Change::Delete(..)), "{resumed:?}");

    // XA: MariaDB logs the changes at XA PREPARE; they are handed out at XA COMMIT (after a plain insert
    // committed in between), a rolled-back one never, and resuming stays before a prepared one.
    let xa_start = current("ds_2", ds).await.unwrap();
    let mut x = common::direct(port, Some("demo")).await;
    let (x1, x2) = (format!("'{t}-1'"), format!("'{t}-2'"));
    for sql in [format!("XA START {x1}"), format!("INSERT INTO {t} VALUES (10, 'xa', 0, NULL)"), format!("XA END {x1}"), format!("XA PREPARE {x1}")] {
        x.query_drop(sql).await.unwrap();
    }
    c.query_drop(format!("INSERT INTO {t} VALUES (11, 'plain', 0, NULL)")).await.unwrap();
    let mut xa = BinlogReader::open("ds_2", ds, &xa_start, 0x7fff_0003).await.unwrap();
    let (first, _) = changes_of(&mut xa, &t, 1).await;
    assert_eq!(first, vec![Change::Insert(row(11, "plain", "0.00", None))], "the prepared insert is held");
    assert!(xa.resume_from() <= xa_start.clone().max(xa.resume_from()) && xa.resume_from() < current("ds_2", ds).await.unwrap());
    assert_eq!(xa.pending_tables(), vec![("demo".to_string(), t.clone())]);
    x.query_drop(format!("XA COMMIT {x1}")).await.unwrap();
    for sql in [format!("XA START {x2}"), format!("INSERT INTO {t} VALUES (12, 'gone', 0, NULL)"), format!("XA END {x2}"), format!("XA PREPARE {x2}"), format!("XA ROLLBACK {x2}")] {
        x.query_drop(sql).await.unwrap();
    }
    c.query_drop(format!("INSERT INTO {t} VALUES (13, 'last', 0, NULL)")).await.unwrap();
    let (rest, _) = changes_of(&mut xa, &t, 2).await;
    assert_eq!(rest, vec![Change::Insert(row(10, "xa", "0.00", None)), Change::Insert(row(13, "last", "0.00", None))], "committed XA at its commit, rolled back never");
    assert!(xa.pending_tables().is_empty());
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_moves_exactly_the_leaving_rows_and_resumes_from_its_cursor() {
    use shardgate::reshard::copy::{prepare, Copier, CopyProgress};
    let Grow { ds2, t, two, three, mut c, .. } = grow("rcopy").await;
    c.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v VARCHAR(20), d DECIMAL(12,4), n DOUBLE NULL)")).await.unwrap();
    const N: i64 = 2000;
    let values: Vec<String> = (1..=N).map(|i| format!("({i}, 'v{i}', {i}.0125, {})", if i % 7 == 0 { "NULL".into() } else { format!("{i}.5e-3") })).collect();
    c.query_drop(format!("INSERT INTO {t} VALUES {}", values.join(","))).await.unwrap();

    let (old, new) = (shardgate::config::parse(&two, "a.toml".as_ref()).unwrap(), shardgate::config::parse(&three, "b.toml".as_ref()).unwrap());
    let moves = shardgate::reshard::plan::diff(&old, &new).unwrap();
    let m = &moves[0];
    assert_eq!(prepare(&old, &new, m).await.unwrap(), vec![format!("ds_2.{t}")]);
    // Node 0: two chunks, then the copier is dropped (a crash) and a new one resumes from the progress.
    let mut p0 = CopyProgress::default();
    {
        let mut copier = Copier::open(&old, &new, m, 0).await.unwrap();
        assert!(copier.chunk(&mut p0, 300).await.unwrap());
        assert!(copier.chunk(&mut p0, 300).await.unwrap());
    }
    assert_eq!(p0.scanned, 600);
    let mut copier = Copier::open(&old, &new, m, 0).await.unwrap();
    while copier.chunk(&mut p0, 300).await.unwrap() {}
    // Node 1 in one go; then node 0 again from the start: REPLACE makes the repeat harmless.
    let mut p1 = CopyProgress::default();
    let mut copier = Copier::open(&old, &new, m, 1).await.unwrap();
    while copier.chunk(&mut p1, 500).await.unwrap() {}
    let mut again = CopyProgress::default();
    let mut copier = Copier::open(&old, &new, m, 0).await.unwrap();
    while copier.chunk(&mut again, 1000).await.unwrap() {}
    assert_eq!(again.copied, p0.copied);
    assert_eq!(p0.scanned + p1.scanned, N as u64);

    let expected: Vec<i64> = (1..=N)
        .filter(|&i| {
            let from = m.old.node_for(&Literal::Int(i.into())).unwrap();
            m.destination(from, &Literal::Int(i.into())).is_some()
        })
        .collect();
    assert_eq!(p0.copied + p1.copied, expected.len() as u64);
    let mut d2 = common::direct(ds2, Some("demo")).await;
    let landed: Vec<(i64, String, String, Option<f64>)> = d2.query(format!("SELECT id, v, CAST(d AS CHAR), n FROM {t} ORDER BY id")).await.unwrap();
    assert_eq!(landed.iter().map(|r| r.0).collect::<Vec<_>>(), expected, "the new node holds exactly the leaving rows");
    for (id, v, d, n) in &landed {
        assert_eq!((v.clone(), d.clone()), (format!("v{id}"), format!("{id}.0125")));
        assert_eq!(*n, (id % 7 != 0).then(|| format!("{id}.5e-3").parse::<f64>().unwrap()));
    }
    // The sources are untouched until cut-over.
    let total: Option<i64> = c.query_first(format!("SELECT COUNT(*) FROM {t}")).await.unwrap();
    assert_eq!(total, Some(N));
    // Cut-over's clean-up: the sources drop their leaving rows (throttled batches); then every row is on
    // exactly the node the new rules say, once.
    use shardgate::reshard::cleanup::delete_foreign;
    let mut deleted = 0;
    for node in &m.old.nodes {
        deleted += delete_foreign(&old, m, node, &m.new, 250, std::time::Duration::from_millis(1)).await.unwrap();
    }
    assert_eq!(deleted, expected.len() as u64);
    let mut seen = std::collections::BTreeSet::new();
    for (i, port) in [common::ds0_port(), common::ds1_port(), ds2].into_iter().enumerate() {
        let ids: Vec<i64> = common::direct(port, Some("demo")).await.query(format!("SELECT id FROM {t}")).await.unwrap();
        for id in ids {
            assert_eq!(m.new.node_for(&Literal::Int(id.into())), Some(i), "row {id} on the wrong node");
            assert!(seen.insert(id), "row {id} twice");
        }
    }
    assert_eq!(seen.len() as i64, N);
    // Aborting instead would empty the new node: nothing there belongs to it under the old rules.
    let gone = delete_foreign(&new, m, &m.new.nodes[2], &m.old, 1000, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(gone, expected.len() as u64);
    d2.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_then_binlog_catch_up_leaves_the_new_node_equal_to_the_leaving_rows_under_writes() {
    use shardgate::reshard::binlog::{current, BinlogReader};
    use shardgate::reshard::catchup::{catch_up_to, Applier};
    use shardgate::reshard::copy::{prepare, Copier, CopyProgress};
    let Grow { ds2, t, two, three, mut c, .. } = grow("rcatch").await;
    // An UNSIGNED column above the signed range: binlog images carry it as a negative number.
    c.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v VARCHAR(40), u INT UNSIGNED NOT NULL)")).await.unwrap();
    const N: i64 = 1500;
    let rows: Vec<String> = (1..=N).map(|i| format!("({i}, 'v{i}', {})", 4_000_000_000 + i)).collect();
    c.query_drop(format!("INSERT INTO {t} VALUES {}", rows.join(","))).await.unwrap();

    let (old, new) = (shardgate::config::parse(&two, "a.toml".as_ref()).unwrap(), shardgate::config::parse(&three, "b.toml".as_ref()).unwrap());
    let moves = shardgate::reshard::plan::diff(&old, &new).unwrap();
    let m = &moves[0];
    prepare(&old, &new, m).await.unwrap();
    // Where catch-up will start: before the copy reads anything.
    let mut starts = Vec::new();
    for ds in ["ds_0", "ds_1"] {
        starts.push(current(ds, &old.data_sources[ds]).await.unwrap());
    }
    let mut p0 = CopyProgress::default();
    let mut copier = Copier::open(&old, &new, m, 0).await.unwrap();
    copier.chunk(&mut p0, 400).await.unwrap();
    // Writes during the copy: updates, deletes, inserts of new keys (through the proxy, old rules).
    c.query_drop(format!("UPDATE {t} SET v = CONCAT('u', id) WHERE id % 3 = 0")).await.unwrap();
    c.query_drop(format!("DELETE FROM {t} WHERE id % 11 = 0")).await.unwrap();
    let more: Vec<String> = (N + 1..=N + 300).map(|i| format!("({i}, 'n{i}', 4294967000)")).collect();
    c.query_drop(format!("INSERT INTO {t} VALUES {}", more.join(","))).await.unwrap();
    while copier.chunk(&mut p0, 400).await.unwrap() {}
    let mut p1 = CopyProgress::default();
    let mut copier = Copier::open(&old, &new, m, 1).await.unwrap();
    while copier.chunk(&mut p1, 400).await.unwrap() {}
    // And after it.
    c.query_drop(format!("UPDATE {t} SET v = 'late', u = 4294967295 - id WHERE id % 5 = 0")).await.unwrap();
    c.query_drop(format!("DELETE FROM {t} WHERE id > {N} AND id <= {}", N + 50)).await.unwrap();

    let mut applied = 0;
    for (from, ds) in ["ds_0", "ds_1"].into_iter().enumerate() {
        let until = current(ds, &old.data_sources[ds]).await.unwrap();
        let mut reader = BinlogReader::open(ds, &old.data_sources[ds], &starts[from], 0x7fff_0100 + from as u32).await.unwrap();
        let mut appliers = vec![Applier::open(&old, &new, m, from).await.unwrap()];
        let reached = tokio::time::timeout(std::time::Duration::from_secs(30), catch_up_to(&mut reader, &mut appliers, &starts[from], &until, None, None))
            .await
            .expect("caught up within 30 s")
            .unwrap();
        assert!(reached >= until);
        applied += appliers[0].applied;
    }
    assert!(applied > 0, "catch-up applied nothing");

    let all: Vec<(i64, String, u64)> = c.query(format!("SELECT id, v, u FROM {t} ORDER BY id")).await.unwrap();
    let expected: Vec<(i64, String, u64)> = all
        .into_iter()
        .filter(|(id, _, _)| {
            let key = Literal::Int((*id).into());
            m.destination(m.old.node_for(&key).unwrap(), &key).is_some()
        })
        .collect();
    let mut d2 = common::direct(ds2, Some("demo")).await;
    let landed: Vec<(i64, String, u64)> = d2.query(format!("SELECT id, v, u FROM {t} ORDER BY id")).await.unwrap();
    assert!(expected.len() > 400, "{} rows leave", expected.len());
    assert_eq!(landed, expected, "the new node differs from the leaving rows on the sources");
    // Verification agrees, and catches a changed row.
    use shardgate::reshard::verify::{differences, sources, targets};
    let left = sources(&old, m).await.unwrap();
    assert_eq!(left.values().map(|t| t.rows).sum::<u64>(), expected.len() as u64);
    assert_eq!(differences(m, &left, &targets(&new, m).await.unwrap()), Vec::<String>::new());
    d2.query_drop(format!("UPDATE {t} SET v = 'changed' WHERE id = {}", expected[0].0)).await.unwrap();
    let diff = differences(m, &left, &targets(&new, m).await.unwrap());
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].contains(&format!("ds_2.{t}")), "{diff:?}");
    d2.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_over_holds_the_tables_switches_the_rules_and_releases_with_no_row_missing_or_doubled() {
    use shardgate::reshard::cleanup::delete_foreign;
    use shardgate::reshard::copy::{prepare, Copier, CopyProgress};
    use shardgate::cutover_gate::Gate;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let Grow { ds2, t, two, three, c: mut a, port, live } = grow("rcut").await;
    let parse = |text: &str| shardgate::config::parse(text, "r.toml".as_ref()).unwrap();
    let opts = common::opts_at(port, "app", "app", Some("demo"));
    a.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v VARCHAR(20))")).await.unwrap();
    const N: i64 = 400;
    let rows: Vec<String> = (1..=N).map(|i| format!("({i}, 'v{i}')")).collect();
    a.query_drop(format!("INSERT INTO {t} VALUES {}", rows.join(","))).await.unwrap();
    let (old, new) = (parse(&two), parse(&three));
    let moves = shardgate::reshard::plan::diff(&old, &new).unwrap();
    let m = &moves[0];
    let leaves = |id: i64| {
        let key = Literal::Int(id.into());
        m.destination(m.old.node_for(&key).unwrap(), &key).is_some()
    };
    let (moved, stays) = ((1..=N).find(|&i| leaves(i)).unwrap(), (1..=N).find(|&i| !leaves(i)).unwrap());
    prepare(&old, &new, m).await.unwrap();
    for from in 0..2 {
        let mut p = CopyProgress::default();
        let mut copier = Copier::open(&old, &new, m, from).await.unwrap();
        while copier.chunk(&mut p, 150).await.unwrap() {}
    }
    let stmt = a.prep(format!("SELECT v FROM {t} WHERE id = ?")).await.unwrap();
    let gate = Arc::new(Gate::with_rules(&[t.clone()], new.clone()));
    live.load().reshard_gate.store(Some(gate.clone()));

    // A transaction that touched a moving row keeps the cut-over out until it ends.
    let mut b = mysql_async::Conn::new(opts.clone()).await.unwrap();
    b.query_drop("BEGIN").await.unwrap();
    b.query_drop(format!("SELECT v FROM {t} WHERE id = {moved} FOR UPDATE")).await.unwrap();
    assert!(gate.hold(Duration::from_millis(300)).await.is_none(), "held while a transaction was open");
    b.query_drop("COMMIT").await.unwrap();
    let mut reader = mysql_async::Conn::new(opts.clone()).await.unwrap();
    let hold = gate.hold(Duration::from_secs(5)).await.expect("held once the transaction ended");
    let held = Instant::now();
    let count = tokio::spawn({
        let sql = format!("SELECT COUNT(*) FROM {t}");
        async move { reader.query_first::<i64, _>(sql).await.unwrap() }
    });
    // A text statement whose row stays runs through the hold; one whose row moves waits like the count.
    let mut c3 = mysql_async::Conn::new(opts.clone()).await.unwrap();
    let unmoved: Option<String> = tokio::time::timeout(Duration::from_secs(2), c3.query_first(format!("SELECT v FROM {t} WHERE id = {stays}")))
        .await
        .expect("a row that stays is read during the hold")
        .unwrap();
    assert_eq!(unmoved, Some(format!("v{stays}")));
    c3.query_drop(format!("UPDATE {t} SET v = 'held' WHERE id = {stays}")).await.unwrap();
    let moving = tokio::spawn({
        let (opts, sql) = (opts.clone(), format!("SELECT v FROM {t} WHERE id = {moved}"));
        async move { mysql_async::Conn::new(opts).await.unwrap().query_first::<String, _>(sql).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!count.is_finished(), "a read of the table ran during the hold");
    assert!(!moving.is_finished(), "a read of a moving row ran during the hold");
    // Under the hold: verify, delete the sources' residue, switch the rules.
    use shardgate::reshard::verify::{differences, sources, targets};
    assert!(differences(m, &sources(&old, m).await.unwrap(), &targets(&new, m).await.unwrap()).is_empty());
    for node in &m.old.nodes {
        delete_foreign(&old, m, node, &m.new, 500, Duration::ZERO).await.unwrap();
    }
    shardgate::reload::switch(&live, new.clone(), "the test's cut-over").await.unwrap();
    drop(hold);
    let pause = held.elapsed();
    assert_eq!(count.await.unwrap(), Some(N), "the held read saw a row missing or doubled");
    assert_eq!(moving.await.unwrap(), Some(format!("v{moved}")), "the held read of the moved row found it on its new node");
    println!("cut-over pause (incl. the 200 ms the test waits) {pause:?}");

    // After: the statement prepared before the switch finds the moved row on its new node; writes go there.
    let v: Option<String> = a.exec_first(&stmt, (moved,)).await.unwrap();
    assert_eq!(v, Some(format!("v{moved}")));
    a.query_drop(format!("UPDATE {t} SET v = 'after' WHERE id = {moved}")).await.unwrap();
    let on2: Option<String> = common::direct(ds2, Some("demo")).await.query_first(format!("SELECT v FROM {t} WHERE id = {moved}")).await.unwrap();
    assert_eq!(on2.as_deref(), Some("after"));
    for port in [common::ds0_port(), common::ds1_port()] {
        let n: Option<i64> = common::direct(port, Some("demo")).await.query_first(format!("SELECT COUNT(*) FROM {t} WHERE id = {moved}")).await.unwrap();
        assert_eq!(n, Some(0), "the moved row is still on its old node");
    }
    let b_value: Option<String> = a.query_first(format!("SELECT v FROM {t} WHERE id = {stays}")).await.unwrap();
    assert_eq!(b_value.as_deref(), Some("held"), "the write made during the hold is there");
    a.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}
