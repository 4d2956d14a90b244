//! Which statements may run on a replica: plain SELECTs without locks, side effects or session-bound
//! functions. Anything else (and anything this scan is unsure of) belongs on the primary.

use super::normalize::{line_end, quoted_identifier_end, string_end};

/// Functions whose result or effect belongs to the session's primary connection.
const PRIMARY_ONLY: &[&str] = &[
    "GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS", "IS_USED_LOCK", "IS_FREE_LOCK", "LAST_INSERT_ID", "FOUND_ROWS",
    "ROW_COUNT", "NEXTVAL", "LASTVAL", "SETVAL", "NEXT", "PREVIOUS", "MASTER_POS_WAIT", "MASTER_GTID_WAIT", "LOAD_FILE",
    "INTO", "SHARE", "UPDATE", "LOCK",
];

/// One thing the word scanner saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// A bare word (keyword, function or unquoted name).
    Word(&'a str),
    /// A user variable (`@x`, not `@@x`) or a `:=` assignment.
    UserVariable,
    /// A string, quoted name or comment that does not end: the statement cannot be judged.
    Unterminated,
}

/// Calls `visit` for every bare word and user variable of `sql`, skipping strings and quoted names (their
/// words do not count) and line comments; `/* … */` comments before the first word are skipped (hints live
/// there), later ones are read as words (erring towards caution). Stops when `visit` returns false.
pub(crate) fn scan<'a>(sql: &'a str, mut visit: impl FnMut(Token<'a>) -> bool) {
    let s = sql.as_bytes();
    let mut i = 0;
    let mut first = true;
    while i < s.len() {
        let token = match s[i] {
            b'\'' | b'"' => match string_end(s, i) {
                Some(end) => {
                    i = end;
                    continue;
                }
                None => Token::Unterminated,
            },
            b'`' => match quoted_identifier_end(s, i) {
                Some(end) => {
                    i = end;
                    continue;
                }
                None => Token::Unterminated,
            },
            b'#' => {
                i = line_end(s, i);
                continue;
            }
            b'-' if s.get(i + 1) == Some(&b'-') && s.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) => {
                i = line_end(s, i);
                continue;
            }
            b'/' if first && s.get(i + 1) == Some(&b'*') => match s[i + 2..].windows(2).position(|w| w == b"*/") {
                Some(p) => {
                    i += p + 4;
                    continue;
                }
                None => Token::Unterminated,
            },
            b'@' if s.get(i + 1) == Some(&b'@') => {
                i += 2;
                continue;
            }
            b'@' | b':' => {
                i += 1;
                Token::UserVariable
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_' || s[i] == b'$') {
                    i += 1;
                }
                first = false;
                Token::Word(&sql[start..i])
            }
            _ => {
                i += 1;
                continue;
            }
        };
        if !visit(token) || token == Token::Unterminated {
            return;
        }
    }
}

/// Whether `sql` is a plain read: a SELECT with no `FOR UPDATE` / `FOR SHARE` / `LOCK IN SHARE MODE`, no
/// `INTO`, no user-variable use or assignment, no lock, sequence or last-insert-id functions. Words inside
/// strings and quoted names do not count; words inside comments do (erring towards the primary).
pub fn is_plain_read(sql: &str) -> bool {
    let mut first = true;
    let mut plain = false;
    scan(sql, |token| {
        match token {
            Token::Word(word) if first => {
                first = false;
                plain = word.eq_ignore_ascii_case("SELECT");
            }
            Token::Word(word) => plain = !PRIMARY_ONLY.iter().any(|w| w.eq_ignore_ascii_case(word)),
            Token::UserVariable | Token::Unterminated => plain = false,
        }
        plain
    });
    plain
}

/// Whether `sql` is a plain read without FROM (`SELECT 1`, `SELECT VERSION()`, `SELECT @@x`): on MariaDB
/// it opens no transaction even with autocommit off. (`FROM DUAL` counts as a table: erring towards a
/// transaction costs a branch, never an answer.)
pub fn reads_no_table(sql: &str) -> bool {
    let mut none = true;
    scan(sql, |token| {
        none = !matches!(token, Token::Word(w) if w.eq_ignore_ascii_case("FROM")) && token != Token::Unterminated;
        none
    });
    none && is_plain_read(sql)
}

