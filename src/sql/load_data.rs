//! `LOAD DATA LOCAL INFILE … INTO TABLE …`: reading the statement's options (sqlparser cannot parse it)
//! and cutting the file the client sends into rows, with MySQL's rules for FIELDS TERMINATED / ENCLOSED /
//! ESCAPED BY and LINES STARTING / TERMINATED BY, far enough to read each row's sharding key. The rows
//! themselves are passed on byte for byte, so the backends parse them exactly as one server would.

use sqlparser::tokenizer::Token;

use super::tokens::Tok;

/// What a LOAD DATA statement says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadData {
    /// `LOCAL`: the client sends the file.
    pub local: bool,
    /// The file name as written (the proxy asks the client for it by this name).
    pub file: String,
    /// Index of the table name's token.
    pub table_token: usize,
    /// The table name as written.
    pub table: String,
    /// FIELDS TERMINATED BY (default tab).
    pub field_end: Vec<u8>,
    /// FIELDS [OPTIONALLY] ENCLOSED BY (default none).
    pub enclosed: Option<u8>,
    /// FIELDS ESCAPED BY (default backslash; none when empty).
    pub escaped: Option<u8>,
    /// LINES STARTING BY (default none).
    pub line_start: Vec<u8>,
    /// LINES TERMINATED BY (default newline).
    pub line_end: Vec<u8>,
    /// IGNORE n LINES.
    pub ignore_lines: u64,
    /// The column list, if any.
    pub columns: Option<Vec<String>>,
    /// Byte offset of the column list's closing parenthesis.
    pub columns_close: Option<usize>,
    /// Whether a SET clause follows (computed columns).
    pub has_set: bool,
}

fn string(t: &Tok) -> Option<Vec<u8>> {
    match &t.token {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Some(unescape(s)),
        _ => None,
    }
}

/// A string literal's content (escapes not yet applied, as the tokenizer keeps them) as bytes.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            out.push(unescape_char(b[i + 1]));
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Reads a LOAD DATA statement's tokens; `Err` says what cannot be honoured or read.
pub fn parse(toks: &[Tok]) -> Result<LoadData, String> {
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(k));
    if !(kw(0, "LOAD") && (kw(1, "DATA") || kw(1, "XML"))) {
        return Err("not a LOAD DATA statement".into());
    }
    if kw(1, "XML") {
        return Err("LOAD XML into sharded tables".into());
    }
    let mut i = 2;
    while kw(i, "LOW_PRIORITY") || kw(i, "CONCURRENT") {
        i += 1;
    }
    let local = kw(i, "LOCAL");
    if local {
        i += 1;
    }
    let file = match toks.get(i + 1).map(|t| &t.token) {
        Some(Token::SingleQuotedString(s) | Token::DoubleQuotedString(s)) if kw(i, "INFILE") => String::from_utf8_lossy(&unescape(s)).into_owned(),
        _ => return Err("expected INFILE 'file name'".into()),
    };
    i += 2;
    if kw(i, "REPLACE") || kw(i, "IGNORE") {
        i += 1;
    }
    if !(kw(i, "INTO") && kw(i + 1, "TABLE")) {
        return Err("expected INTO TABLE".into());
    }
    i += 2;
    // `db.t`: the table is the last part.
    if toks.get(i + 1).is_some_and(|t| t.token == Token::Period) {
        i += 2;
    }
    let table_token = i;
    let table = toks.get(i).and_then(|t| t.word()).ok_or("expected a table name")?.to_string();
    i += 1;
    let mut d = LoadData {
        local,
        file,
        table_token,
        table,
        field_end: b"\t".to_vec(),
        enclosed: None,
        escaped: Some(b'\\'),
        line_start: Vec::new(),
        line_end: b"\n".to_vec(),
        ignore_lines: 0,
        columns: None,
        columns_close: None,
        has_set: false,
    };
    let by = |i: usize| -> Result<Vec<u8>, String> {
        if !kw(i, "BY") {
            return Err("expected BY".into());
        }
        toks.get(i + 1).and_then(string).ok_or_else(|| "expected a quoted string after BY".into())
    };
    let one_byte = |v: Vec<u8>, what: &str| -> Result<Option<u8>, String> {
        match v.len() {
            0 => Ok(None),
            1 => Ok(Some(v[0])),
            _ => Err(format!("{what} BY with more than one character")),
        }
    };
    while i < toks.len() {
        if kw(i, "PARTITION") {
            return Err("LOAD DATA … PARTITION into sharded tables".into());
        } else if kw(i, "CHARACTER") && kw(i + 1, "SET") {
            i += 3;
        } else if kw(i, "FIELDS") || kw(i, "COLUMNS") || kw(i, "LINES") {
            i += 1;
        } else if kw(i, "TERMINATED") {
            // Which clause: the nearest FIELDS/COLUMNS/LINES before it.
            let lines = toks[..i].iter().rev().find(|t| t.is_keyword("FIELDS") || t.is_keyword("COLUMNS") || t.is_keyword("LINES")).is_some_and(|t| t.is_keyword("LINES"));
            let v = by(i + 1)?;
            if v.is_empty() {
                return Err("an empty TERMINATED BY (fixed-width rows)".into());
            }
            if lines {
                d.line_end = v;
            } else {
                d.field_end = v;
            }
            i += 3;
        } else if kw(i, "OPTIONALLY") {
            i += 1;
        } else if kw(i, "ENCLOSED") {
            d.enclosed = one_byte(by(i + 1)?, "ENCLOSED")?;
            i += 3;
        } else if kw(i, "ESCAPED") {
            d.escaped = one_byte(by(i + 1)?, "ESCAPED")?;
            i += 3;
        } else if kw(i, "STARTING") {
            d.line_start = by(i + 1)?;
            i += 3;
        } else if kw(i, "IGNORE") {
            let n = match toks.get(i + 1).map(|t| &t.token) {
                Some(Token::Number(n, _)) => n.parse().map_err(|_| "IGNORE needs a number of lines")?,
                _ => return Err("IGNORE needs a number of lines".into()),
            };
            d.ignore_lines = n;
            i += 3;
        } else if toks[i].token == Token::LParen {
            let mut cols = Vec::new();
            i += 1;
            while i < toks.len() && toks[i].token != Token::RParen {
                match &toks[i].token {
                    Token::Word(w) => cols.push(w.value.clone()),
                    Token::Comma => {}
                    // `@var` in the column list: a user variable the SET clause may use.
                    _ => cols.push(String::from("@")),
                }
                i += 1;
            }
            d.columns = Some(cols);
            d.columns_close = toks.get(i).map(|t| t.start);
            i += 1;
        } else if kw(i, "SET") {
            d.has_set = true;
            break;
        } else {
            return Err(format!("unexpected `{}` in LOAD DATA", toks[i].token));
        }
    }
    Ok(d)
}

