//! Runs a compute plan (plan/compute.rs): reads each sharded table's definition and rows from its nodes on
//! the session's own connections (so inside a transaction, the transaction's snapshot on each shard),
//! copies them into temporary tables named as the logical tables on the session's connection to the compute
//! data source, runs the client's statement there unchanged and relays its answer, then drops the copies.
//! Nothing outlives the statement: the copies are dropped after it (or the connection is reset before it
//! goes back to its pool, or closed), and a proxy crash closes the connection, which drops them.

use crate::error::SgError;
use crate::plan::compute::{ComputePlan, CopiedTable};
use crate::plan::merge::MergeSpec;
use crate::plan::planner::Target;
use crate::protocol::constants::com;
use crate::protocol::reply::ReplyKind;

use super::context::ExecCtx;
use super::value::{column, sql_literal};
use super::Exec;

/// The sql_mode a copy is created and filled under, whatever the session's: the values come from columns
/// of the same definition, so nothing needs checking, and a 0 in an AUTO_INCREMENT column stays 0 (zero
/// dates and the like stay as the shard holds them, where a strict session mode would refuse them).
pub(super) const COPY_MODE: &str = "SET STATEMENT sql_mode='NO_AUTO_VALUE_ON_ZERO' FOR ";

/// One column of a copied table: its name and how its value travels.
struct Col {
    name: String,
    /// FLOAT: fetched as `c + 0e0`, since MariaDB prints a FLOAT with 6 digits, which does not give the
    /// same float back; a DOUBLE prints with all the digits it needs.
    float: bool,
    /// A text column (it has a character set): fetched as HEX(c), its stored bytes, re-inserted as X'…',
    /// which MariaDB copies into the column's character set unchanged, whatever the connection's.
    text: bool,
}

/// A table ready to be copied: its temporary definition and its rows as read.
struct Copy {
    name: String,
    create: String,
    /// The columns copied (generated ones are left to the copy to compute), quoted.
    names: Vec<String>,
    /// The expression each column is read by (`HEX(c)`, `c + 0e0`, or `c`).
    list: Vec<String>,
    /// Which columns are read as HEX.
    text: Vec<bool>,
    /// The type byte of each value as read.
    types: Vec<u8>,
    rows: Vec<Vec<Option<Vec<u8>>>>,
}

impl Copy {
    /// The SQL literal of value `v` of column `i`, as it was read: the same value, put back exactly.
    fn literal(&self, i: usize, v: &Option<Vec<u8>>) -> String {
        match (v, self.text[i]) {
            (Some(hex), true) => format!("X'{}'", String::from_utf8_lossy(hex)),
            _ => sql_literal(v, self.types[i]),
        }
    }

    /// `rows` as `(…)` VALUES lists.
    fn values<'a>(&'a self, rows: &'a [Vec<Option<Vec<u8>>>]) -> impl Iterator<Item = String> + 'a {
        rows.iter().map(|r| format!("({})", r.iter().enumerate().map(|(i, v)| self.literal(i, v)).collect::<Vec<_>>().join(", ")))
    }
}

/// The definition of `physical` as a temporary table named `name`: foreign keys and partitioning removed
/// (temporary tables can have neither; they change no answer of a query).
pub fn temporary_definition(ddl: &str, name: &str) -> Result<String, String> {
    let open = ddl.find(" (\n").ok_or_else(|| format!("an unexpected SHOW CREATE TABLE: {ddl}"))?;
    if !ddl.starts_with("CREATE TABLE ") {
        return Err(format!("an unexpected SHOW CREATE TABLE: {ddl}"));
    }
    let mut lines: Vec<String> = Vec::new();
    let mut rest = "";
    for (i, line) in ddl[open + 3..].split('\n').enumerate() {
        let t = line.trim_start();
        if line.starts_with(')') {
            rest = &ddl[open + 3..][ddl[open + 3..].split('\n').take(i).map(|l| l.len() + 1).sum::<usize>()..];
            break;
        }
        if (t.starts_with("CONSTRAINT ") && t.contains(" FOREIGN KEY ")) || t.starts_with("FOREIGN KEY ") {
            continue;
        }
        lines.push(line.strip_suffix(',').unwrap_or(line).to_string());
    }
    if rest.is_empty() {
        return Err(format!("an unexpected SHOW CREATE TABLE: {ddl}"));
    }
    // Partitioning follows the table options, as ` PARTITION BY …` or `/*!50100 PARTITION BY …`.
    let rest = match [rest.find("\n PARTITION BY"), rest.find("PARTITION BY")].into_iter().flatten().min() {
        Some(at) => rest[..at].trim_end_matches("/*!50100 ").trim_end(),
        None => rest,
    };
    Ok(format!("CREATE TEMPORARY TABLE {} (\n{}\n{rest}", crate::sql::tokens::quote_ident(name, None), lines.join(",\n")))
}

