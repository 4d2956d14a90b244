//! LOCK TABLES and UNLOCK TABLES in a schema with rules: each data source locks its physical tables of the
//! logical ones named (every node of a sharded table, each copy of a broadcast table, tables without rules
//! on the default data source), with the clause written for each (READ [LOCAL], WRITE …); UNLOCK TABLES
//! goes to every data source. mariadb-dump locks the tables it dumps, and its dumps lock while restoring.

use sqlparser::tokenizer::Token;

use super::planner::{Combine, Plan, Target};
use crate::sharding::table::SchemaLayout;
use crate::sql::tokens::{quote_ident, tokenize};

/// Plans `sql` (its first word is LOCK or UNLOCK); `None` when it is not LOCK/UNLOCK TABLES.
pub fn plan(sql: &str, layout: &SchemaLayout) -> Option<Plan> {
    let toks = tokenize(sql).ok()?;
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(k));
    let tables_word = |i: usize| kw(i, "TABLES") || kw(i, "TABLE");
    if kw(0, "UNLOCK") && tables_word(1) {
        let targets = layout.all_data_sources.iter().map(|ds| Target { data_source: ds.clone(), sql: "UNLOCK TABLES".into() }).collect();
        return Some(Plan::Scatter { targets, combine: Combine::First, reset_sequences: Vec::new() });
    }
    if !(kw(0, "LOCK") && tables_word(1)) {
        return None;
    }
    // Items: `name [[AS] alias] lock_type`, separated by commas; the clause is the text after the name.
    let mut items: Vec<(String, String)> = Vec::new();
    let mut i = 2;
    while i < toks.len() {
        // `db.t`: the table is the last part.
        if toks.get(i + 1).is_some_and(|t| t.token == Token::Period) {
            i += 2;
        }
        let name = toks[i].word()?.to_string();
        let end = toks[i + 1..].iter().position(|t| t.token == Token::Comma).map_or(toks.len(), |p| i + 1 + p);
        let clause_end = toks.get(end).map_or(sql.trim_end().trim_end_matches(';').len(), |t| t.start);
        items.push((name, sql[toks[i].end..clause_end].trim().to_string()));
        i = end + 1;
    }
    let mut targets = Vec::new();
    for ds in &layout.all_data_sources {
        let mut parts = Vec::new();
        for (name, clause) in &items {
            if let Some(t) = layout.tables.get(name) {
                parts.extend(t.nodes.iter().filter(|n| &n.data_source == ds).map(|n| format!("{} {clause}", quote_ident(&n.table, None))));
            } else if layout.broadcast.contains(name) || *ds == layout.default_data_source {
                parts.push(format!("{} {clause}", quote_ident(name, None)));
            }
        }
        if !parts.is_empty() {
            targets.push(Target { data_source: ds.clone(), sql: format!("LOCK TABLES {}", parts.join(", ")) });
        }
    }
    Some(Plan::Scatter { targets, combine: Combine::First, reset_sequences: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_data_source_locks_its_physical_tables() {
        let layouts = crate::plan::test_layouts("[schemas.s]\ndata_source = \"ds_0\"\nbroadcast_tables = [\"b\"]\n[schemas.s.tables.t]\nsharding_column = \"id\"\nactual_nodes = \"ds_${0..1}.t_${0..1}\"\nalgorithm = \"mod\"\n");
        let Some(Plan::Scatter { targets, .. }) = plan("LOCK TABLES `t` READ /*!32311 LOCAL */,`b` WRITE, plain READ;", &layouts["s"]) else { panic!() };
        let got: Vec<(&str, &str)> = targets.iter().map(|t| (t.data_source.as_str(), t.sql.as_str())).collect();
        let t = "`t_0` READ /*!32311 LOCAL */, `t_1` READ /*!32311 LOCAL */";
        assert_eq!(got, [("ds_0", format!("LOCK TABLES {t}, `b` WRITE, `plain` READ").as_str()), ("ds_1", format!("LOCK TABLES {t}, `b` WRITE").as_str())]);
        let Some(Plan::Scatter { targets, .. }) = plan("UNLOCK TABLES", &layouts["s"]) else { panic!() };
        assert_eq!(targets.len(), 2);
        assert!(plan("LOCK INSTANCE FOR BACKUP", &layouts["s"]).is_none());
    }
}
