//! MySQL's comparison semantics for merged rows, read from each column's definition: integers and DECIMALs
//! numerically (exact), floats as doubles, TIME by its signed duration, dates and datetimes by their fixed
//! text format, strings by collation (binary, utf8mb4_general_ci, utf8mb4_unicode_ci rules), NULL lowest.

use std::cmp::Ordering;
use std::str::FromStr;

use rust_decimal::Decimal;
use unicode_normalization::char::decompose_canonical;
use unicode_normalization::char::is_combining_mark;

use crate::error::SgError;
use crate::protocol::codec::Reader;
pub use crate::protocol::collation::{collation_named, Collation};
use crate::protocol::collation::collation_of;

/// How a column's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Integer types (YEAR and BIT included).
    Int,
    /// DECIMAL.
    Decimal,
    /// FLOAT / DOUBLE.
    Float,
    /// TIME (may be negative or over 24 h).
    Time,
    /// DATE, DATETIME, TIMESTAMP: their text sorts correctly.
    Temporal,
    /// Text under a collation.
    Text(Collation),
}

/// What the proxy needs of a column definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name as the client sees it.
    pub name: String,
    /// Comparison kind.
    pub kind: Kind,
    /// Decimals (scale) from the definition.
    pub decimals: u8,
    /// The character set (collation id) the values are encoded in, 63 for binary.
    pub charset: u16,
    /// The MySQL type byte.
    pub type_byte: u8,
    /// (database, physical table, column) the values come from, when the column is a plain column: the
    /// key to its real collation, which MariaDB's column definitions do not carry.
    pub origin: Option<(String, String, String)>,
    /// Where the shards put this column's collation weights (WEIGHT_STRING) and the weight of a space under
    /// its collation (empty under NO PAD): text then compares by those, exactly as the server does.
    pub weight: Option<(usize, usize)>,
}

/// A text-protocol value as an SQL literal for its column: numbers as they are, everything else as a hex
/// string (exact bytes, any charset; MariaDB converts it for DATE, ENUM, BIT … columns).
pub fn sql_literal(value: &Option<Vec<u8>>, type_byte: u8) -> String {
    match value {
        None => "NULL".into(),
        Some(v) if matches!(type_byte, 0 | 1 | 2 | 3 | 4 | 5 | 8 | 9 | 13 | 246) => String::from_utf8_lossy(v).into_owned(),
        Some(v) if v.is_empty() => "''".into(),
        Some(v) => format!("X'{}'", v.iter().map(|b| format!("{b:02X}")).collect::<String>()),
    }
}

/// A text-protocol value of `column` as a sharding key (how its row is placed): integers and text only.
pub fn key_literal(value: Option<&[u8]>, column: &Column) -> crate::sharding::key::Literal {
    use crate::sharding::key::Literal;
    let Some(v) = value else { return Literal::Null };
    let text = String::from_utf8_lossy(v).into_owned();
    match column.kind {
        Kind::Int => text.parse::<i128>().map_or(Literal::Other, Literal::Int),
        Kind::Text(_) => Literal::Str(text),
        _ => Literal::Other,
    }
}

/// Largest INSERT text the proxy builds at once (well under any max_allowed_packet).
const BATCH_BYTES: usize = 1 << 20;