/// Runs `sql` on `ds` and returns its rows (the ERR relayed as the statement's error).
async fn rows(ctx: &mut ExecCtx, ds: &str, sql: &str) -> Result<(Vec<Vec<u8>>, Vec<Vec<Option<Vec<u8>>>>), SgError> {
    ctx.query_table(ds, sql).await
}

/// Runs a copy query with pushed-down conditions, then reads its `@@warning_count`: its rows, or
/// `None` when the conditions warned (their warnings must come from the compute server, over every row).
#[allow(clippy::type_complexity)]
async fn filtered(ctx: &mut ExecCtx, ds: &str, sql: &str) -> Result<Option<(Vec<Vec<u8>>, Vec<Vec<Option<Vec<u8>>>>)>, SgError> {
    let found = rows(ctx, ds, sql).await?;
    let (_, count) = rows(ctx, ds, "SELECT @@warning_count").await?;
    let warned = count.first().and_then(|r| r.first().cloned().flatten()).is_some_and(|w| w != b"0");
    Ok((!warned).then_some(found))
}

/// Reads `table`'s definition and its rows (at most `budget` in all) into INSERT statements.
async fn read_copy(ctx: &mut ExecCtx, table: &CopiedTable, budget: &mut u64, cap: u64) -> Result<Copy, SgError> {
    let (ds, physical) = &table.nodes[0];
    let quoted = crate::sql::tokens::quote_ident(physical, None);
    // In the default quoting whatever the session's sql_mode (ANSI_QUOTES would print "names").
    let (_, ddl) = rows(ctx, ds, &format!("SET STATEMENT sql_mode='' FOR SHOW CREATE TABLE {quoted}")).await?;
    let ddl = ddl.first().and_then(|r| r.get(1).cloned().flatten()).ok_or_else(|| SgError::Failed(format!("SHOW CREATE TABLE {quoted} on '{ds}' returned nothing")))?;
    let create = temporary_definition(&String::from_utf8_lossy(&ddl), &table.name).map_err(SgError::Failed)?;
    let literal = physical.replace('\\', "\\\\").replace('\'', "''");
    let (_, described) = rows(
        ctx,
        ds,
        &format!(
            "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_SET_NAME IS NOT NULL, EXTRA LIKE '%GENERATED%' FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{literal}' ORDER BY ORDINAL_POSITION"
        ),
    )
    .await?;
    let text = |v: &Option<Vec<u8>>| v.as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let cols: Vec<Col> = described
        .iter()
        .filter(|r| text(&r[3]) != "1")
        .map(|r| Col { name: text(&r[0]), float: text(&r[1]).eq_ignore_ascii_case("float"), text: text(&r[2]) == "1" })
        .collect();
    let names: Vec<String> = cols.iter().map(|c| crate::sql::tokens::quote_ident(&c.name, None)).collect();
    let list: Vec<String> = cols
        .iter()
        .zip(&names)
        .map(|(c, n)| if c.text { format!("HEX({n})") } else if c.float { format!("{n} + 0e0") } else { n.clone() })
        .collect();
    let mut copied = Vec::new();
    let mut types = Vec::new();
    // The written table of a keyed write: its rows locked in the session's XA transaction as they are read.
    let lock = if table.lock { " FOR UPDATE" } else { "" };
    for (ds, physical) in &table.nodes {
        if table.lock {
            super::xa::enlist(ctx, ds).await?;
        }
        // One more row than the budget allows tells that it is exceeded, without reading the rest.
        let from = crate::sql::tokens::quote_ident(physical, None);
        let whole = format!("SELECT {} FROM {from} LIMIT {}{lock}", list.join(", "), *budget + 1);
        let (defs, found) = match &table.filter {
            Some((alias, conditions)) => {
                let alias = crate::sql::tokens::quote_ident(alias, None);
                let sql = format!("SELECT {} FROM {from} AS {alias} WHERE {conditions} LIMIT {}{lock}", list.join(", "), *budget + 1);
                match filtered(ctx, ds, &sql).await? {
                    Some(found) => found,
                    // The conditions warned: the compute server evaluates them over every row instead.
                    None => rows(ctx, ds, &whole).await?,
                }
            }
            None => rows(ctx, ds, &whole).await?,
        };
        if found.len() as u64 > *budget {
            return Err(SgError::NotSupported(format!(
                "a query the shards cannot answer as it is needs more than {cap} rows copied to the compute data source (max_fallback_rows); \
                 add the sharding key or narrower conditions, or raise [server] max_fallback_rows"
            )));
        }
        *budget -= found.len() as u64;
        types = defs.iter().map(|d| column(d).map(|c| c.type_byte)).collect::<Result<_, _>>()?;
        copied.extend(found);
    }
    let text = cols.iter().map(|c| c.text).collect();
    Ok(Copy { name: table.name.clone(), create: format!("{COPY_MODE}{create}"), names, list, text, types, rows: copied })
}

