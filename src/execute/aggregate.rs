//! Aggregate: completes the shards' partial aggregates per group (hashed, one entry per group): COUNTs and
//! SUMs added exactly, MIN/MAX by the column's comparison rules, AVG from the shards' SUM and COUNT with
//! the scale MySQL gives it (the argument's scale + div_precision_increment, 4).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

use super::stream::Row;
use super::value::{row_key, Column, Key, Kind};
use crate::error::SgError;
use crate::plan::merge::AggFunc;

/// MariaDB's default div_precision_increment.
pub const DIV_PRECISION_INCREMENT: u32 = 4;
/// MySQL's largest DECIMAL scale.
const MAX_SCALE: u32 = 30;

#[derive(Debug, Clone)]
enum Acc {
    Count(i128),
    Sum { dec: Option<Decimal>, float: Option<f64> },
    Extreme(Option<(Key, Vec<u8>)>),
    Avg { dec: Option<Decimal>, float: Option<f64>, count: i128 },
    Distinct(HashSet<Key>),
}

fn overflow() -> SgError {
    SgError::NotSupported("a SUM or AVG beyond 28 significant digits across shards".into())
}

fn parse_dec(v: &[u8]) -> Result<Decimal, SgError> {
    let s = String::from_utf8_lossy(v);
    Decimal::from_str(s.trim()).or_else(|_| Decimal::from_scientific(s.trim())).map_err(|_| overflow())
}

fn parse_count(v: &[u8]) -> i128 {
    String::from_utf8_lossy(v).trim().parse().unwrap_or(0)
}

/// Hash aggregation over visible columns `aggregates` and group keys `group` (column indexes).
pub struct Aggregate {
    group: Vec<usize>,
    aggregates: Vec<(usize, AggFunc)>,
    /// Index of the first derived column (AVG's COUNT columns are derived).
    derived_base: usize,
    columns: Vec<Column>,
    index: HashMap<Vec<Key>, usize>,
    groups: Vec<(Row, Vec<Acc>)>,
}

impl Aggregate {
    /// A new aggregation; `columns` describes every column of the shards' rows.
    pub fn new(group: Vec<usize>, aggregates: Vec<(usize, AggFunc)>, derived_base: usize, columns: Vec<Column>) -> Self {
        Aggregate { group, aggregates, derived_base, columns, index: HashMap::new(), groups: Vec::new() }
    }

    fn fresh(&self) -> Vec<Acc> {
        self.aggregates
            .iter()
            .map(|(_, f)| match f {
                AggFunc::Count => Acc::Count(0),
                AggFunc::Sum => Acc::Sum { dec: None, float: None },
                AggFunc::Min | AggFunc::Max => Acc::Extreme(None),
                AggFunc::Avg { .. } => Acc::Avg { dec: None, float: None, count: 0 },
                AggFunc::CountDistinct => Acc::Distinct(HashSet::new()),
            })
            .collect()
    }

