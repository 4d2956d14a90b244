//! Resharding a fleet through etcd. The job's state lives at `P/reshard/job`, and the instance running it
//! holds `P/reshard/runner` on its lease: when that instance dies the key vanishes and a peer resumes the
//! job. Every instance follows `P/reshard/gate`: while it exists the instance keeps the gate installed for
//! the tables it names; when it asks for hold `n`, the instance holds its gate (its sessions finish their
//! transactions on those tables, new ones wait) and acknowledges with `P/reshard/held/<instance>` = n on
//! its lease. The runner waits for every registered instance's acknowledgment, drains and moves the rows,
//! then pushes the new rules to `P/rules`: each instance, still holding, applies them although placement
//! changed, and only then lets its sessions go — so no instance serves the old placement once any serves
//! the new one. An instance that does not acknowledge in time makes the runner give up that attempt.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use etcd_client::{Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp};

use crate::cutover_gate::{Gate, Hold};
use super::job::JobState;
use crate::fleet::{membership, retry, rules_store, Fleet};
use crate::server::Live;

/// What every instance follows while a reshard is on.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GateDoc {
    /// The logical tables that move.
    pub tables: Vec<String>,
    /// The hold asked for (0: none); each attempt a new number.
    pub hold: u64,
    /// The rules revision of the switch, once pushed: an instance running it releases its hold.
    pub switch_to: i64,
}

fn key(fleet: &Fleet, what: &str) -> String {
    format!("{}/reshard/{what}", fleet.keys.prefix)
}

async fn get(fleet: &Fleet, k: &str) -> Result<Option<String>, String> {
    let resp = retry(|| {
        let mut c = fleet.client.clone();
        async move { c.get(k, None).await }
    })
    .await
    .map_err(|e| format!("etcd: {e}"))?;
    Ok(resp.kvs().first().map(|kv| String::from_utf8_lossy(kv.value()).into_owned()))
}

async fn put(fleet: &Fleet, k: &str, value: String, lease: Option<i64>) -> Result<(), String> {
    retry(|| {
        let (mut c, v) = (fleet.client.clone(), value.clone());
        async move { c.put(k, v, lease.map(|l| PutOptions::new().with_lease(l))).await }
    })
    .await
    .map(drop)
    .map_err(|e| format!("etcd: {e}"))
}

async fn delete(fleet: &Fleet, k: &str) -> Result<(), String> {
    retry(|| {
        let mut c = fleet.client.clone();
        async move { c.delete(k, None).await }
    })
    .await
    .map(drop)
    .map_err(|e| format!("etcd: {e}"))
}

/// The fleet's saved job, if any.
pub async fn load_job(fleet: &Fleet) -> Result<Option<JobState>, String> {
    get(fleet, &key(fleet, "job")).await?.map(|t| serde_json::from_str(&t).map_err(|e| format!("the reshard job in etcd does not parse: {e}"))).transpose()
}

/// Saves the fleet's job.
pub async fn save_job(fleet: &Fleet, st: &JobState) -> Result<(), String> {
    put(fleet, &key(fleet, "job"), serde_json::to_string(st).map_err(|e| e.to_string())?, None).await
}

/// Makes this instance the job's runner unless another live instance is; returns the runner's name.
pub async fn claim(fleet: &Fleet) -> Result<String, String> {
    let me = fleet.boot.instance().to_string();
    let lease = fleet.lease().ok_or("this instance is not registered in etcd right now")?;
    let k = key(fleet, "runner");
    let txn = Txn::new()
        .when([Compare::create_revision(k.clone(), CompareOp::Equal, 0)])
        .and_then([TxnOp::put(k.clone(), me.clone(), Some(PutOptions::new().with_lease(lease)))])
        .or_else([TxnOp::get(k.clone(), None)]);
    let resp = retry(|| {
        let (mut c, txn) = (fleet.client.clone(), txn.clone());
        async move { c.txn(txn).await }
    })
    .await
    .map_err(|e| format!("etcd: {e}"))?;
    if resp.succeeded() {
        return Ok(me);
    }
    let runner = get(fleet, &k).await?.unwrap_or_default();
    if runner != me {
        return Ok(runner);
    }
    // Ours, but maybe on the lease of this instance's previous (killed) process: moved to the live one, or
    // the key would vanish with the old lease and a peer would run the job beside this process.
    let rebind = Txn::new()
        .when([Compare::value(k.clone(), CompareOp::Equal, me.clone())])
        .and_then([TxnOp::put(k.clone(), me.clone(), Some(PutOptions::new().with_lease(lease)))]);
    let mut c = fleet.client.clone();
    let resp = c.txn(rebind).await.map_err(|e| format!("etcd: {e}"))?;
    if resp.succeeded() {
        Ok(me)
    } else {
        Ok(get(fleet, &k).await?.unwrap_or_default())
    }
}

