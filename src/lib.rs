#![warn(missing_docs)]
//! shardgate: a MySQL sharding and read/write-splitting proxy.
//!
//! The path of one statement follows the modules: [`protocol`] → [`session`] → [`sql`] → [`plan`] →
//! [`execute`] → [`backend`]. [`config`] loads the rules, [`server`] accepts clients.

pub mod admin;
pub mod backend;
pub mod config;
pub mod cutover_gate;
pub mod error;
pub mod execute;
pub mod fleet;
pub mod metrics;
pub mod plan;
pub mod protocol;
pub mod reload;
pub mod reshard;
pub mod server;
pub mod session;
pub mod shared;
pub mod sharding;
pub mod sql;
pub mod stats;
pub mod latency;
pub mod login_guard;
