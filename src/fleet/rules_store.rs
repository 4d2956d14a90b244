//! The rules document in etcd: read it (now or at an older revision), write it with a compare-and-swap on
//! the revision the writer started from, walk its history. Used by `shardgate rules …` and by instances.

use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp};

/// One revision of the rules document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    /// The TOML text.
    pub text: String,
    /// Its etcd mod revision: the rules version.
    pub revision: i64,
}

/// The first line `shardgate rules get` prints, so a later push of the edited file knows what it is based on.
const HEADER: &str = "# shardgate rules revision ";

/// The header line for revision `rev`.
pub fn header(rev: i64) -> String {
    format!("{HEADER}{rev} (edit below, then: shardgate rules push FILE)")
}

/// The revision an edited document says it was based on (its header line), if any.
pub fn base_revision(text: &str) -> Option<i64> {
    text.lines().find_map(|l| l.strip_prefix(HEADER)).and_then(|r| r.split_whitespace().next()).and_then(|r| r.parse().ok())
}

/// The document without the header line (what is stored).
pub fn strip_header(text: &str) -> String {
    text.lines().filter(|l| !l.starts_with(HEADER)).map(|l| format!("{l}\n")).collect()
}

/// The document at `key`, now or as it was at revision `at`.
pub async fn get(client: &Client, key: &str, at: Option<i64>) -> Result<Option<Doc>, etcd_client::Error> {
    let resp = super::retry(|| {
        let mut c = client.clone();
        let opts = at.map(|r| GetOptions::new().with_revision(r));
        async move { c.get(key, opts).await }
    })
    .await?;
    Ok(resp.kvs().first().map(|kv| Doc { text: String::from_utf8_lossy(kv.value()).into_owned(), revision: kv.mod_revision() }))
}

/// How a push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// Written; the new revision.
    Written(i64),
    /// Someone else wrote since `expected`; the document is now at `current` (0: absent). Nothing written.
    Lost {
        /// The revision the push was based on.
        expected: i64,
        /// The revision in etcd now.
        current: i64,
    },
}

/// Writes `text` if the document is still at revision `expected` (0: must not exist yet); `None` writes
/// whatever is there (`--force`).
pub async fn push(client: &Client, key: &str, text: &str, expected: Option<i64>) -> Result<Pushed, etcd_client::Error> {
    let Some(expected) = expected else {
        let resp = super::retry(|| {
            let mut c = client.clone();
            async move { c.put(key, text, None).await }
        })
        .await?;
        return Ok(Pushed::Written(resp.header().map_or(0, |h| h.revision())));
    };
    let cond = if expected == 0 {
        Compare::create_revision(key, CompareOp::Equal, 0)
    } else {
        Compare::mod_revision(key, CompareOp::Equal, expected)
    };
    let txn = Txn::new().when([cond]).and_then([TxnOp::put(key, text, None)]).or_else([TxnOp::get(key, None)]);
    let resp = super::retry(|| {
        let (mut c, txn) = (client.clone(), txn.clone());
        async move { c.txn(txn).await }
    })
    .await?;
    if resp.succeeded() {
        return Ok(Pushed::Written(resp.header().map_or(0, |h| h.revision())));
    }
    let current = resp
        .op_responses()
        .into_iter()
        .find_map(|op| match op {
            etcd_client::TxnOpResponse::Get(g) => Some(g.kvs().first().map_or(0, |kv| kv.mod_revision())),
            _ => None,
        })
        .unwrap_or(0);
    Ok(Pushed::Lost { expected, current })
}

/// Up to `n` revisions of the document, newest first, from etcd's own history (what compaction has not
/// removed yet).
pub async fn history(client: &Client, key: &str, n: usize) -> Result<Vec<Doc>, etcd_client::Error> {
    let mut out: Vec<Doc> = Vec::new();
    let mut at = None;
    while out.len() < n {
        let doc = match get(client, key, at).await {
            Ok(Some(d)) => d,
            Ok(None) => break,
            // Compacted: older revisions are gone; what we have is the history etcd still keeps.
            Err(e) if !out.is_empty() && e.to_string().contains("compacted") => break,
            Err(e) => return Err(e),
        };
        if out.last().is_some_and(|last| last.revision == doc.revision) {
            break;
        }
        at = Some(doc.revision - 1);
        out.push(doc);
        if at == Some(0) {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_is_not_stored() {
        let text = format!("{}\n[server]\nlisten = \"127.0.0.1:1\"\n", header(42));
        assert_eq!(base_revision(&text), Some(42));
        assert_eq!(strip_header(&text), "[server]\nlisten = \"127.0.0.1:1\"\n");
        assert_eq!(base_revision("[server]\n"), None);
    }
}
