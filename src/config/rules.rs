//! The rules file's shape (TOML). Unknown keys are errors so a typo never silently falls back to a default.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use toml::Spanned;

/// The whole rules document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// The client-facing listener.
    pub server: ServerRules,
    /// Accounts clients log in with (`[[users]]`).
    #[serde(default)]
    pub users: Vec<Spanned<UserRule>>,
    /// Backends by name (`[data_sources.ds_0]`).
    pub data_sources: BTreeMap<String, DataSourceRule>,
    /// Logical schemas by name (`[schemas.demo]`).
    #[serde(default)]
    pub schemas: BTreeMap<String, SchemaRule>,
    /// Where statements go when the session has no schema; defaults to the first data source by name.
    pub default_data_source: Option<Spanned<String>>,
    /// What a transaction may do across data sources (see [`TransactionMode`]).
    #[serde(default)]
    pub transaction_mode: TransactionMode,
    /// xa mode: the decision log (commit decisions, fsync'd before any branch commits). One file per
    /// shardgate instance: its first line holds the prefix of the instance's XA ids, so recovery after a
    /// restart with the same file finishes exactly that instance's transactions.
    #[serde(default = "default_xa_log")]
    pub xa_log: std::path::PathBuf,
    /// xa mode: how often prepared XA transactions left by failures are resolved (also done at start-up).
    #[serde(default = "default_xa_recovery_interval_ms")]
    pub xa_recovery_interval_ms: u64,
    /// xa mode: the decision log is compacted while running (only decisions whose branches are not all
    /// committed are kept) whenever it grows past this many bytes; 0 compacts only at start-up.
    #[serde(default = "default_xa_log_max_bytes")]
    pub xa_log_max_bytes: u64,
    /// xa mode: which transactions read one snapshot of every shard that no cross-shard commit straddles
    /// (see [`SnapshotMode`]).
    #[serde(default)]
    pub consistent_snapshot: SnapshotMode,
}

/// Which transactions of an XA-managed schema take a snapshot across shards: at their start, with no
/// two-phase commit of this instance between its first and last `XA COMMIT`, every primary of the schema
/// joins and takes its read view, so the transaction sees each cross-shard commit on all shards or on none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotMode {
    /// No cross-shard snapshot: each shard's snapshot is taken when the transaction first reads there (a
    /// reader can see a two-phase commit on one shard and not yet on another).
    Off,
    /// The default: `START TRANSACTION WITH CONSISTENT SNAPSHOT` takes one.
    #[default]
    Explicit,
    /// Also every `START TRANSACTION READ ONLY`.
    ReadOnly,
}

fn default_xa_log() -> std::path::PathBuf {
    "shardgate-xa.log".into()
}
fn default_xa_log_max_bytes() -> u64 {
    crate::backend::xa_log::DEFAULT_MAX_BYTES
}
fn default_xa_recovery_interval_ms() -> u64 {
    5000
}

/// How transactions that touch several data sources are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TransactionMode {
    /// The default. In schemas with sharding rules every transaction is an XA transaction on each data source
    /// it reaches (XA START on first use); COMMIT is one phase on one data source and two-phase commit with a
    /// durable decision on several, so it is all or nothing even if the proxy or a shard dies.
    #[default]
    Xa,
    /// A transaction stays on the schema's default data source; a statement that would reach another one is
    /// refused (ER_NOT_SUPPORTED_YET).
    SingleSource,
    /// Other data sources join the transaction when a statement first reaches them (BEGIN there), and
    /// COMMIT/ROLLBACK go to every one: atomic per data source, NOT across them — if a commit fails after
    /// another succeeded, the transaction is partly committed. ShardingSphere's LOCAL mode.
    BestEffort,
}

