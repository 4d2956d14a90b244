//! The fleet: several shardgate instances behind a load balancer that take their rules from etcd (the
//! config center, as ShardingSphere, Vitess and Gaea use one; shardgate runs no consensus of its own).
//!
//! Keys under the user's prefix `P`: `P/rules` (the rules document, TOML; its etcd mod revision is the rules
//! version), `P/proxies/<instance>` (each instance's registration, bound to its lease), `P/xa/<gtrid>` (XA
//! commit decisions that a peer may need to finish an instance's transactions) and `P/locks/…` (etcd locks).

pub mod cache;
pub mod cli;
pub mod membership;
pub mod rules_store;
pub mod watch;
pub mod xa;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::config::Rules;

/// The small per-instance file `shardgate serve --fleet FILE` reads instead of a rules file: where etcd is,
/// which cluster, and what differs between instances (addresses, files).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bootstrap {
    /// etcd client endpoints, e.g. ["127.0.0.1:2379", "10.0.0.2:2379"].
    pub etcd: Vec<String>,
    /// Key prefix of this fleet, e.g. "/shardgate/prod".
    pub prefix: String,
    /// This instance's id, unique in the fleet (default: host name and listen port).
    pub instance: Option<String>,
    /// Seconds an instance's registration outlives its last keep-alive (default 5).
    #[serde(default = "default_ttl")]
    pub lease_ttl_s: i64,
    /// The last good rules, kept on local disk for a start while etcd is unreachable (default
    /// `<instance>.rules-cache.toml` beside this file).
    pub cache: Option<PathBuf>,
    /// Overrides the document's `server.listen` (instances on one host need their own).
    pub listen: Option<SocketAddr>,
    /// Overrides the document's `server.metrics_listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// Overrides the document's `xa_log` (each instance has its own decision log).
    pub xa_log: Option<PathBuf>,
}

fn default_ttl() -> i64 {
    5
}

impl Bootstrap {
    /// Reads a bootstrap file; relative paths in it are relative to the file.
    pub fn load(path: &Path) -> Result<Bootstrap, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let mut b: Bootstrap = toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message().trim()))?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if b.etcd.is_empty() {
            return Err(format!("{}: etcd: name at least one endpoint", path.display()));
        }
        if !b.prefix.starts_with('/') || b.prefix.ends_with('/') {
            return Err(format!("{}: prefix: must start with '/' and not end with one, e.g. \"/shardgate/prod\"", path.display()));
        }
        let instance = b.instance.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into());
            format!("{host}-{}", b.listen.map_or(0, |a| a.port()))
        });
        // No '_': XA gtrids carry the id with '-' written '_', which must stay one-to-one.
        if instance.is_empty() || !instance.chars().all(|c| c.is_ascii_alphanumeric() || "-.".contains(c)) {
            return Err(format!("{}: instance: use letters, digits, '-' and '.' only ('{instance}')", path.display()));
        }
        b.cache = Some(dir.join(b.cache.clone().unwrap_or_else(|| PathBuf::from(format!("{instance}.rules-cache.toml")))));
        b.xa_log = b.xa_log.map(|x| dir.join(x));
        b.instance = Some(instance);
        b.lease_ttl_s = b.lease_ttl_s.max(1);
        Ok(b)
    }

    /// This instance's id.
    pub fn instance(&self) -> &str {
        self.instance.as_deref().unwrap_or("")
    }

    /// Applies what this instance sets itself over a document from etcd.
    pub fn localize(&self, rules: &mut Rules) {
        if let Some(a) = self.listen {
            rules.server.listen = a;
        }
        if self.metrics_listen.is_some() {
            rules.server.metrics_listen = self.metrics_listen;
        }
        if let Some(x) = &self.xa_log {
            rules.xa_log = x.clone();
        }
    }
}

/// Keys of one fleet.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The fleet's prefix.
    pub prefix: String,
}

impl Keys {
    /// The rules document.
    pub fn rules(&self) -> String {
        format!("{}/rules", self.prefix)
    }
    /// Registrations (a prefix).
    pub fn proxies(&self) -> String {
        format!("{}/proxies/", self.prefix)
    }
    /// XA commit decisions (a prefix).
    pub fn xa(&self) -> String {
        format!("{}/xa/", self.prefix)
    }
    /// A lock's name.
    pub fn lock(&self, what: &str) -> String {
        format!("{}/locks/{what}", self.prefix)
    }
}

