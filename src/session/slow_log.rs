//! The slow-query log: statements slower than `[server] slow_query_ms`, with their digest (literals replaced
//! by `?`, so no value — and so no password in a statement — is written), route, duration and rows. One JSON
//! object per line in `[server] slow_log`, and a tracing warning either way.

use std::io::Write;
use std::time::Duration;

use crate::shared::Shared;

use crate::execute::state::SessionState;

/// Records one slow statement.
pub fn record(shared: &Shared, state: &SessionState, sql: &str, route: usize, took: Duration, rows: u64) {
    let digest = crate::sql::normalize::normalize(sql).map_or_else(|| "(unparsed statement)".to_string(), |n| n.key);
    let route = crate::metrics::ROUTES[route];
    let ms = took.as_secs_f64() * 1000.0;
    tracing::warn!(target: "shardgate::slow", digest = %digest, route, duration_ms = ms, rows, user = %state.user, "slow statement");
    let Some(path) = &shared.rules.server.slow_log else { return };
    let line = format!(
        "{{\"time_ms\":{},\"user\":{:?},\"schema\":{:?},\"digest\":{:?},\"route\":\"{route}\",\"duration_ms\":{ms:.3},\"rows\":{rows}}}\n",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()),
        state.user,
        state.schema.as_deref().unwrap_or(""),
        digest,
    );
    let written = std::fs::OpenOptions::new().create(true).append(true).open(path).and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the slow-query log");
    }
}
