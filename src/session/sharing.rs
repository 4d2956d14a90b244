//! Multiplexing: sessions share backend connections. A session keeps the connections its statements used
//! while nobody else needs them (no pool round trip per statement, which costs the hot path a few µs), and
//! gives them back as soon as another session waits for one of those pools: at the end of a statement,
//! while it waits for its client (woken by `pool::CONNECTIONS_WANTED`), and before it waits for a pool
//! itself (the connections its current statement has not used), so no two sessions wait for each other.
//! Statements acquire several data sources in name order (scatter, merge), so within statements there is no
//! cycle either. A transaction holds its connections across statements: size pools for the transactions
//! that run at once.
//!
//! Nothing is given back while state lives on the connections: an open transaction (or autocommit off),
//! and for the rest of the session user variables, named locks, temporary tables, LOCK TABLES, SQL-level
//! PREPARE, HANDLER, FOUND_ROWS and statements prepared on the backend (`sql::affinity` decides; the reason
//! shows in SHOW SHARDGATE SESSIONS). After a write the connections stay through the next statement if it
//! reads LAST_INSERT_ID() or ROW_COUNT(). SET statements are replayed on the connection a session takes
//! next, resetting one another session left with other settings.

use crate::execute;
use crate::protocol::constants::{com, status};
use crate::sql::affinity::{self, Affinity, Hold};

use super::session::Session;

impl Session {
    /// What statement command `payload` needs from the session's backend connections.
    pub(super) fn affinity_of(&self, payload: &[u8]) -> Affinity {
        match payload.first() {
            Some(&com::QUERY) => {
                let text = String::from_utf8_lossy(&payload[1..]);
                affinity::of(crate::sql::lexer::versioned_inner(&text).unwrap_or(&text))
            }
            Some(&com::STMT_EXECUTE) => self.statements.get(&super::session::statement_id(payload)).map_or(Affinity::FREE, |s| affinity::of(&s.sql)),
            _ => Affinity::FREE,
        }
    }

    /// After a statement: notes what it tied the session to, and gives the connections back if another
    /// session waits for them.
    pub(super) async fn after_statement(&mut self, affinity: Affinity, failed: bool) {
        if let Hold::Session(why) = affinity.hold {
            self.pin(why);
        }
        self.keep_next = affinity.hold == Hold::NextStatement;
        self.dirty |= failed;
        if self.held_pool_wanted() {
            self.give_back_backends().await;
        }
    }

    /// Whether the connection to `name` may go back to its pool now: no state of the session lives on it.
    /// In a transaction, the connections outside it (held from before BEGIN, or never joined) may.
    fn releasable(&self, name: &str) -> bool {
        if !self.shared.rules.server.multiplexing || self.sticky.is_some() || self.keep_next || self.state.status & status::AUTOCOMMIT == 0 {
            return false;
        }
        if let Some(xa) = &self.xa {
            return !xa.branches.iter().any(|b| b == name);
        }
        if self.state.status & status::IN_TRANS != 0 {
            let home = crate::plan::planner::data_source_for(self.state.schema.as_deref(), &self.shared.rules);
            return name != home && !self.enlisted.contains(name);
        }
        true
    }

    /// Whether the session holds a connection it could give back.
    pub(super) fn can_give_back(&self) -> bool {
        self.backends.keys().any(|name| self.releasable(name))
    }

    /// Whether another session waits for a connection of a pool this session could give one back to.
    pub(super) fn held_pool_wanted(&self) -> bool {
        self.backends.keys().any(|name| self.releasable(name) && self.shared.pools.get(name).is_some_and(|p| p.wanted()))
    }

    /// Gives back every connection that may go: as it is (the next session with the same settings takes it
    /// without a round trip), or reset after a failed statement, whose leftovers are unknown.
    pub(super) async fn give_back_backends(&mut self) {
        let names: Vec<String> = self.backends.keys().filter(|name| self.releasable(name)).cloned().collect();
        let reset = self.dirty;
        self.give_back(&names, reset).await;
        if self.backends.is_empty() {
            self.dirty = false;
        }
    }

    /// Before waiting for a pool: gives back the connections that may go and the current statement has not
    /// used, so no two sessions wait for each other's connections.
    pub(super) async fn give_back_unused(&mut self) {
        let unused: Vec<String> = self.backends.keys().filter(|name| !self.used.contains(name) && self.releasable(name)).cloned().collect();
        self.give_back(&unused, self.dirty).await;
    }

    async fn give_back(&mut self, names: &[String], reset: bool) {
        if names.is_empty() {
            return;
        }
        // Read-your-writes needs the GTID of the session's last write before the connection that made it goes.
        execute::read_split::settle_writes(self).await;
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
    pub(super) fn pin(&mut self, why: &'static str) {
        if self.sticky.is_none() {
            self.sticky = Some(why);
            *self.handle.pinned.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
        }
    }
}