/// Gives up being the runner, if this instance is (another may claim the job).
pub async fn unclaim(fleet: &Fleet) {
    let k = key(fleet, "runner");
    let txn = Txn::new().when([Compare::value(k.clone(), CompareOp::Equal, fleet.boot.instance())]).and_then([TxnOp::delete(k, None)]);
    let mut c = fleet.client.clone();
    let _ = c.txn(txn).await;
}

/// Ends the job's presence in etcd: no gate, no runner (the job's state stays, finished).
pub async fn finish(fleet: &Fleet) -> Result<(), String> {
    delete(fleet, &key(fleet, "gate")).await?;
    delete(fleet, &key(fleet, "runner")).await
}

/// The gate document now.
async fn gate(fleet: &Fleet) -> Result<Option<GateDoc>, String> {
    Ok(get(fleet, &key(fleet, "gate")).await?.and_then(|t| serde_json::from_str(&t).ok()))
}

/// Publishes the gate for `tables` (every instance installs it), keeping a hold already asked for.
pub async fn install(fleet: &Fleet, tables: &[String]) -> Result<(), String> {
    let mut doc = gate(fleet).await?.unwrap_or_default();
    doc.tables = tables.to_vec();
    put(fleet, &key(fleet, "gate"), serde_json::to_string(&doc).map_err(|e| e.to_string())?, None).await
}

