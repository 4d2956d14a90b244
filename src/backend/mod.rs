//! Connections from the proxy to MariaDB/MySQL backends, and their pools.

pub mod auth;
pub mod conn;
pub mod health;
pub mod pool;
pub mod replicas;
pub mod statements;
pub mod tls;
pub mod xa_log;
pub mod xa_recovery;