/// `head` (`INSERT INTO t (…) VALUES `) followed by `rows` (each `(…)`), cut into statements of about
/// [`BATCH_BYTES`] each.
pub fn insert_batches(head: &str, rows: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for row in rows {
        if current.len() > BATCH_BYTES {
            out.push(std::mem::take(&mut current));
        }
        current.push_str(if current.is_empty() { head } else { ", " });
        current.push_str(&row);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Reads a ColumnDefinition41 packet.
pub fn column(def: &[u8]) -> Result<Column, SgError> {
    let mut r = Reader::new(def);
    let mut text = || -> Result<String, SgError> { Ok(String::from_utf8_lossy(r.lenenc_bytes()?).into_owned()) };
    let (_catalog, schema, _table, org_table, name, org_name) = (text()?, text()?, text()?, text()?, text()?, text()?);
    let origin = (!org_table.is_empty() && !org_name.is_empty()).then_some((schema, org_table, org_name));
    r.lenenc_int()?;
    let charset = r.u16()?;
    r.u32()?;
    let type_byte = r.u8()?;
    let flags = r.u16()?;
    let decimals = r.u8()?;
    let kind = match type_byte {
        1 | 2 | 3 | 8 | 9 | 13 | 16 => Kind::Int,
        0 | 246 => Kind::Decimal,
        4 | 5 => Kind::Float,
        11 => Kind::Time,
        7 | 10 | 12 | 14 => Kind::Temporal,
        // MariaDB announces the connection's collation for every text column, with the BINARY flag set for
        // `_bin` collations and binary strings: that flag is what tells byte order from a _ci collation.
        _ if flags & 0x80 != 0 => Kind::Text(Collation::Binary),
        _ => Kind::Text(collation_of(charset)),
    };
    Ok(Column { name, kind, decimals, type_byte, charset, origin, weight: None })
}

/// Offset of the decimals byte in a column definition (it ends with decimals and two filler bytes).
pub fn set_decimals(def: &mut [u8], decimals: u8) {
    let n = def.len();
    if n >= 3 {
        def[n - 3] = decimals;
    }
}

/// TIME as signed microseconds.
fn time_micros(s: &str) -> i128 {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = hms.split(':').map(|p| p.parse::<i128>().unwrap_or(0));
    let (h, m, sec) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    let micros: i128 = format!("{frac:0<6}")[..6].parse().unwrap_or(0);
    let v = ((h * 60 + m) * 60 + sec) * 1_000_000 + micros;
    if neg {
        -v
    } else {
        v
    }
}

/// The comparison weight of one character under a case- and accent-insensitive collation.
fn fold_char(c: char, collation: Collation, out: &mut String) {
    if collation == Collation::GeneralCi && c as u32 > 0xFFFF {
        // MariaDB's utf8mb4_general_ci gives every supplementary character the same weight.
        out.push('\u{FFFD}');
        return;
    }
    if c == 'ß' {
        out.push_str(if collation == Collation::UnicodeCi { "SS" } else { "S" });
        return;
    }
    let mut base = None;
    decompose_canonical(c, |d| {
        if base.is_none() && !is_combining_mark(d) {
            base = Some(d);
        }
    });
    for u in base.unwrap_or(c).to_uppercase() {
        out.push(u);
    }
}

/// The bytes two equal strings share under `collation` (trailing spaces do not count: PAD SPACE).
pub fn text_key(s: &[u8], collation: Collation) -> Vec<u8> {
    if collation == Collation::Binary {
        return s.to_vec();
    }
    // ASCII (most keys) folds to upper case byte by byte; the general path costs ~100 instructions a char.
    let trimmed = &s[..s.iter().rposition(|&c| c != b' ').map_or(0, |p| p + 1)];
    if trimmed.is_ascii() {
        return trimmed.iter().map(u8::to_ascii_uppercase).collect();
    }
    let text = String::from_utf8_lossy(s);
    let mut out = String::with_capacity(text.len());
    for c in text.trim_end_matches(' ').chars() {
        fold_char(c, collation, &mut out);
    }
    out.into_bytes()
}

/// A value's comparison and grouping key.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// SQL NULL (lowest).
    Null,
    /// Exact number.
    Dec(Decimal),
    /// Floating number.
    Float(f64),
    /// Integer-like (TIME micros, big integers that do not fit a Decimal).
    Int(i128),
    /// Bytes compared in order (folded text, temporal text, binary).
    Bytes(Vec<u8>),
    /// A string's collation weights from the server (without trailing pad units) and the weight of a space
    /// (empty under NO PAD): the shorter compares as if padded with spaces (PAD SPACE).
    Padded(Vec<u8>, Vec<u8>),
}

impl Eq for Key {}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        use Key::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Less,
            (_, Null) => Ordering::Greater,
            (Dec(a), Dec(b)) => a.cmp(b),
            (Float(a), Float(b)) => a.total_cmp(b),
            (Int(a), Int(b)) => a.cmp(b),
            (Bytes(a), Bytes(b)) => a.cmp(b),
            (Padded(a, pad), Padded(b, _)) => padded_cmp(a, b, pad),
            // Mixed kinds cannot come from one column; order them stably anyway.
            (a, b) => rank(a).cmp(&rank(b)),
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Key::Null => 0u8.hash(state),
            Key::Dec(d) => d.normalize().hash(state),
            Key::Float(f) => f.to_bits().hash(state),
            Key::Int(i) => i.hash(state),
            Key::Bytes(b) => b.hash(state),
            Key::Padded(w, _) => w.hash(state),
        }
    }
}

fn rank(k: &Key) -> u8 {
    match k {
        Key::Null => 0,
        Key::Dec(_) => 1,
        Key::Float(_) => 2,
        Key::Int(_) => 3,
        Key::Bytes(_) => 4,
        Key::Padded(..) => 5,
    }
}

/// Compares weight strings under PAD SPACE: past their common prefix, the longer one's rest is compared
/// with space weights (`pad` repeated); with no pad (NO PAD, binary) the shorter is smaller.
fn padded_cmp(a: &[u8], b: &[u8], pad: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    match a[..n].cmp(&b[..n]) {
        Ordering::Equal if a.len() != b.len() => {}
        other => return other,
    }
    let longer = if a.len() > b.len() { &a[n..] } else { &b[n..] };
    let vs_pad = if pad.is_empty() {
        Ordering::Greater
    } else {
        longer.iter().enumerate().map(|(i, byte)| byte.cmp(&pad[i % pad.len()])).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    };
    if a.len() > b.len() {
        vs_pad
    } else {
        vs_pad.reverse()
    }
}

