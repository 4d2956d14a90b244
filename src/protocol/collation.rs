//! Collations as the proxy compares text: the three comparison rules it knows, found from a collation's
//! name (information_schema) or a column definition's character set id.

/// String comparison rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collation {
    /// Byte order (`_bin`, `binary`).
    Binary,
    /// utf8mb4_general_ci / latin1_swedish_ci style: case- and accent-insensitive, one weight per character.
    GeneralCi,
    /// utf8mb4_unicode_ci (UCA): also ß = ss.
    UnicodeCi,
}

/// The comparison rules of a collation, by its name (from information_schema).
pub fn collation_named(name: &str) -> Collation {
    let n = name.to_ascii_lowercase();
    if n.ends_with("_bin") || n == "binary" {
        Collation::Binary
    } else if n.contains("unicode") || n.contains("uca") {
        Collation::UnicodeCi
    } else {
        Collation::GeneralCi
    }
}

/// The comparison rules of a column's character set id (MariaDB's column definitions carry no more).
pub fn collation_of(charset: u16) -> Collation {
    match charset {
        63 | 46 | 47 | 65 | 83 | 84 => Collation::Binary,
        192..=215 | 224..=247 => Collation::UnicodeCi,
        _ => Collation::GeneralCi,
    }
}

