//! Each instance registers under `P/proxies/<instance>` with a lease it keeps alive: its address, version,
//! the rules revision it runs and since when. The key vanishes when the lease expires (the instance died or
//! lost etcd for longer than `lease_ttl_s`), which is how peers know it is gone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use etcd_client::{Client, GetOptions, PutOptions};
use serde::{Deserialize, Serialize};

use super::Fleet;

/// One instance's registration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Registration {
    /// Instance id.
    pub instance: String,
    /// Where clients reach it.
    pub address: String,
    /// shardgate's version.
    pub version: String,
    /// The rules revision it runs.
    pub revision: i64,
    /// Unix seconds when it started.
    pub since: u64,
    /// Whether its rules came from its local cache (etcd was unreachable when it started).
    pub from_cache: bool,
    /// The last revision it refused, and why.
    pub rejected: Option<(i64, String)>,
    /// The prefix of its XA gtrids.
    pub xa_prefix: Option<String>,
}

fn registration(fleet: &Fleet, address: SocketAddr) -> Registration {
    let s = fleet.status();
    Registration {
        instance: fleet.boot.instance().to_string(),
        address: address.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        revision: s.revision,
        since: fleet.since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        from_cache: s.from_cache,
        rejected: s.rejected,
        xa_prefix: fleet.xa_prefix.get().cloned(),
    }
}

/// Keeps this instance registered for as long as the process lives: grants a lease, puts the registration
/// on it, renews it every third of its TTL and rewrites the registration when the status changes; after a
/// failure (etcd unreachable, lease expired) it starts over with a new lease, with backoff.
pub fn spawn(fleet: Arc<Fleet>, address: SocketAddr) {
    tokio::spawn(async move {
        let key = format!("{}{}", fleet.keys.proxies(), fleet.boot.instance());
        let ttl = fleet.boot.lease_ttl_s;
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut c = fleet.client.clone();
            let session: Result<(), etcd_client::Error> = async {
                let lease = c.lease_grant(ttl, None).await?.id();
                let (mut keeper, mut acks) = c.lease_keep_alive(lease).await?;
                super::xa::announce(&fleet).await?;
                *fleet.lease.lock().unwrap_or_else(|e| e.into_inner()) = Some(lease);
                let mut written = None;
                loop {
                    let now = registration(&fleet, address);
                    if written.as_ref() != Some(&now) {
                        let value = serde_json::to_string(&now).unwrap_or_default();
                        c.put(key.clone(), value, Some(PutOptions::new().with_lease(lease))).await?;
                        written = Some(now);
                    }
                    tokio::select! {
                        _ = fleet.changed.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis((ttl as u64 * 1000 / 3).max(200))) => {
                            keeper.keep_alive().await?;
                            match acks.message().await? {
                                Some(ack) if ack.ttl() > 0 => {}
                                _ => return Err(etcd_client::Error::LeaseKeepAliveError("the lease expired".into())),
                            }
                        }
                    }
                    backoff = Duration::from_millis(100);
                }
            }
            .await;
            if let Err(e) = session {
                tracing::warn!(error = %e, "fleet registration lost; registering again");
            }
            *fleet.lease.lock().unwrap_or_else(|e| e.into_inner()) = None;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    });
}

/// The registered instances and the newest rules revision, for `SHOW SHARDGATE PROXIES` and
/// `shardgate fleet status`. An instance is behind when it runs an older revision than etcd holds.
pub async fn list(client: &Client, keys: &super::Keys) -> Result<(i64, Vec<Registration>), etcd_client::Error> {
    let newest = super::rules_store::get(client, &keys.rules(), None).await?.map_or(0, |d| d.revision);
    let resp = super::retry(|| {
        let mut c = client.clone();
        async move { c.get(keys.proxies(), Some(GetOptions::new().with_prefix())).await }
    })
    .await?;
    let mut out: Vec<Registration> = resp.kvs().iter().filter_map(|kv| serde_json::from_slice(kv.value()).ok()).collect();
    out.sort_by(|a, b| a.instance.cmp(&b.instance));
    Ok((newest, out))
}

/// Rows of the fleet view: instance, address, version, revision, state, since.
pub fn rows(newest: i64, regs: &[Registration]) -> Vec<[String; 6]> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    regs.iter()
        .map(|r| {
            let mut state = if r.revision < newest { format!("BEHIND (newest is {newest})") } else { "current".to_string() };
            if r.from_cache {
                state.push_str("; started from its cache");
            }
            if let Some((rev, why)) = &r.rejected {
                state.push_str(&format!("; refused revision {rev}: {}", why.lines().next().unwrap_or("")));
            }
            [r.instance.clone(), r.address.clone(), r.version.clone(), r.revision.to_string(), state, format!("{} s ago", now.saturating_sub(r.since))]
        })
        .collect()
}