/// One row of the file: its bytes as sent (terminator included) and the value of field `key_field`
/// (`None`: NULL, `\N`, or the row has fewer fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<'a> {
    /// The row's bytes, its line terminator included.
    pub bytes: &'a [u8],
    /// The key field's value, unescaped.
    pub key: Option<Vec<u8>>,
}

/// Cuts `data` into rows; the last row may lack a terminator. `key_field` is the 0-based field read.
pub fn rows<'a>(spec: &LoadData, data: &'a [u8], key_field: usize) -> Vec<Row<'a>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let (end, key) = scan_row(spec, data, pos, key_field);
        out.push(Row { bytes: &data[pos..end], key });
        pos = end;
    }
    out
}

/// Scans the row starting at `pos`: returns where the next row starts and the key field's value.
fn scan_row(spec: &LoadData, data: &[u8], pos: usize, key_field: usize) -> (usize, Option<Vec<u8>>) {
    let at = |i: usize, pat: &[u8]| !pat.is_empty() && data[i..].starts_with(pat);
    let mut i = pos;
    // LINES STARTING BY: the row begins after the prefix; a line without it is skipped by the server.
    if !spec.line_start.is_empty() {
        loop {
            if i >= data.len() {
                return (data.len(), None);
            }
            if at(i, &spec.line_start) {
                i += spec.line_start.len();
                break;
            }
            if at(i, &spec.line_end) {
                return (i + spec.line_end.len(), None);
            }
            i += 1;
        }
    }
    let (mut field, mut key) = (0usize, None);
    loop {
        // One field: enclosed or not.
        let mut value = Vec::new();
        let mut null = false;
        if spec.enclosed.is_some() && data.get(i) == spec.enclosed.as_ref() {
            let q = spec.enclosed.unwrap_or(b'"');
            i += 1;
            while i < data.len() {
                let c = data[i];
                if Some(c) == spec.escaped && i + 1 < data.len() {
                    value.push(unescape_char(data[i + 1]));
                    i += 2;
                } else if c == q && data.get(i + 1) == Some(&q) {
                    value.push(q);
                    i += 2;
                } else if c == q && (i + 1 == data.len() || at(i + 1, &spec.field_end) || at(i + 1, &spec.line_end)) {
                    i += 1;
                    break;
                } else {
                    value.push(c);
                    i += 1;
                }
            }
        } else {
            while i < data.len() && !at(i, &spec.field_end) && !at(i, &spec.line_end) {
                let c = data[i];
                if Some(c) == spec.escaped && i + 1 < data.len() {
                    if data[i + 1] == b'N' && value.is_empty() {
                        null = true;
                    }
                    value.push(unescape_char(data[i + 1]));
                    i += 2;
                } else {
                    value.push(c);
                    i += 1;
                }
            }
            // An unescaped NULL word is NULL too (when no ENCLOSED BY is in force, MySQL reads `NULL`).
            null |= spec.enclosed.is_none() && value == b"NULL";
        }
        if field == key_field && !null {
            key = Some(value);
        }
        if i >= data.len() {
            return (data.len(), key);
        }
        if at(i, &spec.line_end) {
            return (i + spec.line_end.len(), key);
        }
        if at(i, &spec.field_end) {
            i += spec.field_end.len();
            field += 1;
            continue;
        }
        // Bytes after a closing quote before a terminator: part of the field, as the server reads them.
        i += 1;
    }
}

