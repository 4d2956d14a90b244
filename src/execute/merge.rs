//! Runs a merged SELECT: sends every shard its query at once, reads their rows as streams (one connection
//! per shard, so they are read concurrently), and passes them through MergeSort / Aggregate / Distinct /
//! Limit before re-encoding the visible columns for the client.

use crate::backend::conn::BackendConn;
use crate::backend::pool::PooledConn;
use crate::error::SgError;
use crate::plan::merge::{ColRef, MergeSpec};
use crate::plan::planner::Target;
use crate::protocol::codec::Reader;
use crate::protocol::reply::{ReplyKind, ReplyScanner};
use crate::protocol::resultset::encode_text_row;
use crate::protocol::row_binary::{decode_binary_row, encode_binary_row, wire_type, WireType};
use crate::protocol::row_text::decode_text_row;
use super::context::ExecCtx;
use crate::stats::Stats;

use super::aggregate::Aggregate;
use super::distinct::Distinct;
use super::limit::{Admit, Limit};
use super::merge_sort::{sort_rows, MergeSort};
use super::stream::{Concat, Row, RowStream};
use super::value::{column, set_decimals, Column};

/// One shard's result, read row by row from its connection.
struct ShardStream {
    /// The connection, while this stream reads from it (a stream that shares its data source's connection
    /// inside a transaction holds it only while its reply arrives).
    pooled: Option<PooledConn>,
    data_source: String,
    pinned: bool,
    /// Rows read ahead (a stream that handed the shared connection on to the next one); `None` when live.
    buffer: Option<std::collections::VecDeque<Row>>,
    scanner: ReplyScanner,
    columns: usize,
    /// Wire types when the rows are binary (COM_STMT_EXECUTE); `None` for text rows.
    binary: Option<Vec<WireType>>,
    /// Rows taken from all shards of this statement so far, and the cap (`max_merge_rows`).
    taken: std::sync::Arc<std::sync::atomic::AtomicU64>,
    cap: Option<u64>,
}

/// The error for a merge over `max_merge_rows`.
pub fn too_many_rows(cap: u64) -> SgError {
    SgError::Failed(format!(
        "a statement over several shards took more than {cap} rows from them (max_merge_rows); add the sharding key, a LIMIT, or filter more"
    ))
}

impl ShardStream {
    fn conn(&mut self) -> &mut BackendConn {
        &mut self.pooled.as_mut().expect("a stream reads only while it holds the connection").conn
    }

    async fn packet(&mut self) -> Result<Vec<u8>, SgError> {
        let ds = self.data_source.clone();
        let p = self.conn().read_packet().await.map_err(|e| SgError::BackendLost(ds, e))?;
        self.scanner.feed_packet(&p.payload)?;
        Ok(p.payload.to_vec())
    }

    /// Reads the rest of the reply so the connection can serve the next statement.
    async fn drain(&mut self) -> Result<(), SgError> {
        while self.pooled.is_some() && !self.scanner.is_done() {
            self.packet().await?;
        }
        Ok(())
    }
}


impl RowStream for ShardStream {
    async fn next_row(&mut self) -> Result<Option<Row>, SgError> {
        if let Some(buffer) = &mut self.buffer {
            return Ok(buffer.pop_front());
        }
        if self.scanner.is_done() {
            return Ok(None);
        }
        let p = self.packet().await?;
        if self.scanner.error {
            return Err(crate::protocol::response::relayed_error(&p));
        }
        if self.scanner.is_done() {
            return Ok(None);
        }
        let taken = self.taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if let Some(cap) = self.cap.filter(|&c| taken > c) {
            return Err(too_many_rows(cap));
        }
        if let Some(types) = &self.binary {
            return decode_binary_row(&p, types).map(Some);
        }
        let row = decode_text_row(&p, self.columns)?;
        Ok(Some(row.into_iter().map(|v| v.map(<[u8]>::to_vec)).collect()))
    }
}

