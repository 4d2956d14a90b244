//! The statement's tokens with byte offsets (sqlparser's tokenizer, whose locations count characters), and
//! what is done with them: finding table references in table positions, rewriting them by span, and cutting
//! an INSERT's VALUES rows. Working on the original text keeps literals, comments and formatting intact.

use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// One significant token (whitespace and comments dropped).
#[derive(Debug, Clone)]
pub struct Tok {
    /// The token.
    pub token: Token,
    /// Byte offset of its first byte.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
    /// Line and column (in characters) where it starts, as sqlparser's AST spans count.
    pub line_col: (u64, u64),
}

impl Tok {
    /// The identifier or keyword, if this is a word (quoted or not).
    pub fn word(&self) -> Option<&str> {
        match &self.token {
            Token::Word(w) => Some(&w.value),
            _ => None,
        }
    }

    /// Whether this is the unquoted keyword `kw` (case-insensitive).
    pub fn is_keyword(&self, kw: &str) -> bool {
        matches!(&self.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
    }

    /// The quote character of a quoted identifier.
    pub fn quote(&self) -> Option<char> {
        match &self.token {
            Token::Word(w) => w.quote_style,
            _ => None,
        }
    }
}

/// Tokenizes `sql`, converting character locations to byte offsets in one pass.
pub fn tokenize(sql: &str) -> Result<Vec<Tok>, String> {
    let dialect = MySqlDialect {};
    let raw = Tokenizer::new(&dialect, sql).with_unescape(false).tokenize_with_location().map_err(|e| e.to_string())?;
    // Walk the text once, tracking (line, column) → byte offset; token locations only increase.
    let mut out = Vec::with_capacity(raw.len());
    let mut chars = sql.char_indices().peekable();
    let (mut line, mut col, mut byte) = (1u64, 1u64, 0usize);
    let mut seek = |l: u64, c: u64| -> usize {
        while (line, col) < (l, c) {
            match chars.next() {
                Some((i, ch)) => {
                    byte = i + ch.len_utf8();
                    if ch == '\n' {
                        line += 1;
                        col = 1;
                    } else {
                        col += 1;
                    }
                }
                None => break,
            }
        }
        byte
    };
    for t in raw {
        if matches!(t.token, Token::Whitespace(_) | Token::EOF) {
            continue;
        }
        let start = seek(t.span.start.line, t.span.start.column);
        let end = seek(t.span.end.line, t.span.end.column);
        out.push(Tok { token: t.token, start, end, line_col: (t.span.start.line, t.span.start.column) });
    }
    Ok(out)
}

/// A reference to a table in a table position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// Index of the name's token.
    pub index: usize,
    /// The name as written (without quotes).
    pub name: String,
}

/// Keywords after which a word names a table.
const BEFORE_TABLE: &[&str] = &["FROM", "JOIN", "INTO", "UPDATE", "TABLE", "STRAIGHT_JOIN", "REFERENCES", "DESCRIBE", "DESC", "EXPLAIN"];

/// Finds references to tables for which `is_table` holds: after FROM/JOIN/INTO/UPDATE/TABLE/…, in a
/// comma-separated table list, after `schema.`, after EXISTS/LIKE/ON in DDL, and as the qualifier of a
/// column (`t_order.user_id`). A column that has the same name as a table in a select list is the one case
/// this cannot tell apart; such schemas are rare and documented.
pub fn table_refs(toks: &[Tok], is_table: impl Fn(&str) -> bool) -> Vec<TableRef> {
    let ddl = toks.first().is_some_and(|t| ["CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME"].iter().any(|k| t.is_keyword(k)));
    let mut refs = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let Some(name) = t.word() else { continue };
        if !is_table(name) {
            continue;
        }
        let prev = i.checked_sub(1).map(|p| &toks[p]);
        let next = toks.get(i + 1);
        let next_is = |tok: Token| next.is_some_and(|n| n.token == tok);
        let after_keyword = prev.is_some_and(|p| BEFORE_TABLE.iter().any(|k| p.is_keyword(k)));
        let in_list = prev.is_some_and(|p| p.token == Token::Comma);
        let after_schema = prev.is_some_and(|p| p.token == Token::Period) && i >= 2 && toks[i - 2].word().is_some();
        let qualifier = next_is(Token::Period) && toks.get(i + 2).is_some_and(|n| n.word().is_some() || n.token == Token::Mul);
        let ddl_position = ddl
            && prev.is_some_and(|p| {
                // `CREATE TABLE IF NOT EXISTS t (…)`: the column list follows the name.
                p.is_keyword("ON") || p.is_keyword("EXISTS") || ((p.is_keyword("LIKE") || p.is_keyword("TO")) && !next_is(Token::LParen))
            });
        if after_keyword || in_list || after_schema || qualifier || ddl_position {
            refs.push(TableRef { index: i, name: name.to_string() });
        }
    }
    refs
}