/// Listener and process settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerRules {
    /// Address to accept MySQL clients on, e.g. "127.0.0.1:3307".
    pub listen: SocketAddr,
    /// Version string announced to clients. Default: the default data source's own version with
    /// "-shardgate" appended, so drivers enable the features that backend really has.
    pub server_version: Option<String>,
    /// Tokio worker threads; default: one per CPU core.
    pub worker_threads: Option<usize>,
    /// Where Prometheus scrapes `/metrics` (none by default; never 0.0.0.0 unless you mean it).
    pub metrics_listen: Option<SocketAddr>,
    /// Log level when RUST_LOG is not set ("info" by default; e.g. "warn", "shardgate=debug").
    pub log_level: Option<String>,
    /// Statements slower than this many milliseconds go to the slow-query log.
    pub slow_query_ms: Option<u64>,
    /// The slow-query log file (JSON lines); without it slow statements are logged with tracing only.
    pub slow_log: Option<std::path::PathBuf>,
    /// Most client connections at once (1040 beyond).
    pub max_client_connections: Option<usize>,
    /// Refuse UPDATE and DELETE without WHERE on sharded tables (they would touch every shard).
    #[serde(default)]
    pub refuse_unsafe_dml: bool,
    /// Most rows a multi-shard SELECT may take from the shards (ERR beyond, before the client gets more).
    pub max_merge_rows: Option<u64>,
    /// Most rows a query the shards cannot answer as it is may copy to the compute data source (the exact
    /// fallback, plan/compute.rs); 0 turns the fallback off and such queries are refused (1235).
    #[serde(default = "default_max_fallback_rows")]
    pub max_fallback_rows: u64,
    /// A statement running this many milliseconds inside a transaction that may span data sources has its
    /// lock waits checked for a cycle across them (admin/deadlocks.rs); 0 turns the detector off.
    #[serde(default = "default_deadlock_detect_ms")]
    pub deadlock_detect_ms: u64,
    /// Failed logins in a row after which a user name is refused (ER_USER_IS_BLOCKED, 4150) for
    /// `password_lock_time_ms`, right password or not (MariaDB's max_password_errors); 0 never blocks.
    #[serde(default = "default_max_password_errors")]
    pub max_password_errors: u32,
    /// How long a user blocked by `max_password_errors` stays blocked (or until SET SHARDGATE USER … UNBLOCKED).
    #[serde(default = "default_password_lock_time_ms")]
    pub password_lock_time_ms: u64,
    /// Largest packet a client may send, in bytes (ER_NET_PACKET_TOO_LARGE and the connection closed beyond).
    #[serde(default = "default_max_allowed_packet")]
    pub max_allowed_packet: usize,
    /// A client must finish logging in within this many milliseconds (slow or stuck handshakes are dropped).
    #[serde(default = "default_handshake_timeout_ms")]
    pub handshake_timeout_ms: u64,
    /// A session idle (no command) for this many seconds is closed, as MySQL's wait_timeout; none by default.
    pub idle_timeout_s: Option<u64>,
    /// TLS for clients: the certificate chain (PEM). With `tls_key`, clients may start TLS (SSLRequest).
    pub tls_cert: Option<std::path::PathBuf>,
    /// TLS for clients: the private key (PEM, PKCS#8 or RSA).
    pub tls_key: Option<std::path::PathBuf>,
    /// Refuse clients that do not start TLS (3159).
    #[serde(default)]
    pub require_secure_transport: bool,
    /// The authentication plugin the greeting proposes (clients may ask for the other one).
    #[serde(default)]
    pub auth_plugin: AuthPlugin,
    /// Allow LOAD DATA LOCAL INFILE (the proxy reads the client's file and routes its rows); off by default,
    /// as in MySQL 8.
    #[serde(default)]
    pub local_infile: bool,
    /// Largest file a LOAD DATA LOCAL may send through the proxy, in bytes (it is held while routed).
    #[serde(default = "default_max_load_data_bytes")]
    pub max_load_data_bytes: u64,
    /// Give a session's backend connections back to the pools between statements when nothing ties the
    /// session to them (no transaction, user variable, lock, temporary table, …), so many clients share few
    /// backend connections, as ProxySQL does. Off: each session keeps its connections until it ends.
    #[serde(default = "default_true")]
    pub multiplexing: bool,
}

fn default_max_load_data_bytes() -> u64 {
    1 << 30
}

fn default_true() -> bool {
    true
}

/// Authentication plugins the proxy speaks with clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthPlugin {
    /// mysql_native_password (works with password hashes in the rules).
    #[default]
    MysqlNativePassword,
    /// caching_sha2_password, fast path only (needs the plain password in the rules; other users are
    /// switched to mysql_native_password).
    CachingSha2Password,
}

impl AuthPlugin {
    /// The plugin's protocol name.
    pub fn name(self) -> &'static str {
        match self {
            AuthPlugin::MysqlNativePassword => crate::protocol::auth::NATIVE_PASSWORD,
            AuthPlugin::CachingSha2Password => crate::protocol::caching_sha2::CACHING_SHA2_PASSWORD,
        }
    }
}

