//! A cheap classifier: reads the first words of a statement, skipping comments, to pick out the few
//! statements the proxy answers itself. Far cheaper than a full parse (ARCHITECTURE.md, Measurements), which is left for
//! statements that need routing.

/// What the classifier recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `USE name`.
    Use(String),
    /// `SHOW DATABASES` / `SHOW SCHEMAS`, with an optional LIKE pattern.
    ShowDatabases {
        /// The LIKE pattern, unquoted.
        like: Option<String>,
    },
    /// `SHOW [FULL] TABLES`, with an optional LIKE pattern.
    ShowTables {
        /// FULL: a Table_type column too.
        full: bool,
        /// The LIKE pattern, unquoted.
        like: Option<String>,
    },
    /// An admin statement (admin users only).
    Admin(Admin),
    /// `EXPLAIN SHARDING <statement>`: the statement's plan instead of its result.
    Explain(String),
    /// `PREPARE … FROM`, `EXECUTE … USING`, `DEALLOCATE PREPARE`: text-protocol prepared statements, whose
    /// statement text sqlparser cannot see.
    TextPrepared,
    /// `SET …`: session settings (variables, NAMES, autocommit, …).
    Set,
    /// A bare `COMMIT` (true) or `ROLLBACK` (false), optionally with WORK.
    EndTransaction(bool),
    /// `BEGIN [WORK]` or `START TRANSACTION`; true when START TRANSACTION carries characteristics
    /// (READ ONLY, WITH CONSISTENT SNAPSHOT, …).
    Begin(bool),
    /// `SAVEPOINT x`, `ROLLBACK [WORK] TO [SAVEPOINT] x`, `RELEASE SAVEPOINT x`.
    Savepoint,
    /// An `XA …` statement from the client.
    ClientXa,
    /// `KILL [HARD|SOFT] [CONNECTION|QUERY] id`: true for QUERY.
    Kill {
        /// Only the running statement (QUERY), not the connection.
        query: bool,
        /// The client connection id (as the proxy gave it).
        id: u32,
    },
    /// A form the proxy recognises but cannot answer correctly; the text says which.
    Unsupported(&'static str),
    /// Anything else: handled by the backend.
    Other,
}

/// Admin statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admin {
    /// `SHOW SHARDGATE NODES` / `SHOW SHARDGATE BACKENDS`: every primary and replica, health, lag, connections.
    Nodes,
    /// `SHOW SHARDGATE RULES`: data sources, schemas and tables as loaded.
    Rules,
    /// `SHOW SHARDGATE SESSIONS`: client sessions and the backend threads working for them.
    Sessions,
    /// `SHOW SHARDGATE STATS`: the counters.
    Stats,
    /// `SHOW SHARDGATE LOCKS`: the lock waits on every primary now, with the sessions on both sides.
    Locks,
    /// `SHOW SHARDGATE PROXIES`: the fleet's instances registered in etcd and the rules revision each runs.
    Proxies,
    /// `RELOAD RULES`: read the rules file again.
    Reload,
    /// `SET SHARDGATE NODE 'name' OFFLINE|ONLINE`: take a replica out of (or back into) read rotation.
    Node(String, bool),
    /// `SET SHARDGATE USER 'name' UNBLOCKED`: lift a login block (`max_password_errors`).
    Unblock(String),
    /// `SHOW SHARDGATE RESHARD`: the reshard job's phase and figures.
    Reshard,
    /// `RESHARD RUN 'rules file' [RATE rows_per_s] [CLEANUP]`: start, resume or attach to a reshard.
    ReshardRun {
        /// The new rules' file, as the proxy sees it.
        path: String,
        /// Rows read per second at most while copying.
        rate: Option<u64>,
        /// Delete the removed nodes' rows right after the switch.
        cleanup: bool,
    },
    /// `RESHARD ABORT`: give up a reshard before its switch.
    ReshardAbort,
    /// `RESHARD CLEANUP`: delete the rows left on the nodes a finished reshard removed.
    ReshardCleanup,
}

