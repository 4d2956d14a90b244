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
use crate::protocol::response::{decode_err, encode_end_of_rows};
use crate::protocol::resultset::encode_text_row;
use crate::protocol::row_text::decode_text_row;
use crate::session::session::Session;
use crate::stats::Stats;

use super::aggregate::Aggregate;
use super::distinct::Distinct;
use super::merge_sort::{sort_rows, MergeSort};
use super::stream::{Row, RowStream};
use super::value::{column, set_decimals, Column};

/// One shard's result, read row by row from its connection.
struct ShardStream {
    pooled: PooledConn,
    data_source: String,
    pinned: bool,
    scanner: ReplyScanner,
    columns: usize,
}

impl ShardStream {
    fn conn(&mut self) -> &mut BackendConn {
        &mut self.pooled.conn
    }

    async fn packet(&mut self) -> Result<Vec<u8>, SgError> {
        let p = self.pooled.conn.read_packet().await.map_err(|e| SgError::BackendLost(self.data_source.clone(), e))?;
        self.scanner.feed_packet(&p.payload)?;
        Ok(p.payload.to_vec())
    }

    /// Reads the rest of the reply so the connection can serve the next statement.
    async fn drain(&mut self) -> Result<(), SgError> {
        while !self.scanner.is_done() {
            self.packet().await?;
        }
        Ok(())
    }
}

fn backend_error(payload: &[u8]) -> SgError {
    match decode_err(payload) {
        Ok(e) => SgError::Backend { code: e.code, sqlstate: e.sqlstate, message: e.message },
        Err(e) => e,
    }
}

impl RowStream for ShardStream {
    async fn next_row(&mut self) -> Result<Option<Row>, SgError> {
        if self.scanner.is_done() {
            return Ok(None);
        }
        let p = self.packet().await?;
        if self.scanner.error {
            return Err(backend_error(&p));
        }
        if self.scanner.is_done() {
            return Ok(None);
        }
        let row = decode_text_row(&p, self.columns)?;
        Ok(Some(row.into_iter().map(|v| v.map(<[u8]>::to_vec)).collect()))
    }
}

/// Checks out one connection per target: the session's own for the first target on each data source,
/// extra ones from the pool for further targets on the same data source (a connection answers one query
/// at a time, and the merge reads all shards at once).
async fn connections(session: &mut Session, targets: &[Target]) -> Result<Vec<ShardStream>, SgError> {
    let mut streams: Vec<ShardStream> = Vec::with_capacity(targets.len());
    let database = session.state.schema.as_deref().and_then(|s| session.shared.layouts.get(s)).map(|l| l.database.clone());
    for t in targets {
        let first = !streams.iter().any(|s| s.data_source == t.data_source);
        let pooled = if first {
            session.ensure_backend(&t.data_source).await?;
            session.backends.remove(&t.data_source).expect("pinned")
        } else {
            if session.in_transaction() {
                return Err(SgError::NotSupported("a merged query over several tables of one data source inside a transaction".into()));
            }
            let pool = session.shared.pools[&t.data_source].clone();
            pool.get(session.state.variant(), database.as_deref()).await?
        };
        let deprecate_eof = pooled.conn.deprecate_eof();
        streams.push(ShardStream {
            pooled,
            data_source: t.data_source.clone(),
            pinned: first,
            scanner: ReplyScanner::new(ReplyKind::ResultSets, deprecate_eof),
            columns: 0,
        });
    }
    Ok(streams)
}

/// Gives connections back: pinned ones to the session, extra ones to their pool; a connection whose reply
/// could not be drained is closed.
async fn give_back(session: &mut Session, streams: Vec<ShardStream>) {
    for mut s in streams {
        if s.drain().await.is_err() {
            continue;
        }
        if s.pinned {
            session.backends.insert(s.data_source.clone(), s.pooled);
        } else if let Some(pool) = session.shared.pools.get(&s.data_source).cloned() {
            pool.release(s.pooled).await;
        }
    }
}

/// Runs a merged SELECT.
pub async fn run(session: &mut Session, targets: &[Target], spec: &MergeSpec) -> Result<(), SgError> {
    let mut streams = connections(session, targets).await?;
    let result = execute(session, &mut streams, targets, spec).await;
    give_back(session, streams).await;
    result
}