/// The key of column `c` of `row`: by the server's collation weights where the shards sent them for a text
/// column, by the column's own rules otherwise.
pub fn row_key(row: &[Option<Vec<u8>>], c: usize, columns: &[Column]) -> Key {
    let value = row.get(c).and_then(|v| v.as_deref());
    let column = &columns[c];
    match (column.kind, column.weight, value) {
        (Kind::Text(_), Some((w, p)), Some(_)) => match (row.get(w).and_then(|v| v.as_deref()), row.get(p).and_then(|v| v.as_deref())) {
            (Some(weight), Some(pad)) => {
                let mut end = weight.len();
                while !pad.is_empty() && end % pad.len() == 0 && end >= pad.len() && weight[end - pad.len()..end] == *pad {
                    end -= pad.len();
                }
                Key::Padded(weight[..end].to_vec(), pad.to_vec())
            }
            _ => key(value, column),
        },
        _ => key(value, column),
    }
}

/// The key of one text-protocol value of `column`.
pub fn key(value: Option<&[u8]>, column: &Column) -> Key {
    let Some(v) = value else { return Key::Null };
    let s = || String::from_utf8_lossy(v);
    match column.kind {
        Kind::Int | Kind::Decimal => match Decimal::from_str(s().trim()) {
            Ok(d) => Key::Dec(d),
            Err(_) => s().trim().parse::<i128>().map_or_else(|_| Key::Float(s().trim().parse().unwrap_or(f64::NAN)), Key::Int),
        },
        Kind::Float => Key::Float(s().trim().parse().unwrap_or(f64::NAN)),
        Kind::Time => Key::Int(time_micros(s().trim())),
        Kind::Temporal => Key::Bytes(v.to_vec()),
        Kind::Text(c) => Key::Bytes(text_key(v, c)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn literals_keep_numbers_and_hex_encode_the_rest() {
        assert_eq!(super::sql_literal(&None, 0xFD), "NULL");
        assert_eq!(super::sql_literal(&Some(b"-12".to_vec()), 0x08), "-12");
        assert_eq!(super::sql_literal(&Some(Vec::new()), 0xFD), "''");
        assert_eq!(super::sql_literal(&Some(b"a'".to_vec()), 0xFD), "X'6127'");
    }

    use super::*;

    fn col(kind: Kind) -> Column {
        Column { name: "c".into(), kind, decimals: 0, type_byte: 0, charset: 0, origin: None, weight: None }
    }

    #[test]
    fn general_ci_ignores_case_accents_and_trailing_spaces() {
        let c = Collation::GeneralCi;
        assert_eq!(text_key("Émile".as_bytes(), c), text_key(b"emile ", c));
        assert_eq!(text_key("straße".as_bytes(), c), text_key(b"STRASE", c));
        assert_ne!(text_key(b"a", c), text_key(b"b", c));
        assert_eq!(text_key(b"Ab_c  ", c), b"AB_C", "ASCII folds by upper case, trailing spaces dropped");
        assert_eq!(text_key("  é".as_bytes(), c), text_key(b"  E", c));
        assert!(text_key("Zoë".as_bytes(), c) > text_key("zoa".as_bytes(), c));
        assert_eq!(text_key("😀".as_bytes(), c), text_key("🚀".as_bytes(), c));
        assert_eq!(text_key("straße".as_bytes(), Collation::UnicodeCi), text_key(b"STRASSE", Collation::UnicodeCi));
        assert_ne!(text_key(b"a", Collation::Binary), text_key(b"A", Collation::Binary));
        // PAD SPACE on the server's weights (utf8mb4_general_ci: 2 bytes a character, a space is 0x0020):
        // 'x\t' < 'x' = 'x ' < 'xa'.
        let pad = vec![0x00, 0x20];
        let (x, x_tab, xa) = (vec![0x00, 0x58], vec![0x00, 0x58, 0x00, 0x09], vec![0x00, 0x58, 0x00, 0x41]);
        let k = |w: &Vec<u8>| Key::Padded(w.clone(), pad.clone());
        assert!(k(&x_tab) < k(&x) && k(&x) < k(&xa));
        assert_eq!(padded_cmp(&x, &x_tab, &[]), Ordering::Less, "NO PAD: a prefix is smaller");
    }

    #[test]
    fn numbers_times_and_nulls_order_like_mysql() {
        let d = col(Kind::Decimal);
        assert!(key(Some(b"10.50"), &d) > key(Some(b"9.99"), &d));
        assert_eq!(key(Some(b"1.50"), &d), key(Some(b"1.5"), &d));
        assert!(key(Some(b"-3"), &col(Kind::Int)) < key(Some(b"2"), &col(Kind::Int)));
        assert!(key(None, &d) < key(Some(b"-1000"), &d));
        let t = col(Kind::Time);
        assert!(key(Some(b"-01:00:00"), &t) < key(Some(b"00:30:00"), &t));
        assert!(key(Some(b"100:00:00"), &t) > key(Some(b"23:59:59.999999"), &t));
        assert!(key(Some(b"1e3"), &col(Kind::Float)) > key(Some(b"999.5"), &col(Kind::Float)));
    }
}
