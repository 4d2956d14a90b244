//! Connections from the proxy to MariaDB/MySQL backends, and their pools.

pub mod auth;
pub mod commit_barrier;
pub mod conn;
/// An in-memory, scripted MySQL server that the real `BackendConn` logs in to, so executor code can be
/// unit-tested at the wire level without a database or a network.
#[cfg(test)]
pub mod fake;
pub mod health;
pub mod pool;
pub mod registry;
pub mod replicas;
pub mod statements;
pub mod tls;
pub mod xa_log;
pub mod xa_recovery;