/// Parses what follows `RESHARD`.
fn reshard(lx: &mut Lexer) -> Statement {
    const USAGE: &str = "RESHARD …: shardgate knows RESHARD RUN 'new rules file' [RATE rows_per_second] [CLEANUP], RESHARD ABORT and RESHARD CLEANUP";
    let op = lx.next();
    let end = |lx: &mut Lexer| matches!(lx.next(), None | Some(Token::Semicolon));
    if is_word(&op, "abort") && end(lx) {
        return Statement::Admin(Admin::ReshardAbort);
    }
    if is_word(&op, "cleanup") && end(lx) {
        return Statement::Admin(Admin::ReshardCleanup);
    }
    let path = match (is_word(&op, "run"), lx.next()) {
        (true, Some(Token::Quoted(p))) => p,
        _ => return Statement::Unsupported(USAGE),
    };
    let (mut rate, mut cleanup) = (None, false);
    loop {
        match lx.next() {
            None | Some(Token::Semicolon) => return Statement::Admin(Admin::ReshardRun { path, rate, cleanup }),
            t if is_word(&t, "cleanup") => cleanup = true,
            t if is_word(&t, "rate") => match lx.next() {
                Some(Token::Word(n)) if n.parse::<u64>().is_ok() => rate = n.parse().ok(),
                _ => return Statement::Unsupported(USAGE),
            },
            _ => return Statement::Unsupported(USAGE),
        }
    }
}

/// Tokens the classifier cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Semicolon,
    Other,
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn skip_space_and_comments(&mut self) {
        loop {
            let rest = &self.s[self.pos..];
            match rest {
                [c, ..] if c.is_ascii_whitespace() => self.pos += 1,
                [b'#', ..] | [b'-', b'-', b' ' | b'\t' | b'\n' | b'\r', ..] => {
                    self.pos += rest.iter().position(|&c| c == b'\n').map_or(rest.len(), |i| i + 1);
                }
                // `/*! … */` executes its content on MySQL; treating it as a comment only means such a
                // statement is not recognised here and goes to the backend, which runs it.
                [b'/', b'*', ..] => {
                    self.pos += rest.windows(2).skip(2).position(|w| w == b"*/").map_or(rest.len(), |i| i + 4);
                }
                _ => return,
            }
        }
    }

    fn next(&mut self) -> Option<Token> {
        self.skip_space_and_comments();
        let rest = &self.s[self.pos..];
        let first = *rest.first()?;
        if first.is_ascii_alphanumeric() || first == b'_' || first == b'$' || first >= 0x80 {
            let n = rest.iter().position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80)).unwrap_or(rest.len());
            self.pos += n;
            return Some(Token::Word(String::from_utf8_lossy(&rest[..n]).into_owned()));
        }
        if matches!(first, b'`' | b'\'' | b'"') {
            // A doubled quote inside is an escaped quote; backslash escapes apply to string quotes.
            let mut out = Vec::new();
            let mut i = 1;
            while i < rest.len() {
                let c = rest[i];
                if c == first {
                    if rest.get(i + 1) == Some(&first) {
                        out.push(c);
                        i += 2;
                        continue;
                    }
                    self.pos += i + 1;
                    return Some(Token::Quoted(String::from_utf8_lossy(&out).into_owned()));
                }
                if c == b'\\' && first != b'`' && i + 1 < rest.len() {
                    out.push(rest[i + 1]);
                    i += 2;
                    continue;
                }
                out.push(c);
                i += 1;
            }
            self.pos = self.s.len();
            return Some(Token::Other);
        }
        self.pos += 1;
        Some(if first == b';' { Token::Semicolon } else { Token::Other })
    }

    /// True if only whitespace, comments and semicolons remain.
    fn at_end(&mut self) -> bool {
        loop {
            match self.next() {
                None => return true,
                Some(Token::Semicolon) => continue,
                Some(_) => return false,
            }
        }
    }
}

fn is_word(t: &Option<Token>, w: &str) -> bool {
    matches!(t, Some(Token::Word(x)) if x.eq_ignore_ascii_case(w))
}