/// Reads each shard's header (column count and definitions); returns the first shard's definitions.
async fn headers(streams: &mut [ShardStream], targets: &[Target]) -> Result<Vec<Vec<u8>>, SgError> {
    for (s, t) in streams.iter_mut().zip(targets) {
        s.conn().queue_query(&t.sql);
        let ds = s.data_source.clone();
        s.conn().flush().await.map_err(|e| SgError::BackendLost(ds, e))?;
    }
    let mut first_defs = Vec::new();
    let mut failure = None;
    for (i, s) in streams.iter_mut().enumerate() {
        let head = s.packet().await?;
        if s.scanner.error {
            failure.get_or_insert(backend_error(&head));
            continue;
        }
        if s.scanner.is_done() {
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
        None => Ok(first_defs),
    }
}

/// Writes merged rows to the client: DISTINCT, then OFFSET and LIMIT, then only the visible columns.
struct Emitter {
    seq: u8,
    visible: usize,
    distinct: Option<Distinct>,
    skip: u64,
    left: Option<u64>,
    rows: u64,
}

impl Emitter {
    /// Sends `row` if it qualifies; returns false once the limit is reached (stop reading).
    async fn push(&mut self, client: &mut crate::protocol::packet::PacketStream, row: Row) -> Result<bool, SgError> {
        if self.left == Some(0) {
            return Ok(false);
        }
        if let Some(d) = self.distinct.as_mut() {
            if !d.first_time(&row) {
                return Ok(true);
            }
        }
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(true);
        }
        let cells: Vec<Option<&[u8]>> = row[..self.visible].iter().map(|v| v.as_deref()).collect();
        self.seq = client.queue_packet(self.seq, &encode_text_row(&cells));
        self.rows += 1;
        if client.buffered() > 64 * 1024 {
            client.flush().await?;
        }
        if let Some(left) = self.left.as_mut() {
            *left -= 1;
        }
        Ok(self.left != Some(0))
    }
}

async fn execute(session: &mut Session, streams: &mut Vec<ShardStream>, targets: &[Target], spec: &MergeSpec) -> Result<(), SgError> {
    let mut defs = headers(streams, targets).await?;
    let columns: Vec<Column> = defs.iter().map(|d| column(d)).collect::<Result<_, _>>()?;
    if columns.len() < spec.derived || streams.iter().any(|s| s.columns != columns.len()) {
        return Err(SgError::NotSupported("shards answered with different columns".into()));
    }
    let visible = columns.len() - spec.derived;
    let abs = |c: ColRef| match c {
        ColRef::Visible(i) => i,
        ColRef::Derived(k) => visible + k,
    };
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
    let deprecate_eof = session.state.deprecate_eof();
    let mut count = Vec::new();
    crate::protocol::codec::put_lenenc_int(&mut count, visible as u64);
    let mut seq = session.client.queue_packet(session.reply_seq(), &count);
    for d in &defs[..visible] {
        seq = session.client.queue_packet(seq, d);
    }
    if !deprecate_eof {
        seq = session.client.queue_packet(seq, &crate::protocol::response::encode_eof(session.state.status, 0));
    }
    let mut out = Emitter {
        seq,
        visible,
        distinct: spec.distinct.then(|| Distinct::new(visible, columns.clone())),
        skip: spec.offset,
        left: spec.limit,
        rows: 0,
    };
    let body = rows(session, streams, spec, &columns, &order, visible, &mut out).await;
    if let Err(e) = body {
        // The column definitions are already queued: the error takes the place of the remaining rows.
        let payload = crate::protocol::response::encode_error(&e);
        session.client.queue_packet(out.seq, &payload);
        session.client.flush().await?;
        return match e {
            SgError::Backend { .. } | SgError::NotSupported(_) => Ok(()),
            other => Err(SgError::ClientIo(std::io::Error::other(format!("closing after a failed merge: {other}")))),
        };
    }
    session.client.queue_packet(out.seq, &encode_end_of_rows(deprecate_eof, session.state.status));
    session.client.flush().await?;
    Stats::add(&session.shared.stats.rows_relayed, out.rows);
    Ok(())
}

/// Produces the merged rows into `out`.
async fn rows(
    session: &mut Session,
    streams: &mut Vec<ShardStream>,
    spec: &MergeSpec,
    columns: &[Column],
    order: &[(usize, bool)],
    visible: usize,
    out: &mut Emitter,
) -> Result<(), SgError> {
    let client = &mut session.client;
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
        'shards: for s in streams.iter_mut() {
            while let Some(r) = s.next_row().await? {
                if !out.push(client, r).await? {
                    break 'shards;
                }
            }
        }
        return Ok(());
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
