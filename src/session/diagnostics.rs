//! The diagnostics area: what SHOW WARNINGS, SHOW ERRORS, SHOW COUNT(*) WARNINGS/ERRORS, `@@warning_count`
//! and `@@error_count` describe — the previous statement, wherever it ran. The statement's replies note
//! which data sources reported warnings (or the error it ended in); right after it, while its connections
//! are still the session's, the proxy reads those data sources' SHOW WARNINGS and keeps the rows, merged in
//! data-source order. As on MariaDB, a statement that uses no table (`SELECT 1`, `SET`, `DO`) leaves the
//! previous statement's diagnostics in place; every other one replaces them.

use crate::error::SgError;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use crate::session::session::Session;

/// MariaDB's default max_error_count: at most this many rows are kept.
const MAX_ROWS: usize = 64;

/// One row of SHOW WARNINGS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Note, Warning or Error.
    pub level: String,
    /// The error code.
    pub code: u16,
    /// The message.
    pub message: String,
}

/// What the current statement has reported so far.
#[derive(Debug, Default)]
pub struct Pending {
    /// Rows already read (from connections that ran more of the statement afterwards, or went back to a
    /// pool).
    pub notes: Vec<Note>,
    /// Data sources whose replies reported warnings, with the count.
    pub warned: Vec<(String, u16)>,
    /// The ERR a reply ended in (code, message).
    pub error: Option<(u16, String)>,
}

impl Pending {
    /// Nothing reported.
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty() && self.warned.is_empty() && self.error.is_none()
    }
}

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

/// The query that reads a connection's warnings.
pub const SHOW_WARNINGS: &str = "SHOW WARNINGS";

/// Queues `statements` on `conn`, each but the last followed by [`SHOW_WARNINGS`]: the next statement would
/// clear its warnings. The caller reads each statement's reply, then [`read_notes`] for all but the last.
pub fn queue_with_warnings<'a>(conn: &mut crate::backend::conn::BackendConn, statements: impl ExactSizeIterator<Item = &'a str>) {
    let n = statements.len();
    for (i, sql) in statements.enumerate() {
        conn.queue_query(sql);
        if i + 1 < n {
            conn.queue_query(SHOW_WARNINGS);
        }
    }
}

/// Reads the reply of a [`SHOW_WARNINGS`] sent (pipelined) on `conn`.
pub async fn read_notes(conn: &mut crate::backend::conn::BackendConn) -> Vec<Note> {
    let Ok(Ok((_, rows))) = conn.read_table().await else { return Vec::new() };
    rows.into_iter()
        .map(|r| {
            let text = |i: usize| r.get(i).cloned().flatten().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            Note { level: text(0), code: text(1).parse().unwrap_or(0), message: text(2) }
        })
        .collect()
}
