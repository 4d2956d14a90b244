//! Prometheus metrics: a recorder per server (its own HTTP listener on `[server] metrics_listen`), handles
//! registered once so the hot path only bumps atomics (ARCHITECTURE.md, Measurements: ~11 ns a registered counter against
//! 74–170 ns for the `counter!()` macro), and a once-a-second publisher for what lives elsewhere (the
//! `Stats` counters, pools, replica health).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Histogram, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::plan::Plan;

const META: Metadata<'static> = Metadata::new("shardgate", Level::INFO, None);

/// Statement kinds, by first word.
pub const KINDS: [&str; 6] = ["select", "insert", "update", "delete", "transaction", "other"];
/// Route shapes.
pub const ROUTES: [&str; 4] = ["single", "scatter", "broadcast", "proxy"];

/// The kind of a statement (index into [`KINDS`]).
pub fn kind_of(sql: &str) -> usize {
    let word = crate::sql::lexer::first_word(sql);
    ["SELECT", "INSERT", "UPDATE", "DELETE"]
        .iter()
        .position(|k| k.eq_ignore_ascii_case(word))
        .or_else(|| ["BEGIN", "START", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"].iter().any(|k| k.eq_ignore_ascii_case(word)).then_some(4))
        .unwrap_or(5)
}

/// The route shape of a plan (index into [`ROUTES`]).
pub fn route_of(plan: &Plan) -> usize {
    use crate::plan::planner::Combine;
    match plan {
        Plan::Passthrough { .. } | Plan::RenameResult { .. } | Plan::Set { .. } | Plan::Savepoint => 0,
        Plan::Scatter { combine: Combine::First, .. } => 2,
        Plan::Scatter { .. } | Plan::Merge { .. } | Plan::Insert(_) | Plan::MoveRows(_) | Plan::EndTransaction(_) => 1,
        _ => 3,
    }
}

/// One server's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    statements: Vec<Vec<Counter>>,
    latency: Vec<Histogram>,
    /// Rows the proxy merged (decoded and combined) from several shards.
    pub rows_merged: Counter,
    /// Rule reloads that took effect.
    pub reloads_ok: Counter,
    /// Rule reloads refused (invalid file, forbidden change).
    pub reloads_failed: Counter,
}

fn key(name: &'static str, labels: &[(&'static str, String)]) -> Key {
    Key::from_parts(name, labels.iter().map(|(k, v)| Label::new(*k, v.clone())).collect::<Vec<_>>())
}

impl Metrics {
    /// A recorder, and its HTTP listener on `listen` when one is configured.
    pub fn new(listen: Option<SocketAddr>) -> std::io::Result<Arc<Metrics>> {
        let buckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
        let builder = PrometheusBuilder::new().set_buckets(&buckets).map_err(std::io::Error::other)?;
        let recorder = match listen {
            Some(addr) => {
                let (recorder, exporter) = builder.with_http_listener(addr).build().map_err(std::io::Error::other)?;
                tokio::spawn(async move {
                    if let Err(e) = exporter.await {
                        tracing::error!(error = ?e, "the metrics listener stopped");
                    }
                });
                recorder
            }
            None => builder.build_recorder(),
        };
        let handle = recorder.handle();
        let counter = |name, labels: &[(&'static str, String)]| recorder.register_counter(&key(name, labels), &META);
        let statements = KINDS
            .iter()
            .map(|k| ROUTES.iter().map(|r| counter("shardgate_statements_total", &[("kind", k.to_string()), ("route", r.to_string())])).collect())
            .collect();
        let latency = ROUTES.iter().map(|r| recorder.register_histogram(&key("shardgate_statement_seconds", &[("route", r.to_string())]), &META)).collect();
        let rows_merged = counter("shardgate_rows_merged_total", &[]);
        let reloads_ok = counter("shardgate_reloads_total", &[("result", "ok".into())]);
        let reloads_failed = counter("shardgate_reloads_total", &[("result", "error".into())]);
        let metrics = Arc::new(Metrics { recorder, handle, statements, latency, rows_merged, reloads_ok, reloads_failed });
        // Histograms keep every sample until drained: drain them every 5 s whether or not anyone scrapes
        // (without it memory grows with every statement; tests/soak.rs watches for that).
        let weak = Arc::downgrade(&metrics);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let Some(m) = weak.upgrade() else { return };
                m.handle.run_upkeep();
            }
        });
        Ok(metrics)
    }

    /// Counts a statement and its duration.
    pub fn statement(&self, kind: usize, route: usize, took: Duration) {
        self.statements[kind][route].increment(1);
        self.latency[route].record(took.as_secs_f64());
    }

    /// Counts an error sent to a client.
    pub fn error(&self, code: u16) {
        self.recorder.register_counter(&key("shardgate_errors_total", &[("code", code.to_string())]), &META).increment(1);
    }

    /// Sets gauge `name` with `labels`.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, String)], value: f64) {
        self.recorder.register_gauge(&key(name, labels), &META).set(value);
    }

    /// Sets counter `name` with `labels` to an absolute value.
    pub fn counter_at(&self, name: &'static str, labels: &[(&'static str, String)], value: u64) {
        self.recorder.register_counter(&key(name, labels), &META).absolute(value);
    }

    /// The exposition text (what /metrics serves).
    pub fn render(&self) -> String {
        self.handle.render()
    }
}
