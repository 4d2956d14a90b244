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

/// Test helper: rows from string literals (`None` = NULL).
#[cfg(test)]
pub fn rows(data: &[&[Option<&str>]]) -> VecDeque<Row> {
    data.iter().map(|r| r.iter().map(|v| v.map(|s| s.as_bytes().to_vec())).collect()).collect()
}
