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

use crate::protocol::constants::com;
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

}