    /// Folds one shard row (a shard's partial result for its group) in.
    pub fn add(&mut self, row: Row) -> Result<(), SgError> {
        let gk: Vec<Key> = self.group.iter().map(|&c| row_key(&row, c, &self.columns)).collect();
        let slot = match self.index.get(&gk) {
            Some(&i) => i,
            None => {
                let accs = self.fresh();
                self.groups.push((row.clone(), accs));
                self.index.insert(gk, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        for (k, &(col, func)) in self.aggregates.iter().enumerate() {
            let v = row[col].as_deref();
            let float = self.columns[col].kind == Kind::Float;
            let acc = &mut self.groups[slot].1[k];
            match (acc, func) {
                (Acc::Count(n), _) => *n += v.map_or(0, parse_count),
                (Acc::Distinct(set), _) => {
                    if v.is_some() {
                        set.insert(row_key(&row, col, &self.columns));
                    }
                }
                (Acc::Sum { dec, float: f }, _) | (Acc::Avg { dec, float: f, .. }, AggFunc::Avg { .. }) if v.is_some() => {
                    let v = v.unwrap_or_default();
                    if float {
                        *f = Some(f.unwrap_or(0.0) + String::from_utf8_lossy(v).trim().parse::<f64>().unwrap_or(0.0));
                    } else {
                        *dec = Some(dec.unwrap_or_default().checked_add(parse_dec(v)?).ok_or_else(overflow)?);
                    }
                }
                (Acc::Extreme(cur), f @ (AggFunc::Min | AggFunc::Max)) => {
                    if let Some(v) = v {
                        let k = row_key(&row, col, &self.columns);
                        let better = match cur {
                            None => true,
                            Some((best, _)) => (f == AggFunc::Min && k < *best) || (f == AggFunc::Max && k > *best),
                        };
                        if better {
                            *cur = Some((k, v.to_vec()));
                        }
                    }
                }
                _ => {}
            }
            if let (Acc::Avg { count, .. }, AggFunc::Avg { count: c }) = (&mut self.groups[slot].1[k], func) {
                *count += row[self.derived_base + c].as_deref().map_or(0, parse_count);
            }
        }
        Ok(())
    }

    /// The merged rows, one per group (one row even without input when there is no GROUP BY, as MySQL
    /// answers `SELECT COUNT(*)` on an empty table).
    pub fn finish(mut self) -> Result<Vec<Row>, SgError> {
        if self.groups.is_empty() && self.group.is_empty() {
            let width = self.columns.len();
            let accs = self.fresh();
            self.groups.push((vec![None; width], accs));
        }
        let mut out = Vec::with_capacity(self.groups.len());
        for (mut row, accs) in self.groups {
            for (&(col, _), acc) in self.aggregates.iter().zip(accs) {
                let scale = u32::from(self.columns[col].decimals).min(MAX_SCALE);
                row[col] = match acc {
                    Acc::Count(n) => Some(n.to_string().into_bytes()),
                    Acc::Distinct(set) => Some(set.len().to_string().into_bytes()),
                    Acc::Sum { float: Some(f), .. } => Some(f.to_string().into_bytes()),
                    Acc::Sum { dec: Some(d), .. } => Some(format!("{:.*}", scale as usize, d).into_bytes()),
                    Acc::Sum { .. } => None,
                    Acc::Extreme(v) => {
                        // The winner's weights go with it, for an ORDER BY on MIN/MAX after the merge.
                        if let (Some((Key::Padded(w, pad), _)), Some((wc, pc))) = (&v, self.columns[col].weight) {
                            (row[wc], row[pc]) = (Some(w.clone()), Some(pad.clone()));
                        }
                        v.map(|(_, bytes)| bytes)
                    }
                    Acc::Avg { count: 0, .. } => None,
                    Acc::Avg { float: Some(f), count, .. } => Some((f / count as f64).to_string().into_bytes()),
                    Acc::Avg { dec, count, .. } => {
                        let avg_scale = (scale + DIV_PRECISION_INCREMENT).min(MAX_SCALE);
                        let q = dec.unwrap_or_default().checked_div(Decimal::from_i128_with_scale(count, 0)).ok_or_else(overflow)?;
                        let q = q.round_dp_with_strategy(avg_scale, RoundingStrategy::MidpointAwayFromZero);
                        Some(format!("{:.*}", avg_scale as usize, q).into_bytes())
                    }
                };
            }
            out.push(row);
        }
        Ok(out)
    }

    /// How the merged rows' columns compare: counts are integers whatever the shards' column was.
    pub fn output_columns(aggregates: &[(usize, AggFunc)], columns: &[Column]) -> Vec<Column> {
        let mut out = columns.to_vec();
        for &(c, f) in aggregates {
            if matches!(f, AggFunc::Count | AggFunc::CountDistinct) {
                out[c].kind = Kind::Int;
            } else if matches!(f, AggFunc::Sum | AggFunc::Avg { .. }) && out[c].kind != Kind::Float {
                out[c].kind = Kind::Decimal;
            }
        }
        out
    }

    /// The AVG columns and the scale their definitions must announce.
    pub fn avg_scales(aggregates: &[(usize, AggFunc)], columns: &[Column]) -> Vec<(usize, u8)> {
        aggregates
            .iter()
            .filter(|(c, f)| matches!(f, AggFunc::Avg { .. }) && columns[*c].kind != Kind::Float)
            .map(|&(c, _)| (c, (u32::from(columns[c].decimals) + DIV_PRECISION_INCREMENT).min(MAX_SCALE) as u8))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::value::Collation;

    fn col(kind: Kind, decimals: u8) -> Column {
        Column { name: String::new(), kind, decimals, type_byte: 0, charset: 0, origin: None, weight: None }
    }

    fn s(v: &Option<Vec<u8>>) -> Option<String> {
        v.as_ref().map(|b| String::from_utf8(b.clone()).unwrap())
    }

    #[test]
    fn groups_merge_across_shards_exactly() {
        // Columns: city, COUNT(*), SUM(amount), MIN(name), AVG(amount) as SUM, [COUNT(amount), city]
        let columns = vec![
            col(Kind::Text(Collation::GeneralCi), 0),
            col(Kind::Int, 0),
            col(Kind::Decimal, 2),
            col(Kind::Text(Collation::GeneralCi), 0),
            col(Kind::Decimal, 2),
            col(Kind::Int, 0),
            col(Kind::Text(Collation::GeneralCi), 0),
        ];
        let aggs = vec![(1, AggFunc::Count), (2, AggFunc::Sum), (3, AggFunc::Min), (4, AggFunc::Avg { count: 0 })];
        let mut a = Aggregate::new(vec![6], aggs, 5, columns);
        let row = |c: &str, n: &str, sum: Option<&str>, min: &str, cnt: &str| -> Row {
            vec![Some(c.into()), Some(n.into()), sum.map(Into::into), Some(min.into()), sum.map(Into::into), Some(cnt.into()), Some(c.into())]
        };
        a.add(row("Paris", "2", Some("10.10"), "bob", "2")).unwrap();
        a.add(row("PARIS", "1", Some("0.01"), "Álvaro", "1")).unwrap();
        a.add(row("Rome", "1", None, "x", "0")).unwrap();
        let out = a.finish().unwrap();
        assert_eq!(out.len(), 2, "Paris and PARIS are one group under a _ci collation");
        let paris: Vec<Option<String>> = out[0].iter().map(s).collect();
        assert_eq!(&paris[..5], &[Some("Paris".into()), Some("3".into()), Some("10.11".into()), Some("Álvaro".into()), Some("3.370000".into())]);
        let rome: Vec<Option<String>> = out[1].iter().map(s).collect();
        assert_eq!(&rome[1..5], &[Some("1".into()), None, Some("x".into()), None], "SUM and AVG of only NULLs are NULL");
    }

    #[test]
    fn no_rows_and_no_group_by_still_answer_one_row() {
        let columns = vec![col(Kind::Int, 0), col(Kind::Decimal, 0)];
        let out = Aggregate::new(vec![], vec![(0, AggFunc::Count), (1, AggFunc::Sum)], 2, columns).finish().unwrap();
        assert_eq!(out, vec![vec![Some(b"0".to_vec()), None]]);
    }

    #[test]
    fn avg_of_integers_has_scale_four_and_rounds_half_up() {
        let columns = vec![col(Kind::Decimal, 0), col(Kind::Int, 0)];
        let mut a = Aggregate::new(vec![], vec![(0, AggFunc::Avg { count: 0 })], 1, columns.clone());
        a.add(vec![Some(b"2".to_vec()), Some(b"3".to_vec())]).unwrap();
        assert_eq!(a.finish().unwrap()[0][0].as_deref(), Some(&b"0.6667"[..]));
        assert_eq!(Aggregate::avg_scales(&[(0, AggFunc::Avg { count: 0 })], &columns), vec![(0, 4)]);
    }
}
