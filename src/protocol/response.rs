//! Generic response packets: OK, EOF and ERR, encoded for clients and decoded from backends.

use super::codec::{put_lenenc_int, Reader};
use crate::error::SgError;

/// An OK packet's fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ok {
    /// Rows changed (or matched, with CLIENT_FOUND_ROWS).
    pub affected_rows: u64,
    /// LAST_INSERT_ID of the statement.
    pub last_insert_id: u64,
    /// Server status flags.
    pub status: u16,
    /// Warning count.
    pub warnings: u16,
}

/// Encodes an OK packet with header 0x00, or 0xFE when it ends a result set under CLIENT_DEPRECATE_EOF.
pub fn encode_ok(ok: &Ok, header: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(11);
    out.push(header);
    put_lenenc_int(&mut out, ok.affected_rows);
    put_lenenc_int(&mut out, ok.last_insert_id);
    out.extend_from_slice(&ok.status.to_le_bytes());
    out.extend_from_slice(&ok.warnings.to_le_bytes());
    out
}

/// Encodes a classic EOF packet (clients without CLIENT_DEPRECATE_EOF).
pub fn encode_eof(status: u16, warnings: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    out.push(0xFE);
    out.extend_from_slice(&warnings.to_le_bytes());
    out.extend_from_slice(&status.to_le_bytes());
    out
}

/// Encodes the packet that ends a result set: EOF, or OK with header 0xFE under CLIENT_DEPRECATE_EOF.
pub fn encode_end_of_rows(deprecate_eof: bool, status: u16) -> Vec<u8> {
    encode_end_of_rows_warned(deprecate_eof, status, 0)
}

/// The packet that ends a result set, reporting `warnings`.
pub fn encode_end_of_rows_warned(deprecate_eof: bool, status: u16, warnings: u16) -> Vec<u8> {
    if deprecate_eof {
        encode_ok(&Ok { status, warnings, ..Ok::default() }, 0xFE)
    } else {
        encode_eof(status, warnings)
    }
}

/// The warning count of a packet that ends a result set (classic EOF, or OK under CLIENT_DEPRECATE_EOF).
pub fn end_of_rows_warnings(payload: &[u8], deprecate_eof: bool) -> u16 {
    if deprecate_eof {
        return decode_ok(payload).map_or(0, |ok| ok.warnings);
    }
    payload.get(1..3).map_or(0, |w| u16::from_le_bytes([w[0], w[1]]))
}

/// Encodes an ERR packet (4.1 format, with SQLSTATE).
pub fn encode_err(code: u16, sqlstate: &str, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + message.len());
    out.push(0xFF);
    out.extend_from_slice(&code.to_le_bytes());
    out.push(b'#');
    let state = sqlstate.as_bytes();
    out.extend_from_slice(&state[..state.len().min(5)]);
    out.extend_from_slice(message.as_bytes());
    out
}

/// Encodes one of shardgate's own errors as an ERR packet.
pub fn encode_error(e: &SgError) -> Vec<u8> {
    encode_err(e.code(), e.sqlstate(), &e.to_string())
}

/// Decodes an OK packet (header 0x00 or 0xFE).
pub fn decode_ok(payload: &[u8]) -> Result<Ok, SgError> {
    let mut r = Reader::new(payload);
    r.u8()?;
    let affected_rows = r.lenenc_int()?;
    let last_insert_id = r.lenenc_int()?;
    let status = r.u16()?;
    let warnings = if r.remaining().len() >= 2 { r.u16()? } else { 0 };
    Ok(Ok { affected_rows, last_insert_id, status, warnings })
}

/// Byte offset of the status flags in an OK packet (header 0x00, or 0xFE ending rows under
/// CLIENT_DEPRECATE_EOF), or in a classic EOF when `classic_eof`; `None` if the packet is too short.
pub fn status_offset(payload: &[u8], classic_eof: bool) -> Option<usize> {
    fn lenenc_len(first: u8) -> usize {
        match first {
            0xFC => 3,
            0xFD => 4,
            0xFE => 9,
            _ => 1,
        }
    }
    let at = if classic_eof {
        3
    } else {
        let affected = 1 + lenenc_len(*payload.get(1)?);
        affected + lenenc_len(*payload.get(affected)?)
    };
    (payload.len() >= at + 2).then_some(at)
}

/// Reads the status flags of a packet that ends a result set: a classic EOF or, under
/// CLIENT_DEPRECATE_EOF, an OK with header 0xFE.
pub fn end_of_rows_status(payload: &[u8], deprecate_eof: bool) -> Result<u16, SgError> {
    if deprecate_eof {
        return Ok(decode_ok(payload)?.status);
    }
    let mut r = Reader::new(payload);
    r.u8()?;
    r.u16()?;
    r.u16()
}

/// A backend's ERR packet, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Err {
    /// Error code.
    pub code: u16,
    /// SQLSTATE.
    pub sqlstate: String,
    /// Message.
    pub message: String,
}

/// Decodes an ERR packet.
pub fn decode_err(payload: &[u8]) -> Result<Err, SgError> {
    let mut r = Reader::new(payload);
    r.u8()?;
    let code = r.u16()?;
    let mut sqlstate = String::from("HY000");
    if r.remaining().first() == Some(&b'#') {
        r.u8()?;
        sqlstate = String::from_utf8_lossy(r.take(5)?).into_owned();
    }
    Ok(Err { code, sqlstate, message: String::from_utf8_lossy(r.remaining()).into_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_and_err_round_trip() {
        let ok = Ok { affected_rows: 300, last_insert_id: 70000, status: 3, warnings: 1 };
        assert_eq!(decode_ok(&encode_ok(&ok, 0)).unwrap(), ok);
        let e = decode_err(&encode_err(1064, "42000", "You have an error")).unwrap();
        assert_eq!((e.code, e.sqlstate.as_str(), e.message.as_str()), (1064, "42000", "You have an error"));
    }

    #[test]
    fn end_of_rows_in_both_styles_carries_status() {
        assert_eq!(end_of_rows_status(&encode_end_of_rows(false, 0x22), false).unwrap(), 0x22);
        assert_eq!(end_of_rows_status(&encode_end_of_rows(true, 0x0a), true).unwrap(), 0x0a);
        assert_eq!(encode_end_of_rows(false, 0).len(), 5);
    }
}

/// A backend's ERR packet as an error to relay (its code, SQLSTATE and message).
pub fn relayed_error(payload: &[u8]) -> SgError {
    match decode_err(payload) {
        Ok(e) => SgError::Backend { code: e.code, sqlstate: e.sqlstate, message: e.message },
        Err(e) => e,
    }
}
