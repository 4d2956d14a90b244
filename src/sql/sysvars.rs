//! System-variable reads the proxy must answer differently from the backend: `@@socket` is the backend's
//! unix socket, which a client must never use instead of the proxy (mysql_async, for one, reconnects to it
//! when it finds the server on localhost), so it reads NULL, as on a server without a socket.

use super::normalize::{line_end, quoted_identifier_end, string_end};

/// `sql` with every `@@socket` (`@@session.socket`, `@@global.socket`) read as NULL, keeping the column
/// name; `None` when the statement reads no such variable.
pub fn socket_as_null(sql: &str) -> Option<String> {
    let lower = sql.as_bytes();
    if !lower.windows(2).any(|w| w == b"@@") || !sql.to_ascii_lowercase().contains("socket") {
        return None;
    }
    let s = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16);
    let (mut i, mut copied, mut changed) = (0, 0, false);
    while i < s.len() {
        match s[i] {
            b'\'' | b'"' => i = string_end(s, i)?,
            b'`' => i = quoted_identifier_end(s, i)?,
            b'#' => i = line_end(s, i),
            b'/' if s.get(i + 1) == Some(&b'*') => i += 2 + s[i + 2..].windows(2).position(|w| w == b"*/")? + 2,
            b'@' if s.get(i + 1) == Some(&b'@') => {
                let start = i;
                let mut end = i + 2;
                while end < s.len() && (s[end].is_ascii_alphanumeric() || s[end] == b'_' || s[end] == b'.') {
                    end += 1;
                }
                let name = sql[start + 2..end].to_ascii_lowercase();
                if matches!(name.as_str(), "socket" | "session.socket" | "global.socket" | "local.socket") {
                    // Bytes, not str slices: what follows may be any character (found by fuzzing, tests/fuzz).
                    let rest = sql[end..].trim_start().as_bytes();
                    let aliased = rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"as") && rest.get(2).is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'_');
                    out.push_str(&sql[copied..start]);
                    out.push_str("NULL");
                    if !aliased {
                        out.push_str(&format!(" AS `{}`", &sql[start..end]));
                    }
                    copied = end;
                    changed = true;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::socket_as_null;

    #[test]
    fn socket_reads_null() {
        assert_eq!(socket_as_null("SELECT @@socket").as_deref(), Some("SELECT NULL AS `@@socket`"));
        assert_eq!(
            socket_as_null("select @@max_allowed_packet, @@GLOBAL.socket as s, @@sockets").as_deref(),
            Some("select @@max_allowed_packet, NULL as s, @@sockets")
        );
        assert_eq!(socket_as_null("SELECT '@@socket', @@version"), None);
        assert_eq!(socket_as_null("SELECT 1"), None);
    }

    #[test]
    fn fuzz_regressions() {
        for bytes in [&include_bytes!("../../tests/fuzz/regressions/router-sysvars-1")[..], &include_bytes!("../../tests/fuzz/regressions/router-sysvars-2")[..]] {
            let _ = socket_as_null(&String::from_utf8_lossy(bytes));
        }
        assert_eq!(socket_as_null("SELECT @@socket é").as_deref(), Some("SELECT NULL AS `@@socket` é"));
    }
}
