//! The parts of transaction statements the proxy acts on itself: START TRANSACTION's characteristics and
//! savepoint statements' verbs and names.

/// The characteristics of `START TRANSACTION …` when they are only READ ONLY, READ WRITE and WITH CONSISTENT
/// SNAPSHOT (comma-separated), `None` for anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Characteristics {
    /// READ ONLY.
    pub read_only: bool,
    /// WITH CONSISTENT SNAPSHOT.
    pub snapshot: bool,
}

/// Reads the [`Characteristics`] of `START TRANSACTION …`; `None` for any other characteristic.
pub fn characteristics(sql: &str) -> Option<Characteristics> {
    let toks = crate::sql::tokens::tokenize(sql).ok()?;
    let mut words = toks.iter().filter(|t| !matches!(t.token, sqlparser::tokenizer::Token::Comma | sqlparser::tokenizer::Token::SemiColon));
    let mut next = || words.next().map(|t| t.word().unwrap_or("").to_ascii_uppercase());
    if next()? != "START" || next()? != "TRANSACTION" {
        return None;
    }
    let mut c = Characteristics::default();
    while let Some(w) = next() {
        match (w.as_str(), next().as_deref()) {
            ("READ", Some("ONLY")) => c.read_only = true,
            ("READ", Some("WRITE")) => {}
            ("WITH", Some("CONSISTENT")) if next().as_deref() == Some("SNAPSHOT") => c.snapshot = true,
            _ => return None,
        }
    }
    Some(c)
}

/// What a savepoint statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SavepointVerb {
    /// SAVEPOINT name.
    Set,
    /// ROLLBACK [WORK] TO [SAVEPOINT] name.
    RollbackTo,
    /// RELEASE SAVEPOINT name.
    Release,
}

/// The verb and savepoint name of a savepoint statement.
pub fn savepoint_of(sql: &str) -> Option<(SavepointVerb, String)> {
    let toks = crate::sql::tokens::tokenize(sql).ok()?;
    let words: Vec<&crate::sql::tokens::Tok> = toks.iter().filter(|t| t.token != sqlparser::tokenizer::Token::SemiColon).collect();
    let name = words.last()?.word()?.to_string();
    let first = words.first()?;
    let verb = if first.is_keyword("SAVEPOINT") && words.len() == 2 {
        SavepointVerb::Set
    } else if first.is_keyword("RELEASE") && words.len() == 3 {
        SavepointVerb::Release
    } else if first.is_keyword("ROLLBACK") && words.iter().any(|w| w.is_keyword("TO")) {
        SavepointVerb::RollbackTo
    } else {
        return None;
    };
    Some((verb, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characteristics_and_savepoints() {
        assert_eq!(characteristics("START TRANSACTION READ ONLY"), Some(Characteristics { read_only: true, snapshot: false }));
        assert_eq!(characteristics("start transaction with consistent snapshot, read write"), Some(Characteristics { read_only: false, snapshot: true }));
        assert_eq!(characteristics("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"), Some(Characteristics { read_only: true, snapshot: true }));
        assert_eq!(characteristics("START TRANSACTION ISOLATION LEVEL SERIALIZABLE"), None);
        assert_eq!(savepoint_of("SAVEPOINT sp"), Some((SavepointVerb::Set, "sp".into())));
        assert_eq!(savepoint_of("ROLLBACK WORK TO SAVEPOINT `a b`"), Some((SavepointVerb::RollbackTo, "a b".into())));
        assert_eq!(savepoint_of("release savepoint sp;"), Some((SavepointVerb::Release, "sp".into())));
        assert_eq!(savepoint_of("ROLLBACK"), None);
    }
}
