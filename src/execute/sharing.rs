//! The mechanics of multiplexing (the policy is in session/sharing.rs): which of the session's backend
//! connections may go back to their pools now, and giving them back. Nothing goes back while state of the
//! session lives on it: an open transaction's branches, autocommit off, a pin, the connections kept for
//! LAST_INSERT_ID() after a write.

use crate::protocol::constants::status;

use super::context::ExecCtx;

impl ExecCtx {
    /// Whether the connection to `name` may go back to its pool now: no state of the session lives on it.
    /// In a transaction, the connections outside it (held from before BEGIN, or never joined) may.
    pub fn releasable(&self, name: &str) -> bool {
        if !self.shared.rules.server.multiplexing || self.sticky.is_some() || self.keep_next || self.state.status & status::AUTOCOMMIT == 0 {
            return false;
        }
        if let Some(xa) = &self.xa {
            return !xa.branches.iter().any(|b| b == name);
        }
        if self.state.status & status::IN_TRANS != 0 {
            return name != self.home() && !self.enlisted.contains(name);
        }
        true
    }

    /// Drops the held connections that no state ties to the session (they could go back to their pools) and
    /// whose server closed them meanwhile (a restart, wait_timeout): the statement takes fresh ones instead
    /// of failing on them. One with state stays: its loss is the statement's error, as on one server.
    pub fn drop_dead_idle(&mut self) {
        let names: Vec<String> = self.backends.keys().filter(|name| self.releasable(name)).cloned().collect();
        for name in names {
            if self.backends.get_mut(&name).is_some_and(|p| p.conn.is_closed()) {
                self.backends.remove(&name);
                crate::stats::Stats::add(&self.shared.stats.backend_errors, 1);
            }
        }
    }

    /// Whether the session holds a connection it could give back.
    pub fn can_give_back(&self) -> bool {
        self.backends.keys().any(|name| self.releasable(name))
    }

    /// Whether another session waits for a connection of a pool this session could give one back to.
    pub fn held_pool_wanted(&self) -> bool {
        self.backends.keys().any(|name| self.releasable(name) && self.shared.pools.get(name).is_some_and(|p| p.wanted()))
    }

    /// Gives back every connection that may go: as it is (the next session with the same settings takes it
    /// without a round trip), or reset after a failed statement, whose leftovers are unknown.
    pub async fn give_back_backends(&mut self) {
        let names: Vec<String> = self.backends.keys().filter(|name| self.releasable(name)).cloned().collect();
        let reset = self.dirty;
        self.give_back(&names, reset).await;
        if self.backends.is_empty() {
            self.dirty = false;
        }
    }

    /// Before waiting for a pool: gives back the connections that may go and the current statement has not
    /// used, so no two sessions wait for each other's connections.
    pub async fn give_back_unused(&mut self) {
        let unused: Vec<String> = self.backends.keys().filter(|name| !self.used.contains(name) && self.releasable(name)).cloned().collect();
        self.give_back(&unused, self.dirty).await;
    }

    async fn give_back(&mut self, names: &[String], reset: bool) {
        if names.is_empty() {
            return;
        }
        // Read-your-writes needs the GTID of the session's last write before the connection that made it goes.
        super::read_split::settle_writes(self).await;
        let settings = self.state.settings_fingerprint();
        for name in names {
            let (Some(mut pooled), Some(pool)) = (self.backends.remove(name), self.shared.pools.get(name).cloned()) else { continue };
            if reset {
                pool.release(pooled).await;
            } else {
                pooled.conn.settings = settings;
                pool.put_clean(pooled);
            }
        }
    }

    /// Keeps the session's backend connections until it is reset or ends, because of `why`.
    pub fn pin(&mut self, why: &'static str) {
        if self.sticky.is_none() {
            self.sticky = Some(why);
            *self.handle.pinned.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
        }
    }
}