/// Checks out one connection per target: the session's own for the first target on each data source,
/// extra ones from the pool for further targets on the same data source (a connection answers one query
/// at a time, and the merge reads all shards at once).
async fn connections(ctx: &mut ExecCtx, targets: &[Target]) -> Result<Vec<ShardStream>, SgError> {
    let mut streams: Vec<ShardStream> = Vec::with_capacity(targets.len());
    let database = ctx.state.schema.as_deref().and_then(|s| ctx.shared.layouts.get(s)).map(|l| l.database.clone());
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let cap = ctx.shared.rules.server.max_merge_rows;
    // The session's own connections first, in name order (see session::sharing).
    for ds in super::scatter::data_sources(targets) {
        ctx.ensure_backend(&ds).await?;
    }
    for t in targets {
        let first = !streams.iter().any(|s| s.data_source == t.data_source);
        // Inside a transaction every table of a data source is read on the transaction's connection, one
        // after the other (the rows of all but the last are read ahead into memory, within max_merge_rows).
        let shared = !first && ctx.in_transaction();
        let pooled = if first {
            ctx.ensure_backend(&t.data_source).await?;
            Some(ctx.backends.remove(&t.data_source).expect("pinned"))
        } else if shared {
            None
        } else {
            let pool = ctx.shared.pools[&t.data_source].clone();
            Some(pool.get(ctx.state.variant(), database.as_deref()).await?)
        };
        let holder = streams.iter().find(|s| s.data_source == t.data_source && s.pooled.is_some());
        let deprecate_eof = pooled.as_ref().or(holder.and_then(|s| s.pooled.as_ref())).expect("a connection").conn.deprecate_eof();
        streams.push(ShardStream {
            pooled,
            buffer: None,
            data_source: t.data_source.clone(),
            pinned: first,
            scanner: ReplyScanner::new(ReplyKind::ResultSets, deprecate_eof),
            columns: 0,
            binary: None,
            taken: taken.clone(),
            cap,
        });
    }
    ctx.handle.set_lent(streams.iter().filter_map(|s| Some((s.data_source.clone(), s.pooled.as_ref()?.conn.connection_id))).collect());
    Ok(streams)
}

/// Gives connections back: pinned ones to the ctx, extra ones to their pool; a connection whose reply
/// could not be drained is closed.
async fn give_back(ctx: &mut ExecCtx, streams: Vec<ShardStream>) {
    ctx.handle.set_lent(Vec::new());
    for mut s in streams {
        if s.drain().await.is_err() {
            continue;
        }
        let Some(mut pooled) = s.pooled else { continue };
        // Its warnings now, before the connection runs anything else or goes back to its pool.
        if s.scanner.warnings > 0 {
            pooled.conn.queue_query(super::warnings::SHOW_WARNINGS);
            if pooled.conn.flush().await.is_ok() {
                ctx.pending.notes.extend(super::warnings::read_notes(&mut pooled.conn).await);
            }
        }
        if s.pinned {
            ctx.backends.insert(s.data_source.clone(), pooled);
        } else if let Some(pool) = ctx.shared.pools.get(&s.data_source).cloned() {
            pool.release(pooled).await;
        }
    }
}

/// Runs a merged SELECT; `binary` answers with binary-protocol rows (a COM_STMT_EXECUTE).
pub async fn run(ctx: &mut ExecCtx, targets: &[Target], spec: &MergeSpec, binary: bool) -> Result<(), SgError> {
    let mut streams = connections(ctx, targets).await?;
    let result = execute(ctx, &mut streams, targets, spec, binary).await;
    if let Some(s) = streams.first() {
        ctx.shared.metrics.rows_merged.increment(s.taken.load(std::sync::atomic::Ordering::Relaxed));
    }
    give_back(ctx, streams).await;
    result
}

/// What the shards answered first.
enum Header {
    /// Column definitions of a result set (the first shard's).
    Columns(Vec<Vec<u8>>),
    /// One target answered with an OK packet (a statement without rows run through this path).
    Ok(Vec<u8>),
}

