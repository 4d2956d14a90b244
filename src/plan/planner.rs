//! Turns a statement and the session's schema into a plan for the executor.

use crate::config::Rules;
use crate::sharding::key::Literal;
use crate::sharding::table::{SchemaLayout, ShardedTable};
use crate::sql::lexer::Statement;
use std::collections::HashMap;
use std::sync::Arc;

use super::cache::PlanCaches;
use super::insert::InsertPlan;

/// One statement for one data source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The data source.
    pub data_source: String,
    /// The SQL it receives.
    pub sql: String,
}

/// How the replies of several targets become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Result sets: the rows of every target in turn (the first target's column definitions).
    Concat,
    /// OK packets: affected rows summed (DML over several shards).
    SumAffected,
    /// OK packets that all say the same (DDL fan-out): report the first.
    First,
    /// A write to every copy of broadcast tables: all change or none (one transaction, XA where the session
    /// runs XA), the first copy's OK reported.
    Mirror,
}

/// What to do with one statement.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Send to exactly one data source and relay its reply untouched; `sql` is the rewritten text, or
    /// `None` to forward the client's packet as it is.
    Passthrough {
        /// The data source.
        data_source: String,
        /// Rewritten SQL, if it differs from the original.
        sql: Option<String>,
    },
    /// One data source; its (small) result with a physical table name replaced by the logical one.
    RenameResult {
        /// The data source.
        data_source: String,
        /// The SQL it receives.
        sql: String,
        /// Physical table name in the answer.
        physical: String,
        /// Logical name the client should see.
        logical: String,
    },
    /// Several targets, replies combined.
    Scatter {
        /// The targets, in node order.
        targets: Vec<Target>,
        /// How their replies combine.
        combine: Combine,
        /// Sequences to restart once this succeeds (DROP/TRUNCATE of their tables).
        reset_sequences: Vec<Arc<ShardedTable>>,
    },
    /// A SELECT over several shards whose rows the proxy merges (sorts, aggregates, deduplicates, limits).
    Merge {
        /// What each shard receives.
        targets: Vec<Target>,
        /// The proxy's part.
        spec: super::merge::MergeSpec,
    },
    /// An INSERT into a sharded table (ids generated at run time).
    Insert(Box<InsertPlan>),
    /// An UPDATE of the sharding key (xa mode): update in place, then move the rows to the new key's node.
    MoveRows(Box<super::move_rows::MovePlan>),
    /// Switch the session's logical schema.
    UseSchema(String),
    /// Answer with the logical schemas.
    ShowDatabases {
        /// LIKE filter.
        like: Option<String>,
    },
    /// An admin statement (admin users only).
    Admin(crate::sql::lexer::Admin),
    /// KILL [QUERY] of a client connection (the proxy's id).
    Kill {
        /// Only the running statement.
        query: bool,
        /// Client connection id.
        id: u32,
    },
    /// Answer with the schema's logical tables.
    ShowTables {
        /// With their Table_type.
        full: bool,
        /// LIKE filter.
        like: Option<String>,
    },
    /// Describe the plan of a statement (the second field) instead of running it.
    Explain(Box<Plan>, String),
    /// A SET statement: run on the home data source (its reply is the answer), then on every other data source
    /// the session holds, and remembered for the ones it reaches later.
    Set {
        /// The home data source.
        data_source: String,
    },
    /// COMMIT (true) or ROLLBACK (false): every data source that joined the transaction, then the home one.
    EndTransaction(bool),
    /// BEGIN / START TRANSACTION of an XA-managed session: answered by the proxy; data sources join on use
    /// (READ ONLY ones with `SET TRANSACTION READ ONLY` before their XA START).
    Begin {
        /// START TRANSACTION READ ONLY.
        read_only: bool,
        /// A snapshot across shards taken at once (WITH CONSISTENT SNAPSHOT; `consistent_snapshot` in the
        /// rules): every primary of the schema and what it reads to take its read view.
        snapshot: Option<Vec<crate::plan::snapshot::SnapshotProbe>>,
    },
    /// SAVEPOINT / ROLLBACK TO / RELEASE SAVEPOINT of an XA-managed session: only while one data source is in
    /// the transaction.
    Savepoint,
    /// Learn a sharded table's columns from its first node, then plan the statement again (an INSERT
    /// without a column list).
    LearnColumns(Arc<ShardedTable>),
    /// LOAD DATA LOCAL INFILE: the proxy reads the client's file and loads each target's rows.
    LoadData(Box<super::load_data::LoadPlan>),
    /// A query the shards cannot answer as it is, run on the compute data source over copies of its
    /// sharded tables (the exact fallback).
    Compute(Box<super::compute::ComputePlan>),
    /// INSERT … SELECT into a sharded or broadcast table reading sharded tables: the SELECT over copies,
    /// its rows inserted where they belong (one XA transaction).
    InsertSelect(Box<super::insert_select::InsertSelect>),
    /// UPDATE/DELETE of a sharded table whose WHERE clause reads other sharded tables: the rows to change
    /// found over copies (the table's own locked as read), then changed by primary key (one XA transaction).
    KeyedWrite(Box<super::keyed_write::KeyedWrite>),
    /// UPDATE/DELETE (multi-table, or a SET that reads other sharded tables or moves rows) run over copies,
    /// its changes to them written back by primary key (one XA transaction).
    MultiWrite(Box<super::multi_write::MultiWrite>),
    /// UPDATE/DELETE … ORDER BY … LIMIT over several shards: lock each node's first rows, keep the global
    /// first ones, change those (one XA transaction).
    LimitedWrite(Box<super::limited_write::LimitedWrite>),
    /// Refuse with ER_NOT_SUPPORTED_YET and this reason.
    Refuse(String),
}

