//! Statement normalisation for the plan cache: every number and string literal replaced by `?`, everything
//! else (words, comments, whitespace) kept byte for byte. Hand-written rather than sqlparser's tokenizer
//! because it runs on every statement and must cost a fraction of a parse (one pass, one allocation).

use std::ops::Range;

use crate::sharding::key::Literal;

/// A statement's normalised text and where its literals are in the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The text with each literal replaced by `?`.
    pub key: String,
    /// Byte ranges of the literals in the original text, in order (quotes included for strings).
    pub literals: Vec<Range<usize>>,
}

/// Normalises `sql`; `None` when the text is not one the cache should hold (an unterminated string or
/// comment, or a bare `?`, which is no valid text-protocol SQL).
pub fn normalize(sql: &str) -> Option<Normalized> {
    let s = sql.as_bytes();
    let mut key = String::with_capacity(sql.len());
    let mut literals = Vec::new();
    let mut copied = 0; // bytes of `s` before this are in `key` (verbatim or as `?`)
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    while i < s.len() {
        let c = s[i];
        match c {
            b'\'' | b'"' => {
                let end = string_end(s, i)?;
                key.push_str(&sql[copied..i]);
                key.push('?');
                literals.push(i..end);
                (i, copied) = (end, end);
            }
            b'`' => i = quoted_identifier_end(s, i)?,
            b'#' => i = line_end(s, i),
            b'-' if s.get(i + 1) == Some(&b'-') && s.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) => i = line_end(s, i),
            b'/' if s.get(i + 1) == Some(&b'*') => i = i + 2 + s[i + 2..].windows(2).position(|w| w == b"*/")? + 2,
            b'?' => return None,
            b'0'..=b'9' => {
                let mut end = i;
                while end < s.len() && ident(s[end]) {
                    end += 1;
                }
                let digits = s[i..end].iter().all(u8::is_ascii_digit);
                let mut num_end = end;
                if digits && s.get(end) == Some(&b'.') {
                    num_end += 1;
                    while num_end < s.len() && s[num_end].is_ascii_digit() {
                        num_end += 1;
                    }
                    if num_end < s.len() && ident(s[num_end]) {
                        num_end = i; // `1.5e3`, `1.x`: not worth the risk of lexing it differently; keep it verbatim
                    }
                }
                if digits && num_end > i {
                    key.push_str(&sql[copied..i]);
                    key.push('?');
                    literals.push(i..num_end);
                    (i, copied) = (num_end, num_end);
                } else {
                    // `1e5`, `0x1F`, `1abc`: kept in the key as written.
                    i = end.max(i + 1);
                }
            }
            c if ident(c) => {
                while i < s.len() && ident(s[i]) {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    key.push_str(&sql[copied..]);
    Some(Normalized { key, literals })
}

/// The value of a literal as routing reads it, from its text (`None`: a string with escapes, whose value
/// the full parser should work out).
pub fn literal_value(text: &str) -> Option<Literal> {
    match text.as_bytes().first() {
        Some(&q @ (b'\'' | b'"')) => {
            let inner = &text[1..text.len() - 1];
            if inner.bytes().any(|c| c == b'\\' || c == q) {
                return None;
            }
            Some(Literal::Str(inner.to_string()))
        }
        _ => Some(text.parse::<i128>().map_or(Literal::Other, Literal::Int)),
    }
}

/// End (exclusive) of the string literal opening at `start`: backslash escapes and doubled quotes.
pub(crate) fn string_end(s: &[u8], start: usize) -> Option<usize> {
    let q = s[start];
    let mut i = start + 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            c if c == q && s.get(i + 1) == Some(&q) => i += 2,
            c if c == q => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

pub(crate) fn quoted_identifier_end(s: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < s.len() {
        if s[i] == b'`' {
            if s.get(i + 1) == Some(&b'`') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

pub(crate) fn line_end(s: &[u8], start: usize) -> usize {
    s[start..].iter().position(|&c| c == b'\n').map_or(s.len(), |p| start + p + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sql: &str) -> String {
        normalize(sql).unwrap().key
    }

    fn texts(sql: &str) -> Vec<&str> {
        normalize(sql).unwrap().literals.into_iter().map(|r| &sql[r]).collect()
    }

    #[test]
    fn literals_become_placeholders() {
        assert_eq!(key("SELECT c FROM sbtest1 WHERE id=42"), "SELECT c FROM sbtest1 WHERE id=?");
        assert_eq!(texts("SELECT c FROM sbtest1 WHERE id BETWEEN 5 AND 104 ORDER BY c"), ["5", "104"]);
        assert_eq!(key("SELECT 'a''b', \"x\\\"y\", 1.50 FROM t"), "SELECT ?, ?, ? FROM t");
        assert_eq!(texts("SELECT 'a''b', \"x\\\"y\", 1.50 FROM t"), ["'a''b'", "\"x\\\"y\"", "1.50"]);
        assert_eq!(texts("UPDATE t SET k=k+1 WHERE id=-7"), ["1", "7"]);
    }

    #[test]
    fn words_comments_and_odd_numbers_stay_verbatim() {
        let sql = "SELECT t1.c2, `a``1` /* 5 '6 */ FROM t_1 -- 7\n# 8\nWHERE x=0x1F AND y=1e5 AND z=.5 AND w=1.5e3";
        assert_eq!(key(sql), sql.replace(".5 AND", ".? AND"));
        assert_eq!(texts(sql), ["5"]);
        assert_eq!(key("SELECT 1--2"), "SELECT ?--?", "`--` without a space is two minus signs");
        assert_eq!(key("SELECT 1 -- 2"), "SELECT ? -- 2");
    }

    #[test]
    fn unusable_texts_are_not_cached() {
        assert_eq!(normalize("SELECT 'open"), None);
        assert_eq!(normalize("SELECT 1 /* open"), None);
        assert_eq!(normalize("SELECT * FROM t WHERE id = ?"), None);
    }

    #[test]
    fn literal_values() {
        assert_eq!(literal_value("42"), Some(Literal::Int(42)));
        assert_eq!(literal_value("1.5"), Some(Literal::Other));
        assert_eq!(literal_value("'abc'"), Some(Literal::Str("abc".into())));
        assert_eq!(literal_value("'a\\'b'"), None);
        assert_eq!(literal_value("'a''b'"), None);
    }
}