/// Whether `sql` may change data: anything but a plain read and the session, transaction and metadata
/// statements that cannot (SHOW, SET, DESCRIBE, EXPLAIN, BEGIN, SAVEPOINT, …).
pub fn may_write(sql: &str) -> bool {
    const HARMLESS: &[&str] = &["SHOW", "SET", "DESC", "DESCRIBE", "EXPLAIN", "START", "BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "UNLOCK", "USE", "HELP"];
    let word = super::lexer::first_word(sql);
    !is_plain_read(sql) && !HARMLESS.iter().any(|w| w.eq_ignore_ascii_case(word))
}

/// Whether MySQL commits the open transaction before running `sql`: DDL, LOCK/UNLOCK TABLES, account
/// statements, table maintenance, and `SET autocommit = 1` when autocommit is off (`autocommit`: whether it
/// is on now; turning it on when it already is leaves a BEGIN's transaction open).
pub fn commits_implicitly(sql: &str, autocommit: bool) -> bool {
    const WORDS: &[&str] = &["ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE", "LOCK", "UNLOCK", "GRANT", "REVOKE", "ANALYZE", "OPTIMIZE", "REPAIR"];
    let word = super::lexer::first_word(sql);
    if WORDS.iter().any(|w| w.eq_ignore_ascii_case(word)) {
        return true;
    }
    if !word.eq_ignore_ascii_case("SET") || autocommit {
        return false;
    }
    let squeezed: String = sql.chars().filter(|c| !c.is_whitespace() && *c != '`' && *c != '@').collect::<String>().to_ascii_lowercase();
    ["autocommit=1", "autocommit=on", "autocommit=true", "session.autocommit=1", "session.autocommit=on"].iter().any(|p| squeezed.contains(p))
}

#[cfg(test)]
mod tests {
    use super::{commits_implicitly, is_plain_read};

    #[test]
    fn implicit_commits() {
        for sql in ["CREATE TABLE t (a INT)", "  drop table t", "/* x */ ALTER TABLE t ADD b INT", "SET autocommit = 1", "set @@session.autocommit=ON", "LOCK TABLES t WRITE"] {
            assert!(commits_implicitly(sql, false), "{sql}");
        }
        for sql in ["SET autocommit = 0", "SELECT 1", "UPDATE t SET a = 1", "SET NAMES utf8mb4", "BEGIN"] {
            assert!(!commits_implicitly(sql, false), "{sql}");
        }
        assert!(!commits_implicitly("SET autocommit = 1", true), "already on: nothing to commit");
        for sql in ["CREATE TABLE t (a INT)", "LOCK TABLES t WRITE"] {
            assert!(commits_implicitly(sql, true), "{sql}");
        }
    }

    #[test]
    fn reads_without_tables() {
        for sql in ["SELECT 1", "SELECT VERSION()", "select @@autocommit", "SELECT 'FROM t'"] {
            assert!(super::reads_no_table(sql), "{sql}");
        }
        for sql in ["SELECT * FROM t", "SELECT (SELECT 1 FROM t)", "SELECT 1 FROM dual, t", "UPDATE t SET a = 1", "SELECT 1 FROM DUAL WHERE EXISTS (SELECT 1 FROM t)"] {
            assert!(!super::reads_no_table(sql), "{sql}");
        }
    }

    #[test]
    fn plain_reads() {
        for sql in [
            "SELECT c FROM sbtest1 WHERE id=10",
            "/* shardgate: read=replica */ select 1",
            "(SELECT 1) UNION (SELECT 2)",
            "SELECT 'FOR UPDATE', `into` FROM t WHERE c = 'GET_LOCK(1)'",
            "SELECT @@version, @@session.sql_mode",
            "SELECT COUNT(*) FROM t -- for update\n",
        ] {
            assert!(is_plain_read(sql), "{sql}");
        }
    }

    #[test]
    fn primary_statements() {
        for sql in [
            "UPDATE t SET a = 1",
            "INSERT INTO t VALUES (1)",
            "SELECT * FROM t FOR UPDATE",
            "SELECT * FROM t WHERE id = 1 LOCK IN SHARE MODE",
            "SELECT * FROM t FOR SHARE",
            "SELECT c INTO @x FROM t",
            "SELECT @x := 5",
            "SELECT @x",
            "SELECT GET_LOCK('a', 1)",
            "SELECT LAST_INSERT_ID()",
            "SELECT NEXT VALUE FOR s",
            "SHOW TABLES",
            "SET @a = 1",
            "BEGIN",
            "SELECT 'open",
            "/* only a comment */",
        ] {
            assert!(!is_plain_read(sql), "{sql}");
        }
    }
}
