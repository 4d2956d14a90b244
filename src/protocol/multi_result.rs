//! Chaining several statements' replies into one multi-result reply (CLIENT_MULTI_STATEMENTS): each reply is
//! produced alone (sequence ids from 1), then renumbered to continue the previous one, and every reply but
//! the last gets SERVER_MORE_RESULTS_EXISTS in its final OK or EOF packet, as MySQL sends it.

use super::codec::Reader;
use super::constants::{status, MAX_FRAME};
use super::packet::frame_header;

/// How one statement's reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chained {
    /// The sequence id the next reply starts with.
    pub next_seq: u8,
    /// It ended in an ERR packet (the rest of the statements do not run).
    pub error: bool,
}

/// Renumbers the frames of `framed` (one statement's whole reply) from `seq` on and, if `more`, flags its
/// final packet with SERVER_MORE_RESULTS_EXISTS. `deprecate_eof`: the client ends result sets with OK.
pub fn chain(framed: &mut [u8], mut seq: u8, more: bool, deprecate_eof: bool) -> Chained {
    let (mut pos, mut last_packet) = (0, None);
    let mut packet_start = 0;
    while let Some((len, _)) = frame_header(&framed[pos..]) {
        if pos + 4 + len > framed.len() {
            break;
        }
        framed[pos + 3] = seq;
        seq = seq.wrapping_add(1);
        if len < MAX_FRAME {
            last_packet = Some((packet_start, pos + 4 + len));
            packet_start = pos + 4 + len;
        }
        pos += 4 + len;
    }
    let Some((start, end)) = last_packet else { return Chained { next_seq: seq, error: false } };
    let payload = &mut framed[start + 4..end];
    let error = payload.first() == Some(&0xFF);
    if more && !error {
        if let Some(at) = status_offset(payload, deprecate_eof) {
            let flags = u16::from_le_bytes([payload[at], payload[at + 1]]) | status::MORE_RESULTS_EXISTS;
            payload[at..at + 2].copy_from_slice(&flags.to_le_bytes());
        }
    }
    Chained { next_seq: seq, error }
}

/// Where the status flags of a final OK or EOF packet are.
fn status_offset(payload: &[u8], deprecate_eof: bool) -> Option<usize> {
    match payload.first()? {
        0xFE if !deprecate_eof && payload.len() < 9 => (payload.len() >= 5).then_some(3),
        0x00 | 0xFE => {
            let mut r = Reader::new(&payload[1..]);
            r.lenenc_int().ok()?;
            r.lenenc_int().ok()?;
            let at = payload.len() - r.remaining().len();
            (payload.len() >= at + 2).then_some(at)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::response::{encode_eof, encode_ok, Ok};

    fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_le_bytes()[..3].to_vec();
        f.push(seq);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn renumbers_and_flags_the_final_ok() {
        let ok = encode_ok(&Ok { affected_rows: 300, last_insert_id: 7, status: status::AUTOCOMMIT, ..Ok::default() }, 0);
        let mut reply = frame(1, &ok);
        let c = chain(&mut reply, 5, true, false);
        assert_eq!(c, Chained { next_seq: 6, error: false });
        assert_eq!(reply[3], 5);
        let mut r = Reader::new(&reply[5..]);
        assert_eq!((r.lenenc_int().unwrap(), r.lenenc_int().unwrap()), (300, 7));
        assert_eq!(r.u16().unwrap(), status::AUTOCOMMIT | status::MORE_RESULTS_EXISTS);
    }

    #[test]
    fn flags_the_closing_eof_of_a_result_set_not_the_column_one() {
        let mut reply = [frame(1, &[1]), frame(2, b"column"), frame(3, &encode_eof(2, 0)), frame(4, b"\x01a"), frame(5, &encode_eof(2, 0))].concat();
        let c = chain(&mut reply, 1, true, false);
        assert_eq!(c.next_seq, 6);
        let n = reply.len();
        assert_eq!(u16::from_le_bytes([reply[n - 2], reply[n - 1]]), 2 | status::MORE_RESULTS_EXISTS);
        let column_eof = 4 + 1 + 4 + 6 + 4;
        assert_eq!(u16::from_le_bytes([reply[column_eof + 3], reply[column_eof + 4]]), 2, "the column-definition EOF is untouched");
    }

    #[test]
    fn errors_stop_and_are_not_flagged() {
        let mut reply = frame(1, b"\xff\x28\x04#42000bad");
        let before = reply.clone();
        let c = chain(&mut reply, 9, true, true);
        assert_eq!(c, Chained { next_seq: 10, error: true });
        assert_eq!(&reply[4..], &before[4..]);
    }

    #[test]
    fn deprecate_eof_terminator_is_an_ok_with_fe() {
        let mut reply = [frame(1, &[1]), frame(2, b"column"), frame(3, b"\x01a"), frame(4, &encode_ok(&Ok { status: 2, ..Ok::default() }, 0xFE))].concat();
        chain(&mut reply, 1, true, true);
        let n = reply.len();
        assert_eq!(u16::from_le_bytes([reply[n - 4], reply[n - 3]]), 2 | status::MORE_RESULTS_EXISTS);
    }
}
