//! LOAD DATA LOCAL INFILE: the proxy asks the client for the file, cuts it into rows with the statement's
//! FIELDS / LINES options, routes each row (by its sharding key, to every copy of a broadcast table, or all
//! to the one data source of a table without rules), and loads each target's rows with its own LOAD DATA
//! LOCAL on the backend, feeding the rows byte for byte so the backend parses them exactly as one server
//! would. Rows skipped by IGNORE n LINES are sent ahead of every target's rows, which its server skips.
//! Across several data sources the loads are one transaction (XA in xa mode). The reply sums the backends'
//! counts. A file without the sharding column gets keys from the table's key generator, appended to each row
//! as its last field. The file is held in memory while it is routed (`max_allowed_packet` bounds a statement, not a
//! file: `[server] max_load_data_bytes` bounds this).

use crate::error::SgError;
use crate::plan::load_data::{LoadPlan, Routing};
use crate::protocol::codec::Reader;
use crate::protocol::constants::{cap, com};
use super::context::ExecCtx;
use crate::sharding::key::Literal;
use crate::sql::load_data::rows;


/// Bytes per data packet sent to a backend.
const CHUNK: usize = 64 * 1024;

/// Totals of the backends' replies.
#[derive(Debug, Default)]
struct Counts {
    affected: u64,
    warnings: u64,
    records: u64,
    deleted: u64,
    skipped: u64,
}

