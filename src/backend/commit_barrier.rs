//! The barrier between two-phase commits and cross-shard snapshots of one shardgate process.
//!
//! A two-phase commit becomes visible shard by shard: between its first and its last `XA COMMIT` a reader
//! can see it on one shard and not on another. A snapshot across shards is consistent when no such commit
//! phase overlaps the moment its read views are taken. So two groups share this barrier: commit phases
//! (from the first `XA COMMIT` sent to the last reply) and snapshot starts (from the first read view
//! requested to the last one taken). Members of one group run together; the groups exclude each other.
//! When one group waits, newcomers of the other group wait behind it (the turn passes when the active
//! group drains), so a steady stream of either never starves the other.

use std::sync::Mutex;

use tokio::sync::Notify;

/// One of the two groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A two-phase commit's `XA COMMIT` phase.
    Commit = 0,
    /// A snapshot start across shards.
    Snapshot = 1,
}

#[derive(Debug, Default)]
struct State {
    active: [u32; 2],
    waiting: [u32; 2],
    /// Which group enters first when both wait.
    turn: usize,
}

/// The barrier (one per process and decision log: see `XaLog::barrier`).
#[derive(Debug, Default)]
pub struct CommitBarrier {
    state: Mutex<State>,
    changed: Notify,
}

/// Membership of one group; leaving happens on drop.
#[derive(Debug)]
pub struct Pass<'a> {
    barrier: &'a CommitBarrier,
    side: usize,
}

impl CommitBarrier {
    /// Waits until `side` may run, and joins it.
    pub async fn enter(&self, side: Side) -> Pass<'_> {
        let (me, other) = (side as usize, 1 - side as usize);
        let mut counted = false;
        loop {
            // Registered before the state is read, so a change between the check and the wait is not missed.
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if st.active[other] == 0 && (st.waiting[other] == 0 || (st.active[me] == 0 && st.turn == me)) {
                    if counted {
                        st.waiting[me] -= 1;
                    }
                    st.active[me] += 1;
                    return Pass { barrier: self, side: me };
                }
                if !counted {
                    st.waiting[me] += 1;
                    counted = true;
                }
            }
            notified.await;
        }
    }

    /// How many members each side has now (commit phases, snapshot starts): for tests and SHOW.
    pub fn active(&self) -> (u32, u32) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (st.active[0], st.active[1])
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut st = self.barrier.state.lock().unwrap_or_else(|e| e.into_inner());
        st.active[self.side] -= 1;
        let other = 1 - self.side;
        if st.active[self.side] == 0 && st.waiting[other] > 0 {
            st.turn = other;
        }
        drop(st);
        self.barrier.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn one_side_runs_together_and_excludes_the_other() {
        let b = Arc::new(CommitBarrier::default());
        let c1 = b.enter(Side::Commit).await;
        let c2 = b.enter(Side::Commit).await;
        assert_eq!(b.active(), (2, 0), "commit phases run together");
        let b2 = b.clone();
        let snapshot = tokio::spawn(async move {
            let _s = b2.enter(Side::Snapshot).await;
            b2.active()
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!snapshot.is_finished(), "a snapshot waits for the commit phases in progress");
        // A commit arriving now waits behind the snapshot instead of starving it.
        let b3 = b.clone();
        let late = tokio::spawn(async move {
            let _c = b3.enter(Side::Commit).await;
            b3.active()
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!late.is_finished(), "a new commit phase waits while a snapshot waits");
        drop(c1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!snapshot.is_finished(), "one commit phase is still running");
        drop(c2);
        assert_eq!(snapshot.await.unwrap(), (0, 1), "the snapshot ran alone");
        assert_eq!(late.await.unwrap(), (1, 0), "then the waiting commit");
        assert_eq!(b.active(), (0, 0));
    }
}
