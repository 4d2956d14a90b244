//! SHOW TABLES speaks of logical tables: the default data source's tables minus the physical shards of
//! sharded tables, plus the sharded tables' logical names.

use std::collections::BTreeSet;

use crate::error::SgError;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use crate::session::session::Session;
use crate::sql::lexer::like_matches;

/// Answers SHOW TABLES [LIKE 'pattern'] for the current schema.
pub async fn run(session: &mut Session, like: Option<&str>) -> Result<(), SgError> {
    let schema = session.state.schema.clone().ok_or(SgError::NoDatabase)?;
    let shared = session.shared.clone();
    let layout = &shared.layouts[&schema];
    let ds = layout.default_data_source.clone();
    session.ensure_backend(&ds).await?;
    let conn = &mut session.backends.get_mut(&ds).expect("pinned").conn;
    let mut names = BTreeSet::new();
    match conn.query_rows("SHOW TABLES").await {
        Ok(rows) => names.extend(rows.into_iter().filter_map(|r| r.into_iter().next().flatten()).map(|b| String::from_utf8_lossy(&b).into_owned())),
        Err(reason) if reason.starts_with("backend error") => {
            return Err(SgError::Backend { code: crate::error::code::UNKNOWN, sqlstate: "HY000".into(), message: reason })
        }
        Err(reason) => {
            session.backends.remove(&ds);
            return Err(SgError::BackendLost(ds, reason));
        }
    }
    for t in layout.tables.values() {
        for n in t.nodes.iter().filter(|n| n.data_source == ds) {
            names.remove(&n.table);
        }
    }
    names.extend(layout.tables.keys().cloned());
    names.remove(crate::sharding::keygen::SEQUENCE_TABLE);
    let rows: Vec<Vec<Option<Vec<u8>>>> =
        names.into_iter().filter(|n| like.is_none_or(|p| like_matches(p, n))).map(|n| vec![Some(n.into_bytes())]).collect();
    let title = format!("Tables_in_{schema}");
    let packets = encode_resultset(&[(&title, ColumnType::Text)], &rows, session.state.deprecate_eof(), session.state.status);
    session.send_packets(&packets).await
}
