//! XA recovery: prepared branches this instance left behind (the proxy died between PREPARE and COMMIT,
//! or a shard died before its COMMIT arrived) are committed if the decision log says commit and rolled back
//! otherwise. Runs at start-up and then every `xa_recovery_interval_ms`; transactions this process is
//! running are left alone.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::conn::Variant;
use super::pool::Pool;
use super::xa_log::XaLog;
use crate::stats::Stats;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Branches committed (data source, xid as SQL).
    pub committed: Vec<(String, String)>,
    /// Branches rolled back.
    pub rolled_back: Vec<(String, String)>,
    /// Data sources that could not be checked, with why.
    pub unreachable: Vec<(String, String)>,
}

/// The gtrid of an `XA RECOVER FORMAT='SQL'` xid (`'gtrid','bqual'` or `X'…',…`), if it is plain text.
pub fn gtrid_of(xid: &str) -> Option<&str> {
    xid.strip_prefix('\'')?.split('\'').next()
}

/// One pass over every data source in `pools` (primaries only: replicas hold no XA of their own).
pub async fn recover(log: &XaLog, pools: &HashMap<String, Arc<Pool>>, data_sources: &[String], stats: &Stats) -> Recovered {
    recover_with(pools, data_sources, stats, |gtrid| std::future::ready((log.owns(&gtrid) && !log.in_flight(&gtrid)).then(|| log.committed(&gtrid)))).await
}

/// One pass that resolves the prepared branches `decide` claims: `Some(true)` commits, `Some(false)` rolls
/// back, `None` leaves the branch alone (another instance's, or running). It may ask elsewhere (etcd).
pub async fn recover_with<F>(pools: &HashMap<String, Arc<Pool>>, data_sources: &[String], stats: &Stats, decide: impl Fn(String) -> F) -> Recovered
where
    F: std::future::Future<Output = Option<bool>>,
{
    let mut out = Recovered::default();
    for ds in data_sources {
        let Some(pool) = pools.get(ds) else { continue };
        let mut pooled = match pool.get(Variant::CONTROL, None).await {
            Ok(p) => p,
            Err(e) => {
                out.unreachable.push((ds.clone(), e.to_string()));
                continue;
            }
        };
        let rows = match pooled.conn.query_rows("XA RECOVER FORMAT='SQL'").await {
            Ok(rows) => rows,
            Err(e) => {
                out.unreachable.push((ds.clone(), e));
                continue;
            }
        };
        let mut broken = false;
        for row in rows {
            let Some(xid) = row.get(3).cloned().flatten().map(|b| String::from_utf8_lossy(&b).into_owned()) else { continue };
            let Some(gtrid) = gtrid_of(&xid) else { continue };
            let Some(commit) = decide(gtrid.to_string()).await else { continue };
            let sql = format!("XA {} {xid}", if commit { "COMMIT" } else { "ROLLBACK" });
            match pooled.conn.query_ok(&sql).await {
                Ok(_) if commit => {
                    tracing::warn!(data_source = %ds, xid = %xid, "XA recovery: committed a prepared branch (its transaction had decided to commit)");
                    stats.xa_recovered_commits.fetch_add(1, Ordering::Relaxed);
                    out.committed.push((ds.clone(), xid));
                }
                Ok(_) => {
                    tracing::warn!(data_source = %ds, xid = %xid, "XA recovery: rolled back a prepared branch (no commit decision)");
                    stats.xa_recovered_rollbacks.fetch_add(1, Ordering::Relaxed);
                    out.rolled_back.push((ds.clone(), xid));
                }
                Err(e) => {
                    // Another pass (or another proxy sharing the log file in this process) may have done it.
                    tracing::info!(data_source = %ds, xid = %xid, error = %e, "XA recovery: could not resolve a branch now");
                    broken = e.contains("Lost connection") || e.contains("closed");
                }
            }
        }
        if !broken {
            pool.put_clean(pooled);
        }
    }
    out
}

/// Recovers every `interval` for as long as `log` has another owner.
pub fn spawn(log: &Arc<XaLog>, pools: HashMap<String, Arc<Pool>>, data_sources: Vec<String>, stats: Arc<Stats>, interval: Duration) {
    let log = Arc::downgrade(log);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(log) = log.upgrade() else { return };
            recover(&log, &pools, &data_sources, &stats).await;
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn gtrids_of_sql_formatted_xids() {
        assert_eq!(super::gtrid_of("'sg-ab12-5','ds_0'"), Some("sg-ab12-5"));
        assert_eq!(super::gtrid_of("X'0102',X'',1"), None);
    }
}
