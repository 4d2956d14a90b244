//! Numbers of the MySQL client/server protocol that shardgate speaks.
//!
//! Kept in one place so every module names a flag instead of repeating a magic number.

/// Capability flags exchanged in the handshake (`CLIENT_*`).
pub mod cap {
    /// Also "CLIENT_MYSQL": a MariaDB peer that sees it set uses no MariaDB-only extended capabilities.
    pub const LONG_PASSWORD: u32 = 1;
    /// Affected rows count matched rows, not changed rows: changes replies, so backends must agree.
    pub const FOUND_ROWS: u32 = 1 << 1;
    /// Longer column flags in column definitions.
    pub const LONG_FLAG: u32 = 1 << 2;
    /// A default database may be named in the handshake response.
    pub const CONNECT_WITH_DB: u32 = 1 << 3;
    /// The compressed protocol (zlib) after the handshake.
    pub const COMPRESS: u32 = 1 << 5;
    /// Client may use LOAD DATA LOCAL.
    pub const LOCAL_FILES: u32 = 1 << 7;
    /// Parser ignores spaces before '(': changes how statements parse, so backends must agree.
    pub const IGNORE_SPACE: u32 = 1 << 8;
    /// The 4.1 protocol; shardgate requires it.
    pub const PROTOCOL_41: u32 = 1 << 9;
    /// Interactive client (interactive_timeout applies).
    pub const INTERACTIVE: u32 = 1 << 10;
    /// Client wants TLS.
    pub const SSL: u32 = 1 << 11;
    /// Client will handle transactions status flags.
    pub const TRANSACTIONS: u32 = 1 << 13;
    /// 4.1 authentication (length-prefixed auth response).
    pub const SECURE_CONNECTION: u32 = 1 << 15;
    /// Several statements in one COM_QUERY.
    pub const MULTI_STATEMENTS: u32 = 1 << 16;
    /// Several result sets per command (CALL).
    pub const MULTI_RESULTS: u32 = 1 << 17;
    /// Several result sets per COM_STMT_EXECUTE.
    pub const PS_MULTI_RESULTS: u32 = 1 << 18;
    /// Authentication plugins named in the handshake.
    pub const PLUGIN_AUTH: u32 = 1 << 19;
    /// Connection attributes in the handshake response.
    pub const CONNECT_ATTRS: u32 = 1 << 20;
    /// Auth response is length-encoded.
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 1 << 21;
    /// Session state tracking in OK packets.
    pub const SESSION_TRACK: u32 = 1 << 23;
    /// Result sets end with an OK packet (header 0xFE) and the EOF after column definitions is gone.
    pub const DEPRECATE_EOF: u32 = 1 << 24;

    /// The flags that change the bytes or meaning of a backend's replies. A backend connection must have
    /// negotiated exactly the client's values of these, so its replies can be relayed untouched.
    pub const REPLY_SHAPING: u32 = FOUND_ROWS | IGNORE_SPACE | MULTI_RESULTS | PS_MULTI_RESULTS | DEPRECATE_EOF;
}

/// Command bytes (`COM_*`): the first byte of every client command packet.
pub mod com {
    /// Close the connection.
    pub const QUIT: u8 = 0x01;
    /// Select a default database.
    pub const INIT_DB: u8 = 0x02;
    /// Run a text-protocol statement.
    pub const QUERY: u8 = 0x03;
    /// List a table's columns (deprecated, still sent by the mariadb CLI).
    pub const FIELD_LIST: u8 = 0x04;
    /// A one-line status string.
    pub const STATISTICS: u8 = 0x09;
    /// Is the server alive.
    pub const PING: u8 = 0x0e;
    /// Re-authenticate as another user.
    pub const CHANGE_USER: u8 = 0x11;
    /// Prepare a statement.
    pub const STMT_PREPARE: u8 = 0x16;
    /// Execute a prepared statement.
    pub const STMT_EXECUTE: u8 = 0x17;
    /// Send a parameter value in pieces.
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    /// Deallocate a prepared statement (no reply).
    pub const STMT_CLOSE: u8 = 0x19;
    /// Reset a prepared statement's long data.
    pub const STMT_RESET: u8 = 0x1a;
    /// Turn multi-statements on or off.
    pub const SET_OPTION: u8 = 0x1b;
    /// Fetch rows from a cursor.
    pub const STMT_FETCH: u8 = 0x1c;
    /// Reset session state without re-authenticating.
    pub const RESET_CONNECTION: u8 = 0x1f;
}

/// Server status flags carried by OK and EOF packets.
pub mod status {
    /// A transaction is open.
    pub const IN_TRANS: u16 = 0x0001;
    /// Autocommit is on.
    pub const AUTOCOMMIT: u16 = 0x0002;
    /// Another result set follows this one.
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
    /// A read-only cursor was opened by COM_STMT_EXECUTE; rows come with COM_STMT_FETCH.
    pub const CURSOR_EXISTS: u16 = 0x0040;
    /// SERVER_STATUS_IN_TRANS_READONLY: the open transaction is READ ONLY.
    pub const IN_TRANS_READONLY: u16 = 0x2000;
}

/// Largest payload of one frame; a payload this long continues in the next frame.
pub const MAX_FRAME: usize = 0xFF_FFFF;

/// The collation the proxy announces and uses when a client names one MariaDB does not know.
pub const UTF8MB4_GENERAL_CI: u8 = 45;

/// Maps a client's collation id to one MariaDB 10.x knows. MySQL 8 client libraries send 255
/// (utf8mb4_0900_ai_ci) and ids above it, which MariaDB rejects; utf8mb4_general_ci is the closest it has
/// that every MariaDB and MySQL server accepts.
pub fn backend_collation(client_collation: u8) -> u8 {
    if client_collation == 0 || client_collation > 247 {
        UTF8MB4_GENERAL_CI
    } else {
        client_collation
    }
}
