//! A source primary's binlog as row changes, for resharding's catch-up: a COM_BINLOG_DUMP from a position
//! (file, offset) on one of the proxy's own backend connections, events decoded by mysql_common. The dump
//! is ours because mysql_async's binlog stream sets `@master_binlog_checksum='ALL'` (MySQL's convention)
//! and leaves no way to set MariaDB's variables first: here the checksum variable takes the server's own
//! algorithm and `@mariadb_slave_capability` asks for MariaDB's GTID events unrewritten; its own event types
//! (GTID list, annotate, checkpoint) are skipped. Positions handed out are transaction boundaries only, so
//! a reader reopened at one never starts inside a transaction (whose table maps it would lack). MariaDB logs
//! an XA transaction's changes at XA PREPARE and its outcome later: they are held until the XA COMMIT (and
//! dropped at XA ROLLBACK), and [`BinlogReader::resume_from`] stays before the oldest one held.

use mysql_common::binlog::consts::{BinlogVersion, EventType};
use mysql_common::binlog::events::{EventData, RotateEvent};
use mysql_common::binlog::EventStreamReader;
use mysql_common::value::Value;

use crate::backend::conn::{describe_err, BackendConn, Variant};
use crate::config::rules::DataSourceRule;

/// MariaDB's GTID event, which opens every transaction (and every DDL) in its binlog.
const MARIADB_GTID_EVENT: u8 = 0xa2;

/// A place in a primary's binlog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// Binlog file name (they sort in order).
    pub file: String,
    /// Offset in it.
    pub pos: u64,
}

/// One row's change.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A row written (all its columns).
    Insert(Vec<Value>),
    /// A row changed: before and after images.
    Update(Vec<Value>, Vec<Value>),
    /// A row deleted.
    Delete(Vec<Value>),
}

/// What one event meant.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// Row changes of `database.table`.
    Rows {
        /// Database.
        database: String,
        /// Table.
        table: String,
        /// The changes in order.
        changes: Vec<Change>,
    },
    /// A transaction ended: the stream may be resumed from here.
    Commit(Position),
    /// Anything else (a heartbeat, a table map, a GTID event).
    Other,
}

/// An open binlog stream.
pub struct BinlogReader {
    conn: BackendConn,
    esr: EventStreamReader,
    file: String,
    checksum: bool,
    format_seen: bool,
    in_transaction: bool,
    /// Items decoded and not yet handed out.
    queue: std::collections::VecDeque<Item>,
    /// The open group (transaction): what kind, where it began, its row changes so far.
    group: Group,
    group_start: Position,
    group_rows: Vec<Item>,
    /// The last transaction boundary read.
    boundary: Position,
    /// XA transactions prepared and not yet committed or rolled back: their start and row changes.
    prepared: std::collections::BTreeMap<Vec<u8>, (Position, Vec<Item>)>,
}

/// The kind of the open binlog group, from its GTID event's flags.
#[derive(Debug, Clone, PartialEq)]
enum Group {
    /// A transaction or statement that takes effect at its end.
    Plain,
    /// An XA PREPARE of this xid: its changes take effect at its XA COMMIT, in a later group.
    Prepare(Vec<u8>),
    /// The XA COMMIT or XA ROLLBACK of this xid.
    Complete(Vec<u8>),
}

/// MariaDB's GTID event flags2: a group commit id follows; the group prepares / completes an XA transaction.
const FL_GROUP_COMMIT_ID: u8 = 2;
const FL_PREPARED_XA: u8 = 64;
const FL_COMPLETED_XA: u8 = 128;

/// Reads a MariaDB GTID event's body (seq_no, domain_id, flags2, [commit_id], [xid]) as a group kind.
fn group_of(data: &[u8]) -> Group {
    let Some(&flags) = data.get(12) else { return Group::Plain };
    let at = 13 + if flags & FL_GROUP_COMMIT_ID != 0 { 8 } else { 0 };
    if flags & (FL_PREPARED_XA | FL_COMPLETED_XA) == 0 {
        return Group::Plain;
    }
    // format_id (4), gtrid length (1), bqual length (1), then both.
    let Some(head) = data.get(at..at + 6) else { return Group::Plain };
    let len = 6 + head[4] as usize + head[5] as usize;
    let xid = data.get(at..at + len).unwrap_or(head).to_vec();
    if flags & FL_PREPARED_XA != 0 {
        Group::Prepare(xid)
    } else {
        Group::Complete(xid)
    }
}

