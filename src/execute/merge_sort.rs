//! MergeSort: a k-way merge of shard streams that are each sorted by the same keys. It holds one row per
//! shard, so memory stays flat however many rows stream through.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::stream::{Row, RowStream};
use super::value::{row_key, Column, Key};
use crate::error::SgError;

/// A sort key component with its direction applied.
#[derive(Debug, PartialEq, Eq)]
enum Directed {
    Asc(Key),
    Desc(Key),
}

impl Ord for Directed {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Directed::Asc(a), Directed::Asc(b)) => a.cmp(b),
            (Directed::Desc(a), Directed::Desc(b)) => b.cmp(a),
            _ => Ordering::Equal,
        }
    }
}
impl PartialOrd for Directed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The sort key of a row: (column, descending) pairs over `columns`.
fn sort_key(row: &Row, keys: &[(usize, bool)], columns: &[Column]) -> Vec<Directed> {
    keys.iter()
        .map(|&(c, desc)| {
            let k = row_key(row, c, columns);
            if desc {
                Directed::Desc(k)
            } else {
                Directed::Asc(k)
            }
        })
        .collect()
}

/// Sorts rows in memory by the same rules (for aggregated groups, which are few).
pub fn sort_rows(rows: &mut [Row], keys: &[(usize, bool)], columns: &[Column]) {
    rows.sort_by_cached_key(|r| sort_key(r, keys, columns));
}

struct Head {
    key: Vec<Directed>,
    shard: usize,
    row: Row,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl Ord for Head {
    // BinaryHeap pops the greatest: reverse, so the smallest key (then the lowest shard) comes first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key).then(other.shard.cmp(&self.shard))
    }
}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The merge of sorted streams.
pub struct MergeSort<S> {
    streams: Vec<S>,
    keys: Vec<(usize, bool)>,
    columns: Vec<Column>,
    heap: BinaryHeap<Head>,
    started: bool,
}

impl<S: RowStream> MergeSort<S> {
    /// Merges `streams`, each sorted by `keys` ((column index, descending) pairs).
    pub fn new(streams: Vec<S>, keys: Vec<(usize, bool)>, columns: Vec<Column>) -> Self {
        MergeSort { streams, keys, columns, heap: BinaryHeap::new(), started: false }
    }

    async fn pull(&mut self, shard: usize) -> Result<(), SgError> {
        if let Some(row) = self.streams[shard].next_row().await? {
            let key = sort_key(&row, &self.keys, &self.columns);
            self.heap.push(Head { key, shard, row });
        }
        Ok(())
    }

    /// Gives the streams back (to drain them after an early stop).
    pub fn into_streams(self) -> Vec<S> {
        self.streams
    }
}

