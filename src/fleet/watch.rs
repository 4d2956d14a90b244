//! An instance's rules from etcd: the document at start (or the local cache when etcd is unreachable), then
//! every new revision through a watch, each validated exactly as `shardgate check` does and swapped in as
//! `RELOAD RULES` does. A bad revision is refused and reported while the previous rules keep serving. The
//! watch resumes from the revision after the last one seen, so after an outage it replays what it missed.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use etcd_client::{EventType, WatchOptions};

use super::rules_store::{self, Doc};
use super::{cache, Fleet};
use crate::config::Rules;
use crate::server::Live;

/// Parses and validates `doc` as `shardgate check` would, then applies this instance's own settings.
pub fn parse(fleet: &Fleet, doc: &Doc) -> Result<Rules, String> {
    let origin = format!("etcd:{}@{}", fleet.keys.rules(), doc.revision);
    let mut rules = crate::config::parse(&doc.text, Path::new(&origin)).map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
    fleet.boot.localize(&mut rules);
    Ok(rules)
}

/// The rules to start with: etcd's document, or the cached one when etcd cannot be read (said in the log
/// and in the registration). An invalid document in etcd is refused like a later one would be.
pub async fn initial(fleet: &Fleet) -> Result<Rules, String> {
    let cache_path = fleet.boot.cache.clone().unwrap_or_default();
    let from_etcd = rules_store::get(&fleet.client, &fleet.keys.rules(), None).await;
    let cached = || {
        cache::load(&cache_path).ok_or_else(|| format!("and there is no cached copy at {}", cache_path.display()))
    };
    match from_etcd {
        Ok(Some(doc)) => {
            fleet.update(|s| s.etcd_up = true);
            match parse(fleet, &doc) {
                Ok(rules) => {
                    if let Err(e) = cache::store(&cache_path, &doc) {
                        tracing::warn!(error = %e, cache = %cache_path.display(), "cannot write the rules cache");
                    }
                    fleet.update(|s| s.revision = doc.revision);
                    tracing::info!(revision = doc.revision, key = %fleet.keys.rules(), "rules from etcd");
                    Ok(rules)
                }
                Err(e) => {
                    let c = cached().map_err(|why| format!("the rules in etcd are invalid:\n{e}\n{why}"))?;
                    tracing::error!(revision = doc.revision, error = %e, cached = c.revision, "the rules in etcd are invalid; starting from the cached revision");
                    let rules = parse(fleet, &c)?;
                    fleet.update(|s| {
                        s.revision = c.revision;
                        s.from_cache = true;
                        s.rejected = Some((doc.revision, e));
                    });
                    Ok(rules)
                }
            }
        }
        Ok(None) => Err(format!("etcd has no rules at {}; push some with `shardgate rules push FILE`", fleet.keys.rules())),
        Err(e) => {
            let c = cached().map_err(|why| format!("etcd {} is unreachable ({e}) {why}", fleet.boot.etcd.join(",")))?;
            tracing::warn!(error = %e, revision = c.revision, cache = %cache_path.display(), "etcd is unreachable: starting from the cached rules; they are refreshed when etcd returns");
            let rules = parse(fleet, &c)?;
            fleet.update(|s| {
                s.revision = c.revision;
                s.from_cache = true;
                s.etcd_up = false;
            });
            Ok(rules)
        }
    }
}

/// Applies one revision if it is newer than the rules in force (or those came from the cache).
async fn apply(live: &Live, fleet: &Fleet, doc: Doc) -> Result<String, String> {
    let status = fleet.status();
    if doc.revision <= status.revision && !status.from_cache {
        return Ok(format!("revision {} is already in force", status.revision));
    }
    let origin = format!("etcd:{}@{}", fleet.keys.rules(), doc.revision);
    let installed = match parse(fleet, &doc) {
        // Holding its gate for a reshard's cut-over, the instance takes the rules that move the tables.
        Ok(rules) if live.reshard.switch_allowed() => crate::reload::switch(live, rules, &origin).await,
        Ok(rules) => crate::reload::install(live, rules, &origin).await,
        Err(e) => Err(crate::reload::refused(&live.load(), e)), // e names etcd:<key>@<revision>
    };
    match &installed {
        Ok(_) => {
            if let Err(e) = cache::store(fleet.boot.cache.as_deref().unwrap_or(Path::new("")), &doc) {
                tracing::warn!(error = %e, "cannot write the rules cache");
            }
            fleet.update(|s| {
                s.revision = doc.revision;
                s.from_cache = false;
                s.rejected = None;
            });
        }
        Err(e) => fleet.update(|s| s.rejected = Some((doc.revision, e.clone()))),
    }
    installed
}

/// Reads the document in etcd now and applies it (RELOAD RULES on a fleet member).
pub async fn refresh(live: &Live, fleet: &Fleet) -> Result<String, String> {
    match rules_store::get(&fleet.client, &fleet.keys.rules(), None).await {
        Ok(Some(doc)) => apply(live, fleet, doc).await,
        Ok(None) => Err(format!("etcd has no rules at {}", fleet.keys.rules())),
        Err(e) => Err(format!("etcd is unreachable ({e}); the rules in force (revision {}) keep serving", fleet.status().revision)),
    }
}

/// Watches the rules key for as long as the server lives, reconnecting with backoff.
pub fn spawn(live: &Live, fleet: Arc<Fleet>) {
    let weak: Weak<crate::server::Plane> = Arc::downgrade(live);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            let Some(live) = weak.upgrade() else { return };
            let status = fleet.status();
            // After a start from the cache, the document in etcd decides, whatever its revision.
            if status.from_cache {
                let _ = refresh(&live, &fleet).await;
            }
            let next = fleet.status().revision + 1;
            let opts = WatchOptions::new().with_start_revision(next).with_progress_notify();
            let mut client = fleet.client.clone();
            match client.watch(fleet.keys.rules(), Some(opts)).await {
                Ok((_watcher, mut stream)) => loop {
                    match stream.message().await {
                        Ok(Some(resp)) => {
                            backoff = Duration::from_millis(100);
                            if !fleet.status().etcd_up {
                                fleet.update(|s| s.etcd_up = true);
                            }
                            if resp.compact_revision() > 0 {
                                // What we missed was compacted away: the current document is what counts.
                                let _ = refresh(&live, &fleet).await;
                                break;
                            }
                            if resp.canceled() {
                                break;
                            }
                            for ev in resp.events() {
                                let Some(kv) = ev.kv() else { continue };
                                if ev.event_type() == EventType::Delete {
                                    tracing::warn!(key = %fleet.keys.rules(), "the rules document was deleted from etcd; the rules in force keep serving");
                                    continue;
                                }
                                let doc = Doc { text: String::from_utf8_lossy(kv.value()).into_owned(), revision: kv.mod_revision() };
                                let _ = apply(&live, &fleet, doc).await;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "etcd watch lost; reconnecting");
                            break;
                        }
                    }
                },
                Err(e) => tracing::debug!(error = %e, "etcd watch not started"),
            }
            drop(live);
            fleet.update(|s| s.etcd_up = false);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    });
}
