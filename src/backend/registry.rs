//! Every open session of a server, by the connection id its client was given, with the backend threads that
//! work for it: what `KILL [QUERY] id` from another connection needs (the client only knows the proxy's id;
//! the backends know their own thread ids).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use std::sync::{Arc, Mutex};

use crate::backend::pool::PooledConn;

/// What other sessions may know and do about one session.
#[derive(Debug)]
pub struct SessionHandle {
    /// The client's connection id.
    pub id: u32,
    /// The logged-in user (KILL is allowed on one's own sessions).
    pub user: Mutex<String>,
    threads: Mutex<Vec<(String, u32)>>,
    /// Connections a merge has taken out of the session's set while it streams from them.
    lent: Mutex<Vec<(String, u32)>>,
    /// Why the session keeps its backend connections between statements (none: it shares them).
    pub pinned: Mutex<Option<&'static str>>,
    killed: AtomicBool,
    /// Wakes the session when it is killed while waiting for its client.
    pub kill: tokio::sync::Notify,
    /// When the statement running now started, in microseconds after [`epoch`] plus one (0: none runs).
    busy: AtomicU64,
    /// Chosen by the deadlock detector to break a lock cycle across data sources.
    victim: AtomicBool,
}

/// The clock the sessions' statement starts are kept against (an atomic holds an offset from it).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl SessionHandle {
    /// The (pool, backend thread id) pairs working for the session now.
    pub fn threads(&self) -> Vec<(String, u32)> {
        let mut all = self.threads.lock().unwrap_or_else(|e| e.into_inner()).clone();
        all.extend(self.lent.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned());
        all
    }

    /// The connections a merge streams from right now (KILL QUERY must reach them too); empty when done.
    pub fn set_lent(&self, lent: Vec<(String, u32)>) {
        *self.lent.lock().unwrap_or_else(|e| e.into_inner()) = lent;
    }

    /// Marks the session killed and wakes it.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill.notify_one();
    }

    /// Whether KILL CONNECTION ended the session.
    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    /// Notes that a statement started at `since` (`None`: it ended).
    pub fn set_busy(&self, since: Option<Instant>) {
        let at = since.map_or(0, |t| t.saturating_duration_since(epoch()).as_micros() as u64 + 1);
        self.busy.store(at, Ordering::Relaxed);
    }

    /// When the statement running now started.
    pub fn busy_since(&self) -> Option<Instant> {
        let at = self.busy.load(Ordering::Relaxed);
        (at > 0).then(|| epoch() + Duration::from_micros(at - 1))
    }

    /// Makes the session the victim of a lock cycle: its next failure is ER_LOCK_DEADLOCK.
    pub fn mark_victim(&self) {
        self.victim.store(true, Ordering::Relaxed);
    }

    /// Whether the session was made a victim since last asked (and forgets it).
    pub fn take_victim(&self) -> bool {
        self.victim.swap(false, Ordering::Relaxed)
    }
}

/// The sessions of one server.
#[derive(Debug, Default)]
pub struct Registry {
    sessions: Mutex<HashMap<u32, Arc<SessionHandle>>>,
}

impl Registry {
    /// Registers session `id` of `user`.
    pub fn add(&self, id: u32, user: &str) -> Arc<SessionHandle> {
        let handle = Arc::new(SessionHandle {
            id,
            user: Mutex::new(user.to_string()),
            threads: Mutex::new(Vec::new()),
            lent: Mutex::new(Vec::new()),
            pinned: Mutex::new(None),
            killed: AtomicBool::new(false),
            kill: tokio::sync::Notify::new(),
            busy: AtomicU64::new(0),
            victim: AtomicBool::new(false),
        });
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(id, handle.clone());
        handle
    }

    /// Forgets session `id`.
    pub fn remove(&self, id: u32) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// Every open session, by id.
    pub fn all(&self) -> Vec<Arc<SessionHandle>> {
        let mut all: Vec<_> = self.sessions.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        all.sort_by_key(|h| h.id);
        all
    }

    /// Session `id`, if open.
    pub fn get(&self, id: u32) -> Option<Arc<SessionHandle>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned()
    }
}

/// The backend connections pinned to one session, by pool name; every change is mirrored into the session's
/// handle.
pub struct Backends {
    map: HashMap<String, PooledConn>,
    handle: Arc<SessionHandle>,
}

impl Backends {
    /// None yet, for the session of `handle`.
    pub fn new(handle: Arc<SessionHandle>) -> Self {
        Backends { map: HashMap::new(), handle }
    }

    fn mirror(&self) {
        let mut threads = self.handle.threads.lock().unwrap_or_else(|e| e.into_inner());
        threads.clear(); // keeps its allocation: this runs twice per statement with multiplexing
        threads.extend(self.map.iter().map(|(k, c)| (k.clone(), c.conn.connection_id)));
    }

    /// The connection to `name`.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut PooledConn> {
        self.map.get_mut(name)
    }

    /// Whether the session holds a connection to `name`.
    pub fn contains_key(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Pins `conn` as the connection to `name`.
    pub fn insert(&mut self, name: String, conn: PooledConn) {
        self.map.insert(name, conn);
        self.mirror();
    }

    /// Unpins (and hands over) the connection to `name`.
    pub fn remove(&mut self, name: &str) -> Option<PooledConn> {
        let conn = self.map.remove(name);
        if conn.is_some() {
            self.mirror();
        }
        conn
    }

    /// Whether the session holds no connection.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Names of the pools the session holds connections from.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.map.keys()
    }

    /// Unpins everything.
    pub fn drain(&mut self) -> Vec<(String, PooledConn)> {
        let all = self.map.drain().collect();
        self.mirror();
        all
    }
}