/// `name` as a quoted identifier: in the quote the statement used (`"` under ANSI_QUOTES), backticks
/// otherwise, the quote doubled inside. Everything the rewriter emits goes through here, so no name can
/// close its quotes and smuggle SQL in.
pub fn quote_ident(name: &str, quote: Option<char>) -> String {
    let q = quote.unwrap_or('`');
    let mut out = String::with_capacity(name.len() + 2);
    out.push(q);
    for c in name.chars() {
        if c == q {
            out.push(q);
        }
        out.push(c);
    }
    out.push(q);
    out
}

/// Whether the table name at `i` is followed by an alias (`AS x`, or a name that is not a keyword).
fn has_alias(toks: &[Tok], i: usize) -> bool {
    match toks.get(i + 1).map(|t| &t.token) {
        Some(Token::Word(w)) => w.quote_style.is_some() || w.keyword == sqlparser::keywords::Keyword::AS || w.keyword == sqlparser::keywords::Keyword::NoKeyword,
        _ => false,
    }
}

/// Whether the reference at `i` qualifies a column (`t.c`, `t.*`).
fn is_qualifier(toks: &[Tok], i: usize) -> bool {
    toks.get(i + 1).is_some_and(|n| n.token == Token::Period) && toks.get(i + 2).is_some_and(|n| n.word().is_some() || n.token == Token::Mul)
}

/// Rewrites `sql`, replacing each reference's token with `new_name(name)`, quoted (see [`quote_ident`]).
/// In a SELECT a renamed table keeps its logical name as an alias (`t_1 AS t`) and qualifiers stay as
/// written, so expressions keep their text — MariaDB names an unaliased expression column after it — and
/// column definitions name the logical table. (A column qualified with a schema, `db.t.c`, keeps the
/// plain renaming: the alias would not answer to it.)
pub fn rewrite(sql: &str, toks: &[Tok], refs: &[TableRef], mut new_name: impl FnMut(&str) -> Option<String>) -> String {
    let schema_qualified = |i: usize| i >= 2 && toks[i - 1].token == Token::Period && toks[i - 2].word().is_some();
    // Only where the select list qualifies columns with a renamed table: LOCK TABLES (mariadb-dump) locks
    // the physical names, and an aliased table would have to be locked under its alias.
    let from = toks.iter().position(|t| t.is_keyword("FROM")).unwrap_or(toks.len());
    let select = toks.first().is_some_and(|t| t.is_keyword("SELECT"))
        && refs.iter().any(|r| r.index < from && is_qualifier(toks, r.index) && new_name(&r.name).is_some_and(|n| n != r.name))
        && !refs.iter().any(|r| is_qualifier(toks, r.index) && schema_qualified(r.index));
    let mut out = String::with_capacity(sql.len() + refs.len() * 4);
    let mut at = 0;
    for r in refs {
        let t = &toks[r.index];
        if select && is_qualifier(toks, r.index) {
            continue;
        }
        let Some(new) = new_name(&r.name) else { continue };
        out.push_str(&sql[at..t.start]);
        out.push_str(&quote_ident(&new, t.quote()));
        if select && new != r.name && !has_alias(toks, r.index) {
            out.push_str(" AS ");
            out.push_str(&quote_ident(&r.name, t.quote()));
        }
        at = t.end;
    }
    out.push_str(&sql[at..]);
    out
}

