//! Which statements tie a session to the backend connections that ran them. Between statements a session
//! gives its connections back to the pools (multiplexing) unless something it did lives on one connection:
//! user variables, named locks, temporary tables, LOCK TABLES, SQL-level PREPARE, HANDLER, FOUND_ROWS — the
//! same list ProxySQL keeps multiplexing off for. A write keeps them one statement longer, so a following
//! `SELECT LAST_INSERT_ID()` or `ROW_COUNT()` sees it — but only if that statement asks: any other gives them
//! back before it runs, so a session never holds one pool's connection while waiting for another's.

use super::reads::{scan, Token};

/// How long the connections that run a statement must stay with the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Until the statement ends.
    Statement,
    /// Through the next statement too, if that one asks (LAST_INSERT_ID, ROW_COUNT).
    NextStatement,
    /// Until the session is reset or ends; the reason is shown in SHOW SHARDGATE SESSIONS.
    Session(&'static str),
}

/// What a statement needs from the session's backend connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Affinity {
    /// How long its connections stay.
    pub hold: Hold,
    /// It reads what the previous statement left on its connection (LAST_INSERT_ID(), ROW_COUNT()).
    pub needs_previous: bool,
}

impl Affinity {
    /// A statement that leaves nothing behind and needs nothing from earlier ones.
    pub const FREE: Affinity = Affinity { hold: Hold::Statement, needs_previous: false };
}

/// Words that create state living on one backend connection, with the reason shown to operators.
const SESSION_BOUND: &[(&str, &str)] = &[
    ("GET_LOCK", "a named lock (GET_LOCK)"),
    ("TEMPORARY", "a temporary table"),
    ("SQL_CALC_FOUND_ROWS", "SQL_CALC_FOUND_ROWS"),
    ("FOUND_ROWS", "FOUND_ROWS()"),
];

/// First words whose effect lives on the connection.
const SESSION_STATEMENTS: &[(&str, &str)] = &[
    ("LOCK", "LOCK TABLES"),
    ("PREPARE", "an SQL-level prepared statement"),
    ("HANDLER", "an open HANDLER"),
];

/// The affinity of statement `sql`.
pub fn of(sql: &str) -> Affinity {
    let mut first = true;
    let mut a = Affinity::FREE;
    scan(sql, |token| {
        match token {
            Token::Word(word) if first => {
                first = false;
                if let Some((_, why)) = SESSION_STATEMENTS.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)) {
                    a.hold = Hold::Session(why);
                } else if ["INSERT", "REPLACE", "UPDATE", "DELETE"].iter().any(|w| w.eq_ignore_ascii_case(word)) {
                    a.hold = Hold::NextStatement;
                }
            }
            Token::Word(word) => {
                if let Some((_, why)) = SESSION_BOUND.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)) {
                    a.hold = Hold::Session(why);
                } else if word.eq_ignore_ascii_case("LAST_INSERT_ID") || word.eq_ignore_ascii_case("ROW_COUNT") {
                    a.needs_previous = true;
                }
            }
            Token::UserVariable => a.hold = Hold::Session("a user variable"),
            // Unsure what it does: keep the connection (the backend will most likely refuse it anyway).
            Token::Unterminated => a.hold = Hold::Session("an unterminated statement"),
        }
        !matches!(a.hold, Hold::Session(_))
    });
    a
}

#[cfg(test)]
mod tests {
    use super::{of, Hold};

    #[test]
    fn shareable_statements() {
        for sql in ["SELECT c FROM sbtest1 WHERE id = 7", "SELECT 'GET_LOCK(1)', `temporary` FROM t", "SELECT @@version", "SET NAMES utf8mb4", "BEGIN", "SHOW TABLES"] {
            assert_eq!(of(sql).hold, Hold::Statement, "{sql}");
            assert!(!of(sql).needs_previous, "{sql}");
        }
    }

    #[test]
    fn writes_keep_the_next_statement() {
        for sql in ["INSERT INTO t VALUES (1)", "  update t set a = 1", "/* shardgate: shard=1 */ DELETE FROM t", "REPLACE INTO t VALUES (2)"] {
            assert_eq!(of(sql).hold, Hold::NextStatement, "{sql}");
        }
    }

    #[test]
    fn session_bound_statements() {
        for sql in [
            "SET @a = 1",
            "SELECT @a",
            "SELECT c INTO @x FROM t",
            "SELECT GET_LOCK('x', 1)",
            "CREATE TEMPORARY TABLE tmp (a INT)",
            "select SQL_CALC_FOUND_ROWS * from t limit 1",
            "SELECT FOUND_ROWS()",
            "LOCK TABLES t WRITE",
            "PREPARE s FROM 'SELECT 1'",
            "HANDLER t OPEN",
            "SELECT 'open",
        ] {
            assert!(matches!(of(sql).hold, Hold::Session(_)), "{sql}");
        }
    }

    #[test]
    fn statements_that_read_the_previous_one() {
        for sql in ["SELECT LAST_INSERT_ID()", "select row_count()", "INSERT INTO t2 VALUES (LAST_INSERT_ID())"] {
            assert!(of(sql).needs_previous, "{sql}");
        }
        assert!(!of("SELECT 'LAST_INSERT_ID()'").needs_previous);
    }
}