/// Classifies one statement.
pub fn classify(sql: &str) -> Statement {
    let mut lx = Lexer { s: sql.as_bytes(), pos: 0 };
    let first = lx.next();
    if is_word(&first, "use") {
        let name = match lx.next() {
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => w,
            _ => return Statement::Other,
        };
        return if lx.at_end() { Statement::Use(name) } else { Statement::Other };
    }
    if is_word(&first, "set") {
        let mut peek = Lexer { s: lx.s, pos: lx.pos };
        if is_word(&peek.next(), "shardgate") {
            let (node, name, state) = (peek.next(), peek.next(), peek.next());
            let end = matches!(peek.next(), None | Some(Token::Semicolon));
            return match (is_word(&node, "node"), is_word(&node, "user"), name, &state) {
                (true, _, Some(Token::Quoted(n) | Token::Word(n)), s) if end && (is_word(s, "offline") || is_word(s, "online")) => {
                    Statement::Admin(Admin::Node(n, is_word(s, "offline")))
                }
                (_, true, Some(Token::Quoted(n) | Token::Word(n)), s) if end && is_word(s, "unblocked") => Statement::Admin(Admin::Unblock(n)),
                _ => Statement::Unsupported("SET SHARDGATE …: shardgate knows SET SHARDGATE NODE 'name' OFFLINE | ONLINE and SET SHARDGATE USER 'name' UNBLOCKED"),
            };
        }
        return Statement::Set;
    }
    if is_word(&first, "reshard") {
        return reshard(&mut lx);
    }
    if is_word(&first, "reload") {
        return if is_word(&lx.next(), "rules") && matches!(lx.next(), None | Some(Token::Semicolon)) {
            Statement::Admin(Admin::Reload)
        } else {
            Statement::Other
        };
    }
    if is_word(&first, "begin") {
        let mut next = lx.next();
        if is_word(&next, "work") {
            next = lx.next();
        }
        return if matches!(next, None | Some(Token::Semicolon)) && lx.at_end() { Statement::Begin(false) } else { Statement::Other };
    }
    if is_word(&first, "start") {
        if !is_word(&lx.next(), "transaction") {
            return Statement::Other;
        }
        return Statement::Begin(!matches!(lx.next(), None | Some(Token::Semicolon)));
    }
    if is_word(&first, "savepoint") || (is_word(&first, "release") && is_word(&lx.next(), "savepoint")) {
        return Statement::Savepoint;
    }
    if is_word(&first, "xa") {
        return Statement::ClientXa;
    }
    if is_word(&first, "kill") {
        let mut next = lx.next();
        if is_word(&next, "hard") || is_word(&next, "soft") {
            next = lx.next();
        }
        let query = is_word(&next, "query");
        if query || is_word(&next, "connection") {
            next = lx.next();
        }
        return match next {
            Some(Token::Word(w)) if w.bytes().all(|b| b.is_ascii_digit()) && lx.at_end() => match w.parse() {
                Ok(id) => Statement::Kill { query, id },
                Err(_) => Statement::Unsupported("KILL of a connection id beyond 32 bits"),
            },
            _ => Statement::Unsupported("this form of KILL; shardgate knows KILL [QUERY | CONNECTION] <connection id>"),
        };
    }
    if is_word(&first, "commit") || is_word(&first, "rollback") {
        let commit = is_word(&first, "commit");
        let mut next = lx.next();
        if is_word(&next, "work") {
            next = lx.next();
        }
        if !commit && is_word(&next, "to") {
            return Statement::Savepoint;
        }
        return match next {
            None | Some(Token::Semicolon) if lx.at_end() => Statement::EndTransaction(commit),
            _ => Statement::Other,
        };
    }
    if is_word(&first, "prepare") || is_word(&first, "execute") || is_word(&first, "deallocate") {
        return Statement::TextPrepared;
    }
    if is_word(&first, "explain") {
        if is_word(&lx.next(), "sharding") {
            return Statement::Explain(sql[lx.pos..].trim().to_string());
        }
        return Statement::Other;
    }
    if is_word(&first, "show") {
        let what = lx.next();
        if is_word(&what, "shardgate") {
            let which = lx.next();
            let admin = if is_word(&which, "nodes") || is_word(&which, "backends") {
                Admin::Nodes
            } else if is_word(&which, "rules") {
                Admin::Rules
            } else if is_word(&which, "sessions") {
                Admin::Sessions
            } else if is_word(&which, "stats") {
                Admin::Stats
            } else if is_word(&which, "locks") {
                Admin::Locks
            } else if is_word(&which, "proxies") {
                Admin::Proxies
            } else if is_word(&which, "reshard") {
                Admin::Reshard
            } else {
                return Statement::Unsupported("SHOW SHARDGATE …: shardgate knows NODES, BACKENDS, RULES, SESSIONS, STATS, LOCKS, PROXIES and RESHARD");
            };
            return if matches!(lx.next(), None | Some(Token::Semicolon)) { Statement::Admin(admin) } else { Statement::Other };
        }
        let full = is_word(&what, "full");
        let what = if full { lx.next() } else { what };
        if is_word(&what, "tables") {
            return match lx.next() {
                None | Some(Token::Semicolon) => Statement::ShowTables { full, like: None },
                t if is_word(&t, "like") => match lx.next() {
                    Some(Token::Quoted(p)) if lx.at_end() => Statement::ShowTables { full, like: Some(p) },
                    _ => Statement::Other,
                },
                _ => Statement::Other,
            };
        }
        if !(is_word(&what, "databases") || is_word(&what, "schemas")) {
            return Statement::Other;
        }
        let after = lx.next();
        return match after {
            None | Some(Token::Semicolon) => Statement::ShowDatabases { like: None },
            t if is_word(&t, "like") => match lx.next() {
                Some(Token::Quoted(p)) if lx.at_end() => Statement::ShowDatabases { like: Some(p) },
                _ => Statement::Other,
            },
            t if is_word(&t, "where") => Statement::Unsupported("SHOW DATABASES … WHERE; use SHOW DATABASES LIKE 'pattern'"),
            _ => Statement::Other,
        };
    }
    Statement::Other
}

