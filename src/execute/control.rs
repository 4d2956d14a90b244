//! The one interface from the data path to the control plane: statements that read or change more than
//! their own session — admin statements and KILL. The control plane (src/admin/, over the fleet, the
//! reshard job and the reloader) implements it; the executor calls it without importing any of those.

use std::future::Future;
use std::pin::Pin;

use crate::error::SgError;
use crate::sql::lexer::Admin;

use super::context::ExecCtx;

/// A boxed future borrowing the context (the trait is used as an object, so no `async fn` in it).
pub type Reply<'a> = Pin<Box<dyn Future<Output = Result<(), SgError>> + Send + 'a>>;

/// What the executor asks of the control plane; each call answers the client on `ctx`.
pub trait ControlPlane: Send + Sync {
    /// Runs admin statement `admin` (the implementation checks the user's admin privilege).
    fn admin<'a>(&'a self, ctx: &'a mut ExecCtx, admin: Admin) -> Reply<'a>;
    /// `KILL [QUERY] id` of a client connection of this proxy.
    fn kill<'a>(&'a self, ctx: &'a mut ExecCtx, query: bool, id: u32) -> Reply<'a>;
}

#[cfg(test)]
mod tests {
    use crate::execute::fake_ctx::{Harness, SCHEMA};
    use crate::plan::Plan;

    #[tokio::test]
    async fn admin_statements_and_kill_go_to_the_control_plane() {
        let mut h = Harness::new(SCHEMA).await;
        assert!(matches!(h.plan("SHOW SHARDGATE NODES"), Plan::Admin(_)));
        for sql in ["SHOW SHARDGATE NODES", "SET SHARDGATE NODE 'ds_0/replica1' OFFLINE", "KILL QUERY 7", "KILL 9"] {
            h.run(sql).await.unwrap();
            h.read_reply().await.ok();
        }
        h.nothing_more();
        let calls = h.control.calls.lock().unwrap().clone();
        assert_eq!(calls, ["admin Nodes", "admin Node(\"ds_0/replica1\", true)", "kill query=true id=7", "kill query=false id=9"]);
        assert!(h.queries(0).is_empty() && h.queries(1).is_empty());
    }
}
