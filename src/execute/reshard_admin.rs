//! The reshard's admin statements: `RESHARD RUN 'file' [RATE n] [CLEANUP]`, `RESHARD ABORT`,
//! `RESHARD CLEANUP` and `SHOW SHARDGATE RESHARD` (the caller has checked the admin privilege).

use crate::error::SgError;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use crate::session::session::Session;
use crate::sql::lexer::Admin;

/// A reshard that cannot start or go on: ER_UNKNOWN_ERROR's HY000 with the reason and what to do.
fn refused(what: &str, why: String) -> SgError {
    SgError::Backend { code: crate::error::code::UNKNOWN, sqlstate: "HY000".into(), message: format!("{what}: {why}") }
}

async fn one_column(session: &mut Session, name: &str, value: String) -> Result<(), SgError> {
    let packets = encode_resultset(&[(name, ColumnType::Text)], &[vec![Some(value.into_bytes())]], session.state.deprecate_eof(), session.state.status);
    session.send_packets(&packets).await
}

/// Runs one of the reshard's admin statements.
pub async fn run(session: &mut Session, admin: Admin) -> Result<(), SgError> {
    let control = session.shared.reshard.clone();
    let live = session.live.clone();
    match admin {
        Admin::Reshard => {
            let rows: Vec<Vec<Option<Vec<u8>>>> = control.row().into_iter().map(|r| r.into_iter().map(|v| Some(v.into_bytes())).collect()).collect();
            let columns: Vec<(&str, ColumnType)> = crate::reshard::control::COLUMNS.iter().map(|c| (*c, ColumnType::Text)).collect();
            let packets = encode_resultset(&columns, &rows, session.state.deprecate_eof(), session.state.status);
            session.send_packets(&packets).await
        }
        Admin::ReshardRun { path, rate, cleanup } => {
            let said = control.start(&live, std::path::Path::new(&path), rate, cleanup).await.map_err(|e| refused("reshard not started", e))?;
            one_column(session, "reshard", said).await
        }
        Admin::ReshardAbort => {
            let said = control.abort(&live).await.map_err(|e| refused("reshard not aborted", e))?;
            one_column(session, "reshard", said).await
        }
        Admin::ReshardCleanup => {
            let said = control.cleanup(&live).await.map_err(|e| refused("no clean-up", e))?;
            one_column(session, "reshard", said).await
        }
        _ => unreachable!("only reshard statements are routed here"),
    }
}