/// A routing hint in a comment before the statement: `/* shardgate: data_source=ds_1 */` sends the
/// statement unchanged to that data source; `/* shardgate: shard_key=42 */` routes it as if its sharding
/// key were 42 (tables renamed for that node); `/* shardgate: read=primary */` or `read=replica` sends a
/// SELECT to the primary or to a replica. `/*+ … */` works as well.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hint {
    /// Force this data source.
    pub data_source: Option<String>,
    /// Route by this sharding-key value.
    pub shard_key: Option<String>,
    /// `read=primary` (true) or `read=replica` (false): where a SELECT goes, whatever the proxy would choose.
    pub read_primary: Option<bool>,
}

/// Reads a hint from the comments that open `sql`; `Err` names what is wrong with a malformed one.
pub fn hint(sql: &str) -> Option<Result<Hint, String>> {
    let mut rest = sql.trim_start();
    while let Some(body) = rest.strip_prefix("/*") {
        let end = body.find("*/")?;
        let text = body[..end].trim_start_matches('+').trim();
        rest = body[end + 2..].trim_start();
        let Some(args) = text.get(..10).filter(|p| p.eq_ignore_ascii_case("shardgate:")).map(|_| &text[10..]) else { continue };
        let mut h = Hint::default();
        for pair in args.split(|c: char| c == ',' || c.is_whitespace()).filter(|p| !p.is_empty()) {
            let Some((k, v)) = pair.split_once('=') else {
                return Some(Err(format!("hint '{pair}' is not key=value; use /* shardgate: data_source=NAME */ or /* shardgate: shard_key=VALUE */")));
            };
            let v = v.trim_matches(|c| c == '\'' || c == '"').to_string();
            match k.to_ascii_lowercase().as_str() {
                "data_source" => h.data_source = Some(v),
                "shard_key" if v.is_empty() => {
                    return Some(Err("hint shard_key= has no value; give the sharding column's value: /* shardgate: shard_key=42 */".into()))
                }
                "shard_key" => h.shard_key = Some(v),
                "read" if v.eq_ignore_ascii_case("primary") || v.eq_ignore_ascii_case("replica") => {
                    h.read_primary = Some(v.eq_ignore_ascii_case("primary"))
                }
                "read" => return Some(Err(format!("hint read={v}: use read=primary or read=replica"))),
                other => return Some(Err(format!("unknown hint '{other}'; shardgate knows data_source, shard_key and read"))),
            }
        }
        return Some(Ok(h));
    }
    None
}

/// The statement inside a MySQL versioned comment that is the whole statement (`/*!40101 SET … */`, as
/// mariadb-dump writes them), which MariaDB runs: planning must see it (a SET for every data source, an
/// ALTER of a sharded table). `None` for anything else, `/*M!999999\- … */` client commands included.
pub fn versioned_inner(sql: &str) -> Option<&str> {
    // Comments before it are skipped: the CLI sends a dump's leading `-- …` lines and its
    // `/*M!999999\- enable the sandbox mode */` (a version no server reaches) with the first statement.
    let mut t = sql.trim().trim_end_matches(';').trim_end();
    loop {
        if t.starts_with("--") || t.starts_with('#') {
            t = t.split_once('\n').map_or("", |(_, rest)| rest).trim_start();
        } else if t.starts_with("/*") && versioned(t).is_none_or(|(version, _)| version > 999_998) {
            t = t.split_once("*/").map_or("", |(_, rest)| rest).trim_start();
        } else {
            break;
        }
    }
    let (_, body) = versioned(t)?;
    let body = body.strip_suffix("*/")?;
    let inner = body.trim();
    (!body.contains("*/") && !inner.is_empty()).then_some(inner)
}

