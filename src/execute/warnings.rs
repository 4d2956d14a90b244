//! Warnings and errors as a statement's replies report them: the rows of SHOW WARNINGS read from a shard's
//! connection, and what the current statement has reported so far. The session keeps the diagnostics area
//! (session/diagnostics.rs) from these.

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
    notes(&rows)
}

/// The rows of a SHOW WARNINGS reply (Level, Code, Message).
pub fn notes(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<Note> {
    rows.iter()
        .map(|r| {
            let text = |i: usize| r.get(i).cloned().flatten().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            Note { level: text(0), code: text(1).parse().unwrap_or(0), message: text(2) }
        })
        .collect()
}
