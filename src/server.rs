//! The listener: accepts clients and runs one session task per connection over the shared state in force
//! (swapped whole when the rules are reloaded: sessions pick the new state up at their next statement).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use crate::config::Rules;
use crate::stats::Stats;

pub use crate::shared::Shared;

/// The control plane of one server: the state in force (which reloads swap) with what works on it from
/// outside the data path — the fleet, the reshard job. Sessions see only `current`, and reach the rest
/// through `admin::Plane` (the admin statements) and the cut-over gate in `Shared`.
pub struct Plane {
    /// The state in force, swapped whole by reloads.
    pub current: crate::shared::Current,
    /// The fleet this instance belongs to, when its rules come from etcd.
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
    /// The reshard job this proxy runs or last ran.
    pub reshard: Arc<crate::reshard::control::Control>,
}

impl Plane {
    /// The state in force now.
    pub fn load(&self) -> arc_swap::Guard<Arc<Shared>> {
        self.current.load()
    }

    /// The state in force now, as an `Arc` to keep.
    pub fn load_full(&self) -> Arc<Shared> {
        self.current.load_full()
    }

    /// Puts `shared` in force.
    pub fn store(&self, shared: Arc<Shared>) {
        self.current.store(shared)
    }
}

/// The control plane, as the reloader, the fleet and the reshard job hold it.
pub type Live = Arc<Plane>;

/// Where a server's rules come from, and so what reloads them.
enum Source {
    /// Given by the caller: reloaded by nobody.
    Given,
    /// A rules file: SIGHUP, RELOAD RULES and changes to the file.
    File(std::path::PathBuf),
    /// A fleet's etcd: every new revision.
    Fleet(Arc<crate::fleet::Fleet>),
}

/// A bound, not yet serving, shardgate server.
pub struct Server {
    listener: TcpListener,
    live: Live,
    /// What sessions call for admin statements (the control plane behind an interface of the data path's).
    admin: Arc<dyn crate::execute::control::ControlPlane>,
}

impl Server {
    /// Binds the listen address of `rules` (port 0 picks a free port) and prepares the pools. The announced
    /// version comes from the rules or from one login to the default data source; if that data source is down,
    /// the server still starts.
    pub async fn bind(rules: Rules) -> io::Result<Server> {
        Self::bind_with(rules, Source::Given).await
    }

    /// Like [`Server::bind`] with the rules read from `path`, which SIGHUP, `RELOAD RULES` and changes to
    /// the file reload.
    pub async fn bind_file(path: &Path) -> io::Result<Server> {
        let rules = crate::config::load(path).map_err(|errors| {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            io::Error::new(io::ErrorKind::InvalidInput, text.join("\n"))
        })?;
        Self::bind_with(rules, Source::File(path.to_path_buf())).await
    }

    /// Like [`Server::bind`] for a member of a fleet: the rules come from etcd (or the local cache while
    /// etcd is unreachable) as the bootstrap file at `path` says, new revisions are applied as they are
    /// pushed, and the instance registers itself.
    pub async fn bind_fleet(path: &Path) -> io::Result<Server> {
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        let boot = crate::fleet::Bootstrap::load(path).map_err(invalid)?;
        let fleet = Arc::new(crate::fleet::Fleet::new(boot).await.map_err(invalid)?);
        let rules = crate::fleet::watch::initial(&fleet).await.map_err(invalid)?;
        // The decision log is opened first with this instance's id as its gtrid prefix; Shared::build finds
        // it open (one log per file in a process) while this handle lives.
        let xa_log = crate::backend::xa_log::XaLog::open_as(&rules.xa_log, Some(&crate::fleet::xa::prefix_for(fleet.boot.instance())))?;
        let _ = fleet.xa_prefix.set(xa_log.prefix().to_string());
        Self::bind_with(rules, Source::Fleet(fleet)).await
    }

    async fn bind_with(rules: Rules, source: Source) -> io::Result<Server> {
        let listener = listen(rules.server.listen)?;
        let path = match &source {
            Source::File(p) => Some(p.clone()),
            _ => None,
        };
        let mut shared = Shared::build(rules, path, None).await?;
        let fleet = match &source {
            Source::Fleet(fleet) => Some(fleet.clone()),
            _ => None,
        };
        if let Some(fleet) = &fleet {
            shared.fleet_decisions = Some(Arc::new(crate::fleet::xa::Decisions(fleet.clone())));
        }
        let live: Live = Arc::new(Plane { current: Arc::new(ArcSwap::from_pointee(shared)), fleet, reshard: Default::default() });
        crate::reload::publish_metrics(&live);
        let weak = Arc::downgrade(&live);
        crate::admin::deadlocks::spawn(move || weak.upgrade().map(|l| l.load_full()));
        match source {
            Source::Given => {}
            Source::File(path) => {
                crate::reload::watch(&live, &path);
                tokio::spawn(live.reshard.clone().resume_at_start(live.clone()));
            }
            Source::Fleet(fleet) => {
                crate::fleet::watch::spawn(&live, fleet.clone());
                crate::reshard::fleet::follow(&live, fleet.clone());
                crate::fleet::xa::spawn(&live, fleet.clone());
                crate::fleet::membership::spawn(fleet, listener.local_addr()?);
            }
        }
        let admin = Arc::new(crate::admin::Plane(live.clone()));
        Ok(Server { listener, live, admin })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    /// The server's counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.live.load().stats.clone()
    }

    /// The state in force (reloads swap it).
    pub fn live(&self) -> Live {
        self.live.clone()
    }

    /// Serves clients until `shutdown` completes.
    pub async fn serve_until(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let shared = self.live.load_full();
                        Stats::add(&shared.stats.connections_accepted, 1);
                        tokio::spawn(crate::session::session::run(stream, shared, self.live.current.clone(), self.admin.clone()));
                    }
                    Err(e) => {
                        // EMFILE and friends: back off briefly rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }

    /// Serves clients forever.
    pub async fn serve(self) {
        self.serve_until(std::future::pending()).await
    }
}

/// A listening socket with a deep accept queue: a thousand clients connecting at once must not overflow it
/// (mio's default of 128 drops the handshake's last ACK, leaving clients that wait for a greeting forever).
fn listen(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}