/// Asks every instance to hold, and waits up to `within` for all registered ones to say they do; on
/// `false` the attempt was given up (the instances let go).
pub async fn hold_all(fleet: &Fleet, within: Duration) -> Result<bool, String> {
    let mut doc = gate(fleet).await?.ok_or("the reshard gate is not in etcd")?;
    doc.hold += 1;
    doc.switch_to = 0;
    put(fleet, &key(fleet, "gate"), serde_json::to_string(&doc).map_err(|e| e.to_string())?, None).await?;
    let deadline = Instant::now() + within;
    loop {
        let (_, regs) = membership::list(&fleet.client, &fleet.keys).await.map_err(|e| format!("etcd: {e}"))?;
        let held = acknowledgments(fleet).await?;
        if regs.iter().all(|r| held.get(&r.instance) == Some(&doc.hold)) {
            return Ok(true);
        }
        if Instant::now() > deadline {
            let missing: Vec<&str> = regs.iter().filter(|r| held.get(&r.instance) != Some(&doc.hold)).map(|r| r.instance.as_str()).collect();
            tracing::warn!(?missing, "reshard: instances did not hold in time; letting go and trying again");
            let_go(fleet).await?;
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Withdraws the hold asked for (the instances let their sessions go on the rules they run).
pub async fn let_go(fleet: &Fleet) -> Result<(), String> {
    let Some(mut doc) = gate(fleet).await? else { return Ok(()) };
    doc.hold = 0;
    put(fleet, &key(fleet, "gate"), serde_json::to_string(&doc).map_err(|e| e.to_string())?, None).await
}

async fn acknowledgments(fleet: &Fleet) -> Result<BTreeMap<String, u64>, String> {
    let prefix = key(fleet, "held/");
    let resp = retry(|| {
        let mut c = fleet.client.clone();
        let p = prefix.clone();
        async move { c.get(p, Some(GetOptions::new().with_prefix())).await }
    })
    .await
    .map_err(|e| format!("etcd: {e}"))?;
    Ok(resp
        .kvs()
        .iter()
        .filter_map(|kv| Some((String::from_utf8_lossy(kv.key()).strip_prefix(&prefix)?.to_string(), String::from_utf8_lossy(kv.value()).parse().ok()?)))
        .collect())
}

/// Pushes the new rules while every instance holds, and waits (up to 10 s) until every registered instance
/// runs them; returns the revision.
pub async fn publish(fleet: &Fleet, text: &str) -> Result<i64, String> {
    let text = rules_store::strip_header(text);
    let now = rules_store::get(&fleet.client, &fleet.keys.rules(), None).await.map_err(|e| format!("etcd: {e}"))?;
    let current = now.as_ref().map_or(0, |d| d.revision);
    // A runner resumed after a crash may find its push done.
    let revision = if now.is_some_and(|d| d.text == text) {
        current
    } else {
        match rules_store::push(&fleet.client, &fleet.keys.rules(), &text, Some(current)).await.map_err(|e| format!("etcd: {e}"))? {
            rules_store::Pushed::Written(r) => r,
            rules_store::Pushed::Lost { .. } => return Err("the rules in etcd changed during the cut-over; RESHARD RUN tries again".into()),
        }
    };
    let mut doc = gate(fleet).await?.unwrap_or_default();
    doc.switch_to = revision;
    put(fleet, &key(fleet, "gate"), serde_json::to_string(&doc).map_err(|e| e.to_string())?, None).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, regs) = membership::list(&fleet.client, &fleet.keys).await.map_err(|e| format!("etcd: {e}"))?;
        if regs.iter().all(|r| r.revision >= revision) {
            return Ok(revision);
        }
        if Instant::now() > deadline {
            tracing::warn!(revision, "reshard: not every instance reports the new rules after 10 s; they keep holding until they do");
            return Ok(revision);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every instance of a fleet: follows the gate document (installs, holds, acknowledges, lets go), and
/// resumes a job whose runner is gone.
pub fn follow(live: &Live, fleet: Arc<Fleet>) {
    let weak: Weak<crate::server::Plane> = Arc::downgrade(live);
    tokio::spawn(async move {
        let mut installed: Option<Vec<String>> = None;
        let mut held: Option<(u64, Hold)> = None;
        let mut checked = Instant::now();
        loop {
            let Some(live) = weak.upgrade() else { return };
            let control = live.reshard.clone();
            match gate(&fleet).await {
                Ok(None) => {
                    held = None;
                    control.allow_switch(false);
                    if installed.take().is_some() {
                        live.load().reshard_gate.store(None);
                    }
                }
                Ok(Some(doc)) => {
                    if installed.as_ref() != Some(&doc.tables) {
                        live.load().reshard_gate.store(Some(Arc::new(Gate::new(&doc.tables))));
                        installed = Some(doc.tables.clone());
                    }
                    let switched = doc.switch_to > 0 && fleet.status().revision >= doc.switch_to;
                    if held.as_ref().is_some_and(|(n, _)| *n != doc.hold || switched) {
                        tracing::info!(switched, "reshard: letting sessions go");
                        held = None;
                        control.allow_switch(false);
                    }
                    if doc.hold != 0 && held.is_none() && !switched {
                        if let Some(g) = live.load().reshard_gate.load_full() {
                            if let Some(h) = g.hold(Duration::from_secs(1)).await {
                                control.allow_switch(true);
                                let k = key(&fleet, &format!("held/{}", fleet.boot.instance()));
                                if put(&fleet, &k, doc.hold.to_string(), fleet.lease()).await.is_ok() {
                                    tracing::info!(hold = doc.hold, "reshard: holding for the cut-over");
                                    held = Some((doc.hold, h));
                                } else {
                                    control.allow_switch(false);
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "reshard gate unreadable; keeping the state"),
            }
            if checked.elapsed() > Duration::from_secs(1) {
                checked = Instant::now();
                control.take_over(&live, &fleet).await;
            }
            drop(live);
            tokio::time::sleep(if installed.is_some() { Duration::from_millis(10) } else { Duration::from_millis(500) }).await;
        }
    });
}