impl Plan {
    /// (data source, SQL) pairs this plan sends, for EXPLAIN SHARDING and `shardgate route`.
    pub fn describe(&self, original: &str) -> Vec<(String, String)> {
        match self {
            Plan::Passthrough { data_source, sql } => vec![(data_source.clone(), sql.clone().unwrap_or_else(|| original.to_string()))],
            Plan::LoadData(p) => p.targets.iter().map(|t| (t.data_source.clone(), t.sql.clone())).collect(),
            Plan::LearnColumns(t) => vec![(t.nodes[0].data_source.clone(), format!("SHOW COLUMNS FROM `{}` (then the statement, planned with them)", t.nodes[0].table))],
            Plan::Set { data_source } => vec![(data_source.clone(), original.to_string())],
            Plan::RenameResult { data_source, sql, .. } => vec![(data_source.clone(), sql.clone())],
            Plan::Scatter { targets, .. } | Plan::Merge { targets, .. } => targets.iter().map(|t| (t.data_source.clone(), t.sql.clone())).collect(),
            Plan::Insert(p) => {
                // Generated ids are shown as 0: the real ones are reserved only when the statement runs.
                let ids = vec![0; p.needs_id.len()];
                match p.targets(&ids) {
                    Ok((t, _)) => t.into_iter().map(|t| (t.data_source, t.sql)).collect(),
                    Err(e) => vec![("(refused)".into(), e.to_string())],
                }
            }
            Plan::Refuse(reason) => vec![("(refused)".into(), reason.clone())],
            Plan::InsertSelect(p) => {
                let mut out = Plan::Compute(Box::new(p.compute.clone())).describe(&p.select);
                out.push(("(shardgate)".into(), format!("{}… ({}) VALUES (each row of the SELECT, where it belongs)", p.head, p.columns.join(", "))));
                out
            }
            Plan::KeyedWrite(k) => {
                let mut out = Plan::Compute(Box::new(k.compute.clone())).describe(&k.select);
                out.extend(k.table.nodes.iter().zip(&k.writes).map(|(n, w)| (n.data_source.clone(), format!("{w} WHERE (the primary key) IN (the rows found)"))));
                out
            }
            Plan::MultiWrite(m) => {
                let mut out = Plan::Compute(Box::new(m.compute.clone())).describe(original);
                out.push(("(shardgate)".into(), "(each copy's changes written back by primary key where its rows live)".into()));
                out
            }
            Plan::LimitedWrite(w) => w
                .nodes
                .iter()
                .flat_map(|&n| {
                    let ds = &w.table.nodes[n].data_source;
                    [(ds.clone(), w.reads[n].clone()), (ds.clone(), format!("{} WHERE (the primary key) IN (the rows kept)", w.writes[n]))]
                })
                .collect(),
            Plan::Compute(c) => {
                let mut out: Vec<(String, String)> = c
                    .tables
                    .iter()
                    .flat_map(|t| {
                        let filter = t.filter.as_ref().map_or(String::new(), |(alias, conditions)| format!(" AS `{alias}` WHERE {conditions}"));
                        t.nodes.iter().map(move |(ds, table)| (ds.clone(), format!("SELECT … FROM `{table}`{filter} (copied into temporary table `{}`)", t.name)))
                    })
                    .collect();
                out.push((c.data_source.clone(), format!("{original} (over the copies: {})", c.reason)));
                out
            }
            Plan::MoveRows(m) => {
                let mut out: Vec<(String, String)> = m.updates.iter().map(|(_, t)| (t.data_source.clone(), t.sql.clone())).collect();
                let to = &m.table.nodes[m.target];
                out.push((to.data_source.clone(), format!("(rows whose {} is now {} move to {})", m.table.column, m.new_key, to.table)));
                out
            }
            Plan::UseSchema(_) | Plan::Begin { .. } | Plan::Savepoint | Plan::Admin(_) | Plan::Kill { .. } | Plan::ShowDatabases { .. } | Plan::ShowTables { .. } | Plan::Explain(..) | Plan::EndTransaction(_) => {
                vec![("(shardgate)".into(), original.to_string())]
            }
        }
    }
}

