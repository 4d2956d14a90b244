//! USE / COM_INIT_DB: switch the session's logical schema, and the database on its backend connection.

use crate::error::SgError;
use crate::protocol::constants::com;
use crate::protocol::reply::ReplyKind;
use crate::config::Rules;
use super::context::ExecCtx;

/// Switches to logical schema `name`; the backend's OK or ERR for its COM_INIT_DB reaches the client.
pub async fn run(ctx: &mut ExecCtx, name: &str) -> Result<(), SgError> {
    let rules = &ctx.shared.rules;
    let Some(schema) = rules.schemas.get(name) else {
        return Err(unknown_schema(name, rules));
    };
    check_schema_access(rules, &ctx.state.user, name)?;
    let data_source = schema.data_source.get_ref().clone();
    let database = schema.database.clone().unwrap_or_else(|| name.to_string());
    adopt_local_transaction(ctx, name).await?;
    let mut command = Vec::with_capacity(1 + database.len());
    command.push(com::INIT_DB);
    command.extend_from_slice(database.as_bytes());
    if !ctx.backends.contains_key(&data_source) {
        ctx.pin_backend(&data_source, None).await?;
    }
    super::passthrough::run(ctx, &data_source, &command, ReplyKind::Single).await?;
    if ctx.last_reply_ok {
        if let Some(pooled) = ctx.backends.get_mut(&data_source) {
            pooled.conn.database = Some(database.clone());
        }
        ctx.state.schema = Some(name.to_string());
        // Connections pinned on other data sources still have the old database selected: give them back;
        // the next statement there checks one out with the new database.
        // Connections that carry the open transaction (XA branches, best_effort members) stay, switched over.
        let others: Vec<String> = ctx.backends.keys().filter(|ds| **ds != data_source).cloned().collect();
        let in_transaction = |ds: &str, s: &ExecCtx| s.xa.as_ref().is_some_and(|t| t.branches.iter().any(|b| b == ds)) || s.enlisted.contains(ds);
        for ds in others {
            if in_transaction(&ds, ctx) {
                let pooled = ctx.backends.get_mut(&ds).expect("held");
                if let Err(reason) = pooled.conn.init_db(&database).await {
                    ctx.backends.remove(&ds);
                    return Err(SgError::BackendLost(ds, reason));
                }
                continue;
            }
            if let (Some(conn), Some(pool)) = (ctx.backends.remove(&ds), ctx.shared.pools.get(&ds).cloned()) {
                pool.release(conn).await;
            }
        }
    }
    Ok(())
}

/// A transaction opened outside any schema run with XA (mariadb-dump's `START TRANSACTION WITH CONSISTENT
/// SNAPSHOT` before its `USE`) is a local transaction on a backend connection, which `XA START` cannot join.
/// Entering a schema whose transactions the proxy runs with XA: a local transaction that only read ends
/// here and the schema's transaction takes its place (a read-only transaction has no effect to keep; each
/// shard's snapshot is taken at its first read, README "Transactions"); one that wrote is refused.
async fn adopt_local_transaction(ctx: &mut ExecCtx, name: &str) -> Result<(), SgError> {
    use crate::protocol::constants::status;
    if !super::xa::applies_in(&ctx.shared, Some(name)) || ctx.xa.is_some() || ctx.state.status & status::IN_TRANS == 0 || super::xa::applies(ctx) {
        return Ok(());
    }
    if ctx.local_txn_wrote {
        return Err(SgError::NotSupported(format!(
            "USE {name} (a schema whose transactions run with XA) inside a transaction that changed data outside it; COMMIT or ROLLBACK first"
        )));
    }
    let held: Vec<String> = ctx.backends.keys().cloned().collect();
    for ds in held {
        let conn = &mut ctx.backends.get_mut(&ds).expect("held").conn;
        if let Err(reason) = conn.query_ok("ROLLBACK").await {
            ctx.backends.remove(&ds);
            return Err(SgError::BackendLost(ds, reason));
        }
    }
    ctx.enlisted.clear();
    Ok(())
}

/// Whether `user` may use logical schema `schema` (ER_DBACCESS_DENIED_ERROR otherwise).
pub fn check_schema_access(rules: &Rules, user: &str, schema: &str) -> Result<(), SgError> {
    let allowed = rules.users.iter().map(|u| u.get_ref()).find(|u| u.name == user).and_then(|u| u.schemas.as_ref());
    match allowed {
        Some(list) if !list.iter().any(|s| s == schema) => Err(SgError::SchemaAccessDenied { user: user.to_string(), schema: schema.to_string() }),
        _ => Ok(()),
    }
}

/// The error for a schema the rules do not define.
pub fn unknown_schema(name: &str, rules: &Rules) -> SgError {
    let known: Vec<&str> = rules.schemas.keys().map(String::as_str).collect();
    SgError::UnknownDatabase(name.to_string(), known.join(", "))
}

#[cfg(test)]
mod tests {
    use crate::error::SgError;
    use crate::execute::fake_ctx::{rows, Harness, SCHEMA};
    use crate::plan::Plan;

    #[tokio::test]
    async fn use_switches_the_schema_and_the_database_on_its_data_source() {
        let mut h = Harness::new(SCHEMA).await;
        // Hold a connection to ds_0 first, with schema s's database selected.
        h.ds0.on("SELECT c FROM `k_0` WHERE id = 2", rows(&["c"], &[]));
        h.run("SELECT c FROM k WHERE id = 2").await.unwrap();
        h.read_reply().await;
        assert!(matches!(h.plan("USE plain"), Plan::UseSchema(ref s) if s == "plain"));
        h.run("USE plain").await.unwrap();
        h.read_reply().await.ok();
        h.nothing_more();
        assert_eq!(h.ctx.state.schema.as_deref(), Some("plain"));
        let held: Vec<&String> = h.ctx.backends.keys().collect();
        assert_eq!(held, ["ds_1"], "the connection with the old database went back to its pool");
        assert_eq!(h.ctx.backends.get_mut("ds_1").unwrap().conn.database.as_deref(), Some("plain_db"));
        assert!(h.queries(1).is_empty(), "COM_INIT_DB, not a query");
    }

    #[tokio::test]
    async fn an_unknown_schema_is_refused_with_the_known_ones() {
        let mut h = Harness::new(SCHEMA).await;
        let e = h.run("USE nope").await.unwrap_err();
        assert!(matches!(&e, SgError::UnknownDatabase(name, known) if name == "nope" && known == "plain, s"), "{e:?}");
        assert_eq!(h.ctx.state.schema.as_deref(), Some("s"));
        assert_eq!((h.ds0.connections(), h.ds1.connections()), (1, 0), "only the start-up probe connected");
    }

    #[tokio::test]
    async fn a_user_limited_to_some_schemas_cannot_use_others() {
        let mut h = Harness::new(SCHEMA).await;
        std::sync::Arc::get_mut(&mut h.ctx.shared).unwrap().rules.users[0].get_mut().schemas = Some(vec!["s".into()]);
        let e = h.run("USE plain").await.unwrap_err();
        assert!(matches!(&e, SgError::SchemaAccessDenied { user, schema } if user == "u" && schema == "plain"), "{e:?}");
        h.run("USE s").await.unwrap();
        h.read_reply().await.ok();
    }
}
