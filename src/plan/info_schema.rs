//! INFORMATION_SCHEMA lookups of one logical table (`… WHERE table_name = 'orders'`, as mariadb-dump and
//! ORMs ask about a table's engine, columns and triggers): answered by the table's first node, whose
//! physical name goes in the query and comes back as the logical one.

use sqlparser::tokenizer::Token;

use super::planner::Plan;
use crate::sharding::table::SchemaLayout;
use crate::sql::tokens::tokenize;

/// Plans `sql` if it reads INFORMATION_SCHEMA about a sharded table named in a string literal.
pub fn plan(sql: &str, layout: &SchemaLayout) -> Option<Plan> {
    if !sql.to_ascii_lowercase().contains("information_schema") {
        return None;
    }
    let toks = tokenize(sql).ok()?;
    let literal = toks.iter().find_map(|t| match &t.token {
        Token::SingleQuotedString(s) if layout.tables.contains_key(s.as_str()) => Some((t, s.clone())),
        _ => None,
    })?;
    let table = &layout.tables[&literal.1];
    let node = &table.nodes[0];
    let mut out = String::with_capacity(sql.len() + 4);
    let mut at = 0;
    for t in &toks {
        if matches!(&t.token, Token::SingleQuotedString(s) if *s == literal.1) {
            out.push_str(&sql[at..t.start]);
            out.push('\'');
            out.push_str(&node.table.replace('\'', "''"));
            out.push('\'');
            at = t.end;
        }
    }
    out.push_str(&sql[at..]);
    Some(Plan::RenameResult { data_source: node.data_source.clone(), sql: out, physical: node.table.clone(), logical: table.name.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_the_first_node_by_its_physical_name() {
        let layouts = crate::plan::test_layouts("[schemas.s]\ndata_source = \"ds_0\"\n[schemas.s.tables.orders]\nsharding_column = \"id\"\nactual_nodes = \"ds_${0..1}.orders_${0..1}\"\n");
        let sql = "SELECT engine, table_type FROM INFORMATION_SCHEMA.TABLES WHERE table_schema = DATABASE() AND table_name = 'orders'";
        let Some(Plan::RenameResult { data_source, sql: out, physical, logical }) = plan(sql, &layouts["s"]) else { panic!() };
        assert_eq!((data_source.as_str(), physical.as_str(), logical.as_str()), ("ds_0", "orders_0", "orders"));
        assert!(out.ends_with("table_name = 'orders_0'"), "{out}");
        assert!(plan("SELECT * FROM INFORMATION_SCHEMA.TABLES WHERE table_name = 'other'", &layouts["s"]).is_none());
        assert!(plan("SELECT 'orders'", &layouts["s"]).is_none());
    }
}
