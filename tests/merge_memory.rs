//! Streaming with bounded memory: 4 shards × 1,000,000 rows merged by MergeSort (the ORDER BY path) keep the
//! process's peak RSS under 64 MiB. Alone in its binary so no other test's allocations count.

use shardgate::error::SgError;
use shardgate::execute::merge_sort::MergeSort;
use shardgate::execute::stream::{Row, RowStream};
use shardgate::execute::value::{Collation, Column, Kind};

/// A shard producing `n` rows sorted by their first column: (k, 'name-k-padding…', k*1.5).
struct Shard {
    next: u64,
    n: u64,
    shard: u64,
}

impl RowStream for Shard {
    async fn next_row(&mut self) -> Result<Option<Row>, SgError> {
        if self.next == self.n {
            return Ok(None);
        }
        let k = self.next * 4 + self.shard;
        self.next += 1;
        Ok(Some(vec![
            Some(k.to_string().into_bytes()),
            Some(format!("name-{k:012}-{}", "x".repeat(40)).into_bytes()),
            Some(format!("{}.5", k).into_bytes()),
        ]))
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn four_million_rows_merge_in_bounded_memory() {
    let columns = vec![
        Column { name: "k".into(), kind: Kind::Int, decimals: 0, type_byte: 8, charset: 0, origin: None, weight: None },
        Column { name: "name".into(), kind: Kind::Text(Collation::GeneralCi), decimals: 0, type_byte: 253, charset: 0, origin: None, weight: None },
        Column { name: "v".into(), kind: Kind::Decimal, decimals: 1, type_byte: 246, charset: 0, origin: None, weight: None },
    ];
    let shards: Vec<Shard> = (0..4).map(|s| Shard { next: 0, n: 1_000_000, shard: s }).collect();
    let mut merge = MergeSort::new(shards, vec![(1, false)], columns);
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut last: Option<Vec<u8>> = None;
    while let Some(row) = merge.next_row().await.unwrap() {
        let name = row[1].clone().unwrap();
        assert!(last.as_ref().is_none_or(|l| *l <= name), "merged in order");
        bytes += row.iter().map(|v| v.as_ref().map_or(0, |b| b.len() as u64)).sum::<u64>();
        last = Some(name);
        n += 1;
    }
    assert_eq!(n, 4_000_000);
    let peak = peak_rss_kib();
    println!("merged {n} rows ({} MiB of values); peak RSS {} MiB", bytes >> 20, peak >> 10);
    assert!(bytes > 256 << 20, "the rows add up to far more than the memory bound");
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB is over 64 MiB");
}
