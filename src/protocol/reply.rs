//! Finding where a backend's reply ends without decoding its rows.
//!
//! The relay forwards bytes as they arrive; this state machine looks only at each packet's first byte and
//! length (and at the few bytes of OK/EOF packets) to know when the reply to one command is complete,
//! including multi-result replies chained by SERVER_MORE_RESULTS_EXISTS.

use super::codec::Reader;
use super::constants::{status, MAX_FRAME};
use super::response::{decode_ok, end_of_rows_status, end_of_rows_warnings, status_offset};
use crate::error::SgError;

/// The shape of reply a command gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// OK, ERR or one or more result sets (COM_QUERY, COM_STMT_EXECUTE).
    ResultSets,
    /// Rows and an end marker, or ERR (COM_STMT_FETCH, and COM_FIELD_LIST's column definitions).
    RowsOnly,
    /// COM_STMT_PREPARE: OK with counts, then parameter and column definitions.
    Prepare,
    /// Exactly one packet (COM_PING, COM_INIT_DB, COM_RESET_CONNECTION, COM_STATISTICS, …).
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Columns(u64),
    ColumnsEof,
    Rows,
    PrepareParams { params: u64, columns: u64 },
    PrepareParamsEof { columns: u64 },
    PrepareColumns(u64),
    PrepareColumnsEof,
    Done,
}

/// Follows one reply packet by packet.
#[derive(Debug)]
pub struct ReplyScanner {
    state: State,
    kind: ReplyKind,
    deprecate_eof: bool,
    continuation: bool,
    /// Rows seen so far (text or binary), for statistics.
    pub rows: u64,
    /// Status flags of the last OK/EOF seen: the backend's transaction and autocommit state.
    pub status: Option<u16>,
    /// Whether the reply (or its last result) was an ERR packet.
    pub error: bool,
    /// The ERR packet's error code, when `error`.
    pub error_code: u16,
    /// Where the status flags are in the packet just fed, if it was an OK or EOF (so a relay can rewrite
    /// the transaction bits it forwards).
    pub status_at: Option<usize>,
    /// Warnings the reply's OK/EOF packets report (summed over results).
    pub warnings: u16,
    /// The ERR packet, when the reply ended in one (for SHOW WARNINGS / SHOW ERRORS).
    pub error_packet: Option<Vec<u8>>,
}

impl ReplyScanner {
    /// A scanner for the reply to a command of `kind` on a connection with or without CLIENT_DEPRECATE_EOF.
    pub fn new(kind: ReplyKind, deprecate_eof: bool) -> Self {
        let state = match kind {
            ReplyKind::RowsOnly => State::Rows,
            _ => State::Start,
        };
        ReplyScanner { state, kind, deprecate_eof, continuation: false, rows: 0, status: None, error: false, error_code: 0, status_at: None, warnings: 0, error_packet: None }
    }

