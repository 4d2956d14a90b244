//! KILL [QUERY] id: the id is a client connection id the proxy gave out. The statements that session runs
//! are stopped with `KILL QUERY <thread>` on each backend thread working for it (never the backend's
//! whole connection: it goes back to a pool); KILL CONNECTION also ends the session.

use crate::error::SgError;
use crate::execute::context::ExecCtx;

/// Kills session `id`'s running statements, and the session itself unless `query`.
pub async fn run(ctx: &mut ExecCtx, query: bool, id: u32) -> Result<(), SgError> {
    let Some(target) = ctx.shared.sessions.get(id) else {
        return Err(SgError::NoSuchThread(id));
    };
    let owner = target.user.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if owner != ctx.state.user {
        return Err(SgError::KillDenied(id));
    }
    if target.id == ctx.state.connection_id {
        if query {
            return ctx.send_ok().await; // nothing of this session runs while it reads this
        }
        target.kill();
        return Err(SgError::ConnectionKilled);
    }
    for (pool_name, thread) in target.threads() {
        let Some(pool) = ctx.shared.pools.get(&pool_name).cloned() else { continue };
        let mut control = pool.connect_outside().await?;
        // A thread that finished meanwhile is fine (1094 from the backend): nothing left to stop there.
        let _ = control.query_ok(&format!("KILL QUERY {thread}")).await;
    }
    if !query {
        target.kill();
    }
    ctx.send_ok().await
}
