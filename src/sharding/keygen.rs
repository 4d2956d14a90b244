//! Key generators for a sharded table's auto-increment column: the shards' own AUTO_INCREMENT counters
//! would hand out the same id on every shard.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch of 2026-01-01T00:00:00Z: snowflake ids count from here.
const SNOWFLAKE_EPOCH_MS: u64 = 1_767_225_600_000;

/// Name of the table that holds sequences, in the schema's database on its default data source.
pub const SEQUENCE_TABLE: &str = "shardgate_sequence";

/// Monotonic ids reserved in blocks from a row of `shardgate_sequence`; the proxy hands them out from
/// memory until the block is used up. A restart skips the rest of a block, as Vitess sequences do.
#[derive(Debug)]
pub struct Sequence {
    /// Row name: `schema.table`.
    pub name: String,
    /// Ids reserved per round trip.
    pub block: u64,
    state: Mutex<Block>,
}

#[derive(Debug, Default)]
struct Block {
    next: i64,
    end: i64,
    initialised: bool,
}

impl Sequence {
    /// A sequence with nothing reserved yet.
    pub fn new(name: String, block: u64) -> Self {
        Sequence { name, block: block.max(1), state: Mutex::new(Block::default()) }
    }

    /// Takes up to `n` ids from the reserved block; returns those taken (possibly fewer than `n`).
    pub fn take(&self, n: usize) -> Vec<i64> {
        let mut b = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let k = ((b.end - b.next).max(0) as usize).min(n);
        let ids: Vec<i64> = (b.next..b.next + k as i64).collect();
        b.next += k as i64;
        ids
    }

    /// Records a newly reserved block `[end - reserved, end)`.
    pub fn add_block(&self, end: i64, reserved: u64) {
        let mut b = self.state.lock().unwrap_or_else(|e| e.into_inner());
        b.next = end - reserved as i64;
        b.end = end;
        b.initialised = true;
    }

    /// Whether this process has made sure the sequence row exists.
    pub fn initialised(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).initialised
    }

    /// Forgets the reserved block (after the table was dropped or truncated).
    pub fn reset(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Block::default();
    }

    /// Statements that create the sequence table and row if missing (first use in this process).
    pub fn init_sql(&self) -> [String; 2] {
        [
            format!("CREATE TABLE IF NOT EXISTS {SEQUENCE_TABLE} (name VARCHAR(191) PRIMARY KEY, next_id BIGINT NOT NULL)"),
            format!("INSERT IGNORE INTO {SEQUENCE_TABLE} (name, next_id) VALUES ('{}', 1)", self.name),
        ]
    }

    /// A statement whose OK packet's last_insert_id is the end of a freshly reserved block of `n` ids.
    pub fn reserve_sql(&self, n: u64) -> String {
        format!("UPDATE {SEQUENCE_TABLE} SET next_id = LAST_INSERT_ID(next_id + {n}) WHERE name = '{}'", self.name)
    }

    /// A statement that restarts the sequence at 1 (DROP TABLE / TRUNCATE TABLE of its table).
    pub fn reset_sql(&self) -> String {
        format!("DELETE FROM {SEQUENCE_TABLE} WHERE name = '{}'", self.name)
    }
}

/// Snowflake ids: 41 bits of milliseconds since 2026-01-01, 10 bits of worker id, 12 bits of counter.
#[derive(Debug)]
pub struct Snowflake {
    worker: u64,
    state: Mutex<(u64, u64)>,
}

impl Snowflake {
    /// A generator for worker `worker` (0–1023).
    pub fn new(worker: u16) -> Self {
        Snowflake { worker: u64::from(worker & 0x3ff), state: Mutex::new((0, 0)) }
    }

    /// The next id; strictly increasing within this process even if the clock steps back.
    pub fn next(&self) -> i64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64).saturating_sub(SNOWFLAKE_EPOCH_MS);
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last, seq) = *s;
        let (ms, seq) = if now > last { (now, 0) } else if seq < 0xfff { (last, seq + 1) } else { (last + 1, 0) };
        *s = (ms, seq);
        ((ms << 22) | (self.worker << 12) | seq) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_hands_out_reserved_blocks_in_order() {
        let s = Sequence::new("db.t".into(), 3);
        assert!(s.take(2).is_empty());
        s.add_block(4, 3);
        assert_eq!(s.take(2), vec![1, 2]);
        assert_eq!(s.take(5), vec![3]);
        s.add_block(7, 3);
        assert_eq!(s.take(5), vec![4, 5, 6]);
    }

    #[test]
    fn snowflake_is_strictly_increasing_and_carries_the_worker() {
        let g = Snowflake::new(5);
        let ids: Vec<i64> = (0..10_000).map(|_| g.next()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(ids.iter().all(|id| (id >> 12) & 0x3ff == 5));
    }
}