/// Connects to etcd. The connection is lazy: an unreachable cluster shows up as failing requests, each
/// bounded by the timeouts here, so a dead etcd never stalls a caller for long.
pub async fn connect(endpoints: &[String]) -> Result<etcd_client::Client, String> {
    let opts = etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(3))
        .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2));
    etcd_client::Client::connect(endpoints, Some(opts)).await.map_err(|e| format!("etcd {}: {e}", endpoints.join(",")))
}

/// Runs an etcd call again (up to 8 times, with short pauses) when it failed before reaching any member: the
/// client balances over the endpoints and may first pick one whose member is down. Only such failures are
/// retried, so a write is never sent twice.
pub async fn retry<T, F, Fut>(mut call: F) -> Result<T, etcd_client::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if attempt < 8 && e.to_string().contains("tcp connect error") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(25 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// What this instance runs, as its registration, `SHOW SHARDGATE PROXIES` and the metrics report it.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The rules revision in force.
    pub revision: i64,
    /// Whether those rules came from the local cache because etcd was unreachable at start.
    pub from_cache: bool,
    /// The last revision refused, with why (cleared when a later one is applied).
    pub rejected: Option<(i64, String)>,
    /// Whether the last call to etcd worked.
    pub etcd_up: bool,
}

/// A running instance's membership of a fleet.
pub struct Fleet {
    /// Its bootstrap settings.
    pub boot: Bootstrap,
    /// Its keys.
    pub keys: Keys,
    /// The etcd client (cheap to clone).
    pub client: etcd_client::Client,
    /// What it runs.
    pub status: Mutex<Status>,
    /// Its current lease (registration and XA decisions are bound to it), once granted.
    pub lease: Mutex<Option<i64>>,
    /// Woken when `status` changes, so the registration follows.
    pub changed: tokio::sync::Notify,
    /// When it started.
    pub since: SystemTime,
    /// The prefix of its XA gtrids, once its decision log is open.
    pub xa_prefix: std::sync::OnceLock<String>,
}

impl Fleet {
    /// A fleet handle for `boot` (connects lazily).
    pub async fn new(boot: Bootstrap) -> Result<Fleet, String> {
        let client = connect(&boot.etcd).await?;
        Ok(Fleet {
            keys: Keys { prefix: boot.prefix.clone() },
            boot,
            client,
            status: Mutex::new(Status::default()),
            lease: Mutex::new(None),
            changed: tokio::sync::Notify::new(),
            since: SystemTime::now(),
            xa_prefix: std::sync::OnceLock::new(),
        })
    }

    /// A copy of the status.
    pub fn status(&self) -> Status {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes the status and lets the registration follow.
    pub fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_one();
    }

    /// The lease in force, if any.
    pub fn lease(&self) -> Option<i64> {
        *self.lease.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_bootstrap_files_load_and_localize_a_document() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let a = Bootstrap::load(&dir.join("fleet-a.toml")).unwrap();
        let b = Bootstrap::load(&dir.join("fleet-b.toml")).unwrap();
        assert_eq!((a.instance(), b.instance()), ("demo-a", "demo-b"));
        assert_ne!(a.listen, b.listen);
        let mut rules = crate::config::load(&dir.join("demo.toml")).unwrap();
        a.localize(&mut rules);
        assert_eq!(rules.server.listen, a.listen.unwrap());
        assert_eq!(rules.xa_log, a.xa_log.clone().unwrap());
    }

    #[test]
    fn instance_ids_map_to_distinct_xa_prefixes() {
        let dir = std::env::temp_dir().join(format!("sg-boot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.toml");
        std::fs::write(&path, "etcd = [\"127.0.0.1:1\"]\nprefix = \"/x\"\ninstance = \"a_b\"\n").unwrap();
        assert!(Bootstrap::load(&path).unwrap_err().contains("use letters, digits, '-' and '.' only"));
        std::fs::write(&path, "etcd = [\"127.0.0.1:1\"]\nprefix = \"/x/\"\ninstance = \"a-b\"\n").unwrap();
        assert!(Bootstrap::load(&path).unwrap_err().contains("prefix"));
        assert_ne!(xa::prefix_for("a-b"), xa::prefix_for("a.b"));
        // With '-' written '_', one instance's gtrids never look like another's: sg-a_b-… is not sg-a-….
        let log = crate::backend::xa_log::XaLog::open_as(&dir.join("xa.log"), Some(&xa::prefix_for("a-b"))).unwrap();
        let g = log.begin();
        assert!(g.starts_with("sg-a_b-") && log.owns(&g));
        assert!(!g.starts_with(&format!("sg-{}-", xa::prefix_for("a"))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