/// One client account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRule {
    /// Login name.
    pub name: String,
    /// Plain-text password (convenient for labs; prefer `password_hash`).
    pub password: Option<String>,
    /// MySQL-style hash, as `SELECT PASSWORD('…')` prints it: "*" followed by 40 hex digits.
    pub password_hash: Option<String>,
    /// The logical schemas this user may use (connect to, USE); all when absent.
    pub schemas: Option<Vec<String>>,
    /// May run admin statements (SHOW SHARDGATE …, RELOAD RULES, SET SHARDGATE NODE …).
    #[serde(default)]
    pub admin: bool,
    /// Most connections of this user at once (1226 beyond).
    pub max_connections: Option<usize>,
}

/// One backend: a MariaDB/MySQL primary and how the proxy logs in to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSourceRule {
    /// Primary's address, e.g. "127.0.0.1:3310".
    pub primary: SocketAddr,
    /// Backend user.
    pub user: String,
    /// Backend password.
    #[serde(default)]
    pub password: String,
    /// Most connections the proxy opens to this data source.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Limit for connecting and logging in, in milliseconds (a stopped server accepts TCP but never greets).
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How long a statement waits for a free connection when all are busy, in milliseconds.
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
    /// Replicas of the primary that serve plain reads (`[[data_sources.ds_0.replicas]]`).
    #[serde(default)]
    pub replicas: Vec<ReplicaRule>,
    /// Where plain reads go.
    #[serde(default)]
    pub read_policy: ReadPolicy,
    /// A replica more seconds behind its primary than this (Seconds_Behind_Master) serves no reads.
    #[serde(default = "default_max_replication_lag")]
    pub max_replication_lag: u64,
    /// While the primary is down (the proxy cannot connect to it either), replicas that applied everything
    /// they received from it keep serving plain reads; writes and transactions fail (MaxScale's
    /// `master_failure_mode = fail_on_write`). Off: replicas leave rotation when replication stops.
    #[serde(default = "default_true")]
    pub reads_while_primary_down: bool,
    /// How often each replica (and the primary) is checked, in milliseconds.
    #[serde(default = "default_health_check_interval_ms")]
    pub health_check_interval_ms: u64,
    /// Check the primary too (COM_PING): one that stops answering is marked down, so statements on it fail
    /// at once and those waiting on it end, instead of waiting for a hung server.
    #[serde(default = "default_true")]
    pub health_check_primary: bool,
    /// A statement on this data source running longer than this is ended with ER_STATEMENT_TIMEOUT (1969)
    /// and killed on the server (`KILL QUERY`); 0, the default: no limit (a long report on a healthy
    /// primary is legitimate; a hung primary is caught by its health check instead).
    #[serde(default)]
    pub query_timeout_ms: u64,
    /// A check that takes longer than this (connect, or SHOW SLAVE STATUS) fails, in milliseconds.
    #[serde(default = "default_health_check_timeout_ms")]
    pub health_check_timeout_ms: u64,
    /// How a session's reads see its own writes.
    #[serde(default)]
    pub read_your_writes: ReadYourWrites,
    /// gtid mode: how long a replica may take to catch up with the session's last write (MASTER_GTID_WAIT)
    /// before the read goes to the primary; window mode: how long after a write reads stay on the primary.
    #[serde(default = "default_read_your_writes_ms")]
    pub read_your_writes_ms: u64,
    /// TLS to this data source's servers (primary and replicas, health checks included).
    #[serde(default)]
    pub tls_mode: BackendTls,
    /// The CA certificate(s), PEM, that signed the servers' certificates (verify_ca, verify_identity).
    pub tls_ca: Option<std::path::PathBuf>,
    /// Talk to its servers in the compressed protocol (zlib): less traffic for large results over slow
    /// links, more CPU on both ends.
    #[serde(default)]
    pub compress: bool,
}

/// TLS to a data source, as MySQL clients' `--ssl-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackendTls {
    /// Plain TCP.
    #[default]
    Disabled,
    /// Encrypted; the server's certificate is not checked.
    Required,
    /// Encrypted; the certificate must be signed by `tls_ca`.
    VerifyCa,
    /// Encrypted; signed by `tls_ca` and naming the server's IP address.
    VerifyIdentity,
}

/// One replica of a data source's primary.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaRule {
    /// Its address, e.g. "127.0.0.1:3311" (same user and password as the primary).
    pub address: SocketAddr,
    /// Share of the reads, relative to the other replicas'.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

/// Where plain reads go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReadPolicy {
    /// A healthy replica, by weight; the primary when none is healthy.
    #[default]
    ReplicaFirst,
    /// Always the primary (replicas are checked but serve nothing).
    PrimaryOnly,
}

