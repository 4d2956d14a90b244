//! SHOW SHARDGATE NODES: every data source's primary and replicas, with what the health checker found, so an
//! operator sees at a glance which replicas serve reads and why the others do not.

use crate::error::SgError;
use crate::protocol::resultset::{encode_resultset, ColumnType};
use crate::execute::context::ExecCtx;

/// Sends one row per node: data_source, role, name, address, weight, status (primary / serving / lagging /
/// down / offline), lag_seconds (NULL when unknown), checks done, the reason a replica is not serving, and
/// its pool's connections in use and idle.
pub async fn run(ctx: &mut ExecCtx) -> Result<(), SgError> {
    let text = |s: String| Some(s.into_bytes());
    let mut rows = Vec::new();
    for (ds, rule) in &ctx.shared.rules.data_sources {
        rows.push(vec![text(ds.clone()), text("primary".into()), text(ds.clone()), text(rule.primary.to_string()), text("0".into()), text("primary".into()), None, text("0".into()), text(String::new())]);
        let Some(set) = ctx.shared.replicas.get(ds) else { continue };
        for r in &set.replicas {
            let (up, lag, reason, checks) = r.health.snapshot();
            let status = match (r.health.serving(), up) {
                _ if r.health.offline() => "offline",
                (true, _) => "serving",
                (false, true) => "lagging",
                (false, false) => "down",
            };
            rows.push(vec![
                text(ds.clone()),
                text("replica".into()),
                text(r.name.clone()),
                text(r.address.to_string()),
                text(r.weight.to_string()),
                text(status.into()),
                lag.map(|l| l.to_string().into_bytes()),
                text(checks.to_string()),
                text(reason),
            ]);
        }
    }
    let columns = [
        ("data_source", ColumnType::Text),
        ("role", ColumnType::Text),
        ("name", ColumnType::Text),
        ("address", ColumnType::Text),
        ("weight", ColumnType::Integer),
        ("status", ColumnType::Text),
        ("lag_seconds", ColumnType::Text),
        ("checks", ColumnType::Integer),
        ("reason", ColumnType::Text),
        ("connections_in_use", ColumnType::Integer),
        ("connections_idle", ColumnType::Integer),
    ];
    for row in &mut rows {
        let name = String::from_utf8_lossy(row[2].as_deref().unwrap_or_default()).into_owned();
        let (in_use, idle, _) = ctx.shared.pools.get(&name).map_or((0, 0, 0), |p| p.counts());
        row.push(text(in_use.to_string()));
        row.push(text(idle.to_string()));
    }
    let packets = encode_resultset(&columns, &rows, ctx.state.deprecate_eof(), ctx.state.status);
    ctx.send_packets(&packets).await
}
