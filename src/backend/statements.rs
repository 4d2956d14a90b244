//! The statements prepared on one backend connection, by their text: reused by every execution that routes
//! there, and bounded (least recently used closed first) far below the server's max_prepared_stmt_count.

use std::collections::HashMap;

/// Most statements kept prepared on one backend connection.
pub const CAPACITY: usize = 128;

/// Backend statement ids by statement text, with LRU eviction.
#[derive(Debug, Default)]
pub struct StatementCache {
    by_text: HashMap<String, (u32, u64)>,
    tick: u64,
}

impl StatementCache {
    /// The backend id of `text`, if prepared here.
    pub fn get(&mut self, text: &str) -> Option<u32> {
        self.tick += 1;
        let tick = self.tick;
        self.by_text.get_mut(text).map(|(id, used)| {
            *used = tick;
            *id
        })
    }

    /// Records a new statement; returns the id of the one evicted to make room (to be closed).
    pub fn insert(&mut self, text: String, id: u32) -> Option<u32> {
        self.tick += 1;
        let mut evicted = None;
        if self.by_text.len() >= CAPACITY {
            if let Some(oldest) = self.by_text.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone()) {
                evicted = self.by_text.remove(&oldest).map(|(id, _)| id);
            }
        }
        self.by_text.insert(text, (id, self.tick));
        evicted
    }

    /// Removes `text`, returning its backend id (to be closed).
    pub fn remove(&mut self, text: &str) -> Option<u32> {
        self.by_text.remove(text).map(|(id, _)| id)
    }

    /// Forgets everything (the connection was reset, which deallocates its statements).
    pub fn clear(&mut self) {
        self.by_text.clear();
    }

    /// How many statements are prepared.
    pub fn len(&self) -> usize {
        self.by_text.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.by_text.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_evicts_the_least_recently_used() {
        let mut c = StatementCache::default();
        for i in 0..CAPACITY as u32 {
            assert_eq!(c.insert(format!("q{i}"), i), None);
        }
        assert_eq!(c.get("q0"), Some(0));
        assert_eq!(c.insert("new".into(), 999), Some(1), "q1 is now the least recently used");
        assert_eq!(c.len(), CAPACITY);
        assert_eq!(c.get("q1"), None);
        c.clear();
        assert!(c.is_empty());
    }
}