/// The data source a session's unsharded statements go to.
pub fn data_source_for(schema: Option<&str>, rules: &Rules) -> String {
    schema
        .and_then(|s| rules.schemas.get(s))
        .map(|s| s.data_source.get_ref().clone())
        .unwrap_or_else(|| rules.default_data_source().to_string())
}

/// Whether transactions in `schema` are XA transactions run by the proxy (xa mode, sharding rules).
fn xa_managed(schema: Option<&str>, rules: &Rules, layouts: &HashMap<String, SchemaLayout>) -> bool {
    rules.transaction_mode == crate::config::rules::TransactionMode::Xa
        && schema.and_then(|s| layouts.get(s)).is_some_and(|l| l.has_rules())
}

/// A `shard_key` hint's value as a literal (a number when it reads as one).
pub(crate) fn forced_key(k: String) -> Literal {
    k.parse::<i128>().map_or(Literal::Str(k), Literal::Int)
}

/// The template of a prepared statement's text, planned once for all its executions; `None` when each
/// execution must be planned in full (not a routed statement, a data-source hint, an INSERT).
pub fn prepared_template(sql: &str, schema: Option<&str>, layouts: &HashMap<String, SchemaLayout>) -> Option<super::template::Template> {
    if crate::sql::lexer::classify(sql) != Statement::Other {
        return None;
    }
    let hint = match crate::sql::lexer::hint(sql) {
        Some(Ok(h)) if h.data_source.is_none() => h,
        None => Default::default(),
        Some(_) => return None,
    };
    let layout = schema.and_then(|s| layouts.get(s)).filter(|l| l.has_rules())?;
    let template = super::route::build(sql, layout, hint.shard_key.map(forced_key).as_ref(), &[], false);
    template.reusable().then_some(template)
}

/// The schema with sharding rules (other than the session's) whose tables `sql` names as `schema.table`, if
/// any; an error when the statement mixes them with unqualified ones or with another schema's.
fn qualified_schema<'a>(sql: &str, current: Option<&str>, layouts: &'a HashMap<String, SchemaLayout>) -> Option<Result<&'a str, String>> {
    use sqlparser::tokenizer::Token;
    // Most statements have no dot at all: no tokenizing for them.
    if !sql.contains('.') {
        return None;
    }
    let toks = crate::sql::tokens::tokenize(sql).ok()?;
    let mut found: Option<&'a str> = None;
    for i in 2..toks.len() {
        let (Some(s), true, Some(t)) = (toks[i - 2].word(), toks[i - 1].token == Token::Period, toks[i].word()) else { continue };
        let Some((name, layout)) = layouts.get_key_value(s) else { continue };
        if Some(s) == current || !layout.has_rule(t) {
            continue;
        }
        match found {
            Some(f) if f != name => return Some(Err(format!("a statement over sharded or broadcast tables of schemas {f} and {name}"))),
            _ => found = Some(name.as_str()),
        }
    }
    let name = found?;
    let layout = &layouts[name];
    if layout.database != name {
        return Some(Err(format!("a qualified name of schema {name}, whose tables live in backend database '{}'; USE {name} first", layout.database)));
    }
    // A table of `name` or of the session's schema named without `name.` (not a column's qualifier).
    let mixed = |l: &SchemaLayout| {
        crate::sql::tokens::table_refs(&toks, |n| l.has_rule(n)).into_iter().any(|r| {
            let qualifier = toks.get(r.index + 1).is_some_and(|n| n.token == Token::Period);
            let by_name = r.index >= 2 && toks[r.index - 1].token == Token::Period && toks[r.index - 2].word() == Some(name);
            !qualifier && !by_name
        })
    };
    if mixed(layout) || current.and_then(|c| layouts.get(c)).is_some_and(mixed) {
        return Some(Err(format!("a statement naming tables of schema {name} both qualified and not, or with the session's own sharded tables")));
    }
    Some(Ok(name))
}

