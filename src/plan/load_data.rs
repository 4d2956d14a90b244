//! Planning `LOAD DATA LOCAL INFILE`: which physical tables may receive rows, each with the statement
//! rewritten for it, and how rows are routed (by the sharding key, to every copy of a broadcast table, or
//! all to the default data source).

use std::sync::Arc;

use crate::sharding::table::{SchemaLayout, ShardedTable};
use crate::sql::load_data::{parse, LoadData};
use crate::sql::tokens::{quote_ident, tokenize};

/// Where a LOAD DATA statement's rows go.
#[derive(Debug, Clone)]
pub enum Routing {
    /// By the sharding key: row → node of this table (`LoadPlan::targets` in node order).
    ByKey(Arc<ShardedTable>),
    /// Every row to every target (a broadcast table's copies).
    Everywhere,
    /// One target takes the file as it is (a table without rules).
    Single,
}

/// One physical table that may receive rows.
#[derive(Debug, Clone)]
pub struct LoadTarget {
    /// Its data source.
    pub data_source: String,
    /// The statement for it (the table name rewritten).
    pub sql: String,
}

/// A planned LOAD DATA.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The statement's options.
    pub spec: LoadData,
    /// How rows are routed.
    pub routing: Routing,
    /// The targets (node order for `ByKey`).
    pub targets: Vec<LoadTarget>,
    /// The file lacks the sharding column: the table's key generator gives each row its key, appended as a
    /// last field (and column).
    pub generate: bool,
}

/// Plans `sql`, a LOAD DATA statement, in a schema with `layout` (none: a schema without rules) whose
/// tables without rules live on `default_ds`; `Err` is the reason to refuse it.
pub fn plan(sql: &str, layout: Option<&SchemaLayout>, default_ds: &str) -> Result<LoadPlan, String> {
    let toks = tokenize(sql)?;
    let spec = parse(&toks)?;
    if !spec.local {
        return Err("LOAD DATA INFILE without LOCAL (a file on the database server) through shardgate; use LOAD DATA LOCAL INFILE".into());
    }
    let name_tok = &toks[spec.table_token];
    // The table renamed and, for generated keys, the key column added to the column list.
    let retarget = |table: &str, add_column: Option<&str>| {
        let mut out = String::with_capacity(sql.len() + 16);
        out.push_str(&sql[..name_tok.start]);
        out.push_str(&quote_ident(table, name_tok.quote()));
        match (add_column, spec.columns_close) {
            (Some(column), Some(close)) => {
                out.push_str(&sql[name_tok.end..close]);
                out.push_str(", ");
                out.push_str(&quote_ident(column, None));
                out.push_str(&sql[close..]);
            }
            _ => out.push_str(&sql[name_tok.end..]),
        }
        out
    };
    if let Some(table) = layout.and_then(|l| l.tables.get(&spec.table)) {
        let lacks_key = spec.columns.as_ref().is_some_and(|cols| !cols.iter().any(|c| c.eq_ignore_ascii_case(&table.column)));
        let generator = table.key_generator.as_ref().is_some_and(|(c, _)| c.eq_ignore_ascii_case(&table.column));
        if lacks_key && (!generator || spec.has_set) {
            return Err(format!(
                "LOAD DATA into sharded table '{}' whose column list lacks the sharding column '{}' (rows could not be \
                 routed); include it in the file and the column list, or give the table a key generator",
                spec.table, table.column
            ));
        }
        if spec.has_set && set_mentions(&toks, &table.column) {
            return Err(format!("LOAD DATA … SET that assigns the sharding column '{}' (rows could not be routed)", table.column));
        }
        let added = lacks_key.then_some(table.column.as_str());
        let targets = table.nodes.iter().map(|n| LoadTarget { data_source: n.data_source.clone(), sql: retarget(&n.table, added) }).collect();
        return Ok(LoadPlan { spec, routing: Routing::ByKey(table.clone()), targets, generate: lacks_key });
    }
    if let Some(layout) = layout.filter(|l| l.broadcast.contains(&spec.table)) {
        let targets = layout.all_data_sources.iter().map(|ds| LoadTarget { data_source: ds.clone(), sql: sql.to_string() }).collect();
        return Ok(LoadPlan { spec, routing: Routing::Everywhere, targets, generate: false });
    }
    Ok(LoadPlan { spec, routing: Routing::Single, targets: vec![LoadTarget { data_source: default_ds.to_string(), sql: sql.to_string() }], generate: false })
}

/// Whether the SET clause names `column`.
fn set_mentions(toks: &[crate::sql::tokens::Tok], column: &str) -> bool {
    let Some(set) = toks.iter().rposition(|t| t.is_keyword("SET")) else { return false };
    toks[set..].iter().any(|t| t.word().is_some_and(|w| w.eq_ignore_ascii_case(column)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> std::collections::HashMap<String, SchemaLayout> {
        crate::plan::test_layouts(
            "[schemas.s]\ndata_source = \"ds_0\"\nbroadcast_tables = [\"b\"]\n\
             [schemas.s.tables.t]\nsharding_column = \"id\"\nactual_nodes = \"ds_${0..1}.t_${0..1}\"\nalgorithm = \"mod\"\n",
        )
    }

    #[test]
    fn sharded_broadcast_and_plain_tables() {
        let layouts = layout();
        let l = &layouts["s"];
        let p = plan("LOAD DATA LOCAL INFILE 'x' INTO TABLE `t` FIELDS TERMINATED BY ',' (id, v)", Some(l), "ds_0").unwrap();
        assert!(matches!(p.routing, Routing::ByKey(_)));
        let sqls: Vec<(&str, &str)> = p.targets.iter().map(|t| (t.data_source.as_str(), t.sql.as_str())).collect();
        assert_eq!(sqls[0], ("ds_0", "LOAD DATA LOCAL INFILE 'x' INTO TABLE `t_0` FIELDS TERMINATED BY ',' (id, v)"));
        assert_eq!(sqls.len(), 4);
        let b = plan("LOAD DATA LOCAL INFILE 'x' INTO TABLE b", Some(l), "ds_0").unwrap();
        assert!(matches!(b.routing, Routing::Everywhere));
        assert_eq!(b.targets.len(), 2);
        let plain = plan("LOAD DATA LOCAL INFILE 'x' INTO TABLE other", Some(l), "ds_0").unwrap();
        assert!(matches!(plain.routing, Routing::Single));
        for (sql, why) in [
            ("LOAD DATA INFILE 'x' INTO TABLE t", "without LOCAL"),
            ("LOAD DATA LOCAL INFILE 'x' INTO TABLE t (v)", "lacks the sharding column"),
            ("LOAD DATA LOCAL INFILE 'x' INTO TABLE t (@a, v) SET id = @a", "lacks the sharding column"),
            ("LOAD DATA LOCAL INFILE 'x' INTO TABLE t (id, v) SET id = id + 1", "assigns the sharding column"),
        ] {
            let e = plan(sql, Some(l), "ds_0").unwrap_err();
            assert!(e.contains(why), "{sql}: {e}");
        }
    }
}
