//! The diagnostics area: what SHOW WARNINGS, SHOW ERRORS, SHOW COUNT(*) WARNINGS/ERRORS, `@@warning_count`
//! and `@@error_count` describe — the previous statement, wherever it ran. The statement's replies note
//! which data sources reported warnings (or the error it ended in); right after it, while its connections
//! are still the session's, the proxy reads those data sources' SHOW WARNINGS and keeps the rows, merged in
//! data-source order. As on MariaDB, a statement that uses no table (`SELECT 1`, `SET`, `DO`) leaves the
//! previous statement's diagnostics in place; every other one replaces them.

use crate::error::SgError;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use crate::session::session::Session;
pub use crate::execute::warnings::Note;
use crate::execute::warnings::{read_notes, SHOW_WARNINGS};

/// MariaDB's default max_error_count: at most this many rows are kept.
const MAX_ROWS: usize = 64;

/// A question about the diagnostics area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// SHOW WARNINGS or SHOW ERRORS: the rows.
    Show {
        /// SHOW ERRORS (errors only).
        errors: bool,
    },
    /// SHOW COUNT(*) WARNINGS / ERRORS.
    Count {
        /// Errors only.
        errors: bool,
    },
    /// SELECT @@warning_count / @@error_count (the column named as written).
    Variable {
        /// @@error_count.
        errors: bool,
    },
}

/// The question `sql` asks, if it is one of these statements exactly.
pub fn question(sql: &str) -> Option<Question> {
    // Cheap refusal first: this runs for every statement.
    let head = sql.trim_start().as_bytes();
    let starts = |p: &[u8]| head.len() >= p.len() && head[..p.len()].eq_ignore_ascii_case(p);
    if head.len() > 40 || !(starts(b"SHOW") || starts(b"SELECT")) || !(sql.contains('@') || starts(b"SHOW")) {
        return None;
    }
    let words: Vec<String> = sql.trim().trim_end_matches(';').split_whitespace().map(str::to_ascii_uppercase).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words[..] {
        ["SHOW", "WARNINGS"] => Some(Question::Show { errors: false }),
        ["SHOW", "ERRORS"] => Some(Question::Show { errors: true }),
        ["SHOW", "COUNT(*)", "WARNINGS"] => Some(Question::Count { errors: false }),
        ["SHOW", "COUNT(*)", "ERRORS"] => Some(Question::Count { errors: true }),
        ["SELECT", "@@WARNING_COUNT" | "@@SESSION.WARNING_COUNT"] => Some(Question::Variable { errors: false }),
        ["SELECT", "@@ERROR_COUNT" | "@@SESSION.ERROR_COUNT"] => Some(Question::Variable { errors: true }),
        _ => None,
    }
}

/// Answers `q` from the kept diagnostics.
pub async fn answer(session: &mut Session, q: Question, sql: &str) -> Result<(), SgError> {
    let errors_only = |n: &&Note| n.level == "Error";
    let count = |errors: bool| session.diagnostics.iter().filter(|n| !errors || errors_only(n)).count();
    let (columns, rows): (Vec<(String, ColumnType)>, Vec<Vec<Option<Vec<u8>>>>) = match q {
        Question::Show { errors } => (
            vec![("Level".into(), ColumnType::Text), ("Code".into(), ColumnType::Integer), ("Message".into(), ColumnType::Text)],
            session
                .diagnostics
                .iter()
                .filter(|n| !errors || errors_only(n))
                .map(|n| vec![Some(n.level.clone().into_bytes()), Some(n.code.to_string().into_bytes()), Some(n.message.clone().into_bytes())])
                .collect(),
        ),
        Question::Count { errors } => {
            let name = if errors { "@@session.error_count" } else { "@@session.warning_count" };
            (vec![(name.into(), ColumnType::Integer)], vec![vec![Some(count(errors).to_string().into_bytes())]])
        }
        Question::Variable { errors } => {
            // The column is named as the client wrote the variable.
            let name = sql.trim().trim_end_matches(';').split_whitespace().nth(1).unwrap_or("@@warning_count").to_string();
            (vec![(name, ColumnType::Integer)], vec![vec![Some(count(errors).to_string().into_bytes())]])
        }
    };
    let columns: Vec<(&str, ColumnType)> = columns.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let packets = encode_resultset(&columns, &rows, session.state.deprecate_eof(), session.state.status);
    session.send_packets(&packets).await
}

/// After a COM_QUERY or COM_STMT_EXECUTE (`payload`) answered with `outcome`: settles the diagnostics, unless
/// it asked about them. Nothing to do, and no scan of the statement, while there are none, old or new.
pub async fn after_statement<T>(session: &mut Session, payload: &[u8], outcome: &Result<T, SgError>) {
    let failed = match outcome {
        Err(SgError::ClientIo(_)) | Ok(_) => None,
        Err(e) => Some(e),
    };
    if session.diagnostics.is_empty() && session.pending.is_empty() && failed.is_none() {
        return;
    }
    let text = (payload.first() == Some(&crate::protocol::constants::com::QUERY)).then(|| String::from_utf8_lossy(&payload[1..]));
    if text.as_deref().is_some_and(|t| question(t).is_some()) {
        return;
    }
    // SET, DO and reads without tables leave the previous statement's diagnostics, as on MariaDB.
    let uses_tables = text.as_deref().is_none_or(|t| {
        let first = crate::sql::lexer::first_word(t);
        !crate::sql::reads::reads_no_table(t) && !first.eq_ignore_ascii_case("SET") && !first.eq_ignore_ascii_case("DO")
    });
    settle(session, failed, uses_tables).await;
}

/// After a statement: keeps what SHOW WARNINGS will say of it. `failed` is the error the proxy answered
/// with; `uses_tables` whether the statement replaces the diagnostics when it reports nothing.
pub async fn settle(session: &mut Session, failed: Option<&SgError>, uses_tables: bool) {
    let pending = std::mem::take(&mut session.pending);
    if let Some(e) = failed {
        session.diagnostics = vec![Note { level: "Error".into(), code: e.code(), message: e.to_string() }];
        return;
    }
    if let Some((code, message)) = pending.error {
        session.diagnostics = vec![Note { level: "Error".into(), code, message }];
        return;
    }
    if pending.warned.is_empty() && pending.notes.is_empty() {
        if uses_tables {
            session.diagnostics.clear();
        }
        return;
    }
    let mut notes = pending.notes;
    let mut sources: Vec<String> = pending.warned.into_iter().map(|(ds, _)| ds).collect();
    sources.sort();
    sources.dedup();
    for ds in sources {
        let Some(pooled) = session.backends.get_mut(&ds) else { continue };
        pooled.conn.queue_query(SHOW_WARNINGS);
        if pooled.conn.flush().await.is_ok() {
            notes.extend(read_notes(&mut pooled.conn).await);
        }
    }
    notes.truncate(MAX_ROWS);
    session.diagnostics = notes;
}

