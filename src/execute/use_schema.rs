//! USE / COM_INIT_DB: switch the session's logical schema, and the database on its backend connection.

use crate::error::SgError;
use crate::protocol::constants::com;
use crate::protocol::reply::ReplyKind;
use crate::session::login::unknown_schema;
use crate::session::session::Session;

/// Switches to logical schema `name`; the backend's OK or ERR for its COM_INIT_DB reaches the client.
pub async fn run(session: &mut Session, name: &str) -> Result<(), SgError> {
    let rules = &session.shared.rules;
    let Some(schema) = rules.schemas.get(name) else {
        return Err(unknown_schema(name, rules));
    };
    crate::session::login::check_schema_access(rules, &session.state.user, name)?;
    let data_source = schema.data_source.get_ref().clone();
    let database = schema.database.clone().unwrap_or_else(|| name.to_string());
    let mut command = Vec::with_capacity(1 + database.len());
    command.push(com::INIT_DB);
    command.extend_from_slice(database.as_bytes());
    if !session.backends.contains_key(&data_source) {
        session.pin_backend(&data_source, None).await?;
    }
    super::passthrough::run(session, &data_source, &command, ReplyKind::Single).await?;
    if session.last_reply_ok {
        if let Some(pooled) = session.backends.get_mut(&data_source) {
            pooled.conn.database = Some(database);
        }
        session.state.schema = Some(name.to_string());
        // Connections pinned on other data sources still have the old database selected: give them back;
        // the next statement there checks one out with the new database.
        let others: Vec<String> = session.backends.keys().filter(|ds| **ds != data_source).cloned().collect();
        for ds in others {
            if let (Some(conn), Some(pool)) = (session.backends.remove(&ds), session.shared.pools.get(&ds).cloned()) {
                pool.release(conn).await;
            }
        }
    }
    Ok(())
}