/// CREATE / DROP / ALTER DATABASE (or SCHEMA) of a logical schema with sharding rules: every data source that
/// holds its tables takes it, under the schema's backend database name.
fn database_ddl(sql: &str, schema: Option<&str>, layouts: &HashMap<String, SchemaLayout>) -> Option<Plan> {
    let first = crate::sql::lexer::first_word(sql);
    if !["CREATE", "DROP", "ALTER"].iter().any(|w| first.eq_ignore_ascii_case(w)) {
        return None;
    }
    let toks = crate::sql::tokens::tokenize(sql).ok()?;
    if !toks.get(1).is_some_and(|t| t.is_keyword("DATABASE") || t.is_keyword("SCHEMA")) {
        return None;
    }
    let mut at = 2;
    while toks.get(at).is_some_and(|t| t.is_keyword("IF") || t.is_keyword("NOT") || t.is_keyword("EXISTS")) {
        at += 1;
    }
    // ALTER DATABASE without a name is the current schema's.
    let named = toks.get(at).and_then(|t| t.word().filter(|_| !t.is_keyword("CHARACTER") && !t.is_keyword("DEFAULT") && !t.is_keyword("COLLATE") && !t.is_keyword("CHARSET")));
    let name = named.map(str::to_string).or_else(|| first.eq_ignore_ascii_case("ALTER").then(|| schema.map(str::to_string)).flatten())?;
    let layout = layouts.get(&name).filter(|l| l.has_rules())?;
    let text = match named {
        Some(_) => format!("{}{}{}", &sql[..toks[at].start], crate::sql::tokens::quote_ident(&layout.database, toks[at].quote()), &sql[toks[at].end..]),
        None => format!("{} {}{}", &sql[..toks[1].end], crate::sql::tokens::quote_ident(&layout.database, None), &sql[toks[1].end..]),
    };
    let targets = layout.all_data_sources.iter().map(|ds| Target { data_source: ds.clone(), sql: text.clone() }).collect();
    Some(Plan::Scatter { targets, combine: Combine::First, reset_sequences: Vec::new() })
}

/// Plans one statement (from scratch: see [`plan_cached`] for the hot path).
pub fn plan(statement: Statement, sql: &str, schema: Option<&str>, rules: &Rules, layouts: &HashMap<String, SchemaLayout>) -> Plan {
    plan_in(statement, sql, schema, rules, layouts, None, &[])
}

/// Plans one statement through the schemas' plan caches (`Shared::plans`): a statement of a shape seen
/// before skips sqlparser. The plan is the one [`plan`] gives (the cache keeps a template only if it does).
pub fn plan_cached(statement: Statement, sql: &str, schema: Option<&str>, rules: &Rules, layouts: &HashMap<String, SchemaLayout>, plans: &PlanCaches) -> Plan {
    plan_in(statement, sql, schema, rules, layouts, Some(plans), &[])
}

/// Plans one statement whose `?` placeholders are bound to `params` (a prepared statement's execution).
pub fn plan_with_params(
    statement: Statement,
    sql: &str,
    schema: Option<&str>,
    rules: &Rules,
    layouts: &HashMap<String, SchemaLayout>,
    params: &[Literal],
) -> Plan {
    plan_in(statement, sql, schema, rules, layouts, None, params)
}