/// Runs `sql` on the compute connection, expecting an OK.
async fn ok(ctx: &mut ExecCtx, ds: &str, sql: &str) -> Result<(), SgError> {
    ctx.query_table(ds, sql).await.map(|_| ())
}

/// What runs over the copies: the client's statement (its answer relayed), a query whose rows the
/// proxy keeps (an INSERT … SELECT's rows), or the client's write, whose changes to the copies the proxy
/// then carries to the shards (execute/multi_write.rs).
enum Then<'a> {
    Answer(&'a Exec<'a>),
    Capture(&'a str),
    Write(&'a str),
}

/// Text rows with their column definitions.
type Table = (Vec<Vec<u8>>, Vec<Vec<Option<Vec<u8>>>>);

/// One copied table around a write: its rows before and after it.
pub struct Changed {
    copy: Copy,
    /// Its rows after the write, read as they were copied (same columns, same order).
    pub after: Vec<Vec<Option<Vec<u8>>>>,
}

impl Changed {
    /// The logical table's name.
    pub fn name(&self) -> &str {
        &self.copy.name
    }

    /// The columns copied, quoted, in the order of every row's values.
    pub fn columns(&self) -> &[String] {
        &self.copy.names
    }

    /// The rows before the write.
    pub fn before(&self) -> &[Vec<Option<Vec<u8>>>] {
        &self.copy.rows
    }

    /// The SQL literal of value `v` of column `i` (of a row before or after), which puts it back exactly.
    pub fn literal(&self, i: usize, v: &Option<Vec<u8>>) -> String {
        self.copy.literal(i, v)
    }

    /// Whether column `i` was read as the HEX of its bytes.
    pub fn hex(&self, i: usize) -> bool {
        self.copy.text[i]
    }

    /// Rows (before or after) as `(…)` VALUES lists.
    pub fn values<'a>(&'a self, rows: &'a [Vec<Option<Vec<u8>>>]) -> impl Iterator<Item = String> + 'a {
        self.copy.values(rows)
    }
}

/// What a write over the copies did: MariaDB's own OK for it, and every copy before and after.
pub struct Written {
    /// The OK the compute server answered the statement with.
    pub ok: crate::protocol::response::Ok,
    /// Each copied table, in the plan's order.
    pub tables: Vec<Changed>,
}

/// What running over the copies gave back to the proxy.
enum Done {
    /// The answer went to the client.
    Answered,
    Rows(Table),
    Written(Written),
}

/// Reads the warnings of the statement `ds` just ran into the statement's notes (the next statement there
/// would clear them).
async fn keep_warnings(ctx: &mut ExecCtx, ds: &str) -> Result<(), SgError> {
    let (_, found) = ctx.query_table(ds, super::warnings::SHOW_WARNINGS).await?;
    ctx.pending.notes.extend(super::warnings::notes(&found));
    Ok(())
}

/// Runs `statement` (a write) on `ds` and returns its OK; its warnings are read at once, before the copies
/// are read back (which would clear them).
async fn write(ctx: &mut ExecCtx, ds: &str, statement: &str) -> Result<crate::protocol::response::Ok, SgError> {
    let ok = ctx.query_ok(ds, statement).await?;
    if ok.warnings > 0 {
        keep_warnings(ctx, ds).await?;
    }
    Ok(ok)
}

/// Fills the copies, then runs what `then` says.
async fn compute(ctx: &mut ExecCtx, ds: &str, copies: Vec<Copy>, then: &Then<'_>) -> Result<Done, SgError> {
    for c in &copies {
        ok(ctx, ds, &c.create).await?;
        let head = format!("{COPY_MODE}INSERT INTO {} ({}) VALUES ", crate::sql::tokens::quote_ident(&c.name, None), c.names.join(", "));
        for insert in super::value::insert_batches(&head, c.values(&c.rows)) {
            ok(ctx, ds, &insert).await?;
        }
    }
    let how = match then {
        Then::Capture(sql) => return ctx.query_table(ds, sql).await.map(Done::Rows),
        Then::Write(sql) => {
            let ok = write(ctx, ds, sql).await?;
            let mut tables = Vec::with_capacity(copies.len());
            for copy in copies {
                let read = format!("SELECT {} FROM {}", copy.list.join(", "), crate::sql::tokens::quote_ident(&copy.name, None));
                let (_, after) = ctx.query_table(ds, &read).await?;
                tables.push(Changed { copy, after });
            }
            return Ok(Done::Written(Written { ok, tables }));
        }
        Then::Answer(how) => how,
    };
    match how {
        Exec::Text(payload) => super::passthrough::run(ctx, ds, payload, ReplyKind::ResultSets).await,
        Exec::Binary(sql) => super::merge::run(ctx, &[Target { data_source: ds.to_string(), sql: sql.to_string() }], &MergeSpec::none(), true).await,
        Exec::Native { text, .. } => {
            let command = [&[com::QUERY][..], text.as_bytes()].concat();
            super::passthrough::run(ctx, ds, &command, ReplyKind::ResultSets).await
        }
    }
    .map(|_| Done::Answered)
}

/// Runs `plan` for the statement `how` describes.
pub async fn run(ctx: &mut ExecCtx, plan: &ComputePlan, how: &Exec<'_>) -> Result<(), SgError> {
    run_then(ctx, plan, &Then::Answer(how)).await.map(|_| ())
}

/// Runs the query `sql` over `plan`'s copies and returns its rows (nothing reaches the client).
pub async fn capture(ctx: &mut ExecCtx, plan: &ComputePlan, sql: &str) -> Result<Table, SgError> {
    match run_then(ctx, plan, &Then::Capture(sql)).await? {
        Done::Rows(table) => Ok(table),
        _ => Ok(Table::default()),
    }
}

/// Runs the write `sql` over `plan`'s copies (nothing reaches the client): its OK and what it changed.
pub async fn write_over(ctx: &mut ExecCtx, plan: &ComputePlan, sql: &str) -> Result<Written, SgError> {
    match run_then(ctx, plan, &Then::Write(sql)).await? {
        Done::Written(w) => Ok(w),
        _ => Err(SgError::Failed("a write over copies gave no outcome".into())),
    }
}

async fn run_then(ctx: &mut ExecCtx, plan: &ComputePlan, then: &Then<'_>) -> Result<Done, SgError> {
    // The copies are temporary tables, which MariaDB refuses in a READ ONLY transaction (1792) although the
    // client's query only reads: say so instead. (A write there, INSERT … SELECT too, fails with that same
    // 1792, as on MariaDB.)
    let read_only = ctx.state.status & crate::protocol::constants::status::IN_TRANS_READONLY != 0;
    if read_only && ctx.in_transaction() && !plan.tables.is_empty() && matches!(then, Then::Answer(_)) {
        return Err(SgError::NotSupported(
            "this query inside a READ ONLY transaction: shardgate answers it over temporary copies of its sharded tables, \
             which MariaDB does not allow in a read-only transaction; run it in START TRANSACTION READ WRITE or in autocommit"
                .into(),
        ));
    }
    let cap = ctx.shared.rules.server.max_fallback_rows;
    let mut budget = cap;
    let mut copies = Vec::with_capacity(plan.tables.len());
    for t in &plan.tables {
        copies.push(read_copy(ctx, t, &mut budget, cap).await?);
    }
    let ds = plan.data_source.as_str();
    let names: Vec<String> = copies.iter().map(|c| crate::sql::tokens::quote_ident(&c.name, None)).collect();
    let result = compute(ctx, ds, copies, then).await;
    if !ctx.backends.contains_key(ds) {
        // The connection was closed (and its temporary tables with it).
        return result;
    }
    // The statement's warnings now: dropping the copies clears them on that connection.
    if let Some(at) = ctx.pending.warned.iter().position(|(d, _)| d == ds) {
        ctx.pending.warned.remove(at);
        let _ = keep_warnings(ctx, ds).await;
    }
    if !names.is_empty() && ok(ctx, ds, &format!("DROP TEMPORARY TABLE IF EXISTS {}", names.join(", "))).await.is_err() {
        // The copies may still be there: the connection is reset before another session gets it.
        ctx.dirty = true;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::temporary_definition;
    use crate::execute::fake_ctx::{err, ok, rows, table, typed_rows, Harness, SCHEMA};
    use crate::plan::Plan;

    const QUERY: &str = "SELECT COUNT(*) FROM (SELECT DISTINCT c FROM k) d";

    /// Scripts k's definition and rows (id 2 with 'a' on ds_0, id 3 with NULL on ds_1).
    fn script(h: &Harness) {
        let ddl = "CREATE TABLE `k_0` (\n  `id` int(11) NOT NULL,\n  `c` varchar(5) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB";
        h.ds0.on("SET STATEMENT sql_mode='' FOR SHOW CREATE TABLE `k_0`", rows(&["Table", "Create Table"], &[&["k_0", ddl]]));
        h.ds0.on_prefix("SELECT COLUMN_NAME, DATA_TYPE", rows(&["n", "t", "cs", "g"], &[&["id", "int", "0", "0"], &["c", "varchar", "1", "0"]]));
        h.ds0.on("SELECT `id`, HEX(`c`) FROM `k_0` LIMIT 100001", typed_rows(&[("id", 0x03), ("HEX(`c`)", 0xFD)], &[&["2", "61"]]));
        h.ds1.on("SELECT `id`, HEX(`c`) FROM `k_1` LIMIT 100000", typed_rows(&[("id", 0x03), ("HEX(`c`)", 0xFD)], &[&["3", "NULL"]]));
        h.ds0.on_prefix("SET STATEMENT sql_mode='NO_AUTO_VALUE_ON_ZERO' FOR CREATE TEMPORARY TABLE `k`", ok(0));
        h.ds0.on("SET STATEMENT sql_mode='NO_AUTO_VALUE_ON_ZERO' FOR INSERT INTO `k` (`id`, `c`) VALUES (2, X'61'), (3, NULL)", ok(2));
        h.ds0.on("DROP TEMPORARY TABLE IF EXISTS `k`", ok(0));
    }

    #[tokio::test]
    async fn the_copies_are_filled_queried_and_dropped_on_the_compute_connection() {
        let mut h = Harness::new(SCHEMA).await;
        assert!(matches!(h.plan(QUERY), Plan::Compute(_)), "{:?}", h.plan(QUERY));
        script(&h);
        h.ds0.on(QUERY, typed_rows(&[("COUNT(*)", 0x08)], &[&["2"]]));
        h.run(QUERY).await.unwrap();
        let reply = h.read_reply().await;
        assert_eq!((reply.columns(), reply.rows()), (vec!["COUNT(*)".to_string()], table(&[&["2"]])));
        h.nothing_more();
        let home = h.queries(0);
        assert_eq!(home[0], "SET STATEMENT sql_mode='' FOR SHOW CREATE TABLE `k_0`");
        assert_eq!(home[2..], [
            "SELECT `id`, HEX(`c`) FROM `k_0` LIMIT 100001",
            "SET STATEMENT sql_mode='NO_AUTO_VALUE_ON_ZERO' FOR CREATE TEMPORARY TABLE `k` (\n  `id` int(11) NOT NULL,\n  `c` varchar(5) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB",
            "SET STATEMENT sql_mode='NO_AUTO_VALUE_ON_ZERO' FOR INSERT INTO `k` (`id`, `c`) VALUES (2, X'61'), (3, NULL)",
            QUERY,
            "DROP TEMPORARY TABLE IF EXISTS `k`",
        ]);
        assert_eq!(h.queries(1), ["SELECT `id`, HEX(`c`) FROM `k_1` LIMIT 100000"]);
        assert!(!h.ctx.dirty, "the copies were dropped: the connection needs no reset");
    }

    #[tokio::test]
    async fn an_error_of_the_statement_is_relayed_and_the_copies_dropped_all_the_same() {
        let mut h = Harness::new(SCHEMA).await;
        script(&h);
        h.ds0.on(QUERY, err(1054, "Unknown column 'x' in 'field list'"));
        h.run(QUERY).await.unwrap();
        assert_eq!(h.read_reply().await.err().0, 1054);
        assert_eq!(h.queries(0).last().map(String::as_str), Some("DROP TEMPORARY TABLE IF EXISTS `k`"));
        // A copy that cannot be dropped leaves the connection to be reset before anyone else gets it.
        let mut h = Harness::new(SCHEMA).await;
        script(&h);
        h.ds0.on(QUERY, typed_rows(&[("COUNT(*)", 0x08)], &[&["2"]]));
        h.ds0.on("DROP TEMPORARY TABLE IF EXISTS `k`", err(1105, "no"));
        h.run(QUERY).await.unwrap();
        h.read_reply().await;
        assert!(h.ctx.dirty);
    }

    #[test]
    fn the_definition_loses_its_foreign_keys_and_partitions_and_takes_the_logical_name() {
        let ddl = "CREATE TABLE `t_1` (\n  `id` int(11) NOT NULL,\n  `pid` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `pid` (`pid`),\n  \
                   CONSTRAINT `c_ibfk_1` FOREIGN KEY (`pid`) REFERENCES `p` (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci\n PARTITION BY HASH (`id`)\nPARTITIONS 4";
        assert_eq!(
            temporary_definition(ddl, "t").unwrap(),
            "CREATE TEMPORARY TABLE `t` (\n  `id` int(11) NOT NULL,\n  `pid` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `pid` (`pid`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
        );
        let plain = "CREATE TABLE `o` (\n  `a` varchar(3) CHARACTER SET latin1 COLLATE latin1_swedish_ci DEFAULT 'x,y'\n) ENGINE=InnoDB";
        assert_eq!(temporary_definition(plain, "o`x").unwrap(), "CREATE TEMPORARY TABLE `o``x` (\n  `a` varchar(3) CHARACTER SET latin1 COLLATE latin1_swedish_ci DEFAULT 'x,y'\n) ENGINE=InnoDB");
        assert!(temporary_definition("CREATE VIEW v AS SELECT 1", "v").is_err());
    }
}
