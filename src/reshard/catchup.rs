//! Resharding's catch-up for one source node of one table: the row changes its primary logged since the
//! copy began, applied to the new nodes for the keys that leave. Replaying from before the copy is safe:
//! every change sets a row to a state the source really had, in the source's order, so the target ends
//! where the source is; rows that stay are skipped.

use mysql_async::Value;

use super::binlog::{BinlogReader, Change, Item, Position};
use super::copy::{Shape, Targets};
use super::plan::TableMove;
use crate::config::Rules;

/// Applies one source node's changes of one table to the new nodes.
pub struct Applier<'a> {
    m: &'a TableMove,
    from: usize,
    shape: Shape,
    targets: Targets<'a>,
    /// Changes written to a new node so far.
    pub applied: u64,
}

impl<'a> Applier<'a> {
    /// Learns the table's shape on source node `from`.
    pub async fn open(old: &Rules, new: &'a Rules, m: &'a TableMove, from: usize) -> Result<Applier<'a>, String> {
        let node = &m.old.nodes[from];
        let mut conn = super::connect(old, &node.data_source).await?;
        let shape = Shape::read(&mut conn, m, from).await?;
        Ok(Applier { m, from, shape, targets: Targets::new(new), applied: 0 })
    }

    /// Whether binlog rows of `database.table` are this source's.
    pub fn matches(&self, database: &str, table: &str) -> bool {
        database == self.m.database && table == self.m.old.nodes[self.from].table
    }

    fn primary_key<'v>(&self, row: &'v [Value]) -> Vec<&'v Value> {
        self.shape.primary.iter().map(|&i| &row[i]).collect()
    }

    /// Applies one change.
    pub async fn apply(&mut self, change: &Change) -> Result<(), String> {
        let fixed = |row: &Vec<Value>| {
            let mut row = row.clone();
            self.shape.fix_unsigned(&mut row);
            row
        };
        let change = &match change {
            Change::Insert(a) => Change::Insert(fixed(a)),
            Change::Update(b, a) => Change::Update(fixed(b), fixed(a)),
            Change::Delete(b) => Change::Delete(fixed(b)),
        };
        let (m, from) = (self.m, self.from);
        let dest = |row: &[Value]| self.shape.destination(m, from, row);
        match change {
            Change::Insert(after) => {
                if let Some(to) = dest(after) {
                    self.targets.replace(m, to, &self.shape, after.clone()).await?;
                    self.applied += 1;
                }
            }
            Change::Update(before, after) => {
                let (was, is) = (dest(before), dest(after));
                // The old image leaves its new node when the key now lands elsewhere or the row's identity changed.
                if let Some(x) = was.filter(|x| Some(*x) != is || self.primary_key(before) != self.primary_key(after)) {
                    self.targets.delete(m, x, &self.shape, before).await?;
                    self.applied += 1;
                }
                if let Some(y) = is {
                    self.targets.replace(m, y, &self.shape, after.clone()).await?;
                    self.applied += 1;
                }
            }
            Change::Delete(before) => {
                if let Some(x) = dest(before) {
                    self.targets.delete(m, x, &self.shape, before).await?;
                    self.applied += 1;
                }
            }
        }
        Ok(())
    }
}

/// Reads `reader` (opened at `from`) and applies what concerns `appliers` until a transaction that ends at
/// or after `until` — or, with a `budget`, at the first transaction boundary after that many changes were
/// applied — at `pace` if one is given; returns the position reached (a boundary, to resume from).
pub async fn catch_up_to(
    reader: &mut BinlogReader,
    appliers: &mut [Applier<'_>],
    from: &Position,
    until: &Position,
    mut pace: Option<&mut super::pace::Pace>,
    budget: Option<u64>,
) -> Result<Position, String> {
    let mut at = from.clone();
    let start: u64 = appliers.iter().map(|a| a.applied).sum();
    let spent = |appliers: &[Applier<'_>]| appliers.iter().map(|a| a.applied).sum::<u64>() - start;
    while at < *until {
        if budget.is_some_and(|b| spent(appliers) >= b) && at > *from {
            break;
        }
        match reader.next().await? {
            Item::Rows { database, table, changes } => {
                for a in appliers.iter_mut().filter(|a| a.matches(&database, &table)) {
                    for c in &changes {
                        let before = a.applied;
                        a.apply(c).await?;
                        if let Some(p) = pace.as_deref_mut() {
                            p.step(a.applied - before).await;
                        }
                    }
                }
            }
            Item::Commit(p) => at = at.max(p),
            Item::Other => {}
        }
    }
    Ok(at)
}
