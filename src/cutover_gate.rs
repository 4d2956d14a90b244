//! The cut-over hold. While a reshard job is on, a session takes the gate's shared side at its first
//! command that may touch a moving row and keeps it until its transaction ends (a text statement that the
//! new rules place exactly as the old ones takes none, see [`Gate::unmoved`]), so no transaction that
//! touched a moving row straddles the switch of the rules. The cut-over takes the exclusive side — with a time limit, since a long
//! transaction must not stall every session behind the waiting cut-over — drains, switches and releases;
//! held commands then run on the new rules. Which commands may touch the tables is judged from their text
//! (a table's name anywhere in it, case-insensitively); prepared executions carry no text and always count.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use std::collections::HashMap;

use crate::config::Rules;
use crate::plan::planner::{plan, Plan};
use crate::protocol::constants::com;
use crate::sharding::table::SchemaLayout;
use crate::sql::lexer::classify;

/// The hold of one reshard job.
pub struct Gate {
    lock: Arc<RwLock<()>>,
    names: Vec<Vec<u8>>,
    /// The new rules and their layouts, when known: a statement they place exactly as the rules in force
    /// do touches no moving row and need not wait.
    new: Option<(Rules, HashMap<String, SchemaLayout>)>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").field("tables", &self.names.len()).field("knows_new_rules", &self.new.is_some()).finish()
    }
}

/// A session's share of the gate.
pub type Pass = OwnedRwLockReadGuard<()>;
/// The cut-over's hold.
pub type Hold = OwnedRwLockWriteGuard<()>;

impl Gate {
    /// A gate for the logical tables `tables`.
    pub fn new(tables: &[String]) -> Self {
        Gate { lock: Arc::new(RwLock::new(())), names: tables.iter().map(|t| t.to_ascii_lowercase().into_bytes()).collect(), new: None }
    }

    /// A gate for the logical tables `tables` that lets through text statements whose rows stay where
    /// they are under the `new` rules (see [`Gate::unmoved`]).
    pub fn with_rules(tables: &[String], new: Rules) -> Self {
        let layouts = crate::sharding::table::build(&new).unwrap_or_default();
        Gate { new: Some((new, layouts)), ..Gate::new(tables) }
    }

    /// Whether the text statement `sql` (in `schema`) goes to the same nodes with the same text under the
    /// rules in force (`rules`, `layouts`) and the new ones: then it reads and writes no row that moves, and
    /// runs through the cut-over without waiting. Statements whose keys are not known before they run
    /// (generated ids, a changed sharding key, columns still to learn) and multi-statements always wait.
    pub fn unmoved(&self, sql: &str, schema: Option<&str>, rules: &Rules, layouts: &HashMap<String, SchemaLayout>) -> bool {
        let Some((new_rules, new_layouts)) = &self.new else { return false };
        if sql.trim().trim_end_matches(';').contains(';') {
            return false;
        }
        let old = plan(classify(sql), sql, schema, rules, layouts);
        let unknown = matches!(&old, Plan::LearnColumns(_) | Plan::MoveRows(_) | Plan::Refuse(_)) || matches!(&old, Plan::Insert(p) if !p.needs_id.is_empty());
        !unknown && old.describe(sql) == plan(classify(sql), sql, schema, new_rules, new_layouts).describe(sql)
    }

    /// Whether the command `payload` may touch a resharded table.
    pub fn touches(&self, payload: &[u8]) -> bool {
        match payload.first() {
            Some(&com::QUERY) | Some(&com::STMT_PREPARE) => {
                let text = payload[1..].to_ascii_lowercase();
                self.names.iter().any(|n| text.windows(n.len()).any(|w| w == n.as_slice()))
            }
            Some(&com::STMT_EXECUTE) | Some(&com::STMT_SEND_LONG_DATA) | Some(&com::STMT_FETCH) => true,
            _ => false,
        }
    }

    /// Waits while the cut-over holds the gate; the pass lets the cut-over wait for this session.
    pub async fn enter(&self) -> Pass {
        self.lock.clone().read_owned().await
    }

    /// Holds the gate once no session has a pass, or gives up after `within` (new passes wait meanwhile).
    pub async fn hold(&self, within: Duration) -> Option<Hold> {
        tokio::time::timeout(within, self.lock.clone().write_owned()).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(sql: &str) -> Vec<u8> {
        [&[com::QUERY][..], sql.as_bytes()].concat()
    }

    #[test]
    fn commands_naming_a_table_or_executing_a_statement_count() {
        let g = Gate::new(&["sbtest1".into()]);
        assert!(g.touches(&query("SELECT c FROM SBTEST1 WHERE id=1")));
        assert!(!g.touches(&query("SELECT 1")));
        assert!(g.touches(&[com::STMT_EXECUTE, 1, 0, 0, 0]));
        assert!(!g.touches(&[com::PING]));
    }

    #[tokio::test]
    async fn the_hold_waits_for_passes_and_new_passes_wait_for_the_hold() {
        let g = Arc::new(Gate::new(&["t".into()]));
        let pass = g.enter().await;
        assert!(g.hold(Duration::from_millis(50)).await.is_none(), "held while a session is inside");
        drop(pass);
        let hold = g.hold(Duration::from_millis(50)).await.expect("held once the pass is given back");
        let waiting = tokio::spawn({
            let g = g.clone();
            async move { g.enter().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a session entered during the hold");
        drop(hold);
        tokio::time::timeout(Duration::from_secs(1), waiting).await.expect("released").unwrap();
    }
}