/// Runs a planned LOAD DATA LOCAL.
pub async fn run(ctx: &mut ExecCtx, plan: &LoadPlan) -> Result<(), SgError> {
    let limit = ctx.shared.rules.server.max_load_data_bytes;
    if !ctx.shared.rules.server.local_infile {
        return Err(disabled("set `local_infile = true` under [server] in the rules"));
    }
    if ctx.state.capabilities & cap::LOCAL_FILES == 0 {
        return Err(disabled("enable it in the client (for the mariadb CLI: --local-infile=1)"));
    }
    let key_field = match &plan.routing {
        Routing::ByKey(_) if plan.generate => None,
        Routing::ByKey(table) => Some(key_position(ctx, plan, &table.column).await?),
        _ => None,
    };
    let file = receive_file(ctx, plan, limit).await?;

    // Route every row; the bytes for each target, header (IGNORE n LINES) first.
    let mut per_target: Vec<Vec<u8>> = vec![Vec::new(); plan.targets.len()];
    let all = rows(&plan.spec, &file, key_field.unwrap_or(0));
    let header_rows = (plan.spec.ignore_lines as usize).min(all.len());
    let header: Vec<u8> = all[..header_rows].iter().flat_map(|r| terminated(r.bytes, &plan.spec.line_end)).collect();
    // Generated keys: one per row, appended as the last field (the statement lists the key column last).
    let ids = match &plan.routing {
        Routing::ByKey(table) if plan.generate => super::insert_split::generate(ctx, table, all.len() - header_rows).await?,
        _ => Vec::new(),
    };
    for (n, row) in all[header_rows..].iter().enumerate() {
        let mut bytes = terminated(row.bytes, &plan.spec.line_end);
        let generated = ids.get(n).map(|id| {
            let id = id.to_string().into_bytes();
            bytes.truncate(bytes.len() - plan.spec.line_end.len());
            bytes.extend_from_slice(&plan.spec.field_end);
            bytes.extend_from_slice(&id);
            bytes.extend_from_slice(&plan.spec.line_end);
            id
        });
        match &plan.routing {
            Routing::ByKey(table) => {
                let node = match generated.as_ref().or(row.key.as_ref()) {
                    // As a string literal: the key type decides how it is read, as for an INSERT's '0123'.
                    Some(key) => table.node_for(&Literal::Str(String::from_utf8_lossy(key).into_owned())),
                    // A line without the STARTING BY prefix is skipped by whichever server gets it.
                    None if !plan.spec.line_start.is_empty() && !contains(row.bytes, &plan.spec.line_start) => Some(0),
                    None => None,
                };
                let Some(node) = node else {
                    return Err(SgError::NotSupported(format!(
                        "LOAD DATA row {} has no usable value for the sharding column '{}' (NULL or missing), so it cannot be routed; \
                         nothing was loaded",
                        n + 1 + header_rows,
                        table.column
                    )));
                };
                per_target[node].extend_from_slice(&bytes);
            }
            Routing::Everywhere => per_target.iter_mut().for_each(|t| t.extend_from_slice(&bytes)),
            Routing::Single => per_target[0].extend_from_slice(&bytes),
        }
    }
    let used: Vec<usize> = (0..plan.targets.len()).filter(|&i| !per_target[i].is_empty() || plan.targets.len() == 1).collect();
    let mut sources: Vec<&str> = used.iter().map(|&i| plan.targets[i].data_source.as_str()).collect();
    sources.sort();
    sources.dedup();

    // One transaction over several data sources: XA where it applies, else BEGIN … COMMIT on each.
    // (Under LOCK TABLES no transaction may start: each data source's load commits alone, as in scatter.)
    let atomic = sources.len() > 1 && !ctx.in_transaction() && !ctx.locked_tables;
    let xa = atomic && super::xa::applies(ctx);
    if atomic && !xa {
        for ds in &sources {
            ctx.conn(ds).await?.query_ok("BEGIN").await.map_err(|e| SgError::BackendLost(ds.to_string(), e))?;
        }
    } else {
        super::check_transaction(ctx, &sources).await?;
    }
    if xa {
        super::xa::enlist_all(ctx, &sources).await?;
    }
    let mut counts = Counts::default();
    let mut failure = None;
    for &i in &used {
        let mut data = header.clone();
        data.extend_from_slice(&per_target[i]);
        if let Err(e) = load_one(ctx, &plan.targets[i].data_source, &plan.targets[i].sql, &data, &mut counts).await {
            failure = Some(e);
            break;
        }
    }
    if xa {
        match failure {
            None => super::xa::commit(ctx).await?,
            Some(e) => {
                super::xa::rollback(ctx).await;
                return Err(e);
            }
        }
    } else if atomic {
        let end = if failure.is_some() { "ROLLBACK" } else { "COMMIT" };
        for ds in &sources {
            if let Some(pooled) = ctx.backends.get_mut(ds) {
                if let Err(e) = pooled.conn.query_ok(end).await {
                    failure.get_or_insert(SgError::BackendLost(ds.to_string(), e));
                }
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    reply(ctx, &counts).await
}

fn disabled(what: &str) -> SgError {
    SgError::LocalFilesDisabled(what.to_string())
}

/// The 0-based field of the sharding column in each row: from the column list, or the table's own column
/// order (asked of its first node).
async fn key_position(ctx: &mut ExecCtx, plan: &LoadPlan, column: &str) -> Result<usize, SgError> {
    if let Some(cols) = &plan.spec.columns {
        return cols.iter().position(|c| c.eq_ignore_ascii_case(column)).ok_or_else(|| SgError::NotSupported(format!("no column '{column}' in the list")));
    }
    let Routing::ByKey(table) = &plan.routing else { return Ok(0) };
    let node = &table.nodes[0];
    let conn = ctx.conn(&node.data_source).await?;
    let sql = format!("SHOW COLUMNS FROM {}", crate::sql::tokens::quote_ident(&node.table, None));
    let rows = conn.query_rows(&sql).await.map_err(|e| SgError::BackendLost(node.data_source.clone(), e))?;
    rows.iter()
        .position(|r| r.first().cloned().flatten().is_some_and(|name| String::from_utf8_lossy(&name).eq_ignore_ascii_case(column)))
        .ok_or_else(|| SgError::NotSupported(format!("table '{}' has no column '{column}'", plan.spec.table)))
}

/// Asks the client for the file (the 0xFB request naming it, as the statement did) and reads it to its
/// empty closing packet.
async fn receive_file(ctx: &mut ExecCtx, plan: &LoadPlan, limit: u64) -> Result<Vec<u8>, SgError> {
    let mut request = vec![0xFB];
    request.extend_from_slice(plan.spec.file.as_bytes());
    ctx.send_payload(&request).await?;
    let mut file = Vec::new();
    let mut too_big = false;
    loop {
        let Some(packet) = ctx.client.read_packet().await? else {
            return Err(SgError::ClientIo(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "client left during LOAD DATA")));
        };
        ctx.set_reply_seq(packet.last_seq.wrapping_add(1));
        if packet.payload.is_empty() {
            break;
        }
        // Past the limit the rest is read and dropped, so the connection stays in step.
        too_big |= (file.len() + packet.payload.len()) as u64 > limit;
        if !too_big {
            file.extend_from_slice(&packet.payload);
        }
    }
    if too_big {
        return Err(SgError::NotSupported(format!(
            "a LOAD DATA file over max_load_data_bytes ({limit}); split the file or raise the limit under [server]; nothing was loaded"
        )));
    }
    Ok(file)
}

/// Runs one backend LOAD DATA LOCAL with `data` as its file and adds its counts.
async fn load_one(ctx: &mut ExecCtx, ds: &str, sql: &str, data: &[u8], counts: &mut Counts) -> Result<(), SgError> {
    let conn = ctx.conn(ds).await?;
    let lost = |e: String| SgError::BackendLost(ds.to_string(), e);
    let mut command = Vec::with_capacity(1 + sql.len());
    command.push(com::QUERY);
    command.extend_from_slice(sql.as_bytes());
    conn.send_queued(&command).await.map_err(lost)?;
    let request = conn.read_packet().await.map_err(lost)?;
    match request.payload.first() {
        Some(0xFB) => {}
        Some(0xFF) => return Err(crate::protocol::response::relayed_error(&request.payload)),
        _ => return Err(lost("the backend did not ask for the file (is local_infile on there?)".into())),
    }
    let mut seq = request.seq.wrapping_add(1);
    for chunk in data.chunks(CHUNK) {
        seq = conn.queue_packet(seq, chunk);
    }
    conn.queue_packet(seq, &[]);
    conn.flush().await.map_err(lost)?;
    let reply = conn.read_packet().await.map_err(lost)?;
    if reply.payload.first() == Some(&0xFF) {
        return Err(crate::protocol::response::relayed_error(&reply.payload));
    }
    let mut r = Reader::new(&reply.payload[1..]);
    counts.affected += r.lenenc_int().unwrap_or(0);
    let _insert_id = r.lenenc_int();
    let _status = r.u16();
    counts.warnings += u64::from(r.u16().unwrap_or(0));
    // "Records: 3  Deleted: 0  Skipped: 0  Warnings: 0"
    let info = String::from_utf8_lossy(r.remaining());
    let field = |name: &str| info.split(name).nth(1).and_then(|rest| rest.split_whitespace().next()).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    counts.records += field("Records:");
    counts.deleted += field("Deleted:");
    counts.skipped += field("Skipped:");
    Ok(())
}

/// The OK packet with the summed counts and MySQL's info line.
async fn reply(ctx: &mut ExecCtx, c: &Counts) -> Result<(), SgError> {
    let ok = crate::protocol::response::Ok {
        affected_rows: c.affected,
        last_insert_id: 0,
        status: ctx.state.status,
        warnings: c.warnings.min(u64::from(u16::MAX)) as u16,
    };
    let mut payload = crate::protocol::response::encode_ok(&ok, 0);
    // The info line as MariaDB sends it: a length-encoded string (libmariadb reads it so).
    let info = format!("Records: {}  Deleted: {}  Skipped: {}  Warnings: {}", c.records, c.deleted, c.skipped, c.warnings);
    crate::protocol::codec::put_lenenc_bytes(&mut payload, info.as_bytes());
    ctx.send_payload(&payload).await
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len().max(1)).any(|w| w == needle)
}

/// `row` ending with the line terminator (the file's last row may lack it; rows are concatenated).
fn terminated(row: &[u8], line_end: &[u8]) -> Vec<u8> {
    let mut out = row.to_vec();
    if !row.ends_with(line_end) {
        out.extend_from_slice(line_end);
    }
    out
}

#[cfg(test)]
mod tests {
    //! The fake backend cannot ask for a file (it answers a LOAD DATA LOCAL like any query), so the loads
    //! themselves are tested on their error path; routing is tested up to the first backend.

    use crate::error::SgError;
    use crate::execute::fake_ctx::{err, Harness, SCHEMA};
    use crate::plan::Plan;
    use crate::protocol::constants::cap;

    const LOAD: &str = "LOAD DATA LOCAL INFILE 'f.tsv' INTO TABLE k (id, c)";

    /// A harness whose rules and client allow LOAD DATA LOCAL, with `file` already sent by the client.
    async fn harness(file: &[u8]) -> Harness {
        let mut h = Harness::new(SCHEMA).await;
        std::sync::Arc::get_mut(&mut h.ctx.shared).unwrap().rules.server.local_infile = true;
        h.ctx.state.capabilities |= cap::LOCAL_FILES;
        // The client's answer to the proxy's request (sequence 1): the file, then an empty packet.
        h.client.write_packet(2, file).await.unwrap();
        h.client.write_packet(3, b"").await.unwrap();
        h
    }

    async fn file_request(h: &mut Harness) -> Vec<u8> {
        let p = h.client.read_packet().await.unwrap().unwrap();
        assert_eq!(p.seq, 1);
        p.payload.to_vec()
    }

    #[tokio::test]
    async fn refused_unless_the_rules_and_the_client_allow_it() {
        let mut h = Harness::new(SCHEMA).await;
        assert!(matches!(h.plan(LOAD), Plan::LoadData(_)));
        let e = h.run(LOAD).await.unwrap_err();
        assert!(matches!(&e, SgError::LocalFilesDisabled(m) if m.contains("local_infile = true")), "{e:?}");
        std::sync::Arc::get_mut(&mut h.ctx.shared).unwrap().rules.server.local_infile = true;
        let e = h.run(LOAD).await.unwrap_err();
        assert!(matches!(&e, SgError::LocalFilesDisabled(m) if m.contains("--local-infile=1")), "{e:?}");
        h.nothing_more();
    }

    #[tokio::test]
    async fn a_row_without_a_key_is_refused_before_any_backend_is_reached() {
        let mut h = harness(b"1\ta\n\\N\tb\n").await;
        let e = h.run(LOAD).await.unwrap_err();
        assert!(matches!(&e, SgError::NotSupported(m) if m.contains("row 2 has no usable value for the sharding column 'id'")), "{e:?}");
        assert_eq!(file_request(&mut h).await, b"\xFBf.tsv");
        assert!(h.queries(0).is_empty() && h.queries(1).is_empty());
        h.nothing_more();
    }

    #[tokio::test]
    async fn a_file_over_the_limit_is_read_to_its_end_and_refused() {
        let mut h = harness(b"1\ta\n3\tb\n").await;
        std::sync::Arc::get_mut(&mut h.ctx.shared).unwrap().rules.server.max_load_data_bytes = 4;
        let e = h.run(LOAD).await.unwrap_err();
        assert!(matches!(&e, SgError::NotSupported(m) if m.contains("over max_load_data_bytes (4)")), "{e:?}");
        file_request(&mut h).await;
        h.nothing_more();
    }

    #[tokio::test]
    async fn rows_of_one_node_go_to_its_load_and_a_backend_err_is_the_answer() {
        let mut h = harness(b"1\ta\n3\tb\n").await;
        h.ds1.on_prefix("LOAD DATA LOCAL INFILE", err(1148, "The used command is not allowed with this MariaDB version"));
        let e = h.run(LOAD).await.unwrap_err();
        assert!(matches!(&e, SgError::Backend { code: 1148, .. }), "{e:?}");
        let sent = h.queries(1);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].starts_with("LOAD DATA LOCAL INFILE") && sent[0].contains("`k_1`"), "{sent:?}");
        assert!(h.queries(0).is_empty(), "no row for ds_0, and one data source needs no BEGIN");
    }
}
