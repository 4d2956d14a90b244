//! Multi-statement COM_QUERY (issue 16): one string whose statements reach both shards, the default data
//! source and a replica, read by PyMySQL (client_flag=MULTI_STATEMENTS) and mysql_async; a failing
//! statement in the middle ends the reply and the rest do not run; COM_SET_OPTION turns it off and on.

mod common;

use std::process::Command;

use common::{direct, ds0_port, ds1_port, lab_port, opts, start_proxy_with, unique};
use mysql_async::prelude::*;

/// Rules with `t` sharded over ds_0/ds_1 and ds_0 read from its replica.
async fn proxy(t: &str) -> common::Proxy {
    let replica = lab_port() + 1;
    start_proxy_with(|text| {
        let edited = text.replacen(
            "password = \"app\"\n\n[data_sources.ds_1]",
            &format!("password = \"app\"\nreplicas = [{{ address = \"127.0.0.1:{replica}\" }}]\nhealth_check_interval_ms = 200\n\n[data_sources.ds_1]"),
            1,
        );
        assert_ne!(edited, text);
        edited + &format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\nalgorithm = \"mod\"\n")
    })
    .await
}

async fn com_select(port: u16) -> u64 {
    let row: Option<(String, u64)> = direct(port, None).await.query_first("SHOW GLOBAL STATUS LIKE 'Com_select'").await.unwrap();
    row.unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_of_one_query_route_each_on_their_own() {
    let t = unique("ms");
    let plain = unique("ms_plain");
    let p = proxy(&t).await;
    let mut c = mysql_async::Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    // Setup in one multi-statement query too: DDL fan-out and a table without rules.
    c.query_drop(format!(
        "CREATE TABLE {t} (id INT PRIMARY KEY, v VARCHAR(10)); CREATE TABLE {plain} (id INT PRIMARY KEY, v VARCHAR(10)); \
         INSERT INTO {plain} VALUES (1, 'plain')"
    ))
    .await
    .unwrap();
    // Let the replica catch up and the health check see it serving before reads go there.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let replica_before = com_select(lab_port() + 1).await;

    // mysql_async: an INSERT over both shards, a merged read, a read of the default data source (on the
    // replica), an UPDATE on one shard and a final read — five results in one reply.
    let sql = format!(
        "INSERT INTO {t} (id, v) VALUES (1, 'a'), (2, 'b'), (3, 'c'); SELECT id, v FROM {t} ORDER BY id; \
         SELECT v FROM {plain} WHERE id = 1; UPDATE {t} SET v = 'B' WHERE id = 2; SELECT COUNT(*) FROM {t}"
    );
    let mut result = c.query_iter(sql).await.unwrap();
    let mut sets: Vec<Vec<mysql_async::Row>> = Vec::new();
    let mut affected = Vec::new();
    while !result.is_empty() {
        affected.push(result.affected_rows());
        sets.push(result.collect().await.unwrap());
    }
    drop(result);
    assert_eq!(sets.len(), 5, "one result per statement");
    assert_eq!(affected[0], 3, "the INSERT's OK");
    let rows: Vec<(i32, String)> = sets[1].iter().map(|r| (r.get(0).unwrap(), r.get(1).unwrap())).collect();
    assert_eq!(rows, [(1, "a".into()), (2, "b".into()), (3, "c".into())]);
    assert_eq!(sets[2][0].get::<String, _>(0).unwrap(), "plain");
    assert_eq!(affected[3], 1, "the UPDATE's OK");
    assert_eq!(sets[4][0].get::<i64, _>(0).unwrap(), 3);
    assert!(com_select(lab_port() + 1).await > replica_before, "the plain read ran on the replica");
    // The rows are on their shards (mod: odd ids on ds_1).
    let on0: Vec<i32> = direct(ds0_port(), Some("demo")).await.query(format!("SELECT id FROM {t} ORDER BY id")).await.unwrap();
    let on1: Vec<i32> = direct(ds1_port(), Some("demo")).await.query(format!("SELECT id FROM {t} ORDER BY id")).await.unwrap();
    assert_eq!((on0, on1), (vec![2], vec![1, 3]));

    // A failing statement ends the reply: the first result arrives, then the error; the INSERT after it does
    // not run; the connection stays usable.
    let failing = format!("SELECT 1; SELECT * FROM no_such_table_{t}; INSERT INTO {t} (id, v) VALUES (9, 'x')");
    let mut result = c.query_iter(failing).await.unwrap();
    let first: Vec<i64> = result.collect().await.unwrap();
    assert_eq!(first, [1]);
    let err = result.collect::<mysql_async::Row>().await.unwrap_err();
    let mysql_async::Error::Server(e) = err else { panic!("{err:?}") };
    assert_eq!(e.code, 1146, "{}", e.message);
    drop(result);
    let nine: Option<i64> = c.query_first(format!("SELECT COUNT(*) FROM {t} WHERE id = 9")).await.unwrap();
    assert_eq!(nine, Some(0), "statements after the failing one did not run");

    // PyMySQL with MULTI_STATEMENTS reads the same kind of reply.
    let port = p.addr.port();
    let py = format!(
        "import pymysql, json\nfrom pymysql.constants import CLIENT\n\
         c = pymysql.connect(host='127.0.0.1', port={port}, user='app', password='app', database='demo', client_flag=CLIENT.MULTI_STATEMENTS)\n\
         cur = c.cursor()\ncur.execute(\"SELECT v FROM {t} WHERE id = 2; DELETE FROM {t} WHERE id = 3; SELECT v FROM {plain}; SELECT id FROM {t} ORDER BY id\")\n\
         out = [[list(r) for r in cur.fetchall()]]\n\
         while cur.nextset():\n    out.append([list(r) for r in cur.fetchall()] if cur.description else cur.rowcount)\n\
         print(json.dumps(out))"
    );
    let out = Command::new("python3").args(["-c", &py]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got, serde_json::json!([[["B"]], 1, [["plain"]], [[1], [2]]]));

    // COM_SET_OPTION off: a multi-statement string is one (invalid) statement again; on: split again.
    let mut raw = common::raw::RawClient::connect(p.addr, "app", "app", Some("demo"), common::raw::CLASSIC, 45).await.unwrap();
    let off = raw.command(&[0x1B, 1, 0]).await;
    assert_eq!(off.payload[0], 0xFE, "EOF answers COM_SET_OPTION");
    let r = raw.command(b"\x03SELECT 1; SELECT 2").await;
    assert_eq!(r.payload[0], 0xFF, "with multi-statements off the backend sees one statement and refuses it");
    let on = raw.command(&[0x1B, 0, 0]).await;
    assert_eq!(on.payload[0], 0xFE);
    let r = raw.query_result("SELECT 1; SELECT 2").await;
    assert_eq!(&r.rows[0].payload[..], b"\x011");
    let flags = u16::from_le_bytes([r.end.payload[3], r.end.payload[4]]);
    assert_ne!(flags & 0x0008, 0, "SERVER_MORE_RESULTS_EXISTS on the first result's EOF");
    // The second result follows: column count, column, EOF, the row, EOF (sequence ids continue).
    let mut packets = Vec::new();
    for _ in 0..5 {
        packets.push(raw.read().await);
    }
    assert_eq!(&packets[3].payload[..], b"\x012");
    assert_eq!(packets[0].seq, r.end.seq.wrapping_add(1), "sequence ids continue across results");
    assert_eq!(u16::from_le_bytes([packets[4].payload[3], packets[4].payload[4]]) & 0x0008, 0, "the last result ends the reply");

    // A stored procedure's several results pass through (CALL on the default data source), alone and inside a
    // multi-statement string; its body's own `;` do not split the CREATE PROCEDURE.
    let proc = format!("{t}_p");
    c.query_drop(format!("CREATE PROCEDURE {proc}() BEGIN SELECT 1 AS a; SELECT 'two' AS b; END")).await.unwrap();
    let mut r = c.query_iter(format!("CALL {proc}()")).await.unwrap();
    let a: Vec<i64> = r.collect().await.unwrap();
    let b: Vec<String> = r.collect().await.unwrap();
    drop(r);
    assert_eq!((a, b), (vec![1], vec!["two".to_string()]));
    let mut r = c.query_iter(format!("CALL {proc}(); SELECT id FROM {t} ORDER BY id")).await.unwrap();
    let mut sets = Vec::new();
    while !r.is_empty() {
        let rows: Vec<mysql_async::Row> = r.collect().await.unwrap();
        sets.push(rows.iter().map(|row| row.get::<String, _>(0).unwrap()).collect::<Vec<_>>());
    }
    drop(r);
    let ids: Vec<String> = c.query(format!("SELECT id FROM {t} ORDER BY id")).await.unwrap();
    assert_eq!(sets.first(), Some(&vec!["1".to_string()]));
    assert_eq!(sets.last(), Some(&ids), "the statement after the CALL: {sets:?}");
    c.query_drop(format!("DROP PROCEDURE {proc}")).await.unwrap();

    c.query_drop(format!("DROP TABLE {t}; DROP TABLE {plain}")).await.unwrap();
}
