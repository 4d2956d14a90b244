//! Result sets the proxy builds itself (SHOW DATABASES, admin answers): column definitions, text rows
//! and the end marker in the style the client negotiated.

use super::codec::put_lenenc_bytes;
use super::constants::UTF8MB4_GENERAL_CI;
use super::response::encode_end_of_rows;

/// MYSQL_TYPE_VAR_STRING.
const TYPE_VAR_STRING: u8 = 0xFD;
/// MYSQL_TYPE_LONGLONG.
const TYPE_LONGLONG: u8 = 0x08;

/// The type of a column in a proxy-built result set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Text (utf8mb4).
    Text,
    /// Signed 64-bit integer.
    Integer,
}

/// The `name` of a column definition packet (what the client shows as the column's name).
pub fn column_name(def: &[u8]) -> Option<String> {
    let mut r = super::codec::Reader::new(def);
    for _ in 0..4 {
        r.lenenc_bytes().ok()?; // catalog, schema, table, org_table
    }
    Some(String::from_utf8_lossy(r.lenenc_bytes().ok()?).into_owned())
}

/// `def` with its `name` replaced by `name`.
pub fn rename_column(def: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut r = super::codec::Reader::new(def);
    for _ in 0..4 {
        r.lenenc_bytes().ok()?;
    }
    let head = def.len() - r.remaining().len();
    r.lenenc_bytes().ok()?;
    let mut out = def[..head].to_vec();
    super::codec::put_lenenc_bytes(&mut out, name.as_bytes());
    out.extend_from_slice(r.remaining());
    Some(out)
}

/// Encodes a ColumnDefinition41 packet for a column named `name` of table `table`.
pub fn encode_column(schema: &str, table: &str, name: &str, ty: ColumnType) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + name.len() * 2);
    for s in ["def", schema, table, table, name, name] {
        put_lenenc_bytes(&mut out, s.as_bytes());
    }
    out.push(0x0c);
    let (charset, length, type_byte, flags): (u16, u32, u8, u16) = match ty {
        ColumnType::Text => (u16::from(UTF8MB4_GENERAL_CI), 256 * 4, TYPE_VAR_STRING, 0),
        ColumnType::Integer => (63, 21, TYPE_LONGLONG, 0x0001 /* NOT_NULL */ | 0x0080 /* BINARY */),
    };
    out.extend_from_slice(&charset.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    out.push(type_byte);
    out.extend_from_slice(&flags.to_le_bytes());
    out.push(0);
    out.extend_from_slice(&[0, 0]);
    out
}

/// Encodes a text-protocol row; `None` is SQL NULL.
pub fn encode_text_row(values: &[Option<&[u8]>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.iter().map(|v| v.map_or(1, |b| b.len() + 9)).sum());
    for v in values {
        match v {
            Some(b) => put_lenenc_bytes(&mut out, b),
            None => out.push(0xFB),
        }
    }
    out
}

/// A whole result set as payloads in order (column count, definitions, [EOF], rows, end marker).
pub fn encode_resultset(
    columns: &[(&str, ColumnType)],
    rows: &[Vec<Option<Vec<u8>>>],
    deprecate_eof: bool,
    status: u16,
) -> Vec<Vec<u8>> {
    let mut packets = Vec::with_capacity(columns.len() + rows.len() + 3);
    let mut count = Vec::new();
    super::codec::put_lenenc_int(&mut count, columns.len() as u64);
    packets.push(count);
    for (name, ty) in columns {
        packets.push(encode_column("", "", name, *ty));
    }
    if !deprecate_eof {
        packets.push(super::response::encode_eof(status, 0));
    }
    for row in rows {
        let values: Vec<Option<&[u8]>> = row.iter().map(|v| v.as_deref()).collect();
        packets.push(encode_text_row(&values));
    }
    packets.push(encode_end_of_rows(deprecate_eof, status));
    packets
}