/// The primary's current binlog position (SHOW MASTER STATUS).
pub async fn current(ds: &str, rule: &DataSourceRule) -> Result<Position, String> {
    let mut conn = BackendConn::connect(ds, rule, Variant::CONTROL, None).await.map_err(|e| e.to_string())?;
    let rows = conn.query_rows("SHOW MASTER STATUS").await?;
    let row = rows.first().ok_or_else(|| format!("{ds}: SHOW MASTER STATUS is empty; the primary needs log_bin"))?;
    let field = |i: usize| row.get(i).cloned().flatten().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    Ok(Position { file: field(0), pos: field(1).parse().map_err(|_| format!("{ds}: odd binlog position {:?}", field(1)))? })
}

fn value(v: mysql_common::binlog::value::BinlogValue<'_>) -> Value {
    Value::try_from(v).unwrap_or(Value::NULL)
}

impl BinlogReader {
    /// Opens the stream of `ds`'s primary at `from`. `server_id` must differ from every replica's.
    pub async fn open(ds: &str, rule: &DataSourceRule, from: &Position, server_id: u32) -> Result<Self, String> {
        let mut conn = BackendConn::connect(ds, rule, Variant::CONTROL, None).await.map_err(|e| e.to_string())?;
        for sql in [
            "SET @master_binlog_checksum = @@global.binlog_checksum",
            "SET @mariadb_slave_capability = 4",
            // Heartbeats (nanoseconds) let an idle stream report where it is.
            "SET @master_heartbeat_period = 500000000",
        ] {
            conn.query_ok(sql).await.map_err(|e| format!("{ds}: {sql}: {e}"))?;
        }
        let rows = conn.query_rows("SELECT @@global.binlog_checksum").await?;
        let checksum = rows.first().and_then(|r| r.first().cloned().flatten()).is_some_and(|v| !v.eq_ignore_ascii_case(b"NONE"));
        let mut dump = vec![0x12];
        dump.extend_from_slice(&u32::try_from(from.pos).map_err(|_| "binlog offset beyond 4 GiB".to_string())?.to_le_bytes());
        dump.extend_from_slice(&0u16.to_le_bytes());
        dump.extend_from_slice(&server_id.to_le_bytes());
        dump.extend_from_slice(from.file.as_bytes());
        conn.send(&dump).await.map_err(|e| format!("{ds}: binlog dump: {e}"))?;
        Ok(BinlogReader { conn, esr: EventStreamReader::new(BinlogVersion::Version4), file: from.file.clone(), checksum, format_seen: false,
            in_transaction: false,
            queue: Default::default(),
            group: Group::Plain,
            group_start: from.clone(),
            group_rows: Vec::new(),
            boundary: from.clone(),
            prepared: Default::default(),
        })
    }

    /// Where a reader must be reopened to miss nothing: the last boundary, or the start of the oldest XA
    /// transaction prepared and not yet completed (its changes are held until its XA COMMIT).
    pub fn resume_from(&self) -> Position {
        self.prepared.values().map(|(p, _)| p.clone()).chain([self.boundary.clone()]).min().expect("the boundary is always there")
    }

    /// The tables with changes in XA transactions prepared and not yet completed.
    pub fn pending_tables(&self) -> Vec<(String, String)> {
        let rows = self.prepared.values().flat_map(|(_, items)| items.iter());
        rows.filter_map(|i| match i {
            Item::Rows { database, table, .. } => Some((database.clone(), table.clone())),
            _ => None,
        })
        .collect()
    }

