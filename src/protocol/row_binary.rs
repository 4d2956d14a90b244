//! Binary-protocol rows (COM_STMT_EXECUTE results) converted to and from the text form of each value, so
//! the merge primitives work on one representation for both protocols. The conversion is exact: every
//! value re-encodes to the bytes it came from.

use super::codec::{put_lenenc_bytes, Reader};
use crate::error::SgError;

/// A column's wire type: the MySQL type byte and whether it is UNSIGNED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireType {
    /// MYSQL_TYPE_*.
    pub type_byte: u8,
    /// UNSIGNED flag.
    pub unsigned: bool,
}

/// Reads the wire type from a column definition.
pub fn wire_type(def: &[u8]) -> Result<WireType, SgError> {
    let mut r = Reader::new(def);
    for _ in 0..6 {
        r.lenenc_bytes()?;
    }
    r.lenenc_int()?;
    r.u16()?;
    r.u32()?;
    let type_byte = r.u8()?;
    let flags = r.u16()?;
    Ok(WireType { type_byte, unsigned: flags & 0x20 != 0 })
}

fn int_text(b: &[u8], unsigned: bool) -> String {
    let mut buf = [0u8; 8];
    buf[..b.len()].copy_from_slice(b);
    if unsigned {
        return u64::from_le_bytes(buf).to_string();
    }
    let shift = 64 - 8 * b.len() as u32;
    ((i64::from_le_bytes(buf) << shift) >> shift).to_string()
}

/// Reads one binary value of type `t` and returns its text form.
pub fn read_value(r: &mut Reader<'_>, t: WireType) -> Result<Vec<u8>, SgError> {
    let text = match t.type_byte {
        1 => int_text(r.take(1)?, t.unsigned),
        2 | 13 => int_text(r.take(2)?, t.unsigned),
        3 | 9 => int_text(r.take(4)?, t.unsigned),
        8 => int_text(r.take(8)?, t.unsigned),
        4 => f32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes")).to_string(),
        5 => f64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes")).to_string(),
        7 | 10 | 12 | 14 => {
            let n = r.u8()?;
            let b = r.take(usize::from(n))?;
            let get = |i: usize| b.get(i).copied().unwrap_or(0);
            let year = u16::from_le_bytes([get(0), get(1)]);
            let date = format!("{year:04}-{:02}-{:02}", get(2), get(3));
            if t.type_byte == 10 {
                date
            } else {
                let mut s = format!("{date} {:02}:{:02}:{:02}", get(4), get(5), get(6));
                if n >= 11 {
                    s.push_str(&format!(".{:06}", u32::from_le_bytes([get(7), get(8), get(9), get(10)])));
                }
                s
            }
        }
        11 => {
            let n = r.u8()?;
            let b = r.take(usize::from(n))?;
            let get = |i: usize| b.get(i).copied().unwrap_or(0);
            // u64: a malformed value may claim 2^32 days (found by fuzzing, tests/fuzz).
            let days = u64::from(u32::from_le_bytes([get(1), get(2), get(3), get(4)]));
            let mut s = format!("{}{:02}:{:02}:{:02}", if get(0) == 1 { "-" } else { "" }, days * 24 + u64::from(get(5)), get(6), get(7));
            if n >= 12 {
                s.push_str(&format!(".{:06}", u32::from_le_bytes([get(8), get(9), get(10), get(11)])));
            }
            s
        }
        6 => String::new(),
        _ => return Ok(r.lenenc_bytes()?.to_vec()),
    };
    Ok(text.into_bytes())
}

/// Decodes one binary row into the text form of its values (`None` = NULL).
pub fn decode_binary_row(payload: &[u8], types: &[WireType]) -> Result<Vec<Option<Vec<u8>>>, SgError> {
    let mut r = Reader::new(payload);
    if r.u8()? != 0 {
        return Err(SgError::malformed("binary row without its 0x00 header"));
    }
    let bitmap = r.take((types.len() + 9) / 8)?.to_vec();
    let mut out = Vec::with_capacity(types.len());
    for (i, t) in types.iter().enumerate() {
        let bit = i + 2;
        if bitmap[bit / 8] & (1 << (bit % 8)) != 0 {
            out.push(None);
        } else {
            out.push(Some(read_value(&mut r, *t)?));
        }
    }
    Ok(out)
}

fn bad(v: &str, t: u8) -> SgError {
    SgError::Malformed(format!("value '{v}' does not fit binary type {t}"))
}

