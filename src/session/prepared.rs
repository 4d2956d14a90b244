//! Prepared statements in schemas with sharding rules. The proxy owns the statement: it answers
//! COM_STMT_PREPARE with the parameter and column definitions of a backend prepare of the statement (as
//! node 0 would run it), keeps the text under a proxy-assigned id, and on every COM_STMT_EXECUTE binds the
//! parameters into the text as literals, plans it like any statement — so the route follows the parameter
//! values — and answers with binary rows. Backend statements live only for the moment of the describe,
//! so nothing can leak on the backends.

use std::collections::HashMap;
use std::sync::Arc;

use crate::execute::read_split;
use crate::plan::template::Template;

use crate::error::SgError;
use crate::protocol::constants::com;
use crate::protocol::reply::ReplyKind;
use crate::session::session::Session;
use crate::sql::tokens::{rewrite, table_refs, tokenize};
use crate::protocol::codec::Reader;
use crate::protocol::row_binary::{read_value, WireType};
use crate::sql::tokens::Tok;

/// Proxy statement ids start here, far above the ids a backend hands out on one connection, so they never
/// collide with statements passed through in schemas without rules.
pub const PROXY_ID_BASE: u32 = 0x4000_0000;

/// A statement prepared through the proxy.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Its text as the client sent it.
    pub sql: String,
    /// Byte spans of its `?` placeholders, in order.
    pub placeholders: Vec<(usize, usize)>,
    /// Parameter types from the last execute that sent them.
    pub types: Vec<WireType>,
    /// Parameter values sent with COM_STMT_SEND_LONG_DATA, by parameter index.
    pub long_data: HashMap<usize, Vec<u8>>,
    /// Backend statements its executions used: (data source, statement text), closed with it.
    pub native: Vec<(String, String)>,
    /// Its plan template, the schema it was made in and the generation of the rules it was made with, once
    /// planned (`None` inside: plan each execution). Rules of another generation may place tables elsewhere.
    pub template: Option<(Option<String>, u64, Option<Arc<Template>>)>,
    /// Column names MariaDB gave at prepare time (`?` for a placeholder in the select list): executions whose
    /// rows the proxy re-encodes name their columns so, not after the values bound into the text.
    pub column_names: Arc<Vec<String>>,
}

impl Prepared {
    /// A statement and its placeholders.
    pub fn new(sql: String, toks: &[Tok]) -> Self {
        let placeholders = toks
            .iter()
            .filter(|t| matches!(&t.token, sqlparser::tokenizer::Token::Placeholder(p) if p == "?"))
            .map(|t| (t.start, t.end))
            .collect();
        Prepared { sql, placeholders, types: Vec::new(), long_data: HashMap::new(), native: Vec::new(), template: None, column_names: Arc::default() }
    }

    /// Decodes a COM_STMT_EXECUTE payload (after the command byte and statement id) into the text form of
    /// each parameter (`None` = NULL).
    pub fn bind(&mut self, body: &[u8]) -> Result<Vec<Option<Vec<u8>>>, SgError> {
        let n = self.placeholders.len();
        let mut r = Reader::new(body);
        r.u8()?; // flags: a cursor request is answered with a plain result set, which the protocol allows
        r.u32()?; // iteration count, always 1
        if n == 0 {
            return Ok(Vec::new());
        }
        let nulls = r.take(n.div_ceil(8))?.to_vec();
        if r.u8()? == 1 {
            self.types = (0..n)
                .map(|_| {
                    let t = r.u8()?;
                    let flags = r.u8()?;
                    Ok(WireType { type_byte: t, unsigned: flags & 0x80 != 0 })
                })
                .collect::<Result<_, SgError>>()?;
        }
        if self.types.len() != n {
            return Err(SgError::malformed("COM_STMT_EXECUTE without parameter types"));
        }
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            if nulls[i / 8] & (1 << (i % 8)) != 0 {
                values.push(None);
            } else if let Some(data) = self.long_data.get(&i) {
                values.push(Some(data.clone()));
            } else {
                values.push(Some(read_value(&mut r, self.types[i])?));
            }
        }
        Ok(values)
    }

    /// The statement's text with every placeholder replaced by its value as an SQL literal.
    pub fn text_with(&self, values: &[Option<Vec<u8>>]) -> String {
        let mut out = String::with_capacity(self.sql.len() + values.iter().map(|v| v.as_ref().map_or(4, |b| b.len() + 3)).sum::<usize>());
        let mut at = 0;
        for (i, &(s, e)) in self.placeholders.iter().enumerate() {
            out.push_str(&self.sql[at..s]);
            let t = self.types.get(i).copied().unwrap_or(WireType { type_byte: 253, unsigned: false });
            match values.get(i).and_then(|v| v.as_deref()) {
                None => out.push_str("NULL"),
                Some(v) => out.push_str(&literal(v, t)),
            }
            at = e;
        }
        out.push_str(&self.sql[at..]);
        out
    }
}