    /// The next item. Row changes are handed out when their transaction takes effect — at its commit, or
    /// for an XA transaction at its XA COMMIT (dropped at XA ROLLBACK) — so what has been handed out up to a
    /// position is exactly what a consistent snapshot taken at that position shows.
    pub async fn next(&mut self) -> Result<Item, String> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Ok(item);
            }
            self.read_event().await?;
        }
    }

    /// Ends the open group at `end`: its changes (if it takes effect) then the boundary.
    fn end_group(&mut self, end: Position, takes_effect: bool) {
        let rows = std::mem::take(&mut self.group_rows);
        if takes_effect {
            self.queue.extend(rows);
        }
        self.in_transaction = false;
        self.group = Group::Plain;
        self.boundary = end.clone();
        self.queue.push_back(Item::Commit(end));
    }

    /// Reads one event into the queue.
    async fn read_event(&mut self) -> Result<(), String> {
        let packet = self.conn.read_packet().await?;
        let payload = &packet.payload[..];
        match payload.first() {
            Some(0x00) => {}
            Some(0xff) => return Err(format!("binlog stream: {}", describe_err(payload))),
            _ => return Err("the binlog stream ended".into()),
        }
        let event = self.esr.read(&payload[1..]).map_err(|e| format!("binlog event: {e}"))?.ok_or("empty binlog event")?;
        let header = event.header();
        let end = Position { file: self.file.clone(), pos: u64::from(header.log_pos()) };
        let kind = header.event_type_raw();
        if kind == EventType::ROTATE_EVENT as u8 {
            let rotate: RotateEvent<'_> = event.read_event().map_err(|e| format!("rotate event: {e}"))?;
            // The first (fake) rotate comes before the format description that tells the parser about
            // checksums, so its 4-byte checksum is still read as the end of the name.
            let name = rotate.name_raw();
            let name = if self.format_seen || !self.checksum { name } else { &name[..name.len().saturating_sub(4)] };
            self.file = String::from_utf8_lossy(name).into_owned();
            return Ok(());
        }
        if kind == EventType::FORMAT_DESCRIPTION_EVENT as u8 {
            self.format_seen = true;
            return Ok(());
        }
        if kind == MARIADB_GTID_EVENT {
            self.in_transaction = true;
            self.group = group_of(event.data());
            self.group_start = Position { file: self.file.clone(), pos: u64::from(header.log_pos()).saturating_sub(u64::from(header.event_size())) };
            self.group_rows.clear();
            return Ok(());
        }
        if kind == EventType::XID_EVENT as u8 {
            self.end_group(end, true);
            return Ok(());
        }
        if kind == EventType::XA_PREPARE_LOG_EVENT as u8 {
            let one_phase = event.data().first().is_some_and(|&b| b != 0);
            match std::mem::replace(&mut self.group, Group::Plain) {
                Group::Prepare(xid) if !one_phase => {
                    let rows = std::mem::take(&mut self.group_rows);
                    self.prepared.insert(xid, (self.group_start.clone(), rows));
                    self.end_group(end, false);
                }
                _ => self.end_group(end, true),
            }
            return Ok(());
        }
        if kind == EventType::QUERY_EVENT as u8 {
            // DDL and non-transactional commits end with a query event; BEGIN opens a transaction; an XA
            // COMMIT / ROLLBACK completes a prepared one.
            if let Ok(Some(EventData::QueryEvent(q))) = event.read_data() {
                let text = q.query();
                let text = text.trim();
                // An XA transaction's group runs from XA START … XA END to its XA PREPARE event.
                let xa_end = matches!(self.group, Group::Prepare(_))
                    && ["XA END", "XA START"].iter().any(|w| text.get(..w.len()).is_some_and(|t| t.eq_ignore_ascii_case(w)));
                if text.eq_ignore_ascii_case("BEGIN") || xa_end {
                    return Ok(());
                }
                if let Group::Complete(xid) = self.group.clone() {
                    let held = self.prepared.remove(&xid).map(|(_, rows)| rows).unwrap_or_default();
                    if text.get(..9).is_some_and(|w| w.eq_ignore_ascii_case("XA COMMIT")) {
                        self.queue.extend(held);
                    }
                }
                self.end_group(end, true);
            }
            return Ok(());
        }
        let Ok(Some(EventData::RowsEvent(rows))) = event.read_data() else {
            // Between transactions, a heartbeat or a server event (checkpoint, GTID list) says where the
            // stream is: a boundary too, so a catch-up waiting for a position an idle primary reports ends.
            if !self.in_transaction && header.log_pos() > 0 {
                self.boundary = end.clone();
                self.queue.push_back(Item::Commit(end));
            }
            return Ok(());
        };
        let tme = self.esr.get_tme(rows.table_id()).ok_or("a rows event without its table map")?;
        let mut changes = Vec::new();
        for row in rows.rows(tme) {
            let (before, after) = row.map_err(|e| format!("rows event: {e}"))?;
            let image = |r: mysql_common::binlog::row::BinlogRow| r.unwrap().into_iter().map(value).collect::<Vec<_>>();
            changes.push(match (before, after) {
                (None, Some(a)) => Change::Insert(image(a)),
                (Some(b), Some(a)) => Change::Update(image(b), image(a)),
                (Some(b), None) => Change::Delete(image(b)),
                (None, None) => continue,
            });
        }
        let item = Item::Rows { database: tme.database_name().into_owned(), table: tme.table_name().into_owned(), changes };
        if self.in_transaction {
            self.group_rows.push(item);
        } else {
            self.queue.push_back(item);
        }
        Ok(())
    }
}
