//! SHOW DATABASES answered from the rules: clients see logical schemas, never the backends' databases.

use crate::error::SgError;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use super::context::ExecCtx;
use crate::sql::lexer::like_matches;

/// Sends the schemas (optionally filtered by a LIKE pattern) as a one-column result set.
pub async fn run(ctx: &mut ExecCtx, like: Option<&str>) -> Result<(), SgError> {
    let rows: Vec<Vec<Option<Vec<u8>>>> = ctx
        .shared
        .rules
        .schemas
        .keys()
        .filter(|name| like.is_none_or(|p| like_matches(p, name)))
        .map(|name| vec![Some(name.clone().into_bytes())])
        .collect();
    let packets = encode_resultset(&[("Database", ColumnType::Text)], &rows, ctx.state.deprecate_eof(), ctx.state.status);
    ctx.send_packets(&packets).await
}
