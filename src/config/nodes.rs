//! Expanding `actual_nodes`: `ds_${0..1}.t_order_${0..3}` is every combination, in order (ds_0.t_order_0,
//! ds_0.t_order_1, …, ds_1.t_order_3), as ShardingSphere's inline expressions are.

use super::rules::NodeList;

/// One physical table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataNode {
    /// Data source name.
    pub data_source: String,
    /// Physical table name.
    pub table: String,
}

/// Expands one `${a..b}` / `${[x, y]}` expression into all its strings.
fn expand_one(expr: &str) -> Result<Vec<String>, String> {
    let Some(start) = expr.find("${") else { return Ok(vec![expr.to_string()]) };
    let end = expr[start..].find('}').map(|i| start + i).ok_or_else(|| format!("unclosed '${{' in '{expr}'"))?;
    let inner = expr[start + 2..end].trim();
    let choices: Vec<String> = if let Some((a, b)) = inner.split_once("..") {
        let a: i64 = a.trim().parse().map_err(|_| format!("'{inner}' is not a range like 0..3"))?;
        let b: i64 = b.trim().parse().map_err(|_| format!("'{inner}' is not a range like 0..3"))?;
        if b < a || b - a > 100_000 {
            return Err(format!("range '{inner}' is empty or too large"));
        }
        (a..=b).map(|i| i.to_string()).collect()
    } else if let Some(list) = inner.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
        list.split(',').map(|s| s.trim().trim_matches(|c| c == '\'' || c == '"').to_string()).collect()
    } else {
        return Err(format!("'${{{inner}}}' must be a range (0..3) or a list ([a, b])"));
    };
    let mut out = Vec::new();
    for choice in choices {
        for rest in expand_one(&expr[end + 1..])? {
            out.push(format!("{}{}{}", &expr[..start], choice, rest));
        }
    }
    Ok(out)
}

fn split_node(s: &str) -> Result<DataNode, String> {
    match s.trim().split_once('.') {
        Some((ds, t)) if !ds.is_empty() && !t.is_empty() && !t.contains('.') => {
            Ok(DataNode { data_source: ds.to_string(), table: t.to_string() })
        }
        _ => Err(format!("'{s}' is not of the form data_source.table")),
    }
}

/// Expands `actual_nodes` into physical tables, in order. Duplicates are an error.
pub fn expand(list: &NodeList) -> Result<Vec<DataNode>, String> {
    let strings: Vec<String> = match list {
        NodeList::Expression(e) => {
            let mut out = Vec::new();
            // Commas inside ${[…]} belong to the list, not to the top level.
            let (mut depth, mut from) = (0, 0);
            for (i, c) in e.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.extend(expand_one(e[from..i].trim())?);
                        from = i + 1;
                    }
                    _ => {}
                }
            }
            out.extend(expand_one(e[from..].trim())?);
            out
        }
        NodeList::List(v) => v.clone(),
    };
    let nodes: Vec<DataNode> = strings.iter().map(|s| split_node(s)).collect::<Result<_, _>>()?;
    let mut seen = std::collections::HashSet::new();
    for n in &nodes {
        if !seen.insert(n) {
            return Err(format!("{}.{} is listed twice", n.data_source, n.table));
        }
    }
    if nodes.is_empty() {
        return Err("no nodes".into());
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(e: &str) -> Vec<String> {
        expand(&NodeList::Expression(e.into())).unwrap().iter().map(|n| format!("{}.{}", n.data_source, n.table)).collect()
    }

    #[test]
    fn cartesian_in_order() {
        assert_eq!(names("ds_${0..1}.t_${0..1}"), ["ds_0.t_0", "ds_0.t_1", "ds_1.t_0", "ds_1.t_1"]);
        assert_eq!(names("ds_${0..1}.sbtest1"), ["ds_0.sbtest1", "ds_1.sbtest1"]);
        assert_eq!(names("ds_0.t_${0..1}, ds_1.t_${2..3}"), ["ds_0.t_0", "ds_0.t_1", "ds_1.t_2", "ds_1.t_3"]);
        assert_eq!(names("ds_${[a, b]}.t"), ["ds_a.t", "ds_b.t"]);
    }

    #[test]
    fn bad_expressions_are_explained() {
        for bad in ["ds_${0..}.t", "ds_${0..1.t", "t_only", "ds_${x}.t", "ds_0.t, ds_0.t"] {
            assert!(expand(&NodeList::Expression(bad.into())).is_err(), "{bad}");
        }
    }
}
