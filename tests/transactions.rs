//! Transactions over sharded tables in the modes other than xa (tests/xa.rs): with transaction_mode =
//! "single_source" a transaction stays on the schema's default data source (anything else is refused);
//! with "best_effort" other data sources join on first use and COMMIT/ROLLBACK reach all of them.

mod common;

use common::{direct, ds0_port, ds1_port, opts, start_proxy_with, unique, Proxy};
use mysql_async::prelude::*;
use mysql_async::Conn;

async fn proxy(t: &str, mode: &str) -> Proxy {
    start_proxy_with(|text| {
        format!("transaction_mode = \"{mode}\"\n")
            + &text
            + &format!("\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\nalgorithm = \"mod\"\n")
    })
    .await
}

/// Rows of the physical table on each primary (mod 2: even ids on ds_0, odd on ds_1).
async fn on_backends(t: &str) -> (Vec<i64>, Vec<i64>) {
    let q = format!("SELECT id FROM {t} ORDER BY id");
    (direct(ds0_port(), Some("demo")).await.query(&q).await.unwrap(), direct(ds1_port(), Some("demo")).await.query(&q).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_source_keeps_a_transaction_on_the_default_data_source() {
    let t = unique("tx");
    let p = proxy(&t, "single_source").await;
    let mut c = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY)")).await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("INSERT INTO {t} (id) VALUES (2)")).await.unwrap();
    match c.query_drop(format!("INSERT INTO {t} (id) VALUES (3)")).await.unwrap_err() {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1235, "{}", e.message),
        other => panic!("{other:?}"),
    }
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(on_backends(&t).await, (vec![], vec![]));
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_effort_spans_data_sources_and_ends_everywhere() {
    let t = unique("txb");
    let p = proxy(&t, "best_effort").await;
    let mut c = Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY)")).await.unwrap();

    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("INSERT INTO {t} (id) VALUES (1), (2), (3), (4)")).await.unwrap();
    let inside: Vec<i64> = c.query(format!("SELECT id FROM {t} ORDER BY id")).await.unwrap();
    assert_eq!(inside, [1, 2, 3, 4], "the transaction sees its own writes on both shards");
    assert_eq!(on_backends(&t).await, (vec![], vec![]), "nothing visible outside before COMMIT");
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(on_backends(&t).await, (vec![], vec![]), "ROLLBACK undid both shards");

    c.query_drop("START TRANSACTION").await.unwrap();
    c.query_drop(format!("INSERT INTO {t} (id) VALUES (5), (6)")).await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(on_backends(&t).await, (vec![6], vec![5]));

    // autocommit=0 opens a transaction implicitly; prepared COMMIT ends it everywhere too.
    c.query_drop("SET autocommit = 0").await.unwrap();
    c.exec_drop(format!("INSERT INTO {t} (id) VALUES (?), (?)"), (7, 8)).await.unwrap();
    assert_eq!(on_backends(&t).await, (vec![6], vec![5]));
    c.exec_drop("COMMIT", ()).await.unwrap();
    assert_eq!(on_backends(&t).await, (vec![6, 8], vec![5, 7]));
    c.query_drop("SET autocommit = 1").await.unwrap();
    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
}