/// How a session's reads see its own writes on replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReadYourWrites {
    /// After a write, a read on a replica first waits (MASTER_GTID_WAIT) for the write's GTID, at most
    /// `read_your_writes_ms`; if the replica is not there by then, the read goes to the primary.
    #[default]
    Gtid,
    /// Reads go to the primary for `read_your_writes_ms` after the session's last write.
    Window,
    /// No guarantee: a read may miss the session's own recent writes.
    Off,
}

fn default_max_fallback_rows() -> u64 {
    100_000
}
fn default_deadlock_detect_ms() -> u64 {
    200
}
fn default_max_password_errors() -> u32 {
    10
}
fn default_password_lock_time_ms() -> u64 {
    60_000
}
fn default_max_allowed_packet() -> usize {
    64 << 20
}
fn default_handshake_timeout_ms() -> u64 {
    10_000
}
fn default_max_replication_lag() -> u64 {
    10
}
fn default_health_check_interval_ms() -> u64 {
    500
}
fn default_health_check_timeout_ms() -> u64 {
    1000
}
fn default_read_your_writes_ms() -> u64 {
    200
}
fn default_weight() -> u32 {
    1
}

fn default_max_connections() -> usize {
    256
}
fn default_connect_timeout_ms() -> u64 {
    3000
}
fn default_acquire_timeout_ms() -> u64 {
    5000
}

/// A logical schema clients `USE`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaRule {
    /// Default data source: holds every table of the schema that is neither sharded nor broadcast.
    pub data_source: Spanned<String>,
    /// Database name on every backend; default: the schema's own name.
    pub database: Option<String>,
    /// Sharded tables by logical name (`[schemas.demo.tables.t_order]`).
    #[serde(default)]
    pub tables: BTreeMap<String, TableRule>,
    /// Tables with a full copy on every data source: written everywhere, read from one.
    #[serde(default)]
    pub broadcast_tables: Vec<Spanned<String>>,
    /// Groups of sharded tables laid out alike (same algorithm and node count), so a join on the sharding
    /// key stays on one shard.
    #[serde(default)]
    pub binding_groups: Vec<Spanned<Vec<String>>>,
}

/// The sharding algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlgorithmName {
    /// Consistent hashing over a ring of virtual nodes (the default): adding a node moves ~1/n of the keys.
    #[default]
    ConsistentHash,
    /// Integer key modulo the node count.
    Mod,
    /// A stable 64-bit hash of the key modulo the node count.
    HashMod,
    /// Explicit integer boundaries.
    Range,
}

/// The type the sharding column's values are canonicalised to before hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KeyType {
    /// Signed 64-bit integers; `'42'` and `42` are the same key.
    #[default]
    Integer,
    /// Strings, compared byte for byte (case-sensitive).
    String,
}

/// Key generators for a sharded table's auto-increment column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyGeneratorName {
    /// Monotonic ids handed out in blocks from the table `shardgate_sequence` on the default data source.
    Sequence,
    /// 64-bit ids: milliseconds since 2026-01-01, worker id, per-millisecond counter.
    Snowflake,
}

/// How one logical table is split.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRule {
    /// The column whose value picks the node.
    pub sharding_column: String,
    /// How the column's values are read.
    #[serde(default)]
    pub key_type: KeyType,
    /// The algorithm.
    #[serde(default)]
    pub algorithm: AlgorithmName,
    /// Physical tables, in order: `"ds_${0..1}.t_order_${0..3}"` (every combination), a comma-separated list
    /// of such expressions, or an array of `"ds.table"` strings.
    pub actual_nodes: Spanned<NodeList>,
    /// Virtual nodes per node on the consistent-hash ring.
    #[serde(default = "default_virtual_nodes")]
    pub virtual_nodes: usize,
    /// Range only: ascending upper bounds (exclusive); node i takes keys below `boundaries[i]`, the last node
    /// the rest. Needs exactly one boundary fewer than nodes.
    #[serde(default)]
    pub boundaries: Vec<i64>,
    /// Fills the key column when an INSERT leaves it out or gives 0 or NULL.
    pub key_generator: Option<KeyGeneratorName>,
    /// The column the key generator fills (default: the sharding column).
    pub key_column: Option<String>,
    /// Ids a sequence reserves per round trip to the default data source.
    #[serde(default = "default_sequence_block")]
    pub sequence_block: u64,
    /// Snowflake worker id (0–1023), unique per shardgate instance.
    #[serde(default)]
    pub worker_id: u16,
}

/// `actual_nodes` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NodeList {
    /// One inline expression (or several, comma-separated).
    Expression(String),
    /// Explicit `ds.table` entries.
    List(Vec<String>),
}

fn default_virtual_nodes() -> usize {
    160
}
fn default_sequence_block() -> u64 {
    1000
}
