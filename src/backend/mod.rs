//! Connections from the proxy to MariaDB/MySQL backends, and their pools.

pub mod conn;
pub mod pool;
pub mod statements;
