//! Client sessions: login, per-session state, and the command loop.

pub mod change_user;
pub mod diagnostics;
pub mod login;
pub mod multi;
pub mod prepared;
pub mod session;
pub mod sharing;
pub mod slow_log;