fn unescape_char(c: u8) -> u8 {
    match c {
        b'0' => 0,
        b'b' => 8,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'Z' => 0x1A,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::tokens::tokenize;

    fn spec(sql: &str) -> LoadData {
        parse(&tokenize(sql).unwrap()).unwrap()
    }

    #[test]
    fn reads_the_options() {
        let d = spec(
            "LOAD DATA LOCAL INFILE '/tmp/x.csv' IGNORE INTO TABLE demo.t_order CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' \
             OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '\\\\' LINES STARTING BY 'xx' TERMINATED BY '\\r\\n' IGNORE 1 LINES (id, @skip, name)",
        );
        assert!(d.local);
        assert_eq!(d.table, "t_order");
        assert_eq!((d.field_end.as_slice(), d.enclosed, d.escaped), (&b","[..], Some(b'"'), Some(b'\\')));
        assert_eq!((d.line_start.as_slice(), d.line_end.as_slice(), d.ignore_lines), (&b"xx"[..], &b"\r\n"[..], 1));
        assert_eq!(d.columns, Some(vec!["id".into(), "@skip".into(), "name".into()]));
        let plain = spec("load data local infile 'f' into table t");
        assert_eq!((plain.field_end.as_slice(), plain.line_end.as_slice(), plain.enclosed), (&b"\t"[..], &b"\n"[..], None));
        assert!(spec("LOAD DATA LOCAL INFILE 'f' INTO TABLE t (a, b) SET c = a + b").has_set);
        for bad in ["LOAD XML LOCAL INFILE 'f' INTO TABLE t", "LOAD DATA LOCAL INFILE 'f' INTO TABLE t PARTITION (p0)", "LOAD DATA LOCAL INFILE 'f' INTO TABLE t FIELDS TERMINATED BY ''"] {
            assert!(parse(&tokenize(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn cuts_rows_and_reads_the_key() {
        let d = spec("LOAD DATA LOCAL INFILE 'f' INTO TABLE t FIELDS TERMINATED BY ',' ENCLOSED BY '\"'");
        let data = b"1,\"a,b\"\n\"2\",\"line\nbreak\"\n3,\"quote \"\"x\"\"\"\n\\N,z\n5,last";
        let got = rows(&d, data, 0);
        let keys: Vec<Option<&[u8]>> = got.iter().map(|r| r.key.as_deref()).collect();
        assert_eq!(keys, [Some(&b"1"[..]), Some(b"2"), Some(b"3"), None, Some(b"5")]);
        assert_eq!(got[1].bytes, b"\"2\",\"line\nbreak\"\n");
        assert_eq!(got.iter().map(|r| r.bytes.len()).sum::<usize>(), data.len(), "every byte in exactly one row");
        let second = rows(&d, data, 1);
        assert_eq!(second[2].key.as_deref(), Some(&b"quote \"x\""[..]));
        let tabs = spec("LOAD DATA LOCAL INFILE 'f' INTO TABLE t");
        let r = rows(&tabs, b"a\\\tb\t7\nx\tNULL\n", 1);
        assert_eq!((r[0].key.as_deref(), r[1].key.as_deref()), (Some(&b"7"[..]), None));
        let prefixed = spec("LOAD DATA LOCAL INFILE 'f' INTO TABLE t FIELDS TERMINATED BY ',' LINES STARTING BY '>>'");
        let r = rows(&prefixed, b"junk>>4,x\nno prefix\n>>6,y\n", 0);
        let keys: Vec<Option<&[u8]>> = r.iter().map(|r| r.key.as_deref()).collect();
        assert_eq!(keys, [Some(&b"4"[..]), None, Some(b"6")]);
    }
}
