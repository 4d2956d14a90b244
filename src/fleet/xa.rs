//! XA across a fleet. Each instance's gtrids carry its id (`sg-<id>-…`, '-' in the id written '_'). A
//! two-phase commit's outcome is a record in etcd, `P/xa/<id>/<gtrid>`, written at most once (a
//! create-only transaction): the owner writes `commit` (only while its registration lease lives) before any
//! branch commits; a peer resolving a dead owner's prepared branch writes `rollback` if nothing is there yet,
//! and otherwise follows what is. Whoever writes first decides, so a peer and an owner that was only
//! thought dead can never disagree. `P/members/<id>` says an instance exists. An instance whose registration
//! has been gone for two passes in a row is resolved by one peer holding the etcd lock `P/locks/xa/<id>`
//! (bound to that peer's lease, so it dies with it).

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use etcd_client::{Compare, CompareOp, GetOptions, LockOptions, Txn, TxnOp};

use super::Fleet;
use crate::shared::Shared;

/// The gtrid prefix of instance `id`: '-' becomes '_' so `sg-<prefix>-` never matches another instance's.
pub fn prefix_for(id: &str) -> String {
    id.replace('-', "_")
}

fn decisions(fleet: &Fleet, prefix: &str) -> String {
    format!("{}{prefix}/", fleet.keys.xa())
}

fn member(fleet: &Fleet, prefix: &str) -> String {
    format!("{}/members/{prefix}", fleet.keys.prefix)
}

fn registration(fleet: &Fleet, instance: &str) -> String {
    format!("{}{instance}", fleet.keys.proxies())
}

/// Records that this instance's `gtrid` commits; fails (and nothing may commit) when the registration lease
/// is not alive, since a peer may then be resolving this instance's transactions.
pub async fn decide(fleet: &Fleet, gtrid: &str) -> Result<(), String> {
    let lease = fleet.lease().ok_or("this instance is not registered in etcd right now")?;
    let prefix = fleet.xa_prefix.get().ok_or("no XA log")?;
    let reg = registration(fleet, fleet.boot.instance());
    let key = format!("{}{gtrid}", decisions(fleet, prefix));
    let first = Compare::create_revision(key.clone(), CompareOp::Equal, 0);
    let txn = Txn::new().when([Compare::lease(reg, CompareOp::Equal, lease), first]).and_then([TxnOp::put(key, "commit", None)]);
    let resp = super::retry(|| {
        let (mut c, txn) = (fleet.client.clone(), txn.clone());
        async move { c.txn(txn).await }
    })
    .await
    .map_err(|e| format!("etcd: {e}"))?;
    if resp.succeeded() {
        Ok(())
    } else {
        Err("this instance's registration lease expired, or a peer resolving its transactions decided this one".into())
    }
}

/// Drops the decision record of a transaction whose branches all committed (in the background: a record
/// left behind only makes a peer try a commit that finds nothing).
pub fn forget(fleet: &Arc<Fleet>, gtrid: &str) {
    let Some(prefix) = fleet.xa_prefix.get() else { return };
    let key = format!("{}{gtrid}", decisions(fleet, prefix));
    let mut c = fleet.client.clone();
    tokio::spawn(async move {
        let _ = c.delete(key, None).await;
    });
}

/// The fleet as the XA coordinator sees it: the decision record, written before any branch commits.
pub struct Decisions(pub Arc<Fleet>);

impl crate::backend::xa_log::FleetDecisions for Decisions {
    fn decide<'a>(&'a self, gtrid: &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(decide(&self.0, gtrid))
    }

    fn forget(&self, gtrid: &str) {
        forget(&self.0, gtrid)
    }
}

/// Says in etcd that this instance exists (so peers look after its transactions once it is gone).
pub async fn announce(fleet: &Fleet) -> Result<(), etcd_client::Error> {
    let Some(prefix) = fleet.xa_prefix.get() else { return Ok(()) };
    let mut c = fleet.client.clone();
    c.put(member(fleet, prefix), fleet.boot.instance(), None).await.map(|_| ())
}

/// Every lease TTL, resolves the transactions of members whose registration is gone.
pub fn spawn(live: &crate::server::Live, fleet: Arc<Fleet>) {
    let weak: Weak<crate::server::Plane> = Arc::downgrade(live);
    tokio::spawn(async move {
        let mut suspects = HashSet::new();
        loop {
            tokio::time::sleep(Duration::from_secs(fleet.boot.lease_ttl_s as u64)).await;
            let Some(live) = weak.upgrade() else { return };
            if let Err(e) = pass(&live.current, &fleet, &mut suspects).await {
                tracing::debug!(error = %e, "fleet XA recovery pass did not run");
            }
        }
    });
}

