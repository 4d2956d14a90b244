//! Splitting a multi-statement COM_QUERY into its statements at the `;` that end them: not inside strings,
//! quoted names or comments, nor inside the BEGIN … END body of a stored program (CREATE PROCEDURE /
//! FUNCTION / TRIGGER / EVENT, or MariaDB's `BEGIN NOT ATOMIC` block), which clients send without DELIMITER.

use super::normalize::{line_end, quoted_identifier_end, string_end};

/// Words after which a BEGIN opens a body (the statement is a stored program).
const PROGRAMS: &[&str] = &["PROCEDURE", "FUNCTION", "TRIGGER", "EVENT"];
/// `END <word>` closes one of these, which are not counted when they open (their END is undone).
const END_OTHER: &[&str] = &["IF", "LOOP", "WHILE", "REPEAT", "FOR"];

/// The statements of `sql`, trimmed, empty ones (`;;`, a trailing `;`) left out. An unterminated string or
/// comment ends the last statement as it is (the backend reports the syntax error).
pub fn statements(sql: &str) -> Vec<&str> {
    let s = sql.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    // Per statement: its first words (is it a stored program?) and the BEGIN … END depth inside it.
    let mut words: Vec<&str> = Vec::new();
    let mut program = false;
    let mut depth = 0usize;
    let mut last_word_end = false;
    while i < s.len() {
        match s[i] {
            b'\'' | b'"' => i = string_end(s, i).unwrap_or(s.len()),
            b'`' => i = quoted_identifier_end(s, i).unwrap_or(s.len()),
            b'#' => i = line_end(s, i),
            b'-' if s.get(i + 1) == Some(&b'-') && s.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) => i = line_end(s, i),
            b'/' if s.get(i + 1) == Some(&b'*') => {
                i = s[i + 2..].windows(2).position(|w| w == b"*/").map_or(s.len(), |p| i + 2 + p + 2);
            }
            b';' if depth == 0 => {
                push(&mut out, &sql[start..i]);
                i += 1;
                start = i;
                (program, last_word_end) = (false, false);
                words.clear();
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let from = i;
                while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_' || s[i] == b'$') {
                    i += 1;
                }
                let word = &sql[from..i];
                if words.len() < 8 {
                    words.push(word);
                    program = program
                        || (words[0].eq_ignore_ascii_case("CREATE") && PROGRAMS.iter().any(|p| p.eq_ignore_ascii_case(word)))
                        || (words.len() == 2 && words[0].eq_ignore_ascii_case("BEGIN") && word.eq_ignore_ascii_case("NOT"));
                    if words.len() == 2 && program && words[0].eq_ignore_ascii_case("BEGIN") {
                        depth += 1; // the anonymous block's own BEGIN
                    }
                }
                if program {
                    if last_word_end {
                        if END_OTHER.iter().any(|w| w.eq_ignore_ascii_case(word)) {
                            depth += 1; // `END IF` etc.: undo the END counted before
                        }
                    } else if word.eq_ignore_ascii_case("BEGIN") || word.eq_ignore_ascii_case("CASE") {
                        // A CASE (statement or expression) ends with END [CASE], like a BEGIN.
                        depth += 1;
                    }
                    if word.eq_ignore_ascii_case("END") {
                        depth = depth.saturating_sub(1);
                    }
                }
                last_word_end = word.eq_ignore_ascii_case("END");
            }
            c => {
                // `END; CASE …` is an END then a new CASE, not `END CASE`.
                last_word_end &= c.is_ascii_whitespace();
                i += 1;
            }
        }
    }
    push(&mut out, &sql[start..]);
    out
}

fn push<'a>(out: &mut Vec<&'a str>, statement: &'a str) {
    let t = statement.trim();
    if !t.is_empty() {
        out.push(t);
    }
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn splits_at_semicolons_outside_strings_names_and_comments() {
        assert_eq!(statements("SELECT 1; SELECT 2"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(statements("SELECT 1;"), ["SELECT 1"]);
        assert_eq!(statements(" ;; SELECT 1 ;  "), ["SELECT 1"]);
        assert_eq!(statements("SELECT 'a;b', \"c;d\", `e;f`; SELECT 2"), ["SELECT 'a;b', \"c;d\", `e;f`", "SELECT 2"]);
        assert_eq!(statements("SELECT 1 /* ; */; -- x;y\nSELECT 2 # z;\n"), ["SELECT 1 /* ; */", "-- x;y\nSELECT 2 # z;"]);
        assert_eq!(statements("SELECT 'it''s;'; SELECT 'a\\';b'"), ["SELECT 'it''s;'", "SELECT 'a\\';b'"]);
        assert_eq!(statements("SELECT 'open;"), ["SELECT 'open;"]);
        assert_eq!(statements("BEGIN; UPDATE t SET a = 1; COMMIT"), ["BEGIN", "UPDATE t SET a = 1", "COMMIT"]);
    }

    #[test]
    fn keeps_stored_program_bodies_whole() {
        let proc = "CREATE PROCEDURE p(IN x INT) BEGIN DECLARE y INT; IF x > 0 THEN SET y = 1; END IF; \
                    WHILE y < 3 DO SET y = y + 1; END WHILE; SELECT y; END";
        assert_eq!(statements(&format!("{proc}; CALL p(1)")), [proc, "CALL p(1)"]);
        let trigger = "CREATE DEFINER = CURRENT_USER TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END";
        assert_eq!(statements(&format!("{trigger};SELECT 1")), [trigger, "SELECT 1"]);
        let block = "BEGIN NOT ATOMIC DECLARE a INT; SET a = 1; SELECT a; END";
        assert_eq!(statements(&format!("{block}; SELECT 2")), [block, "SELECT 2"]);
        let nested = "CREATE FUNCTION f() RETURNS INT BEGIN BEGIN SET @a = 1; END; CASE WHEN 1 THEN SET @b = 2; END CASE; \
                      SET @c = CASE WHEN 1 THEN 2 ELSE 3 END; RETURN 1; END";
        assert_eq!(statements(&format!("{nested}; SELECT f()")), [nested, "SELECT f()"]);
    }
}