/// COM_STMT_PREPARE of a statement that names sharded or broadcast tables.
pub async fn prepare(session: &mut Session, sql: &str) -> Result<(), SgError> {
    use crate::sql::lexer::{classify, Statement};
    if !matches!(classify(sql), Statement::Other | Statement::EndTransaction(_) | Statement::Set | Statement::Begin(_) | Statement::Savepoint) {
        return Err(SgError::UnsupportedPs("this statement as a prepared statement in a sharded schema".into()));
    }
    let toks = tokenize(sql).map_err(|e| SgError::UnsupportedPs(format!("a statement the proxy cannot read ({e})")))?;
    let shared = session.shared.clone();
    let layout = session.state.schema.as_deref().and_then(|s| shared.layouts.get(s)).ok_or(SgError::NoDatabase)?;
    // Describe the statement as node 0 of its first sharded table would run it.
    let refs = table_refs(&toks, |n| layout.has_rule(n));
    let node0 = refs.iter().find_map(|r| layout.tables.get(&r.name)).map(|t| t.nodes[0].data_source.clone());
    let data_source = node0.unwrap_or_else(|| layout.default_data_source.clone());
    let text = rewrite(sql, &toks, &refs, |name| layout.tables.get(name).map(|t| t.nodes[0].table.clone()));
    session.ensure_backend(&data_source).await?;
    let conn = &mut session.backends.get_mut(&data_source).expect("pinned").conn;
    let mut command = Vec::with_capacity(1 + text.len());
    command.push(com::STMT_PREPARE);
    command.extend_from_slice(text.as_bytes());
    let read = async {
        conn.send_queued(&command).await?;
        conn.read_reply(ReplyKind::Prepare).await
    }
    .await;
    let mut packets: Vec<Vec<u8>> = match read {
        Ok(p) => p.into_iter().map(|p| p.payload.to_vec()).collect(),
        Err(reason) => {
            session.backends.remove(&data_source);
            return Err(SgError::BackendLost(data_source, reason));
        }
    };
    if packets[0].first() != Some(&0x00) {
        return session.send_raw_reply(&packets[0]).await;
    }
    let backend_id = u32::from_le_bytes(packets[0][1..5].try_into().expect("4 bytes"));
    let params = usize::from(u16::from_le_bytes([packets[0][7], packets[0][8]]));
    // The backend statement was only needed for its definitions.
    let mut close = vec![com::STMT_CLOSE];
    close.extend_from_slice(&backend_id.to_le_bytes());
    let conn = &mut session.backends.get_mut(&data_source).expect("pinned").conn;
    if let Err(reason) = conn.send_queued(&close).await {
        session.backends.remove(&data_source);
        return Err(SgError::BackendLost(data_source, reason));
    }
    let mut statement = Prepared::new(sql.to_string(), &toks);
    let columns = usize::from(u16::from_le_bytes([packets[0][5], packets[0][6]]));
    let eof = usize::from(!session.state.deprecate_eof() && params > 0);
    let first_def = 1 + params + eof;
    let mut names: Vec<String> = packets.iter().skip(first_def).take(columns).filter_map(|d| crate::protocol::resultset::column_name(d)).collect();
    // An unaliased expression is named after its text, which node 0 saw with physical table names: it takes
    // the client's text, as one MariaDB names it (and as the fallback's answer does).
    if text != sql {
        let renamed = tokenize(&text).ok().and_then(|t| crate::sql::tokens::select_items(&text, &t));
        if let (Some(own), Some(renamed)) = (crate::sql::tokens::select_items(sql, &toks), renamed) {
            // By text, not position: `t.*` stands for several columns.
            let changed: HashMap<&String, &String> = renamed.iter().zip(&own).filter(|(r, o)| r != o).collect();
            for (i, name) in names.iter_mut().enumerate() {
                if let Some(own) = changed.get(name).filter(|_| own.len() == renamed.len()) {
                    name.clone_from(own);
                    if let Some(def) = packets.get(first_def + i).and_then(|d| crate::protocol::resultset::rename_column(d, own)) {
                        packets[first_def + i] = def;
                    }
                }
            }
        }
    }
    statement.column_names = Arc::new(names);
    if statement.placeholders.len() != params {
        return Err(SgError::UnsupportedPs("a statement whose placeholders the proxy cannot place".into()));
    }
    let id = session.next_statement_id();
    packets[0][1..5].copy_from_slice(&id.to_le_bytes());
    session.statements.insert(id, statement);
    crate::stats::Stats::add(&session.shared.stats.prepared_statements, 1);
    session.send_packets(&packets).await
}

