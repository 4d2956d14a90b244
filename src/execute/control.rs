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