    /// True once the whole reply has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn is_end_marker(&self, payload: &[u8], frame_len: usize) -> bool {
        // A row can start with 0xFE only as the 8-byte length prefix of a value of 16 MiB or more, whose
        // frame is then full-size; an EOF is under 9 bytes and an OK-as-EOF always under one frame.
        payload.first() == Some(&0xFE) && if self.deprecate_eof { frame_len < MAX_FRAME } else { frame_len < 9 }
    }

    fn finish_result(&mut self, status: u16) -> State {
        self.status = Some(status);
        if status & status::MORE_RESULTS_EXISTS != 0 && self.kind == ReplyKind::ResultSets {
            State::Start
        } else {
            State::Done
        }
    }

    /// Feeds one whole logical packet (already reassembled from its frames).
    pub fn feed_packet(&mut self, payload: &[u8]) -> Result<(), SgError> {
        self.continuation = false;
        self.step(payload, payload.len().min(MAX_FRAME - 1))
    }

    /// Feeds one frame's payload (the whole frame, header stripped).
    pub fn feed(&mut self, payload: &[u8]) -> Result<(), SgError> {
        let frame_len = payload.len();
        if self.continuation {
            // The tail of a packet over 16 MiB: nothing in it marks a boundary.
            self.continuation = frame_len == MAX_FRAME;
            return Ok(());
        }
        self.continuation = frame_len == MAX_FRAME;
        self.step(payload, frame_len)
    }

    fn step(&mut self, payload: &[u8], frame_len: usize) -> Result<(), SgError> {
        let first = payload.first().copied();
        self.status_at = None;
        if first == Some(0xFF) && !matches!(self.state, State::Columns(_) | State::PrepareParams { .. } | State::PrepareColumns(_)) {
            self.error = true;
            self.error_code = payload.get(1..3).map_or(0, |c| u16::from_le_bytes([c[0], c[1]]));
            self.error_packet = Some(payload.to_vec());
            self.state = State::Done;
            return Ok(());
        }
        self.error = false;
        self.state = match self.state {
            State::Done => return Err(SgError::malformed("backend sent more than one reply")),
            State::Start => match (self.kind, first) {
                (ReplyKind::Single, _) => State::Done,
                (ReplyKind::Prepare, Some(0x00)) => {
                    let mut r = Reader::new(payload);
                    r.take(5)?;
                    let columns = u64::from(r.u16()?);
                    let params = u64::from(r.u16()?);
                    self.after_prepare_params(params, columns)
                }
                (_, Some(0x00)) => {
                    let ok = decode_ok(payload)?;
                    self.warnings = self.warnings.saturating_add(ok.warnings);
                    let s = ok.status;
                    self.status_at = status_offset(payload, false);
                    self.finish_result(s)
                }
                (_, Some(0xFB)) => return Err(SgError::NotSupported("LOAD DATA LOCAL INFILE through the proxy".into())),
                _ => {
                    let n = Reader::new(payload).lenenc_int()?;
                    if n == 0 {
                        // Found by fuzzing (tests/fuzz): a column count of 0 is no result set.
                        return Err(SgError::malformed("backend announced a result set with no columns"));
                    }
                    State::Columns(n)
                }
            },
            State::Columns(n) => match (n - 1, self.deprecate_eof) {
                (0, true) => State::Rows,
                (0, false) => State::ColumnsEof,
                (left, _) => State::Columns(left),
            },
            State::ColumnsEof => {
                let s = end_of_rows_status(payload, false)?;
                self.status_at = status_offset(payload, true);
                if s & status::CURSOR_EXISTS != 0 {
                    self.status = Some(s);
                    State::Done
                } else {
                    State::Rows
                }
            }
            State::Rows => {
                if self.is_end_marker(payload, frame_len) {
                    let s = end_of_rows_status(payload, self.deprecate_eof)?;
                    self.warnings = self.warnings.saturating_add(end_of_rows_warnings(payload, self.deprecate_eof));
                    self.status_at = status_offset(payload, !self.deprecate_eof);
                    self.finish_result(s)
                } else {
                    self.rows += 1;
                    State::Rows
                }
            }
            State::PrepareParams { params, columns } => {
                if params > 1 {
                    State::PrepareParams { params: params - 1, columns }
                } else if self.deprecate_eof {
                    self.after_prepare_params(0, columns)
                } else {
                    State::PrepareParamsEof { columns }
                }
            }
            State::PrepareParamsEof { columns } => self.after_prepare_params(0, columns),
            State::PrepareColumns(n) => match (n - 1, self.deprecate_eof) {
                (0, true) => State::Done,
                (0, false) => State::PrepareColumnsEof,
                (left, _) => State::PrepareColumns(left),
            },
            State::PrepareColumnsEof => State::Done,
        };
        Ok(())
    }

    fn after_prepare_params(&self, params: u64, columns: u64) -> State {
        if params > 0 {
            State::PrepareParams { params, columns }
        } else if columns > 0 {
            State::PrepareColumns(columns)
        } else {
            State::Done
        }
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    #[test]
    fn a_zero_column_count_is_an_error_not_a_panic() {
        let mut s = ReplyScanner::new(ReplyKind::ResultSets, false);
        assert!(s.feed(&[0xFC, 0x00, 0x00]).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::resultset::{encode_resultset, ColumnType};
    use crate::protocol::response::{encode_eof, encode_err, encode_ok, Ok};

    fn run(kind: ReplyKind, deprecate: bool, packets: &[Vec<u8>]) -> ReplyScanner {
        let mut s = ReplyScanner::new(kind, deprecate);
        for (i, p) in packets.iter().enumerate() {
            assert!(!s.is_done(), "done too early, before packet {i}");
            s.feed(p).unwrap();
        }
        assert!(s.is_done(), "not done after the last packet");
        s
    }

    fn rows(n: usize) -> Vec<Vec<Option<Vec<u8>>>> {
        (0..n).map(|i| vec![Some(i.to_string().into_bytes()), None]).collect()
    }

    #[test]
    fn result_sets_end_in_both_eof_styles() {
        for deprecate in [false, true] {
            let cols = [("a", ColumnType::Text), ("b", ColumnType::Integer)];
            let s = run(ReplyKind::ResultSets, deprecate, &encode_resultset(&cols, &rows(3), deprecate, 2));
            assert_eq!((s.rows, s.status, s.error), (3, Some(2), false));
        }
    }

    #[test]
    fn ok_err_and_multi_results() {
        let ok_more = encode_ok(&Ok { status: 2 | status::MORE_RESULTS_EXISTS, ..Ok::default() }, 0);
        let ok = encode_ok(&Ok { status: 3, ..Ok::default() }, 0);
        let mut packets = vec![ok_more.clone()];
        let mut rs = encode_resultset(&[("a", ColumnType::Text)], &rows(2), false, 2 | status::MORE_RESULTS_EXISTS);
        packets.append(&mut rs);
        packets.push(ok);
        let s = run(ReplyKind::ResultSets, false, &packets);
        assert_eq!((s.rows, s.status), (2, Some(3)));
        let s = run(ReplyKind::ResultSets, true, &[encode_err(1064, "42000", "syntax")]);
        assert!(s.error);
    }

    #[test]
    fn error_in_the_middle_of_rows_ends_the_reply() {
        let mut packets = encode_resultset(&[("a", ColumnType::Text)], &rows(2), false, 2);
        packets.pop();
        packets.push(encode_err(1317, "70100", "Query execution was interrupted"));
        assert!(run(ReplyKind::ResultSets, false, &packets).error);
    }

    #[test]
    fn row_starting_with_fe_is_not_mistaken_for_the_end() {
        // A one-column row whose value is 16 MiB long: first byte 0xFE, frame full-size, then a tail frame.
        let mut first = vec![0xFEu8];
        first.extend_from_slice(&(MAX_FRAME as u64 + 10).to_le_bytes());
        first.resize(MAX_FRAME, b'x');
        let tail = vec![b'y'; 18];
        let mut packets = encode_resultset(&[("a", ColumnType::Text)], &[], true, 2);
        let end = packets.pop().unwrap();
        packets.extend([first, tail, end]);
        assert_eq!(run(ReplyKind::ResultSets, true, &packets).rows, 1);
    }

    #[test]
    fn prepare_reply_counts_params_and_columns() {
        let mut head = vec![0u8, 1, 0, 0, 0];
        head.extend_from_slice(&2u16.to_le_bytes());
        head.extend_from_slice(&1u16.to_le_bytes());
        head.extend_from_slice(&[0, 0, 0]);
        let def = vec![3u8, b'd', b'e', b'f'];
        let eof = encode_eof(2, 0);
        run(ReplyKind::Prepare, false, &[head.clone(), def.clone(), eof.clone(), def.clone(), def.clone(), eof]);
        run(ReplyKind::Prepare, true, &[head, def.clone(), def.clone(), def]);
    }

    #[test]
    fn cursor_reply_stops_after_column_definitions() {
        let packets = vec![vec![1u8], vec![3u8, b'd', b'e', b'f'], encode_eof(2 | status::CURSOR_EXISTS, 0)];
        run(ReplyKind::ResultSets, false, &packets);
    }
}