/// Reads each shard's header (column count and definitions).
async fn headers(streams: &mut [ShardStream], targets: &[Target]) -> Result<Header, SgError> {
    for i in 0..streams.len() {
        if streams[i].pooled.is_none() {
            continue;
        }
        // The statements of the streams that share this connection go out with its own, in order.
        let ds = streams[i].data_source.clone();
        for (j, t) in targets.iter().enumerate().skip(i) {
            if j == i || (streams[j].pooled.is_none() && t.data_source == ds) {
                streams[i].conn().queue_query(&t.sql);
            }
        }
        streams[i].conn().flush().await.map_err(|e| SgError::BackendLost(ds, e))?;
    }
    let mut first_defs = Vec::new();
    let mut failure = None;
    for i in 0..streams.len() {
        if streams[i].pooled.is_none() {
            hand_over(streams, i).await?;
        }
        let s = &mut streams[i];
        let head = s.packet().await?;
        if s.scanner.error {
            failure.get_or_insert(crate::protocol::response::relayed_error(&head));
            continue;
        }
        if s.scanner.is_done() {
            if targets.len() == 1 && head.first() == Some(&0x00) {
                return Ok(Header::Ok(head));
            }
            failure.get_or_insert(SgError::NotSupported("a merged statement that returns no rows".into()));
            continue;
        }
        let n = Reader::new(&head).lenenc_int()? as usize;
        s.columns = n;
        for _ in 0..n {
            let def = s.packet().await?;
            if i == 0 {
                first_defs.push(def);
            }
        }
        if !s.conn().deprecate_eof() {
            s.packet().await?;
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(Header::Columns(first_defs)),
    }
}

/// Moves the shared connection of stream `i`'s data source to it, after reading the rows of the stream that
/// holds it (whose reply comes first on the connection) into that stream's buffer.
async fn hand_over(streams: &mut [ShardStream], i: usize) -> Result<(), SgError> {
    let ds = streams[i].data_source.clone();
    let Some(holder) = (0..i).find(|&h| streams[h].data_source == ds && streams[h].pooled.is_some()) else {
        return Err(SgError::BackendLost(ds, "no connection to read the next table's rows from".into()));
    };
    let h = &mut streams[holder];
    let mut buffer = std::collections::VecDeque::new();
    if !h.scanner.error {
        while let Some(row) = h.next_row().await? {
            buffer.push_back(row);
        }
    }
    h.drain().await?;
    h.buffer = Some(buffer);
    let (pooled, pinned) = (h.pooled.take(), std::mem::replace(&mut h.pinned, false));
    streams[i].pooled = pooled;
    streams[i].pinned = pinned;
    Ok(())
}

/// Replaces the connection collation MariaDB announces for text columns by the column's real one (looked
/// up once in information_schema, then cached), so ORDER BY, GROUP BY and DISTINCT compare as the backend
/// does, e.g. utf8mb4_unicode_ci's ß = ss.
async fn resolve_collations(ctx: &ExecCtx, data_source: &str, columns: &mut [Column]) -> Result<(), SgError> {
    use super::value::{collation_named, Collation, Kind};
    let cache_key = |(db, t, c): &(String, String, String)| format!("{data_source}/{db}.{t}.{c}");
    let mut missing = Vec::new();
    {
        let cache = ctx.shared.collations.lock().unwrap_or_else(|e| e.into_inner());
        for col in columns.iter_mut() {
            let (Kind::Text(Collation::GeneralCi), Some(origin)) = (col.kind, &col.origin) else { continue };
            match cache.get(&cache_key(origin)) {
                Some(c) => col.kind = Kind::Text(*c),
                None => missing.push(origin.clone()),
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let pool = ctx.shared.pools[data_source].clone();
    let variant = crate::backend::conn::Variant { caps: crate::protocol::constants::cap::DEPRECATE_EOF, collation: crate::protocol::constants::UTF8MB4_GENERAL_CI };
    let mut pooled = pool.get(variant, None).await?;
    let quote = |s: &str| s.replace('\\', "\\\\").replace('\'', "\\'");
    let conditions: Vec<String> = missing
        .iter()
        .map(|(db, t, c)| format!("(TABLE_SCHEMA = '{}' AND TABLE_NAME = '{}' AND COLUMN_NAME = '{}')", quote(db), quote(t), quote(c)))
        .collect();
    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS WHERE {}",
        conditions.join(" OR ")
    );
    let rows = pooled.conn.query_rows(&sql).await.map_err(|e| SgError::BackendLost(data_source.to_string(), e))?;
    pool.put_clean(pooled);
    let text = |v: &Option<Vec<u8>>| v.as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let mut cache = ctx.shared.collations.lock().unwrap_or_else(|e| e.into_inner());
    for r in &rows {
        let origin = (text(&r[0]), text(&r[1]), text(&r[2]));
        cache.insert(cache_key(&origin), collation_named(&text(&r[3])));
    }
    for col in columns.iter_mut() {
        let (Kind::Text(Collation::GeneralCi), Some(origin)) = (col.kind, &col.origin) else { continue };
        if let Some(c) = cache.get(&cache_key(origin)) {
            col.kind = Kind::Text(*c);
        }
    }
    Ok(())
}

/// Writes merged rows to the client: DISTINCT, then OFFSET and LIMIT, then only the visible columns.
struct Emitter {
    seq: u8,
    visible: usize,
    /// Wire types of the visible columns when the client reads binary rows.
    binary: Option<Vec<WireType>>,
    distinct: Option<Distinct>,
    limit: Limit,
    rows: u64,
}

impl Emitter {
    /// Sends `row` if it qualifies; returns false once the limit is reached (stop reading).
    async fn push(&mut self, client: &mut crate::protocol::packet::PacketStream, row: Row) -> Result<bool, SgError> {
        if self.limit.is_done() {
            return Ok(false);
        }
        if let Some(d) = self.distinct.as_mut() {
            if !d.first_time(&row) {
                return Ok(true);
            }
        }
        match self.limit.admit() {
            Admit::Skip => return Ok(true),
            Admit::Done => return Ok(false),
            Admit::Take => {}
        }
        let payload = match &self.binary {
            Some(types) => encode_binary_row(&row[..self.visible], types)?,
            None => encode_text_row(&row[..self.visible].iter().map(|v| v.as_deref()).collect::<Vec<_>>()),
        };
        self.seq = client.queue_packet(self.seq, &payload);
        self.rows += 1;
        if client.buffered() > 64 * 1024 {
            client.flush().await?;
        }
        Ok(!self.limit.is_done())
    }
}

async fn execute(ctx: &mut ExecCtx, streams: &mut Vec<ShardStream>, targets: &[Target], spec: &MergeSpec, binary: bool) -> Result<(), SgError> {
    let mut defs = match headers(streams, targets).await? {
        Header::Columns(defs) => defs,
        Header::Ok(ok) => {
            if let Ok(o) = crate::protocol::response::decode_ok(&ok) {
                let bits = super::xa::status_bits(ctx);
                ctx.state.status = super::xa::absorb(ctx.state.status, o.status, bits);
            }
            let mut ok = ok;
            if let Some(at) = crate::protocol::response::status_offset(&ok, false) {
                ok[at..at + 2].copy_from_slice(&ctx.state.status.to_le_bytes());
            }
            return ctx.send_raw_reply(&ok).await;
        }
    };
    let mut columns: Vec<Column> = defs.iter().map(|d| column(d)).collect::<Result<_, _>>()?;
    resolve_collations(ctx, &targets[0].data_source, &mut columns).await?;
    if columns.len() < spec.derived || streams.iter().any(|s| s.columns != columns.len()) {
        return Err(SgError::NotSupported("shards answered with different columns".into()));
    }
    let visible = columns.len() - spec.derived;
    let abs = |c: ColRef| match c {
        ColRef::Visible(i) => i,
        ColRef::Derived(k) => visible + k,
    };
    for &(col, w, p) in &spec.weights {
        columns[abs(col)].weight = Some((visible + w, visible + p));
    }
    if let Some(h) = &spec.having {
        super::having::exact(h, &columns, visible).map_err(SgError::Inexact)?;
    }
    let order: Vec<(usize, bool)> = spec.order.iter().map(|k| (abs(k.col), k.desc)).collect();
    for (c, scale) in Aggregate::avg_scales(&spec.aggregates, &columns) {
        set_decimals(&mut defs[c], scale);
    }
    for &(c, f) in &spec.aggregates {
        if f == crate::plan::merge::AggFunc::CountDistinct && c < visible {
            // The shards returned the distinct values here; the client gets a BIGINT count.
            let name = columns[c].name.clone();
            defs[c] = crate::protocol::resultset::encode_column("", "", &name, crate::protocol::resultset::ColumnType::Integer);
        }
    }
    // A prepared statement's columns are named as at prepare time (its values are bound into the text here).
    if let Some(names) = ctx.column_names.clone().filter(|n| binary && n.len() == visible) {
        for (d, name) in defs.iter_mut().zip(names.iter()) {
            if let Some(renamed) = crate::protocol::resultset::rename_column(d, name) {
                *d = renamed;
            }
        }
    }
    let deprecate_eof = ctx.state.deprecate_eof();
    let mut count = Vec::new();
    crate::protocol::codec::put_lenenc_int(&mut count, visible as u64);
    let mut seq = ctx.client.queue_packet(ctx.reply_seq(), &count);
    for d in &defs[..visible] {
        seq = ctx.client.queue_packet(seq, d);
    }
    if !deprecate_eof {
        seq = ctx.client.queue_packet(seq, &crate::protocol::response::encode_eof(ctx.state.status, 0));
    }
    let binary = if binary || streams.iter().any(|s| s.binary.is_some()) {
        Some(defs[..visible].iter().map(|d| wire_type(d)).collect::<Result<Vec<_>, _>>()?)
    } else {
        None
    };
    let mut out = Emitter {
        seq,
        visible,
        binary,
        distinct: spec.distinct.then(|| Distinct::new(visible, columns.clone())),
        limit: Limit::new(spec.offset, spec.limit),
        rows: 0,
    };
    let body = rows(ctx, streams, spec, &columns, &order, visible, &mut out).await;
    if let Err(e) = body {
        // The column definitions are already queued: the error takes the place of the remaining rows.
        let payload = crate::protocol::response::encode_error(&e);
        ctx.client.queue_packet(out.seq, &payload);
        ctx.client.flush().await?;
        ctx.note_failure(e.code(), e.to_string());
        return match e {
            SgError::Backend { .. } | SgError::Failed(_) | SgError::NotSupported(_) => Ok(()),
            other => Err(SgError::ClientIo(std::io::Error::other(format!("closing after a failed merge: {other}")))),
        };
    }
    let warnings = streams.iter().map(|s| s.scanner.warnings).fold(0u16, u16::saturating_add);
    ctx.client.queue_packet(out.seq, &crate::protocol::response::encode_end_of_rows_warned(deprecate_eof, ctx.state.status, warnings));
    ctx.client.flush().await?;
    Stats::add(&ctx.shared.stats.rows_relayed, out.rows);
    Ok(())
}

/// Produces the merged rows into `out`.
async fn rows(
    ctx: &mut ExecCtx,
    streams: &mut Vec<ShardStream>,
    spec: &MergeSpec,
    columns: &[Column],
    order: &[(usize, bool)],
    visible: usize,
    out: &mut Emitter,
) -> Result<(), SgError> {
    let client = &mut ctx.client;
    if spec.aggregated {
        let group: Vec<usize> = spec.group.iter().map(|k| visible + k).collect();
        let mut agg = Aggregate::new(group.clone(), spec.aggregates.clone(), visible, columns.to_vec());
        for s in streams.iter_mut() {
            while let Some(r) = s.next_row().await? {
                agg.add(r)?;
            }
        }
        let mut rows = agg.finish()?;
        let merged = Aggregate::output_columns(&spec.aggregates, columns);
        if let Some(h) = &spec.having {
            rows.retain(|r| super::having::eval(h, r, &merged, visible) == Some(true));
        }
        // Without ORDER BY, MariaDB returns groups in GROUP BY order.
        let keys: Vec<(usize, bool)> = if order.is_empty() { group.iter().map(|&g| (g, false)).collect() } else { order.to_vec() };
        sort_rows(&mut rows, &keys, &merged);
        for r in rows {
            if !out.push(client, r).await? {
                break;
            }
        }
        return Ok(());
    }
    if order.is_empty() {
        let mut all = Concat::new(std::mem::take(streams));
        let result = async {
            while let Some(r) = all.next_row().await? {
                if !out.push(client, r).await? {
                    break;
                }
            }
            Ok(())
        }
        .await;
        *streams = all.into_streams();
        return result;
    }
    let mut merge = MergeSort::new(std::mem::take(streams), order.to_vec(), columns.to_vec());
    let result = async {
        while let Some(r) = merge.next_row().await? {
            if !out.push(client, r).await? {
                break;
            }
        }
        Ok(())
    }
    .await;
    *streams = merge.into_streams();
    result
}
