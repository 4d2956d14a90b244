//! Limit: after the merge, skip OFFSET rows once and stop after COUNT (each shard was asked for
//! OFFSET + COUNT rows, since any of them may hold the rows of the page).

/// What to do with the next merged row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Before the page: drop it.
    Skip,
    /// On the page: send it.
    Take,
    /// Past the page: stop reading.
    Done,
}

/// OFFSET/LIMIT state.
#[derive(Debug, Clone)]
pub struct Limit {
    skip: u64,
    left: Option<u64>,
}

impl Limit {
    /// `LIMIT offset, count` (`count` None: no limit).
    pub fn new(offset: u64, count: Option<u64>) -> Self {
        Limit { skip: offset, left: count }
    }

    /// Decides for the next row.
    pub fn admit(&mut self) -> Admit {
        if self.left == Some(0) {
            return Admit::Done;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return Admit::Skip;
        }
        if let Some(left) = self.left.as_mut() {
            *left -= 1;
        }
        Admit::Take
    }

    /// True once the page is complete.
    pub fn is_done(&self) -> bool {
        self.left == Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_once_then_count_then_done() {
        let mut l = Limit::new(2, Some(2));
        let seen: Vec<Admit> = (0..6).map(|_| l.admit()).collect();
        assert_eq!(seen, [Admit::Skip, Admit::Skip, Admit::Take, Admit::Take, Admit::Done, Admit::Done]);
        let mut all = Limit::new(0, None);
        assert!((0..1000).all(|_| all.admit() == Admit::Take));
        assert_eq!(Limit::new(0, Some(0)).admit(), Admit::Done);
    }
}