/// The select list of a `SELECT` as the client wrote it: each item's text from its first to its last token
/// (`None` when the statement is not one plain SELECT). MariaDB names an unaliased column after that text.
pub fn select_items(sql: &str, toks: &[Tok]) -> Option<Vec<String>> {
    if !toks.first()?.is_keyword("SELECT") {
        return None;
    }
    const MODIFIERS: &[&str] = &["ALL", "DISTINCT", "DISTINCTROW", "HIGH_PRIORITY", "STRAIGHT_JOIN", "SQL_SMALL_RESULT", "SQL_BIG_RESULT", "SQL_BUFFER_RESULT", "SQL_CACHE", "SQL_NO_CACHE", "SQL_CALC_FOUND_ROWS"];
    let mut i = 1;
    while toks.get(i).is_some_and(|t| MODIFIERS.iter().any(|m| t.is_keyword(m))) {
        i += 1;
    }
    let (mut depth, mut start, mut items) = (0i32, i, Vec::new());
    while let Some(t) = toks.get(i) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                if start >= i {
                    return None; // an empty item: not a statement MariaDB takes
                }
                items.push(sql[toks[start].start..toks[i - 1].end].to_string());
                start = i + 1;
            }
            _ if depth == 0 && (t.is_keyword("FROM") || t.is_keyword("INTO") || t.is_keyword("WHERE") || t.is_keyword("GROUP") || t.is_keyword("HAVING") || t.is_keyword("ORDER") || t.is_keyword("LIMIT") || t.is_keyword("UNION") || t.is_keyword("WINDOW") || t.is_keyword("FOR") || t.is_keyword("LOCK")) => break,
            _ => {}
        }
        i += 1;
    }
    if start < i {
        items.push(sql[toks[start].start..toks[i - 1].end].to_string());
    }
    Some(items)
}

/// Byte spans of an INSERT's parts, for splitting its rows by node.
#[derive(Debug, Clone)]
pub struct InsertSpans {
    /// Just after the `(` of the column list, if there is one.
    pub columns_open: Option<usize>,
    /// The `VALUES` keyword's start.
    pub values_keyword: usize,
    /// Each row, parentheses included.
    pub rows: Vec<(usize, usize)>,
    /// Each row's values (byte spans, without the separating commas).
    pub values: Vec<Vec<(usize, usize)>>,
    /// Where the text after the last row starts (ON DUPLICATE KEY UPDATE …).
    pub tail: usize,
}

