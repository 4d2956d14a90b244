//! Login throttling (src/login_guard.rs) against the real proxy with a real driver: 50 wrong passwords for
//! one user block that user as configured (`max_password_errors = 5`, `password_lock_time_ms = 3000`), the
//! right password is refused while the block lasts, other users log in untouched, and the block ends with
//! the admin statement or with time.

mod common;

use std::time::{Duration, Instant};

use common::{opts, start_proxy_with};
use mysql_async::prelude::*;
use mysql_async::Conn;

fn server_code(e: mysql_async::Error) -> (u16, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.message),
        other => panic!("expected a server error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_wrong_passwords_block_that_user_only_until_unblocked_or_the_time_passes() {
    let proxy = start_proxy_with(|text| {
        text.replacen("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:0\"\nmax_password_errors = 5\npassword_lock_time_ms = 3000", 1)
            .replacen("[data_sources.ds_0]", "[[users]]\nname = \"eve\"\npassword = \"right\"\n\n[data_sources.ds_0]", 1)
    })
    .await;
    let mut codes = Vec::new();
    for _ in 0..50 {
        let e = Conn::new(opts(&proxy, "eve", "wrong", None)).await.map(|_| ()).unwrap_err();
        codes.push(server_code(e));
    }
    // The first five are plain wrong passwords; the fifth in a row blocks eve; the rest are refused as blocked.
    assert!(codes[..5].iter().all(|(c, _)| *c == 1045), "{:?}", &codes[..5]);
    assert!(codes[5..].iter().all(|(c, _)| *c == 4150), "{:?}", &codes[5..8]);
    let (_, message) = &codes[5];
    assert!(message.contains("'eve' is blocked") && message.contains("SET SHARDGATE USER 'eve' UNBLOCKED"), "{message}");

    // The right password too while the block lasts; another user is not delayed.
    let (code, _) = server_code(Conn::new(opts(&proxy, "eve", "right", None)).await.map(|_| ()).unwrap_err());
    assert_eq!(code, 4150);
    let started = Instant::now();
    let mut admin = Conn::new(opts(&proxy, "app", "app", None)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "app logged in at once: {:?}", started.elapsed());
    let stats: Vec<(String, String)> = admin.query("SHOW SHARDGATE STATS").await.unwrap();
    let stat = |n: &str| stats.iter().find(|(k, _)| k == n).map(|(_, v)| v.parse::<u64>().unwrap()).unwrap();
    assert_eq!(stat("logins_failed"), 5, "failures while blocked are not password checks");
    assert_eq!(stat("logins_blocked"), 1 + 45 + 1, "the block, and every attempt refused by it");

    // The admin statement lifts the block at once.
    admin.query_drop("SET SHARDGATE USER 'eve' UNBLOCKED").await.unwrap();
    assert_eq!(admin.affected_rows(), 1, "eve was blocked");
    Conn::new(opts(&proxy, "eve", "right", None)).await.unwrap().disconnect().await.unwrap();

    // Blocked again; this time the block runs out by itself.
    for _ in 0..5 {
        Conn::new(opts(&proxy, "eve", "wrong", None)).await.map(|_| ()).unwrap_err();
    }
    assert_eq!(server_code(Conn::new(opts(&proxy, "eve", "right", None)).await.map(|_| ()).unwrap_err()).0, 4150);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    Conn::new(opts(&proxy, "eve", "right", None)).await.unwrap().disconnect().await.unwrap();
    admin.query_drop("SET SHARDGATE USER 'eve' UNBLOCKED").await.unwrap();
    assert_eq!(admin.affected_rows(), 0, "nobody to unblock");
}
