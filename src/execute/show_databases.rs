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

#[cfg(test)]
mod tests {
    use crate::execute::fake_ctx::{table, Harness, SCHEMA};

    #[tokio::test]
    async fn lists_the_logical_schemas_without_asking_a_backend() {
        let mut h = Harness::new(SCHEMA).await;
        h.run("SHOW DATABASES").await.unwrap();
        let reply = h.read_reply().await;
        assert_eq!(reply.columns(), ["Database"]);
        assert_eq!(reply.rows(), table(&[&["plain"], &["s"]]));
        h.run("SHOW DATABASES LIKE 'p%'").await.unwrap();
        assert_eq!(h.read_reply().await.rows(), table(&[&["plain"]]));
        h.nothing_more();
        assert!(h.queries(0).is_empty() && h.queries(1).is_empty());
    }
}
