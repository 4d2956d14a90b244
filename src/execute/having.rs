//! Having: the HAVING condition, evaluated on merged groups (after every shard's partial aggregates are
//! combined), with SQL's three-valued logic: a comparison with NULL is unknown and drops the group.

use std::cmp::Ordering;

use super::stream::Row;
use super::value::{key, Column, Key};
use crate::plan::merge::{ColRef, Having, Operand};

fn value<'a>(o: &'a Operand, row: &'a Row, visible: usize) -> Option<&'a [u8]> {
    match o {
        Operand::Col(ColRef::Visible(i)) => row[*i].as_deref(),
        Operand::Col(ColRef::Derived(k)) => row[visible + k].as_deref(),
        Operand::Lit(l) => Some(l.as_bytes()),
    }
}

fn column_of<'a>(o: &Operand, columns: &'a [Column], visible: usize) -> Option<&'a Column> {
    match o {
        Operand::Col(ColRef::Visible(i)) => columns.get(*i),
        Operand::Col(ColRef::Derived(k)) => columns.get(visible + k),
        Operand::Lit(_) => None,
    }
}

/// Whether the proxy can evaluate `h` exactly for these columns: comparisons of numbers with numbers (or
/// numeric literals) only. Text compares under collations and temporal values under MariaDB's conversion
/// rules (a DATE against an integer, a string against a number), which the proxy does not reproduce.
pub fn exact(h: &Having, columns: &[Column], visible: usize) -> Result<(), String> {
    use super::value::Kind;
    let numeric = |o: &Operand| match o {
        Operand::Lit(l) => l.trim().parse::<f64>().is_ok(),
        col => column_of(col, columns, visible).is_some_and(|c| matches!(c.kind, Kind::Int | Kind::Decimal | Kind::Float)),
    };
    // A DATE or DATETIME against a literal in its own canonical form compares as text, exactly.
    let shape = |l: &str| l.bytes().map(|b| if b.is_ascii_digit() { b'9' } else { b }).collect::<Vec<u8>>();
    let temporal = |col: &Operand, lit: &Operand| match (column_of(col, columns, visible), lit) {
        (Some(c), Operand::Lit(l)) => match c.type_byte {
            10 | 14 => shape(l) == b"9999-99-99",
            7 | 12 if c.decimals == 0 => shape(l) == b"9999-99-99 99:99:99",
            _ => false,
        },
        _ => false,
    };
    match h {
        Having::Cmp { left, right, .. } if temporal(left, right) || temporal(right, left) => Ok(()),
        Having::And(a, b) | Having::Or(a, b) => exact(a, columns, visible).and_then(|_| exact(b, columns, visible)),
        Having::Not(a) => exact(a, columns, visible),
        Having::IsNull { .. } => Ok(()),
        Having::Cmp { left, right, .. } if numeric(left) && numeric(right) => Ok(()),
        Having::Cmp { .. } => Err("HAVING comparing text or temporal values over several shards".into()),
    }
}

/// Evaluates `h` on a merged row; `None` is SQL's unknown.
pub fn eval(h: &Having, row: &Row, columns: &[Column], visible: usize) -> Option<bool> {
    match h {
        Having::And(a, b) => match (eval(a, row, columns, visible), eval(b, row, columns, visible)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Having::Or(a, b) => match (eval(a, row, columns, visible), eval(b, row, columns, visible)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Having::Not(a) => eval(a, row, columns, visible).map(|b| !b),
        Having::IsNull { operand, negated } => Some(value(operand, row, visible).is_none() != *negated),
        Having::Cmp { op, left, right } => {
            // Each side is read by the other side's column type when it is a literal.
            let lc = column_of(left, columns, visible).or_else(|| column_of(right, columns, visible))?;
            let rc = column_of(right, columns, visible).unwrap_or(lc);
            let (l, r) = (key(value(left, row, visible), lc), key(value(right, row, visible), rc));
            if l == Key::Null || r == Key::Null {
                return None;
            }
            let ord = l.cmp(&r);
            Some(match op.as_str() {
                "=" => ord == Ordering::Equal,
                "<>" => ord != Ordering::Equal,
                "<" => ord == Ordering::Less,
                "<=" => ord != Ordering::Greater,
                ">" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::value::Kind;

    #[test]
    fn three_valued_comparisons_on_merged_values() {
        let cols = vec![Column { name: "n".into(), kind: Kind::Int, decimals: 0, type_byte: 8, charset: 0, origin: None, weight: None }; 2];
        let gt = |lit: &str| Having::Cmp { op: ">".into(), left: Operand::Col(ColRef::Visible(0)), right: Operand::Lit(lit.into()) };
        let row: Row = vec![Some(b"10".to_vec()), None];
        assert_eq!(eval(&gt("9"), &row, &cols, 2), Some(true), "numeric, not text, comparison");
        assert_eq!(eval(&gt("10"), &row, &cols, 2), Some(false));
        let null_cmp = Having::Cmp { op: "=".into(), left: Operand::Col(ColRef::Visible(1)), right: Operand::Lit("1".into()) };
        assert_eq!(eval(&null_cmp, &row, &cols, 2), None);
        assert_eq!(eval(&Having::Or(Box::new(null_cmp.clone()), Box::new(gt("1"))), &row, &cols, 2), Some(true));
        assert_eq!(eval(&Having::And(Box::new(null_cmp), Box::new(gt("1"))), &row, &cols, 2), None);
    }
}