/// The version and the rest of a `/*!NNNNN …` or `/*M!NNNNNN …` comment at the start of `t`.
fn versioned(t: &str) -> Option<(u32, &str)> {
    let rest = t.strip_prefix("/*M!").or_else(|| t.strip_prefix("/*!"))?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    Some((rest[..digits].parse().ok()?, &rest[digits..]))
}

/// The first word of `sql` after whitespace, `/* … */` comments (hints) and opening parentheses; empty when
/// there is none. What cheap checks (statement kind, implicit commit, replica hints) look at.
pub fn first_word(sql: &str) -> &str {
    let mut s = sql.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
    while let Some(rest) = s.strip_prefix("/*") {
        s = rest.split_once("*/").map_or("", |(_, r)| r).trim_start_matches(|c: char| c.is_whitespace() || c == '(');
    }
    &s[..s.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(s.len())]
}

/// `text` as the body of a LIKE pattern in single quotes that matches exactly it (`\\`, `%`, `_` and `'`
/// escaped).
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        match c {
            '\\' | '%' | '_' => {
                out.push('\\');
                out.push(c);
            }
            '\'' => out.push_str("''"),
            _ => out.push(c),
        }
    }
    out
}

/// SQL LIKE matching (`%`, `_`, backslash escape), case-insensitive as for identifiers.
pub fn like_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    // Iterative matcher with backtracking to the last '%'.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '\\' && pi + 1 < p.len() && p[pi + 1] == t[ti] {
            pi += 2;
            ti += 1;
        } else if pi < p.len() && p[pi] != '%' && p[pi] != '\\' && (p[pi] == '_' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_in_its_spellings() {
        assert_eq!(classify("USE demo"), Statement::Use("demo".into()));
        assert_eq!(classify("  use `my db` ; "), Statement::Use("my db".into()));
        assert_eq!(classify("/* hi */ Use demo -- trailing\n"), Statement::Use("demo".into()));
        assert_eq!(classify("# c\nuse demo;"), Statement::Use("demo".into()));
        assert_eq!(classify("use demo extra"), Statement::Other);
        assert_eq!(classify("user_defined()"), Statement::Other);
    }

    #[test]
    fn show_databases_forms() {
        assert_eq!(classify("show databases"), Statement::ShowDatabases { like: None });
        assert_eq!(classify("SHOW SHARDGATE NODES;"), Statement::Admin(Admin::Nodes));
        assert_eq!(classify("show shardgate backends"), Statement::Admin(Admin::Nodes));
        assert_eq!(classify("RELOAD RULES"), Statement::Admin(Admin::Reload));
        assert_eq!(classify("show shardgate reshard"), Statement::Admin(Admin::Reshard));
        assert_eq!(classify("SHOW SHARDGATE LOCKS"), Statement::Admin(Admin::Locks));
        assert_eq!(
            classify("RESHARD RUN '/etc/sg/three.toml' RATE 5000 CLEANUP;"),
            Statement::Admin(Admin::ReshardRun { path: "/etc/sg/three.toml".into(), rate: Some(5000), cleanup: true })
        );
        assert_eq!(classify("reshard abort"), Statement::Admin(Admin::ReshardAbort));
        assert!(matches!(classify("RESHARD RUN 'x' RATE fast"), Statement::Unsupported(_)));
        assert!(matches!(classify("RESHARD"), Statement::Unsupported(_)));
        assert_eq!(classify("show shardgate proxies;"), Statement::Admin(Admin::Proxies));
        assert_eq!(classify("SET SHARDGATE NODE 'ds_0/replica1' OFFLINE"), Statement::Admin(Admin::Node("ds_0/replica1".into(), true)));
        assert_eq!(classify("set shardgate node 'x' online;"), Statement::Admin(Admin::Node("x".into(), false)));
        assert_eq!(classify("SET SHARDGATE USER 'eve' UNBLOCKED"), Statement::Admin(Admin::Unblock("eve".into())));
        assert!(matches!(classify("SET SHARDGATE USER 'eve' UNBLOCKED now"), Statement::Unsupported(_)));
        assert_eq!(first_word("  /* shardgate: read=replica */ /* x */ (SELECT 1)"), "SELECT");
        assert_eq!(first_word("/* only a comment */"), "");
        assert_eq!(classify("begin"), Statement::Begin(false));
        assert_eq!(classify("START TRANSACTION;"), Statement::Begin(false));
        assert_eq!(classify("start transaction read only"), Statement::Begin(true));
        assert_eq!(classify("begin not atomic select 1; end"), Statement::Other);
        assert_eq!(classify("SAVEPOINT a"), Statement::Savepoint);
        assert_eq!(classify("rollback work to savepoint a"), Statement::Savepoint);
        assert_eq!(classify("RELEASE SAVEPOINT a"), Statement::Savepoint);
        assert_eq!(classify("xa recover"), Statement::ClientXa);
        assert_eq!(classify("KILL QUERY 12"), Statement::Kill { query: true, id: 12 });
        assert_eq!(classify("kill 7;"), Statement::Kill { query: false, id: 7 });
        assert_eq!(classify("KILL HARD CONNECTION 9"), Statement::Kill { query: false, id: 9 });
        assert!(matches!(classify("KILL USER app"), Statement::Unsupported(_)));
        assert!(matches!(classify("show shardgate nodez"), Statement::Unsupported(_)));
        assert_eq!(classify("SHOW SCHEMAS;"), Statement::ShowDatabases { like: None });
        assert_eq!(classify("show databases like 'de%'"), Statement::ShowDatabases { like: Some("de%".into()) });
        assert!(matches!(classify("show databases where `Database` = 'x'"), Statement::Unsupported(_)));
        assert_eq!(classify("show tables"), Statement::ShowTables { full: false, like: None });
        assert_eq!(classify("SHOW TABLES LIKE 't%';"), Statement::ShowTables { full: false, like: Some("t%".into()) });
        assert_eq!(classify("SHOW FULL TABLES"), Statement::ShowTables { full: true, like: None });
        assert_eq!(super::versioned_inner("/*!40103 SET TIME_ZONE='+00:00' */;"), Some("SET TIME_ZONE='+00:00'"));
        assert_eq!(super::versioned_inner("/*!40000 ALTER TABLE `t` DISABLE KEYS */"), Some("ALTER TABLE `t` DISABLE KEYS"));
        assert_eq!(super::versioned_inner("/*M!999999\\- enable the sandbox mode */"), None);
        assert_eq!(super::versioned_inner("/*!50003 CREATE*/ /*!50017 DEFINER=`a`@`b`*/ /*!50003 TRIGGER t */"), None);
        assert_eq!(super::versioned_inner("SELECT 1"), None);
        let first = "/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19\n--\n\n/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */";
        assert_eq!(super::versioned_inner(first), Some("SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT"));
        assert_eq!(classify("show full tables"), Statement::ShowTables { full: true, like: None });
        assert_eq!(classify("EXPLAIN SHARDING select 1 "), Statement::Explain("select 1".into()));
        assert_eq!(classify("explain select 1"), Statement::Other);
        assert_eq!(classify("PREPARE s FROM 'select 1'"), Statement::TextPrepared);
        assert_eq!(classify("deallocate prepare s"), Statement::TextPrepared);
        assert_eq!(classify("COMMIT"), Statement::EndTransaction(true));
        assert_eq!(classify("set names utf8mb4"), Statement::Set);
        assert_eq!(classify("rollback work;"), Statement::EndTransaction(false));
        assert_eq!(classify("ROLLBACK TO SAVEPOINT a"), Statement::Savepoint);
        assert_eq!(classify("select 'use x'"), Statement::Other);
    }

    #[test]
    fn hints() {
        assert_eq!(hint("select 1"), None);
        assert_eq!(hint("/* plain */ select 1"), None);
        let h = hint("/* x */ /*+ shardgate: data_source=ds_1 */ select 1").unwrap().unwrap();
        assert_eq!(h.data_source.as_deref(), Some("ds_1"));
        let h = hint("/* SHARDGATE: shard_key='ab' */ select 1").unwrap().unwrap();
        assert_eq!(h.shard_key.as_deref(), Some("ab"));
        assert!(hint("/* shardgate: node=1 */ select 1").unwrap().is_err());
        assert!(hint("/* shardgate: ds_1 */ select 1").unwrap().is_err());
    }

    #[test]
    fn like_patterns() {
        assert!(like_matches("de%", "demo"));
        assert!(like_matches("d_mo", "DEMO"));
        assert!(like_matches("%", ""));
        assert!(like_matches("%o%o", "shardgate_foo"));
        assert!(!like_matches("d_mo", "dmo"));
        assert!(like_matches("a\\_b", "a_b"));
        assert!(!like_matches("a\\_b", "axb"));
    }
}