/// Encodes text-form values as a binary row of `types`.
pub fn encode_binary_row(values: &[Option<Vec<u8>>], types: &[WireType]) -> Result<Vec<u8>, SgError> {
    let mut out = vec![0u8];
    let start = out.len();
    out.resize(start + (types.len() + 9) / 8, 0);
    for (i, (v, t)) in values.iter().zip(types).enumerate() {
        let Some(v) = v else {
            let bit = i + 2;
            out[start + bit / 8] |= 1 << (bit % 8);
            continue;
        };
        let s = String::from_utf8_lossy(v);
        let s = s.trim();
        let int = |width: usize, out: &mut Vec<u8>| -> Result<(), SgError> {
            let bytes = if t.unsigned {
                s.parse::<u64>().map_err(|_| bad(s, t.type_byte))?.to_le_bytes()
            } else {
                s.parse::<i64>().map_err(|_| bad(s, t.type_byte))?.to_le_bytes()
            };
            out.extend_from_slice(&bytes[..width]);
            Ok(())
        };
        match t.type_byte {
            1 => int(1, &mut out)?,
            2 | 13 => int(2, &mut out)?,
            3 | 9 => int(4, &mut out)?,
            8 => int(8, &mut out)?,
            4 => out.extend_from_slice(&s.parse::<f32>().map_err(|_| bad(s, 4))?.to_le_bytes()),
            5 => out.extend_from_slice(&s.parse::<f64>().map_err(|_| bad(s, 5))?.to_le_bytes()),
            7 | 10 | 12 | 14 => {
                let (date, time) = s.split_once(' ').unwrap_or((s, ""));
                let d: Vec<u32> = date.split('-').map(|p| p.parse().unwrap_or(0)).collect();
                let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
                let h: Vec<u32> = hms.split(':').filter(|p| !p.is_empty()).map(|p| p.parse().unwrap_or(0)).collect();
                let micros: u32 = if frac.is_empty() { 0 } else { format!("{frac:0<6}")[..6].parse().unwrap_or(0) };
                let mut b = Vec::with_capacity(12);
                b.extend_from_slice(&(*d.first().unwrap_or(&0) as u16).to_le_bytes());
                b.push(*d.get(1).unwrap_or(&0) as u8);
                b.push(*d.get(2).unwrap_or(&0) as u8);
                if !h.is_empty() || !frac.is_empty() {
                    b.extend([*h.first().unwrap_or(&0) as u8, *h.get(1).unwrap_or(&0) as u8, *h.get(2).unwrap_or(&0) as u8]);
                }
                if !frac.is_empty() {
                    b.extend_from_slice(&micros.to_le_bytes());
                }
                out.push(b.len() as u8);
                out.extend_from_slice(&b);
            }
            11 => {
                let (neg, rest) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
                let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
                let h: Vec<u32> = hms.split(':').map(|p| p.parse().unwrap_or(0)).collect();
                let hours = *h.first().unwrap_or(&0);
                let mut b = vec![u8::from(neg)];
                b.extend_from_slice(&(hours / 24).to_le_bytes());
                b.extend([(hours % 24) as u8, *h.get(1).unwrap_or(&0) as u8, *h.get(2).unwrap_or(&0) as u8]);
                if !frac.is_empty() {
                    let micros: u32 = format!("{frac:0<6}")[..6].parse().unwrap_or(0);
                    b.extend_from_slice(&micros.to_le_bytes());
                }
                out.push(b.len() as u8);
                out.extend_from_slice(&b);
            }
            6 => {}
            _ => put_lenenc_bytes(&mut out, v),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    #[test]
    fn a_time_of_four_billion_days_decodes_without_overflow() {
        let t = WireType { type_byte: 11, unsigned: false };
        let value = [8u8, 0, 0xFF, 0xFF, 0xFF, 0xFF, 23, 59, 59];
        let text = read_value(&mut Reader::new(&value), t).unwrap();
        assert_eq!(String::from_utf8(text).unwrap(), "103079215103:59:59");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(type_byte: u8, unsigned: bool) -> WireType {
        WireType { type_byte, unsigned }
    }

    #[test]
    fn every_type_round_trips_through_its_text_form() {
        let types = [
            t(1, false), t(1, true), t(2, false), t(3, false), t(3, true), t(8, false), t(8, true), t(9, false), t(13, true),
            t(4, false), t(5, false), t(246, false), t(253, false), t(10, false), t(12, false), t(12, false), t(7, false),
            t(11, false), t(11, false), t(252, false),
        ];
        let texts = [
            "-128", "255", "-32768", "-2147483648", "4294967295", "-9223372036854775808", "18446744073709551615", "8388607",
            "2026", "1.5", "0.30000000000000004", "-123.450", "Zoë ☃", "2026-11-23", "2026-11-23 01:02:03",
            "1999-12-31 23:59:59.000007", "2000-01-01 00:00:00", "-838:59:59", "25:00:00.500000", "",
        ];
        let mut values: Vec<Option<Vec<u8>>> = texts.iter().map(|s| Some(s.as_bytes().to_vec())).collect();
        values.push(None);
        let mut types = types.to_vec();
        types.push(t(8, false));
        let row = encode_binary_row(&values, &types).unwrap();
        let back = decode_binary_row(&row, &types).unwrap();
        assert_eq!(back, values);
        assert_eq!(encode_binary_row(&back, &types).unwrap(), row, "re-encoding gives the same bytes");
    }

    #[test]
    fn truncated_binary_rows_are_errors() {
        let types = [t(8, false), t(253, false)];
        let row = encode_binary_row(&[Some(b"7".to_vec()), Some(b"abc".to_vec())], &types).unwrap();
        assert!(decode_binary_row(&row[..row.len() - 1], &types).is_err());
        assert!(decode_binary_row(&[1, 0, 0], &types).is_err());
    }
}
