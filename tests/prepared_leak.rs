//! No backend statement leaks: after 10,000 prepare/execute/close cycles from several clients,
//! Prepared_stmt_count on every backend is at most what the proxy's per-connection statement caches may hold
//! for the statement texts used (sessions share backend connections between statements, and a statement
//! prepared on a pooled connection stays there for the next session that prepares the same text, as in
//! ProxySQL's statement cache) — it does not grow with the number of cycles. Alone in its binary so that no
//! other test's statements are counted.

mod common;

use common::{direct, ds0_port, ds1_port, opts, start_proxy_with, unique};
use mysql_async::prelude::*;
use mysql_async::Conn;

async fn prepared_count() -> [u64; 2] {
    let mut out = [0; 2];
    for (i, port) in [ds0_port(), ds1_port()].into_iter().enumerate() {
        let row: Option<(String, u64)> = direct(port, None).await.query_first("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'").await.unwrap();
        out[i] = row.unwrap().1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_prepare_execute_close_cycles_leak_nothing() {
    let t = unique("psl");
    let proxy = start_proxy_with(|text| {
        text + &format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"user_id\"\nactual_nodes = \"ds_${{0..1}}.{t}_${{0..1}}\"\n")
    })
    .await;
    let mut setup = Conn::new(opts(&proxy, "app", "app", Some("demo"))).await.unwrap();
    setup.query_drop(format!("CREATE TABLE {t} (user_id BIGINT PRIMARY KEY, v INT)")).await.unwrap();
    setup.query_drop(format!("INSERT INTO {t} (user_id, v) VALUES (1, 1), (2, 2), (3, 3), (4, 4)")).await.unwrap();
    let before = prepared_count().await;
    let mut clients = Vec::new();
    for client in 0..4i64 {
        let o = opts(&proxy, "app", "app", Some("demo"));
        let (t, sharded_sql) = (t.clone(), format!("SELECT v FROM {t} WHERE user_id = ?"));
        clients.push(tokio::spawn(async move {
            let mut c = Conn::new(o).await.unwrap();
            for i in 0..2_500i64 {
                // Alternate a sharded statement and one on a table without rules (passed through).
                let sql = if i % 2 == 0 { sharded_sql.clone() } else { "SELECT ? + 1".to_string() };
                let stmt = c.prep(&sql).await.unwrap();
                let v: Option<i64> = c.exec_first(&stmt, (1 + (i + client) % 4,)).await.unwrap();
                assert!(v.is_some(), "{t}");
                c.close(stmt).await.unwrap();
            }
            c.disconnect().await.unwrap();
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let after = prepared_count().await;
    // Backend texts: the sharded statement on each physical table (two per data source) and, on ds_0, the
    // statement on no table; at most four backend connections per data source (four clients).
    let bound = [3 * 4, 2 * 4];
    for i in 0..2 {
        assert!(after[i] - before[i] <= bound[i], "Prepared_stmt_count on ds_{i}: {} → {} (at most {} cached)", before[i], after[i], bound[i]);
    }
    setup.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}
