//! LOAD DATA LOCAL INFILE through shardgate (issue 16): 100,000 CSV rows from the mariadb CLI into a sharded
//! table, each row then found on exactly its node with its exact values; a table without rules takes the file
//! on the default data source; off unless the rules allow it; refused when rows could not be routed.

mod common;

use std::fmt::Write as _;
use std::process::Command;

use common::{direct, ds0_port, ds1_port, opts, start_proxy_with, unique};
use mysql_async::prelude::*;

const ROWS: u64 = 100_000;

/// The CSV: a header line, then `id,"name",amount`; every 997th name holds a comma, a doubled quote and a
/// line break inside its quotes, and every 1000th amount is empty (NULL via \N).
fn csv() -> String {
    let mut out = String::from("id,name,amount\n");
    for id in 1..=ROWS {
        let name = if id % 997 == 0 { format!("tricky, \"\"{id}\"\"\nsecond line") } else { format!("name {id}") };
        let amount = if id % 1000 == 0 { "\\N".to_string() } else { format!("{}.{:02}", id % 5000, id % 100) };
        writeln!(out, "{id},\"{name}\",{amount}").unwrap();
    }
    out
}

fn cli(port: u16, sql: &str) -> std::process::Output {
    Command::new("mariadb")
        .args(["--no-defaults", "-h127.0.0.1", &format!("-P{port}"), "-uapp", "-papp", "--local-infile=1", "-vv", "demo", "-e", sql])
        .output()
        .expect("the mariadb client is installed by tests/run.sh")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_csv_rows_land_each_on_its_node() {
    let (t, b, g) = (unique("ld"), unique("ld_bc"), unique("ld_gen"));
    let p = start_proxy_with(|text| {
        text.replacen("listen = \"127.0.0.1:0\"\n", "listen = \"127.0.0.1:0\"\nlocal_infile = true\n", 1)
            + &format!(
                "\n[schemas.demo.tables.{t}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{t}\"\nalgorithm = \"mod\"\n\
                 \n[schemas.demo.tables.{g}]\nsharding_column = \"id\"\nactual_nodes = \"ds_${{0..1}}.{g}\"\nalgorithm = \"mod\"\nkey_generator = \"sequence\"\n"
            )
    })
    .await;
    let mut c = mysql_async::Conn::new(opts(&p, "app", "app", Some("demo"))).await.unwrap();
    c.query_drop(format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, name VARCHAR(60), amount DECIMAL(10,2))")).await.unwrap();
    let path = std::env::temp_dir().join(format!("{t}.csv"));
    std::fs::write(&path, csv()).unwrap();
    let load = format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE {t} FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' \
         LINES TERMINATED BY '\\n' IGNORE 1 LINES (id, name, amount)",
        path.display()
    );
    let out = cli(p.addr.port(), &load);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("{ROWS} rows affected")), "{text}");
    assert!(text.contains(&format!("Records: {ROWS}  Deleted: 0  Skipped: 0  Warnings: 0")), "{text}");

    // Each row on exactly its node (mod: even ids on ds_0, odd on ds_1), none elsewhere.
    for (port, parity) in [(ds0_port(), 0), (ds1_port(), 1)] {
        let mut d = direct(port, Some("demo")).await;
        let (n, wrong): (u64, u64) = d.query_first(format!("SELECT COUNT(*), COALESCE(SUM(id % 2 <> {parity}), 0) FROM {t}")).await.unwrap().unwrap();
        assert_eq!((n, wrong), (ROWS / 2, 0), "port {port}");
    }
    // Values exactly as in the file, tricky ones included.
    let row: (String, Option<String>) = c.query_first(format!("SELECT name, CAST(amount AS CHAR) FROM {t} WHERE id = 1994")).await.unwrap().unwrap();
    assert_eq!(row, ("tricky, \"1994\"\nsecond line".to_string(), Some("1994.94".to_string())));
    let nulls: Option<i64> = c.query_first(format!("SELECT COUNT(*) FROM {t} WHERE amount IS NULL")).await.unwrap();
    assert_eq!(nulls, Some((ROWS / 1000) as i64));
    let sum: Option<String> = c.query_first(format!("SELECT SUM(amount) FROM {t}")).await.unwrap();
    let expected: u64 = (1..=ROWS).filter(|id| id % 1000 != 0).map(|id| (id % 5000) * 100 + id % 100).sum();
    assert_eq!(sum, Some(format!("{}.{:02}", expected / 100, expected % 100)));

    // Rows that cannot be routed are refused before anything is loaded.
    let bad = std::env::temp_dir().join(format!("{t}-bad.csv"));
    std::fs::write(&bad, "200001,x,1\n\\N,y,2\n").unwrap();
    let out = cli(p.addr.port(), &format!("LOAD DATA LOCAL INFILE '{}' INTO TABLE {t} FIELDS TERMINATED BY ',' (id, name, amount)", bad.display()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR 1235"), "{}", String::from_utf8_lossy(&out.stderr));
    let none: Option<i64> = c.query_first(format!("SELECT COUNT(*) FROM {t} WHERE id = 200001")).await.unwrap();
    assert_eq!(none, Some(0), "nothing was loaded");
    let out = cli(p.addr.port(), &format!("LOAD DATA LOCAL INFILE '{}' INTO TABLE {t} FIELDS TERMINATED BY ',' (name, amount)", bad.display()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lacks the sharding column"), "{}", String::from_utf8_lossy(&out.stderr));

    // A table without rules takes the whole file on the default data source.
    c.query_drop(format!("CREATE TABLE {b} (id BIGINT PRIMARY KEY, name VARCHAR(60), amount DECIMAL(10,2))")).await.unwrap();
    let plain = std::env::temp_dir().join(format!("{t}-plain.csv"));
    std::fs::write(&plain, "1,a,1.5\n2,b,2.5\n3,c,\\N\n").unwrap();
    let out = cli(p.addr.port(), &format!("LOAD DATA LOCAL INFILE '{}' INTO TABLE {b} FIELDS TERMINATED BY ',' (id, name, amount)", plain.display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let on0: Option<i64> = direct(ds0_port(), Some("demo")).await.query_first(format!("SELECT COUNT(*) FROM {b}")).await.unwrap();
    assert_eq!(on0, Some(3));

    // A file without the sharding column: the table's key generator gives every row its key.
    c.query_drop(format!("CREATE TABLE {g} (id BIGINT PRIMARY KEY, name VARCHAR(60), amount DECIMAL(10,2))")).await.unwrap();
    let keyless = std::env::temp_dir().join(format!("{t}-keyless.csv"));
    std::fs::write(&keyless, (1..=1000).map(|i| format!("\"row {i}\",{i}.5\n")).collect::<String>()).unwrap();
    let out = cli(p.addr.port(), &format!("LOAD DATA LOCAL INFILE '{}' INTO TABLE {g} FIELDS TERMINATED BY ',' ENCLOSED BY '\"' (name, amount)", keyless.display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (n, distinct, lo): (i64, i64, i64) = c.query_first(format!("SELECT COUNT(*), COUNT(DISTINCT id), MIN(id) FROM {g}")).await.unwrap().unwrap();
    assert_eq!((n, distinct), (1000, 1000), "every row got its own generated key");
    assert!(lo >= 1);
    for (port, parity) in [(ds0_port(), 0), (ds1_port(), 1)] {
        let wrong: Option<i64> = direct(port, Some("demo")).await.query_first(format!("SELECT COALESCE(SUM(id % 2 <> {parity}), 0) FROM {g}")).await.unwrap();
        assert_eq!(wrong, Some(0), "generated keys routed to their nodes (port {port})");
    }
    let row: Option<(String, String)> = c.query_first(format!("SELECT name, amount FROM {g} WHERE amount = 500.5")).await.unwrap();
    assert_eq!(row, Some(("row 500".to_string(), "500.50".to_string())));
    c.query_drop(format!("DROP TABLE {g}")).await.unwrap();
    let _ = std::fs::remove_file(&keyless);

    // Off unless the rules allow it: MySQL 8's error, and the session goes on.
    let off = common::start_proxy("").await;
    let out = cli(off.addr.port(), &format!("LOAD DATA LOCAL INFILE '{}' INTO TABLE {b} FIELDS TERMINATED BY ','", plain.display()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR 3948"), "{}", String::from_utf8_lossy(&out.stderr));

    c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    c.query_drop(format!("DROP TABLE {b}")).await.unwrap();
    for f in [path, bad, plain] {
        let _ = std::fs::remove_file(f);
    }
}
