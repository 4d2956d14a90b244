//! Running plans: one file per primitive.

pub mod passthrough;
pub mod show_databases;
pub mod use_schema;

use crate::error::SgError;
use crate::plan::Plan;
use crate::protocol::reply::ReplyKind;
use crate::session::session::Session;

/// Runs the plan for one COM_QUERY whose packet payload is `command`.
pub async fn run(session: &mut Session, plan: Plan, command: &[u8]) -> Result<(), SgError> {
    match plan {
        Plan::Passthrough { data_source } => passthrough::run(session, &data_source, command, ReplyKind::ResultSets).await,
        Plan::UseSchema(name) => use_schema::run(session, &name).await,
        Plan::ShowDatabases { like } => show_databases::run(session, like.as_deref()).await,
        Plan::Refuse(reason) => Err(SgError::NotSupported(reason)),
    }
}