/// `suspects`: members found unregistered by the previous pass; only those still unregistered now are
/// resolved (a member re-registering after an etcd hiccup is left alone).
async fn pass(live: &ArcSwap<Shared>, fleet: &Fleet, suspects: &mut HashSet<String>) -> Result<(), etcd_client::Error> {
    let (Some(mine), Some(lease)) = (fleet.xa_prefix.get(), fleet.lease()) else { return Ok(()) };
    let mut c = fleet.client.clone();
    let members = c.get(format!("{}/members/", fleet.keys.prefix), Some(GetOptions::new().with_prefix())).await?;
    let (_, regs) = super::membership::list(&fleet.client, &fleet.keys).await?;
    let alive: HashSet<&str> = regs.iter().map(|r| r.instance.as_str()).collect();
    let before = std::mem::take(suspects);
    for kv in members.kvs() {
        let prefix = kv.key_str().unwrap_or("").rsplit('/').next().unwrap_or("").to_string();
        let instance = kv.value_str().unwrap_or("").to_string();
        if prefix == *mine || prefix.is_empty() || alive.contains(instance.as_str()) {
            continue;
        }
        suspects.insert(prefix.clone());
        if !before.contains(&prefix) {
            continue;
        }
        // One peer at a time; the lock dies with our lease if we die holding it.
        let lock = tokio::time::timeout(
            Duration::from_secs(fleet.boot.lease_ttl_s as u64),
            c.lock(fleet.keys.lock(&format!("xa/{prefix}")), Some(LockOptions::new().with_lease(lease))),
        )
        .await;
        let Ok(Ok(lock)) = lock else { continue };
        let result = resolve(live, fleet, &prefix, &instance).await;
        let _ = c.unlock(lock.key().to_vec()).await;
        result?;
    }
    Ok(())
}

/// The outcome of a dead instance's transaction: its `commit` record, or else `rollback`, written now
/// unless the record appeared meanwhile (then that). `None` when etcd cannot say: the branch stays prepared.
async fn outcome(fleet: &Fleet, key: &str) -> Option<bool> {
    let mut c = fleet.client.clone();
    let txn = Txn::new()
        .when([Compare::create_revision(key, CompareOp::Equal, 0)])
        .and_then([TxnOp::put(key, "rollback", None)])
        .or_else([TxnOp::get(key, None)]);
    let resp = c.txn(txn).await.ok()?;
    if resp.succeeded() {
        return Some(false);
    }
    resp.op_responses().into_iter().find_map(|op| match op {
        etcd_client::TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.value() == b"commit"),
        _ => None,
    })
}

/// Resolves dead instance `instance`'s prepared branches (under the lock), then forgets it if that worked
/// on every data source and it has not come back meanwhile.
async fn resolve(live: &ArcSwap<Shared>, fleet: &Fleet, prefix: &str, instance: &str) -> Result<(), etcd_client::Error> {
    let mut c = fleet.client.clone();
    let dir = decisions(fleet, prefix);
    let shared = live.load_full();
    let primaries: Vec<String> = shared.rules.data_sources.keys().cloned().collect();
    let owned = format!("sg-{prefix}-");
    let (owned, dir_ref) = (owned.as_str(), dir.as_str());
    let done = crate::backend::xa_recovery::recover_with(&shared.pools, &primaries, &shared.stats, |g| async move {
        if !g.starts_with(owned) {
            return None;
        }
        outcome(fleet, &format!("{dir_ref}{g}")).await
    })
    .await;
    if done.committed.is_empty() && done.rolled_back.is_empty() && done.unreachable.is_empty() {
        tracing::debug!(%instance, "fleet XA recovery: nothing prepared");
    } else {
        tracing::warn!(
        %instance, committed = done.committed.len(), rolled_back = done.rolled_back.len(), unreachable = ?done.unreachable,
        "fleet XA recovery: resolved the prepared transactions of an instance whose lease expired"
        );
    }
    if done.unreachable.is_empty() {
        let gone = Compare::create_revision(registration(fleet, instance), CompareOp::Equal, 0);
        let txn = Txn::new().when([gone]).and_then([TxnOp::delete(dir, Some(etcd_client::DeleteOptions::new().with_prefix())), TxnOp::delete(member(fleet, prefix), None)]);
        c.txn(txn).await?;
    }
    Ok(())
}
