//! The last good rules on local disk, so an instance restarted while etcd is unreachable starts from them.

use std::path::Path;

use super::rules_store::{base_revision, header, strip_header, Doc};

/// Writes `doc` to `path` atomically (a crash leaves the old cache or the new one, never half of one).
pub fn store(path: &Path, doc: &Doc) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&tmp, format!("{}\n{}", header(doc.revision), doc.text))?;
    std::fs::rename(&tmp, path)
}

/// The cached document, if there is one.
pub fn load(path: &Path) -> Option<Doc> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(Doc { revision: base_revision(&text)?, text: strip_header(&text) })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stored_document_loads_back() {
        let dir = std::env::temp_dir().join(format!("sg-cache-{}", std::process::id()));
        let path = dir.join("c.toml");
        let doc = super::Doc { text: "[server]\nlisten = \"127.0.0.1:1\"\n".into(), revision: 7 };
        super::store(&path, &doc).unwrap();
        assert_eq!(super::load(&path), Some(doc));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