/// Finds the column list and VALUES rows of an `INSERT/REPLACE … VALUES (…), (…)`.
pub fn insert_spans(toks: &[Tok]) -> Option<InsertSpans> {
    let v = toks.iter().position(|t| t.is_keyword("VALUES") || t.is_keyword("VALUE"))?;
    let columns_open = toks[..v].iter().position(|t| t.token == Token::LParen).map(|i| toks[i].end);
    let mut rows = Vec::new();
    let mut values = Vec::new();
    let mut i = v + 1;
    let mut tail = toks.get(v + 1).map_or(toks[v].end, |t| t.start);
    while i < toks.len() && toks[i].token == Token::LParen {
        let start = toks[i].start;
        let mut depth = 0;
        let mut j = i;
        let mut row_values = Vec::new();
        let mut value_start: Option<usize> = None;
        loop {
            let t = toks.get(j)?;
            match t.token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                _ => {}
            }
            if depth == 1 && t.token == Token::Comma {
                row_values.push((value_start.unwrap_or(t.start), toks[j - 1].end));
                value_start = None;
            } else if depth >= 1 && j > i && value_start.is_none() {
                value_start = Some(t.start);
            }
            if depth == 0 {
                if let Some(s) = value_start {
                    row_values.push((s, toks[j - 1].end));
                }
                break;
            }
            j += 1;
        }
        rows.push((start, toks[j].end));
        values.push(row_values);
        tail = toks[j].end;
        i = j + 1;
        if i < toks.len() && toks[i].token == Token::Comma {
            i += 1;
        } else {
            break;
        }
    }
    Some(InsertSpans { columns_open, values_keyword: toks[v].start, rows, values, tail })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rename(sql: &str) -> String {
        let toks = tokenize(sql).unwrap();
        let refs = table_refs(&toks, |n| n == "t_order" || n == "t_item");
        rewrite(sql, &toks, &refs, |n| Some(format!("{n}_1")))
    }

    #[test]
    fn renames_tables_everywhere_they_appear_as_tables() {
        assert_eq!(rename("SELECT * FROM t_order WHERE id = 1"), "SELECT * FROM `t_order_1` WHERE id = 1");
        assert_eq!(
            rename("select t_order.user_id, o.x from `t_order` o join t_item i on t_order.id = i.order_id"),
            "select t_order.user_id, o.x from `t_order_1` o join `t_item_1` i on t_order.id = i.order_id"
        );
        assert_eq!(rename("SELECT * FROM demo.t_order, t_item"), "SELECT * FROM demo.`t_order_1`, `t_item_1`");
        assert_eq!(rename("SELECT ROUND(t_order.x, 1) FROM t_order USE INDEX (k)"), "SELECT ROUND(t_order.x, 1) FROM `t_order_1` AS `t_order` USE INDEX (k)");
        assert_eq!(rename("SELECT demo.t_order.x FROM demo.t_order"), "SELECT demo.`t_order_1`.x FROM demo.`t_order_1`");
        assert_eq!(rename("UPDATE t_order SET x = 't_order' WHERE 1"), "UPDATE `t_order_1` SET x = 't_order' WHERE 1");
        assert_eq!(rename("INSERT INTO t_order (id) VALUES (1) /* t_order */"), "INSERT INTO `t_order_1` (id) VALUES (1) /* t_order */");
        assert_eq!(rename("DROP TABLE IF EXISTS t_order"), "DROP TABLE IF EXISTS `t_order_1`");
        assert_eq!(rename("CREATE TABLE IF NOT EXISTS t_order (id INT)"), "CREATE TABLE IF NOT EXISTS `t_order_1` (id INT)");
        assert_eq!(rename("CREATE INDEX k ON t_order(k)"), "CREATE INDEX k ON `t_order_1`(k)");
        assert_eq!(rename("DROP INDEX k ON t_order"), "DROP INDEX k ON `t_order_1`");
        assert_eq!(rename("SELECT 'ä', t_order.* FROM t_order"), "SELECT 'ä', t_order.* FROM `t_order_1` AS `t_order`");
        assert_eq!(rename("SELECT t_orders FROM x"), "SELECT t_orders FROM x");
        assert_eq!(rename("SELECT * FROM x WHERE EXISTS (SELECT 1 FROM t_order)"), "SELECT * FROM x WHERE EXISTS (SELECT 1 FROM `t_order_1`)");
    }

    #[test]
    fn select_items_as_written() {
        let sql = "SELECT DISTINCT BINARY name, COUNT(*)  +  1, f(a, (b)) AS x FROM t WHERE a = 1";
        let toks = tokenize(sql).unwrap();
        assert_eq!(select_items(sql, &toks).unwrap(), ["BINARY name", "COUNT(*)  +  1", "f(a, (b)) AS x"]);
        assert_eq!(select_items("SELECT 1", &tokenize("SELECT 1").unwrap()).unwrap(), ["1"]);
        for bad in ["SELECT ,", "SELECT a,,b", "SELECT DISTINCT , a"] {
            assert_eq!(select_items(bad, &tokenize(bad).unwrap()), None, "{bad}");
        }
    }

    #[test]
    fn multibyte_text_keeps_offsets_right() {
        assert_eq!(rename("SELECT '☃☃\n☃' AS \"x\",\n  t_order.a FROM t_order"), "SELECT '☃☃\n☃' AS \"x\",\n  t_order.a FROM `t_order_1` AS `t_order`");
    }

    #[test]
    fn insert_rows_and_tail() {
        let sql = "INSERT INTO t (a, b) VALUES (1, 'x(y)'), (2, (3)) ON DUPLICATE KEY UPDATE b = 1";
        let toks = tokenize(sql).unwrap();
        let s = insert_spans(&toks).unwrap();
        let rows: Vec<&str> = s.rows.iter().map(|&(a, b)| &sql[a..b]).collect();
        assert_eq!(rows, ["(1, 'x(y)')", "(2, (3))"]);
        let values: Vec<Vec<&str>> = s.values.iter().map(|r| r.iter().map(|&(a, b)| &sql[a..b]).collect()).collect();
        assert_eq!(values, [vec!["1", "'x(y)'"], vec!["2", "(3)"]]);
        assert_eq!(&sql[s.tail..], " ON DUPLICATE KEY UPDATE b = 1");
        assert_eq!(&sql[s.columns_open.unwrap()..s.columns_open.unwrap() + 1], "a");
        assert_eq!(&sql[..s.values_keyword], "INSERT INTO t (a, b) ");
    }
}