fn plan_in(
    statement: Statement,
    sql: &str,
    schema: Option<&str>,
    rules: &Rules,
    layouts: &HashMap<String, SchemaLayout>,
    plans: Option<&PlanCaches>,
    params: &[Literal],
) -> Plan {
    // LOAD DATA: its own reader (sqlparser cannot parse it), in any schema, since the file comes through the
    // proxy.
    if crate::sql::lexer::first_word(sql).eq_ignore_ascii_case("LOAD") {
        let layout = schema.and_then(|s| layouts.get(s));
        return match super::load_data::plan(sql, layout, &data_source_for(schema, rules)) {
            Ok(p) => Plan::LoadData(Box::new(p)),
            Err(reason) => Plan::Refuse(reason),
        };
    }
    if let Some(p) = database_ddl(sql, schema, layouts) {
        return p;
    }
    // `other_schema.table` of a schema with sharding rules is planned with that schema's rules.
    let schema = match qualified_schema(sql, schema, layouts) {
        None => schema,
        Some(Ok(other)) => Some(other),
        Some(Err(reason)) => return Plan::Refuse(reason),
    };
    if let Some(layout) = schema.and_then(|s| layouts.get(s)).filter(|l| l.has_rules()) {
        let first = crate::sql::lexer::first_word(sql);
        if first.eq_ignore_ascii_case("LOCK") || first.eq_ignore_ascii_case("UNLOCK") {
            if let Some(p) = super::lock_tables::plan(sql, layout) {
                return p;
            }
        }
        if let Some(p) = super::info_schema::plan(sql, layout) {
            return p;
        }
    }
    match statement {
        Statement::Use(name) => Plan::UseSchema(name),
        Statement::ShowDatabases { like } => Plan::ShowDatabases { like },
        Statement::Admin(a) => Plan::Admin(a),
        Statement::Kill { query, id } => Plan::Kill { query, id },
        Statement::ShowTables { full, like } if schema.is_some() => Plan::ShowTables { full, like },
        Statement::Unsupported(what) => Plan::Refuse(what.to_string()),
        Statement::EndTransaction(commit) => Plan::EndTransaction(commit),
        Statement::Begin(_) | Statement::Savepoint | Statement::ClientXa if !xa_managed(schema, rules, layouts) => {
            Plan::Passthrough { data_source: data_source_for(schema, rules), sql: None }
        }
        // WITH CONSISTENT SNAPSHOT (and, if the rules say so, READ ONLY): every primary joins at once and takes
        // its read view with no two-phase commit half done (execute/snapshot.rs); with `consistent_snapshot =
        // "off"`, each data source's snapshot is taken when the transaction first reads there.
        Statement::Begin(true) => match crate::sql::transaction::characteristics(sql) {
            Some(c) => {
                use crate::config::rules::SnapshotMode;
                let wanted = match rules.consistent_snapshot {
                    SnapshotMode::Off => false,
                    SnapshotMode::Explicit => c.snapshot,
                    SnapshotMode::ReadOnly => c.snapshot || c.read_only,
                };
                let snapshot = schema.and_then(|s| layouts.get(s)).filter(|_| wanted).map(crate::plan::snapshot::probes);
                Plan::Begin { read_only: c.read_only, snapshot }
            }
            None => Plan::Refuse("START TRANSACTION with characteristics other than READ ONLY, READ WRITE and WITH CONSISTENT SNAPSHOT".into()),
        },
        Statement::Begin(false) => Plan::Begin { read_only: false, snapshot: None },
        Statement::Savepoint => Plan::Savepoint,
        Statement::ClientXa => Plan::Refuse("XA statements from clients in a schema with sharding rules: shardgate runs XA itself; use BEGIN/COMMIT".into()),
        // Remembered and replayed on every backend connection the session reaches later (other data
        // sources, replicas, a connection taken after USE), so no setting is silently lost.
        Statement::Set => Plan::Set { data_source: data_source_for(schema, rules) },
        Statement::TextPrepared => match schema.and_then(|s| layouts.get(s)) {
            Some(l) if l.has_rules() => Plan::Refuse(
                "PREPARE … FROM / EXECUTE … USING in a schema with sharding rules (the statement inside the string cannot be \
                 routed); use the binary protocol's prepared statements or plain SQL"
                    .into(),
            ),
            _ => Plan::Passthrough { data_source: data_source_for(schema, rules), sql: None },
        },
        Statement::Explain(inner) => {
            let classified = crate::sql::lexer::classify(&inner);
            Plan::Explain(Box::new(plan(classified, &inner, schema, rules, layouts)), inner)
        }
        Statement::ShowTables { .. } | Statement::Other => {
            let default = data_source_for(schema, rules);
            let hint = match crate::sql::lexer::hint(sql) {
                Some(Err(e)) => return Plan::Refuse(e),
                Some(Ok(h)) => h,
                None => Default::default(),
            };
            if let Some(ds) = hint.data_source {
                if !rules.data_sources.contains_key(&ds) {
                    return Plan::Refuse(format!("a hint naming unknown data source '{ds}'"));
                }
                return Plan::Passthrough { data_source: ds, sql: None };
            }
            let forced = hint.shard_key.map(forced_key);
            match schema.and_then(|s| layouts.get(s)) {
                Some(layout) if !layout.tables.is_empty() || !layout.broadcast.is_empty() => {
                    let cache = plans.zip(schema).and_then(|(p, s)| p.get(s));
                    if let (true, Some(cache)) = (params.is_empty(), cache) {
                        cache.plan(sql, layout, forced.as_ref())
                    } else {
                        super::route::route(sql, layout, forced.as_ref(), params)
                    }
                }
                _ if forced.is_some() => Plan::Refuse("a shard_key hint in a schema without sharded tables".into()),
                _ => Plan::Passthrough { data_source: default, sql: None },
            }
        }
    }
}