impl<S: RowStream> RowStream for MergeSort<S> {
    async fn next_row(&mut self) -> Result<Option<Row>, SgError> {
        if !self.started {
            self.started = true;
            for shard in 0..self.streams.len() {
                self.pull(shard).await?;
            }
        }
        let Some(top) = self.heap.pop() else { return Ok(None) };
        self.pull(top.shard).await?;
        Ok(Some(top.row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::stream::rows;
    use crate::execute::value::{Collation, Kind};

    fn cols() -> Vec<Column> {
        vec![
            Column { name: "n".into(), kind: Kind::Int, decimals: 0, type_byte: 3, charset: 0, origin: None, weight: None },
            Column { name: "s".into(), kind: Kind::Text(Collation::GeneralCi), decimals: 0, type_byte: 253, charset: 0, origin: None, weight: None },
        ]
    }

    async fn collect<S: RowStream>(mut s: S) -> Vec<Row> {
        let mut out = Vec::new();
        while let Some(r) = s.next_row().await.unwrap() {
            out.push(r);
        }
        out
    }

    #[tokio::test]
    async fn merges_numbers_nulls_and_collated_strings() {
        let a = rows(&[&[None, Some("z")], &[Some("2"), Some("b")], &[Some("10"), Some("É")]]);
        let b = rows(&[&[Some("1"), Some("a")], &[Some("9"), Some("e")]]);
        let merged = collect(MergeSort::new(vec![a.clone(), b.clone()], vec![(0, false)], cols())).await;
        let firsts: Vec<Option<&str>> = merged.iter().map(|r| r[0].as_deref().map(|v| std::str::from_utf8(v).unwrap())).collect();
        assert_eq!(firsts, [None, Some("1"), Some("2"), Some("9"), Some("10")], "NULL first, numbers numerically");

        let a = rows(&[&[Some("1"), Some("b")], &[Some("2"), Some("É")]]);
        let b = rows(&[&[Some("3"), Some("a")], &[Some("4"), Some("e")], &[Some("5"), Some("F")]]);
        let merged = collect(MergeSort::new(vec![a, b], vec![(1, false)], cols())).await;
        let ss: Vec<&str> = merged.iter().map(|r| std::str::from_utf8(r[1].as_deref().unwrap()).unwrap()).collect();
        assert_eq!(ss, ["a", "b", "É", "e", "F"], "é sorts with e, case-insensitively; ties keep shard order");
    }

    #[tokio::test]
    async fn descending_puts_nulls_last() {
        let a = rows(&[&[Some("5"), None], &[None, None]]);
        let b = rows(&[&[Some("7"), None], &[Some("-1"), None]]);
        let merged = collect(MergeSort::new(vec![a, b], vec![(0, true)], cols())).await;
        let firsts: Vec<Option<Vec<u8>>> = merged.into_iter().map(|r| r[0].clone()).collect();
        assert_eq!(firsts, [Some(b"7".to_vec()), Some(b"5".to_vec()), Some(b"-1".to_vec()), None]);
    }

    #[tokio::test]
    async fn a_million_rows_stream_through_one_row_per_shard() {
        struct Counter(i64, i64);
        impl RowStream for Counter {
            async fn next_row(&mut self) -> Result<Option<Row>, SgError> {
                if self.0 >= 250_000 {
                    return Ok(None);
                }
                self.0 += 1;
                Ok(Some(vec![Some((self.0 * 4 + self.1).to_string().into_bytes()), None]))
            }
        }
        let streams = (0..4).map(|s| Counter(0, s)).collect();
        let mut m = MergeSort::new(streams, vec![(0, false)], cols());
        let (mut n, mut last) = (0u64, i64::MIN);
        while let Some(r) = m.next_row().await.unwrap() {
            let v: i64 = std::str::from_utf8(r[0].as_deref().unwrap()).unwrap().parse().unwrap();
            assert!(v > last);
            last = v;
            n += 1;
            assert!(m.heap.len() <= 4, "at most one buffered row per shard");
        }
        assert_eq!(n, 1_000_000);
    }
}

#[cfg(test)]
mod binary_tests {
    use super::*;
    use crate::execute::value::{Collation, Kind};
    use crate::protocol::row_binary::{decode_binary_row, encode_binary_row, WireType};
    use std::collections::VecDeque;

    #[tokio::test]
    async fn binary_rows_merge_through_their_text_form_and_back() {
        let types = [WireType { type_byte: 8, unsigned: false }, WireType { type_byte: 253, unsigned: false }];
        let columns = vec![
            Column { name: "id".into(), kind: Kind::Int, decimals: 0, type_byte: 8, charset: 0, origin: None, weight: None },
            Column { name: "s".into(), kind: Kind::Text(Collation::GeneralCi), decimals: 0, type_byte: 253, charset: 0, origin: None, weight: None },
        ];
        let wire = |id: &str, s: Option<&str>| encode_binary_row(&[Some(id.as_bytes().to_vec()), s.map(|x| x.as_bytes().to_vec())], &types).unwrap();
        let shard_a = [wire("-5", Some("x")), wire("3", None), wire("40", Some("é"))];
        let shard_b = [wire("1", Some("y")), wire("200", Some("z"))];
        let decode = |rows: &[Vec<u8>]| -> VecDeque<Row> { rows.iter().map(|r| decode_binary_row(r, &types).unwrap()).collect() };
        let mut m = MergeSort::new(vec![decode(&shard_a), decode(&shard_b)], vec![(0, false)], columns);
        let mut out = Vec::new();
        while let Some(r) = m.next_row().await.unwrap() {
            out.push(encode_binary_row(&r, &types).unwrap());
        }
        assert_eq!(out, vec![shard_a[0].clone(), shard_b[0].clone(), shard_a[1].clone(), shard_a[2].clone(), shard_b[1].clone()]);
    }
}
