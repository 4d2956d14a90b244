//! A source primary's binlog as row changes, for resharding's catch-up: a COM_BINLOG_DUMP from a position
//! (file, offset) on one of the proxy's own backend connections, events decoded by mysql_common. The dump
//! is ours because mysql_async's binlog stream sets `@master_binlog_checksum='ALL'` (MySQL's convention)
//! and leaves no way to set MariaDB's variables first: here the checksum variable takes the server's own
//! algorithm and `@mariadb_slave_capability` asks for MariaDB's GTID events unrewritten; its own event types
//! (GTID, GTID list, annotate, checkpoint) are skipped. Positions handed out are transaction
//! boundaries only, so a reader reopened at one never starts inside a transaction (whose table maps it would
//! lack).

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
        Ok(BinlogReader { conn, esr: EventStreamReader::new(BinlogVersion::Version4), file: from.file.clone(), checksum, format_seen: false, in_transaction: false })
    }

    /// Reads the next event.
    pub async fn next(&mut self) -> Result<Item, String> {
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
            return Ok(Item::Other);
        }
        if kind == EventType::FORMAT_DESCRIPTION_EVENT as u8 {
            self.format_seen = true;
        }
        if kind == MARIADB_GTID_EVENT {
            self.in_transaction = true;
            return Ok(Item::Other);
        }
        if kind == EventType::XID_EVENT as u8 {
            self.in_transaction = false;
            return Ok(Item::Commit(end));
        }
        if kind == EventType::QUERY_EVENT as u8 {
            // DDL and non-transactional commits end with a query event; BEGIN opens a transaction.
            if let Ok(Some(EventData::QueryEvent(q))) = event.read_data() {
                if !q.query().trim().eq_ignore_ascii_case("BEGIN") {
                    self.in_transaction = false;
                    return Ok(Item::Commit(end));
                }
            }
            return Ok(Item::Other);
        }
        let Ok(Some(EventData::RowsEvent(rows))) = event.read_data() else {
            // Between transactions, a heartbeat or a server event (checkpoint, GTID list) says where the
            // stream is: a boundary too, so a catch-up waiting for a position an idle primary reports ends.
            let between = !self.in_transaction && header.log_pos() > 0 && kind != EventType::FORMAT_DESCRIPTION_EVENT as u8;
            return Ok(if between { Item::Commit(end) } else { Item::Other });
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
        Ok(Item::Rows { database: tme.database_name().into_owned(), table: tme.table_name().into_owned(), changes })
    }
}