/// COM_STMT_CLOSE: forgets the statement and closes the backend statements only it used (no reply).
pub async fn close(session: &mut Session, id: u32) {
    let Some(closed) = session.statements.remove(&id) else { return };
    session.shared.stats.prepared_statements.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    for (ds, text) in closed.native {
        if session.statements.values().any(|s| s.native.iter().any(|(d, t)| *d == ds && *t == text)) {
            continue;
        }
        let Some(pooled) = session.backends.get_mut(&ds) else { continue };
        if let Some(backend_id) = pooled.conn.statements.remove(&text) {
            let mut command = vec![com::STMT_CLOSE];
            command.extend_from_slice(&backend_id.to_le_bytes());
            if pooled.conn.send_queued(&command).await.is_err() {
                session.backends.remove(&ds);
            }
        }
    }
}

/// A bound value as the router reads it.
fn routing_literal(value: Option<&[u8]>, t: WireType) -> crate::sharding::key::Literal {
    use crate::sharding::key::Literal;
    let Some(v) = value else { return Literal::Null };
    let text = String::from_utf8_lossy(v);
    match t.type_byte {
        1 | 2 | 3 | 8 | 9 | 13 => text.parse().map_or(Literal::Other, Literal::Int),
        0 | 4 | 5 | 246 => Literal::Other,
        _ => Literal::Str(text.into_owned()),
    }
}

/// COM_STMT_EXECUTE of a proxy statement. Routed by the bound values; when it goes to exactly one data
/// source it runs there natively — prepared once per backend connection (cached), executed with the
/// client's own parameter bytes, the binary reply relayed untouched. Anything else (several shards, ids to
/// generate, long data) runs with the values bound into the text and the rows re-encoded as binary.
pub async fn execute(session: &mut Session, id: u32, body: &[u8]) -> Result<(), SgError> {
    let statement = session.statements.get_mut(&id).ok_or(SgError::UnknownStatement(id, "mysqld_stmt_execute"))?;
    let values = statement.bind(body)?;
    let statement = statement.clone();
    session.statement_writes = !crate::sql::reads::is_plain_read(&statement.sql);
    let shared = session.shared.clone();
    let schema = session.state.schema.clone();
    let classify = crate::sql::lexer::classify;
    if statement.long_data.is_empty() {
        let literals: Vec<_> = values.iter().zip(&statement.types).map(|(v, t)| routing_literal(v.as_deref(), *t)).collect();
        let template = match &statement.template {
            Some((made_in, generation, t)) if *made_in == schema && *generation == shared.generation => t.clone(),
            _ => {
                let t = crate::plan::planner::prepared_template(&statement.sql, schema.as_deref(), &shared.layouts).map(Arc::new);
                if let Some(s) = session.statements.get_mut(&id) {
                    s.template = Some((schema.clone(), shared.generation, t.clone()));
                }
                t
            }
        };
        let plan = match template {
            Some(t) => t.bind(&literals, &[]),
            None => crate::plan::planner::plan_with_params(classify(&statement.sql), &statement.sql, schema.as_deref(), &shared.rules, &shared.layouts, &literals),
        };
        session.route = crate::metrics::route_of(&plan);
        if let crate::plan::Plan::Passthrough { data_source, sql } = plan {
            let text = sql.unwrap_or_else(|| statement.sql.clone());
            let how = crate::execute::Exec::Native { text: &text, types: &statement.types, body };
            let result = read_split::run_or_note(session, &statement.sql, crate::plan::Plan::Passthrough { data_source, sql: None }, how).await;
            // Remember the backend statement, so closing the proxy statement closes it.
            if let (Some(used), Some(s)) = (session.native_used.take(), session.statements.get_mut(&id)) {
                if !s.native.contains(&used) {
                    s.native.push(used);
                }
            }
            return result;
        }
    }
    let sql = statement.text_with(&values);
    let plan = crate::plan::planner::plan_cached(classify(&sql), &sql, schema.as_deref(), &shared.rules, &shared.layouts, &shared.plans);
    session.route = crate::metrics::route_of(&plan);
    session.column_names = Some(statement.column_names.clone());
    let result = read_split::run_or_note(session, &sql, plan, crate::execute::Exec::Binary(&sql)).await;
    session.column_names = None;
    result
}

