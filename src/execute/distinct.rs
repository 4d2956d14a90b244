//! Distinct: drops rows whose visible values equal (by each column's comparison rules) a row already sent.
//! One entry per distinct row, as the issue allows.

use std::collections::HashSet;

use super::stream::Row;
use super::value::{row_key, Column, Key};

/// Remembers the distinct rows seen so far.
pub struct Distinct {
    visible: usize,
    columns: Vec<Column>,
    seen: HashSet<Vec<Key>>,
}

impl Distinct {
    /// Distinct over the first `visible` columns.
    pub fn new(visible: usize, columns: Vec<Column>) -> Self {
        Distinct { visible, columns, seen: HashSet::new() }
    }

    /// True the first time a row's values are seen.
    pub fn first_time(&mut self, row: &Row) -> bool {
        let k: Vec<Key> = (0..self.visible).map(|c| row_key(&row, c, &self.columns)).collect();
        self.seen.insert(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::value::{Collation, Kind};

    #[test]
    fn equal_under_the_collation_is_a_duplicate() {
        let cols = vec![Column { name: String::new(), kind: Kind::Text(Collation::GeneralCi), decimals: 0, type_byte: 253, charset: 0, origin: None, weight: None }];
        let mut d = Distinct::new(1, cols);
        assert!(d.first_time(&vec![Some(b"abc".to_vec())]));
        assert!(!d.first_time(&vec![Some(b"ABC ".to_vec())]));
        assert!(d.first_time(&vec![None]));
        assert!(!d.first_time(&vec![None]));
    }
}
