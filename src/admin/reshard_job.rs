//! The reshard's admin statements: `RESHARD RUN 'file' [RATE n] [CLEANUP]`, `RESHARD ABORT`,
//! `RESHARD CLEANUP` and `SHOW SHARDGATE RESHARD` (the caller has checked the admin privilege).

use crate::error::SgError;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use crate::execute::context::ExecCtx;
use crate::server::Live;
use crate::sql::lexer::Admin;

/// A reshard that cannot start or go on: ER_UNKNOWN_ERROR's HY000 with the reason and what to do.
fn refused(what: &str, why: String) -> SgError {
    SgError::Failed(format!("{what}: {why}"))
}

async fn one_column(ctx: &mut ExecCtx, name: &str, value: String) -> Result<(), SgError> {
    let packets = encode_resultset(&[(name, ColumnType::Text)], &[vec![Some(value.into_bytes())]], ctx.state.deprecate_eof(), ctx.state.status);
    ctx.send_packets(&packets).await
}

/// Runs one of the reshard's admin statements.
pub async fn run(live: &Live, ctx: &mut ExecCtx, admin: Admin) -> Result<(), SgError> {
    let control = live.reshard.clone();
    match admin {
        Admin::Reshard => {
            let rows: Vec<Vec<Option<Vec<u8>>>> = control.row().into_iter().map(|r| r.into_iter().map(|v| Some(v.into_bytes())).collect()).collect();
            let columns: Vec<(&str, ColumnType)> = crate::reshard::control::COLUMNS.iter().map(|c| (*c, ColumnType::Text)).collect();
            let packets = encode_resultset(&columns, &rows, ctx.state.deprecate_eof(), ctx.state.status);
            ctx.send_packets(&packets).await
        }
        Admin::ReshardRun { path, rate, cleanup } => {
            let said = control.start(live, std::path::Path::new(&path), rate, cleanup).await.map_err(|e| refused("reshard not started", e))?;
            one_column(ctx, "reshard", said).await
        }
        Admin::ReshardAbort => {
            let said = control.abort(live).await.map_err(|e| refused("reshard not aborted", e))?;
            one_column(ctx, "reshard", said).await
        }
        Admin::ReshardCleanup => {
            let said = control.cleanup(live).await.map_err(|e| refused("no clean-up", e))?;
            one_column(ctx, "reshard", said).await
        }
        _ => unreachable!("only reshard statements are routed here"),
    }
}