/// An SQL literal for a bound value: numbers as they are (if they really are numbers), text quoted with
/// MySQL's escapes, bytes that are not UTF-8 as a hex literal.
pub fn literal(v: &[u8], t: WireType) -> String {
    let numeric = matches!(t.type_byte, 0 | 1 | 2 | 3 | 4 | 5 | 8 | 9 | 13 | 246);
    if let (true, Ok(s)) = (numeric, std::str::from_utf8(v)) {
        if !s.is_empty() && s.parse::<f64>().is_ok() && s.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) {
            return s.to_string();
        }
    }
    match std::str::from_utf8(v) {
        Ok(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('\'');
            for c in s.chars() {
                match c {
                    '\'' => out.push_str("\\'"),
                    '\\' => out.push_str("\\\\"),
                    '\0' => out.push_str("\\0"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\u{1a}' => out.push_str("\\Z"),
                    c => out.push(c),
                }
            }
            out.push('\'');
            out
        }
        Err(_) => {
            let hex: String = v.iter().map(|b| format!("{b:02X}")).collect();
            format!("X'{hex}'")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::row_binary::encode_binary_row;

    #[test]
    fn parameters_bind_into_the_text_as_safe_literals() {
        let sql = "SELECT * FROM t WHERE id = ? AND name = ? AND note = ? AND d = ? AND b = ?";
        let mut p = Prepared::new(sql.into(), &crate::sql::tokens::tokenize(sql).unwrap());
        let types = [
            WireType { type_byte: 8, unsigned: false },
            WireType { type_byte: 253, unsigned: false },
            WireType { type_byte: 253, unsigned: false },
            WireType { type_byte: 12, unsigned: false },
            WireType { type_byte: 252, unsigned: false },
        ];
        // Build an execute body: flags, iteration count, NULL bitmap, new-params-bound, types, values.
        let row = encode_binary_row(
            &[Some(b"-42".to_vec()), Some(b"O'Brien \\ x".to_vec()), None, Some(b"2026-11-23 01:02:03".to_vec()), Some(vec![0xff, 0x00])],
            &types,
        )
        .unwrap();
        let mut body = vec![0u8, 1, 0, 0, 0, 0b0000_0100, 1];
        for t in &types {
            body.extend([t.type_byte, 0]);
        }
        body.extend_from_slice(&row[2..]); // values only (skip header and the row's own bitmap)
        let values = p.bind(&body).unwrap();
        assert_eq!(
            p.text_with(&values),
            "SELECT * FROM t WHERE id = -42 AND name = 'O\\'Brien \\\\ x' AND note = NULL AND d = '2026-11-23 01:02:03' AND b = X'FF00'"
        );
        // A later execute may omit the types: the first ones are kept.
        let mut again = vec![0u8, 1, 0, 0, 0, 0b0001_1110, 0];
        again.extend_from_slice(&7i64.to_le_bytes());
        assert_eq!(p.text_with(&p.clone().bind(&again).unwrap()), "SELECT * FROM t WHERE id = 7 AND name = NULL AND note = NULL AND d = NULL AND b = NULL");
    }

    #[test]
    fn numbers_that_are_not_numbers_are_quoted() {
        let int = WireType { type_byte: 8, unsigned: false };
        assert_eq!(literal(b"1e3", int), "1e3");
        assert_eq!(literal(b"1; DROP TABLE t", WireType { type_byte: 246, unsigned: false }), "'1; DROP TABLE t'");
    }
}
