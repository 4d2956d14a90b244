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
    /// ER_LOCK_DEADLOCK
    pub const DEADLOCK: u16 = 1213;
    /// ER_XA_RBTIMEOUT
    pub const XA_RBTIMEOUT: u16 = 1613;
    /// ER_XA_RBDEADLOCK
    pub const XA_RBDEADLOCK: u16 = 1614;
    /// ER_DBACCESS_DENIED_ERROR
    pub const DB_ACCESS_DENIED: u16 = 1044;
    /// ER_NET_PACKET_TOO_LARGE
    pub const PACKET_TOO_LARGE: u16 = 1153;
    /// ER_USER_LIMIT_REACHED (a resource limit such as max_user_connections)
    pub const USER_LIMIT_REACHED: u16 = 1226;
    /// ER_USER_IS_BLOCKED (too many failed logins in a row: max_password_errors)
    pub const USER_IS_BLOCKED: u16 = 4150;
    /// ER_STATEMENT_TIMEOUT (max_statement_time; here a data source's query_timeout_ms)
    pub const STATEMENT_TIMEOUT: u16 = 1969;
    /// ER_SPECIFIC_ACCESS_DENIED_ERROR
    pub const SPECIFIC_ACCESS_DENIED: u16 = 1227;
    /// ER_SP_DOES_NOT_EXIST (also "SAVEPOINT … does not exist")
    pub const SAVEPOINT_DOES_NOT_EXIST: u16 = 1305;
    /// ER_CONNECTION_KILLED
    pub const CONNECTION_KILLED: u16 = 1927;
    /// ER_SECURE_TRANSPORT_REQUIRED
    pub const SECURE_TRANSPORT_REQUIRED: u16 = 3159;
    /// ER_CLIENT_LOCAL_FILES_DISABLED: what MySQL 8 answers when local infile is off.
    pub const LOCAL_FILES_DISABLED: u16 = 3948;
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
    /// A merge that the shards' column types show would not be exact (found before anything is sent): the
    /// plan's exact fallback runs instead where it has one, otherwise it is refused as [`Self::NotSupported`].
    #[error("This version of shardgate doesn't yet support {0}")]
    Inexact(String),
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
    /// More client connections than `max_client_connections`.
    #[error("Too many connections (max_client_connections = {0})")]
    TooManyConnections(usize),
    /// A user blocked after `max_password_errors` failed logins in a row (login_guard.rs).
    #[error("User '{user}' is blocked because of too many credential errors; it is unblocked in {seconds} s, or now with SET SHARDGATE USER '{user}' UNBLOCKED")]
    UserBlocked {
        /// The user name.
        user: String,
        /// Seconds until the block runs out.
        seconds: u64,
    },
    /// A statement over its data source's `query_timeout_ms`: ended, and killed on the server.
    #[error("Query execution was interrupted (query_timeout_ms = {ms} of data source '{ds}' exceeded; the statement was killed there{outcome})")]
    StatementTimeout {
        /// The data source.
        ds: String,
        /// Its query_timeout_ms.
        ms: u64,
        /// What became of the transaction, if one was open.
        outcome: String,
    },
    /// A user over its `max_user_connections`.
    #[error("User '{0}' has exceeded the 'max_user_connections' resource (current value: {1})")]
    UserConnectionLimit(String, usize),
    /// A plain-TCP client while the rules require TLS.
    #[error("Connections using insecure transport are prohibited while require_secure_transport is on; connect with TLS (--ssl)")]
    InsecureTransport,
    /// A user the rules do not let into a schema.
    #[error("Access denied for user '{user}'@'%' to database '{schema}' (not in its schemas in the rules)")]
    SchemaAccessDenied {
        /// The user.
        user: String,
        /// The schema.
        schema: String,
    },
    /// An admin statement from a user without `admin = true`.
    #[error("Access denied; you need the shardgate admin privilege for this operation (user '{0}' has no admin = true in the rules)")]
    AdminDenied(String),
    /// A packet over max_allowed_packet.
    #[error("Got a packet bigger than 'max_allowed_packet' bytes ({0})")]
    PacketTooLarge(usize),
    /// KILL of an id no session has.
    #[error("Unknown thread id: {0}")]
    NoSuchThread(u32),
    /// KILL of another user's session.
    #[error("You are not owner of thread {0}")]
    KillDenied(u32),
    /// The session killed itself (KILL CONNECTION of its own id).
    #[error("Connection was killed")]
    ConnectionKilled,
    /// ROLLBACK TO / RELEASE of a savepoint that is not set.
    #[error("SAVEPOINT {0} does not exist")]
    NoSavepoint(String),
    /// LOAD DATA LOCAL while the client or the rules do not allow local files.
    #[error("Loading local data is disabled; this must be enabled on both the client and server sides: {0}")]
    LocalFilesDisabled(String),
    /// A transaction the proxy rolled back on every data source (XA): the reason says why.
    #[error("{0}")]
    RolledBack(String),
    /// Something the proxy did for the statement failed (a statement it sent to a data source, a merge
    /// over its row limit, etcd, a reload, a reshard step): ER_UNKNOWN_ERROR with the reason and what to do.
    #[error("{0}")]
    Failed(String),
    /// A backend's own error, relayed with its code, SQLSTATE and message (never built for errors the
    /// proxy raises itself: those have variants above).
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
            SgError::NotSupported(_) | SgError::Inexact(_) => code::NOT_SUPPORTED_YET,
            SgError::UnsupportedPs(_) => code::UNSUPPORTED_PS,
            SgError::UnknownStatement(..) => code::UNKNOWN_STMT_HANDLER,
            SgError::Malformed(_) => code::MALFORMED_PACKET,
            SgError::OutOfOrder { .. } => code::PACKETS_OUT_OF_ORDER,
            SgError::PoolExhausted(..) => code::TOO_MANY_CONNECTIONS,
            SgError::BackendUnreachable { .. } => code::DATA_SOURCE_UNREACHABLE,
            SgError::TooManyConnections(_) => code::TOO_MANY_CONNECTIONS,
            SgError::UserConnectionLimit(..) => code::USER_LIMIT_REACHED,
            SgError::UserBlocked { .. } => code::USER_IS_BLOCKED,
            SgError::StatementTimeout { .. } => code::STATEMENT_TIMEOUT,
            SgError::InsecureTransport => code::SECURE_TRANSPORT_REQUIRED,
            SgError::SchemaAccessDenied { .. } => code::DB_ACCESS_DENIED,
            SgError::AdminDenied(_) => code::SPECIFIC_ACCESS_DENIED,
            SgError::PacketTooLarge(_) => code::PACKET_TOO_LARGE,
            SgError::NoSuchThread(_) => code::NO_SUCH_THREAD,
            SgError::KillDenied(_) => code::KILL_DENIED,
            SgError::ConnectionKilled => code::CONNECTION_KILLED,
            SgError::NoSavepoint(_) => code::SAVEPOINT_DOES_NOT_EXIST,
            SgError::LocalFilesDisabled(_) => code::LOCAL_FILES_DISABLED,
            SgError::RolledBack(_) => code::XA_RBROLLBACK,
            SgError::Backend { code, .. } => *code,
            SgError::Failed(_) | SgError::BackendLost(..) | SgError::ClientIo(_) => code::UNKNOWN,
        }
    }

    /// The SQLSTATE for this error.
    pub fn sqlstate(&self) -> &str {
        match self {
            SgError::Backend { sqlstate, .. } => sqlstate,
            SgError::AccessDenied { .. } => "28000",
            SgError::UnknownDatabase(..) | SgError::NotSupported(_) | SgError::Inexact(_) => "42000",
            SgError::NoDatabase => "3D000",
            SgError::StatementTimeout { .. } => "70100",
            SgError::UnknownCommand(..) | SgError::OutOfOrder { .. } => "08S01",
            SgError::PoolExhausted(..) | SgError::TooManyConnections(_) => "08004",
            SgError::UserConnectionLimit(..) | SgError::SchemaAccessDenied { .. } | SgError::AdminDenied(_) | SgError::NoSavepoint(_) | SgError::LocalFilesDisabled(_) => "42000",
            SgError::PacketTooLarge(_) => "08S01",
            SgError::ConnectionKilled => "70100",
            SgError::RolledBack(_) => "XA100",
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

    #[test]
    fn errors_the_proxy_raises_carry_mysql_codes_and_states() {
        let cases: Vec<(SgError, u16, &str)> = vec![
            (SgError::TooManyConnections(10), 1040, "08004"),
            (SgError::UserConnectionLimit("u".into(), 2), 1226, "42000"),
            (SgError::InsecureTransport, 3159, "HY000"),
            (SgError::SchemaAccessDenied { user: "u".into(), schema: "s".into() }, 1044, "42000"),
            (SgError::AdminDenied("u".into()), 1227, "42000"),
            (SgError::PacketTooLarge(1024), 1153, "08S01"),
            (SgError::NoSuchThread(7), 1094, "HY000"),
            (SgError::KillDenied(7), 1095, "HY000"),
            (SgError::ConnectionKilled, 1927, "70100"),
            (SgError::NoSavepoint("sp".into()), 1305, "42000"),
            (SgError::LocalFilesDisabled("x".into()), 3948, "42000"),
            (SgError::RolledBack("x".into()), 1402, "XA100"),
            (SgError::Failed("x".into()), 1105, "HY000"),
        ];
        for (e, code, state) in cases {
            assert_eq!((e.code(), e.sqlstate()), (code, state), "{e:?}");
        }
        assert_eq!(SgError::NoSavepoint("sp1".into()).to_string(), "SAVEPOINT sp1 does not exist");
        assert_eq!(SgError::NoSuchThread(9).to_string(), "Unknown thread id: 9");
    }
}
