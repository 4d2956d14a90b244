//! SHOW TABLES speaks of logical tables: the default data source's tables minus the physical shards of
//! sharded tables, plus the sharded tables' logical names.

use std::collections::BTreeSet;

use crate::error::SgError;
use crate::protocol::reply::{ReplyKind, ReplyScanner};
use crate::protocol::response::decode_err;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use crate::protocol::row_text::decode_text_row;
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
    conn.queue_query("SHOW TABLES");
    let mut names = BTreeSet::new();
    let result: Result<(), String> = async {
        conn.flush().await?;
        let mut scanner = ReplyScanner::new(ReplyKind::ResultSets, conn.deprecate_eof());
        let mut packets = Vec::new();
        while !scanner.is_done() {
            let p = conn.read_packet().await?;
            scanner.feed_packet(&p.payload).map_err(|e| e.to_string())?;
            packets.push(p);
        }
        if scanner.error {
            return Err(decode_err(&packets.last().unwrap().payload).map(|e| e.message).unwrap_or_default());
        }
        // Column count, one definition, [EOF], rows…, end marker.
        let skip = if conn.deprecate_eof() { 2 } else { 3 };
        for p in &packets[skip..packets.len() - 1] {
            if let Some(Some(name)) = decode_text_row(&p.payload, 1).map_err(|e| e.to_string())?.first() {
                names.insert(String::from_utf8_lossy(name).into_owned());
            }
        }
        Ok(())
    }
    .await;
    if let Err(reason) = result {
        session.backends.remove(&ds);
        return Err(SgError::BackendLost(ds, reason));
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
