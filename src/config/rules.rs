//! The rules file's shape (TOML). Unknown keys are errors so a typo never silently falls back to a default.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use toml::Spanned;

/// The whole rules document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// The client-facing listener.
    pub server: ServerRules,
    /// Accounts clients log in with (`[[users]]`).
    #[serde(default)]
    pub users: Vec<Spanned<UserRule>>,
    /// Backends by name (`[data_sources.ds_0]`).
    pub data_sources: BTreeMap<String, DataSourceRule>,
    /// Logical schemas by name (`[schemas.demo]`).
    #[serde(default)]
    pub schemas: BTreeMap<String, SchemaRule>,
    /// Where statements go when the session has no schema; defaults to the first data source by name.
    pub default_data_source: Option<Spanned<String>>,
}

/// Listener and process settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerRules {
    /// Address to accept MySQL clients on, e.g. "127.0.0.1:3307".
    pub listen: SocketAddr,
    /// Version string announced to clients. Default: the default data source's own version with
    /// "-shardgate" appended, so drivers enable the features that backend really has.
    pub server_version: Option<String>,
    /// Tokio worker threads; default: one per CPU core.
    pub worker_threads: Option<usize>,
}

/// One client account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRule {
    /// Login name.
    pub name: String,
    /// Plain-text password (convenient for labs; prefer `password_hash`).
    pub password: Option<String>,
    /// MySQL-style hash, as `SELECT PASSWORD('…')` prints it: "*" followed by 40 hex digits.
    pub password_hash: Option<String>,
}

/// One backend: a MariaDB/MySQL primary and how the proxy logs in to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSourceRule {
    /// Primary's address, e.g. "127.0.0.1:3310".
    pub primary: SocketAddr,
    /// Backend user.
    pub user: String,
    /// Backend password.
    #[serde(default)]
    pub password: String,
    /// Most connections the proxy opens to this data source.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Limit for connecting and logging in, in milliseconds (a stopped server accepts TCP but never greets).
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How long a statement waits for a free connection when all are busy, in milliseconds.
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
}

fn default_max_connections() -> usize {
    256
}
fn default_connect_timeout_ms() -> u64 {
    3000
}
fn default_acquire_timeout_ms() -> u64 {
    5000
}

/// A logical schema clients `USE`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaRule {
    /// Data source holding the schema's tables.
    pub data_source: Spanned<String>,
    /// Database name on the backend; default: the schema's own name.
    pub database: Option<String>,
}
