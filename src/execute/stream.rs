//! Row streams: what the merge primitives consume. Shards provide them over the network; tests provide
//! them from memory, so every primitive is testable without a backend.

use std::collections::VecDeque;

use crate::error::SgError;

/// One decoded row: a value per column, `None` for SQL NULL.
pub type Row = Vec<Option<Vec<u8>>>;

/// A source of rows, pulled one at a time.
#[allow(async_fn_in_trait)]
pub trait RowStream {
    /// The next row, or `None` at the end.
    async fn next_row(&mut self) -> Result<Option<Row>, SgError>;
}

impl RowStream for VecDeque<Row> {
    async fn next_row(&mut self) -> Result<Option<Row>, SgError> {
        Ok(self.pop_front())
    }
}

/// Concat: every stream's rows in turn (no order to keep).
pub struct Concat<S> {
    streams: Vec<S>,
    current: usize,
}

impl<S: RowStream> Concat<S> {
    /// The concatenation of `streams`.
    pub fn new(streams: Vec<S>) -> Self {
        Concat { streams, current: 0 }
    }

    /// Gives the streams back (to drain them after an early stop).
    pub fn into_streams(self) -> Vec<S> {
        self.streams
    }
}

impl<S: RowStream> RowStream for Concat<S> {
    async fn next_row(&mut self) -> Result<Option<Row>, SgError> {
        while self.current < self.streams.len() {
            if let Some(r) = self.streams[self.current].next_row().await? {
                return Ok(Some(r));
            }
            self.current += 1;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concat_yields_each_stream_in_turn() {
        let mut c = Concat::new(vec![rows(&[&[Some("1")], &[Some("2")]]), rows(&[]), rows(&[&[None]])]);
        let mut out = Vec::new();
        while let Some(r) = c.next_row().await.unwrap() {
            out.push(r[0].clone());
        }
        assert_eq!(out, [Some(b"1".to_vec()), Some(b"2".to_vec()), None]);
    }
}

/// Test helper: rows from string literals (`None` = NULL).
#[cfg(test)]
pub(crate) fn rows(data: &[&[Option<&str>]]) -> VecDeque<Row> {
    data.iter().map(|r| r.iter().map(|v| v.map(|s| s.as_bytes().to_vec())).collect()).collect()
}
