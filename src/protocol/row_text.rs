//! Decoding text-protocol rows into column values. Only merge primitives need this; a statement relayed to
//! one backend must never come here (ARCHITECTURE.md, Measurements), which [`rows_decoded`] lets tests prove.

use std::sync::atomic::{AtomicU64, Ordering};

use super::codec::Reader;
use crate::error::SgError;

static ROWS_DECODED: AtomicU64 = AtomicU64::new(0);

/// How many rows this process has decoded so far.
pub fn rows_decoded() -> u64 {
    ROWS_DECODED.load(Ordering::Relaxed)
}

/// Splits a text row into `columns` values; `None` is SQL NULL.
pub fn decode_text_row(payload: &[u8], columns: usize) -> Result<Vec<Option<&[u8]>>, SgError> {
    ROWS_DECODED.fetch_add(1, Ordering::Relaxed);
    let mut r = Reader::new(payload);
    let mut values = Vec::with_capacity(columns);
    for _ in 0..columns {
        if r.remaining().first() == Some(&0xFB) {
            r.u8()?;
            values.push(None);
        } else {
            values.push(Some(r.lenenc_bytes()?));
        }
    }
    if !r.is_empty() {
        return Err(SgError::malformed("text row has more values than columns"));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::resultset::encode_text_row;

    #[test]
    fn decodes_what_the_encoder_wrote_and_counts_it() {
        let before = rows_decoded();
        let row = encode_text_row(&[Some(b"1"), None, Some(b"")]);
        let v = decode_text_row(&row, 3).unwrap();
        assert_eq!(v, vec![Some(&b"1"[..]), None, Some(&b""[..])]);
        assert!(rows_decoded() > before);
        assert!(decode_text_row(&row, 2).is_err());
        assert!(decode_text_row(&row, 4).is_err());
    }
}
