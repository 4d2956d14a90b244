//! COM_STMT_EXECUTE parameter decoding for a statement with 0–3 placeholders.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardgate::session::prepared::Prepared;
use shardgate::sql::tokens::tokenize;

fuzz_target!(|data: &[u8]| {
    let Some((&n, body)) = data.split_first() else { return };
    let sql = ["SELECT 1", "SELECT ? FROM t", "UPDATE t SET a = ? WHERE id = ?", "INSERT INTO t VALUES (?, ?, ?)"][usize::from(n % 4)];
    let mut statement = Prepared::new(sql.to_string(), &tokenize(sql).expect("fixed statements tokenize"));
    if let Ok(values) = statement.bind(body) {
        let _ = statement.text_with(&values);
    }
});
