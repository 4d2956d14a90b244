//! The proxy's typed errors. Each one knows the MySQL error code and SQLSTATE a client should see, so
//! every failure can become an ERR packet that drivers understand.

use thiserror::Error;

/// MySQL error codes shardgate sends itself (backend errors are relayed with their own codes).
pub mod code {
    /// ER_CON_COUNT_ERROR
    pub const TOO_MANY_CONNECTIONS: u16 = 1040;
    /// ER_ACCESS_DENIED_ERROR
    pub const ACCESS_DENIED: u16 = 1045;
    /// ER_NO_DB_ERROR
    pub const NO_DB: u16 = 1046;
    /// ER_UNKNOWN_COM_ERROR
    pub const UNKNOWN_COMMAND: u16 = 1047;
    /// ER_BAD_DB_ERROR
    pub const BAD_DB: u16 = 1049;
    /// ER_UNKNOWN_ERROR
    pub const UNKNOWN: u16 = 1105;
    /// ER_NET_PACKETS_OUT_OF_ORDER
    pub const PACKETS_OUT_OF_ORDER: u16 = 1156;
    /// ER_NOT_SUPPORTED_YET
    pub const NOT_SUPPORTED_YET: u16 = 1235;
    /// ER_UNKNOWN_STMT_HANDLER
    pub const UNKNOWN_STMT_HANDLER: u16 = 1243;
    /// ER_UNSUPPORTED_PS
    pub const UNSUPPORTED_PS: u16 = 1295;
    /// ER_CONNECT_TO_FOREIGN_DATA_SOURCE
    pub const DATA_SOURCE_UNREACHABLE: u16 = 1429;
    /// ER_MALFORMED_PACKET
    pub const MALFORMED_PACKET: u16 = 1835;
    /// ER_NO_SUCH_THREAD
    pub const NO_SUCH_THREAD: u16 = 1094;
    /// ER_KILL_DENIED_ERROR
    pub const KILL_DENIED: u16 = 1095;
    /// ER_XA_RBROLLBACK (SQLSTATE XA100)
    pub const XA_RBROLLBACK: u16 = 1402;
}

/// Everything that can go wrong while serving a client.
#[derive(Debug, Error)]
pub enum SgError {
    /// Unknown user or wrong password.
    #[error("Access denied for user '{user}'@'{host}' (using password: {})", if *.using_password { "YES" } else { "NO" })]
    AccessDenied {
        /// User name the client sent.
        user: String,
        /// Client address.
        host: String,
        /// Whether the client sent a password at all.
        using_password: bool,
    },
    /// A schema the rules do not define.
    #[error("Unknown database '{0}': shardgate serves only the schemas named in its rules ({1})")]
    UnknownDatabase(String, String),
    /// A statement that needs a current schema when there is none.
    #[error("No database selected: connect with a database or run USE <schema> first")]
    NoDatabase,
    /// A command byte shardgate does not implement.
    #[error("Unknown command {0:#04x}: {1}")]
    UnknownCommand(u8, &'static str),
    /// SQL the proxy cannot run correctly.
    #[error("This version of shardgate doesn't yet support {0}")]
    NotSupported(String),
    /// A statement that cannot be prepared on the server side (yet); libmysql clients such as sysbench
    /// fall back to client-side emulation on this code.
    #[error("This command is not supported in the prepared statement protocol yet: {0}")]
    UnsupportedPs(String),
    /// A prepared statement id the session does not have.
    #[error("Unknown prepared statement handler ({0}) given to {1}")]
    UnknownStatement(u32, &'static str),
    /// A packet that does not parse.
    #[error("Malformed packet: {0}")]
    Malformed(String),
    /// A packet with an unexpected sequence id.
    #[error("Got packets out of order (expected sequence id {expected}, got {got})")]
    OutOfOrder {
        /// What the protocol required.
        expected: u8,
        /// What arrived.
        got: u8,
    },
    /// No backend connection could be had within the wait limit.
    #[error("Too many connections to data source '{0}': all {1} are busy; raise max_connections for it in the rules or lower client concurrency")]
    PoolExhausted(String, usize),
    /// A backend could not be reached or refused the proxy's login.
    #[error("Unable to connect to data source '{ds}' at {addr}: {reason}")]
    BackendUnreachable {
        /// Data source name.
        ds: String,
        /// Its address.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// A backend connection broke in the middle of a command; the client's connection cannot continue
    /// consistently, so it is closed after this error.
    #[error("Lost connection to data source '{0}' during query: {1}")]
    BackendLost(String, String),
    /// A backend's own error, to be relayed with its code, SQLSTATE and message.
    #[error("{message}")]
    Backend {
        /// Error code.
        code: u16,
        /// SQLSTATE.
        sqlstate: String,
        /// Message.
        message: String,
    },
    /// The client's socket failed.
    #[error("client I/O: {0}")]
    ClientIo(#[from] std::io::Error),
}

impl SgError {
    /// Shorthand for a malformed-packet error.
    pub fn malformed(what: &str) -> Self {
        SgError::Malformed(what.to_string())
    }

    /// The MySQL error code for this error.
    pub fn code(&self) -> u16 {
        match self {
            SgError::AccessDenied { .. } => code::ACCESS_DENIED,
            SgError::UnknownDatabase(..) => code::BAD_DB,
            SgError::NoDatabase => code::NO_DB,
            SgError::UnknownCommand(..) => code::UNKNOWN_COMMAND,
            SgError::NotSupported(_) => code::NOT_SUPPORTED_YET,
            SgError::UnsupportedPs(_) => code::UNSUPPORTED_PS,
            SgError::UnknownStatement(..) => code::UNKNOWN_STMT_HANDLER,
            SgError::Malformed(_) => code::MALFORMED_PACKET,
            SgError::OutOfOrder { .. } => code::PACKETS_OUT_OF_ORDER,
            SgError::PoolExhausted(..) => code::TOO_MANY_CONNECTIONS,
            SgError::BackendUnreachable { .. } => code::DATA_SOURCE_UNREACHABLE,
            SgError::Backend { code, .. } => *code,
            SgError::BackendLost(..) | SgError::ClientIo(_) => code::UNKNOWN,
        }
    }

    /// The SQLSTATE for this error.
    pub fn sqlstate(&self) -> &str {
        match self {
            SgError::Backend { sqlstate, .. } => sqlstate,
            SgError::AccessDenied { .. } => "28000",
            SgError::UnknownDatabase(..) | SgError::NotSupported(_) => "42000",
            SgError::NoDatabase => "3D000",
            SgError::UnknownCommand(..) | SgError::OutOfOrder { .. } => "08S01",
            SgError::PoolExhausted(..) => "08004",
            _ => "HY000",
        }
    }

    /// Whether the client connection can go on after this error was reported to it.
    pub fn keeps_session(&self) -> bool {
        !matches!(
            self,
            SgError::Malformed(_) | SgError::OutOfOrder { .. } | SgError::BackendLost(..) | SgError::ClientIo(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_reads_like_mysql() {
        let e = SgError::AccessDenied { user: "app".into(), host: "127.0.0.1".into(), using_password: true };
        assert_eq!(e.to_string(), "Access denied for user 'app'@'127.0.0.1' (using password: YES)");
        assert_eq!((e.code(), e.sqlstate()), (1045, "28000"));
        assert!(e.keeps_session());
    }
}
