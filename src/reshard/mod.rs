//! Online resharding (issue 15), built bottom-up; what exists so far, each piece tested on the lab:
//! - [`plan`]: which tables change nodes, and for a key which node it leaves and which it joins; refusals;
//! - [`estimate`]: rows and bytes per move from information_schema and a key sample (`reshard plan`);
//! - [`copy`]: prepare (the source's DDL on added nodes) and a chunked, resumable copy of the leaving rows;
//! - [`binlog`] and [`catchup`]: the sources' ROW binlog from a position, applied for the leaving keys;
//! - [`verify`]: per move, row counts and checksums on both sides.
//! - [`cleanup`]: throttled deletion of the rows a node holds for keys placed elsewhere (residue, abort).
//! - [`crate::cutover_gate`]: the cut-over hold sessions pass through (per transaction), and `reload::switch`,
//!   which installs rules whose tables moved; rehearsed on one proxy in tests/reshard.rs.
//! - [`job`], [`cutover`], [`store`], [`control`], [`pace`]: the job that runs the phases inside the proxy,
//!   throttled, with its progress persisted on the default data source, resumed after a crash;
//!   `RESHARD RUN|ABORT|CLEANUP`, `SHOW SHARDGATE RESHARD` and `shardgate reshard run` ([`cli`]) drive it;
//! - [`fleet`]: the same for a fleet, with the job in etcd and every instance holding at the cut-over.

pub mod plan;
pub mod estimate;
pub mod binlog;
pub mod copy;
pub mod catchup;
pub mod verify;
pub mod cleanup;
pub mod store;
pub mod job;
pub mod cutover;
pub mod control;
pub mod pace;
pub mod cli;
pub mod fleet;

/// A name as a backquoted identifier (the one quoting the rewriter uses).
fn ident(name: &str) -> String {
    crate::sql::tokens::quote_ident(name, None)
}

/// A control-plane connection to data source `ds`'s primary as `rules` define it.
async fn connect(rules: &crate::config::Rules, ds: &str) -> Result<mysql_async::Conn, String> {
    let rule = rules.data_sources.get(ds).ok_or_else(|| format!("unknown data source {ds}"))?;
    mysql_async::Conn::new(crate::backend::health::control_opts(rule.primary, rule))
        .await
        .map_err(|e| format!("cannot connect to {ds} ({}): {e}", rule.primary))
}
