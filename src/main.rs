//! Command line: parse arguments and hand over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// shardgate — a MySQL sharding and read/write-splitting proxy.
///
/// Applications connect with any MySQL driver; shardgate routes each statement to the data sources its
/// rules (a TOML file) name and relays the answers.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MySQL clients on the rules' `server.listen` address until SIGINT or SIGTERM.
    ///
    /// The rules are validated first; on any error nothing is started and the errors are printed as
    /// `file:line:column: key: message`. Logging follows RUST_LOG (default `info`).
    ///
    /// With `--fleet FILE` instead, the rules come from etcd (see `shardgate rules`), new revisions are
    /// applied as they are pushed, and the instance registers itself; FILE is a small bootstrap TOML
    /// (etcd endpoints, prefix, instance id, local addresses; see rules/fleet-*.toml).
    Serve {
        /// The rules file (TOML), e.g. rules/demo.toml.
        #[arg(short, long, required_unless_present = "fleet", conflicts_with = "fleet")]
        config: Option<PathBuf>,
        /// A fleet bootstrap file: take the rules from etcd.
        #[arg(long)]
        fleet: Option<PathBuf>,
    },
    /// The fleet's rules in etcd: get, push (validated, with a compare-and-swap), history, rollback.
    Rules {
        /// etcd endpoints, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        etcd: Vec<String>,
        /// The fleet's key prefix, e.g. /shardgate/prod.
        #[arg(long)]
        prefix: String,
        #[command(subcommand)]
        op: shardgate::fleet::cli::RulesOp,
    },
    /// The fleet's instances as registered in etcd; exits 1 if one runs older rules than etcd holds.
    Fleet {
        /// etcd endpoints, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        etcd: Vec<String>,
        /// The fleet's key prefix.
        #[arg(long)]
        prefix: String,
        #[command(subcommand)]
        op: FleetCommand,
    },
    /// Print the plan of one statement: the data sources and the SQL each would receive. Connects to nothing
    /// (ids a key generator would produce are shown as 0). The same is available on a live connection as
    /// `EXPLAIN SHARDING <statement>`.
    Route {
        /// The rules file (TOML).
        #[arg(short, long)]
        config: PathBuf,
        /// The logical schema the statement runs in (default: the only one, if there is one).
        #[arg(short, long)]
        schema: Option<String>,
        /// The statement.
        sql: String,
    },
    /// Print the `password_hash` line for a password read from standard input (one line), so the rules
    /// need not hold plain passwords: `echo -n 'secret' | shardgate passwd`.
    Passwd,
    /// Online resharding: `plan` what would move where, `run` the move under live traffic, `abort` it.
    Reshard {
        #[command(subcommand)]
        op: ReshardCommand,
    },
    /// Validate a rules file and exit: 0 if valid, 1 with `file:line:column: key: message` lines if not.
    ///
    /// Checks syntax, unknown keys, value types and ranges, and references between sections (a schema's
    /// data source must exist, users need a password or password_hash, …). Connects to nothing.
    Check {
        /// The rules file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum ReshardCommand {
    /// Show what changing the rules to NEW_RULES would move: per table, which node's keys go to which node,
    /// the share and the estimated rows and bytes (information_schema sizes times a sample of the keys),
    /// and what would be refused. Reads the primaries of the rules in force; changes nothing.
    Plan {
        /// The rules in force (TOML).
        #[arg(short, long)]
        config: PathBuf,
        /// The new rules (TOML): the same tables on more or fewer nodes.
        #[arg(long)]
        to: PathBuf,
    },
    /// Move the rows to NEW_RULES while the proxy serving CONFIG keeps serving: prepare, copy, catch up
    /// from the binlogs, cut over, verify (the job runs in the proxy, resumes after a crash, and is seen
    /// with SHOW SHARDGATE RESHARD); draws its progress until it is done. Running it again attaches.
    Run {
        /// The rules the proxy serves (its address and an admin user are read from it).
        #[arg(short, long)]
        config: PathBuf,
        /// The new rules (TOML), readable by the proxy at the same path.
        #[arg(long)]
        to: PathBuf,
        /// Rows read per second at most while copying (default: unlimited).
        #[arg(long)]
        rate: Option<u64>,
        /// Delete the removed nodes' rows right after the switch (else `RESHARD CLEANUP` does, later).
        #[arg(long)]
        cleanup: bool,
        /// Admin user (default: the first admin user with a password in CONFIG).
        #[arg(long)]
        user: Option<String>,
        /// Its password.
        #[arg(long)]
        password: Option<String>,
    },
    /// Give up the reshard before its switch: the copied rows are removed, the old rules keep serving.
    Abort {
        /// The rules the proxy serves.
        #[arg(short, long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum FleetCommand {
    /// List the instances, their rules revision and whether they are behind.
    Status,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

fn load(path: &PathBuf) -> Option<shardgate::config::Rules> {
    match shardgate::config::load(path) {
        Ok(rules) => Some(rules),
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            None
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => match load(&config) {
            Some(rules) => {
                println!(
                    "{}: OK ({} data sources, {} schemas, {} users)",
                    config.display(),
                    rules.data_sources.len(),
                    rules.schemas.len(),
                    rules.users.len()
                );
                ExitCode::SUCCESS
            }
            None => ExitCode::FAILURE,
        },
        Command::Passwd => {
            let mut line = String::new();
            if std::io::stdin().read_line(&mut line).is_err() || line.trim_end_matches(['\r', '\n']).is_empty() {
                eprintln!("shardgate passwd: give the password on standard input");
                return ExitCode::FAILURE;
            }
            let hash = shardgate::protocol::auth::double_sha1(line.trim_end_matches(['\r', '\n']).as_bytes());
            println!("password_hash = \"*{}\"", hash.iter().map(|b| format!("{b:02X}")).collect::<String>());
            ExitCode::SUCCESS
        }
        Command::Route { config, schema, sql } => {
            let Some(rules) = load(&config) else { return ExitCode::FAILURE };
            let schema = schema.or_else(|| (rules.schemas.len() == 1).then(|| rules.schemas.keys().next().cloned()).flatten());
            let layouts = shardgate::sharding::table::build(&rules).unwrap_or_default();
            let classified = shardgate::sql::lexer::classify(&sql);
            let plan = shardgate::plan::planner::plan(classified, &sql, schema.as_deref(), &rules, &layouts);
            for (ds, text) in plan.describe(&sql) {
                println!("{ds}\t{text}");
            }
            if matches!(plan, shardgate::plan::Plan::Refuse(_)) { ExitCode::FAILURE } else { ExitCode::SUCCESS }
        }
        Command::Reshard { op: ReshardCommand::Plan { config, to } } => {
            let (Some(old), Some(new)) = (load(&config), load(&to)) else { return ExitCode::FAILURE };
            let moves = match shardgate::reshard::plan::diff(&old, &new) {
                Ok(m) => m,
                Err(refused) => {
                    for r in refused {
                        eprintln!("refused: {r}");
                    }
                    return ExitCode::FAILURE;
                }
            };
            let estimate = runtime().block_on(shardgate::reshard::estimate::estimate(&old, &moves));
            print!("{}", shardgate::reshard::estimate::render(&estimate, shardgate::reshard::estimate::ideal_share(&moves[0])));
            for r in &estimate.refused {
                eprintln!("refused: {r}");
            }
            if estimate.refused.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Command::Reshard { op: ReshardCommand::Run { config, to, rate, cleanup, user, password } } => {
            let Some(rules) = load(&config) else { return ExitCode::FAILURE };
            match shardgate::reshard::cli::Admin::of(&rules, user, password) {
                Ok(admin) => runtime().block_on(shardgate::reshard::cli::run(admin, &to, rate, cleanup)),
                Err(e) => {
                    eprintln!("reshard: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Reshard { op: ReshardCommand::Abort { config } } => {
            let Some(rules) = load(&config) else { return ExitCode::FAILURE };
            match shardgate::reshard::cli::Admin::of(&rules, None, None) {
                Ok(admin) => runtime().block_on(shardgate::reshard::cli::abort(admin)),
                Err(e) => {
                    eprintln!("reshard: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Rules { etcd, prefix, op } => {
            runtime().block_on(shardgate::fleet::cli::rules(shardgate::fleet::cli::Target { etcd, prefix }, op))
        }
        Command::Fleet { etcd, prefix, op: FleetCommand::Status } => {
            runtime().block_on(shardgate::fleet::cli::status(shardgate::fleet::cli::Target { etcd, prefix }))
        }
        Command::Serve { config: None, fleet: Some(boot) } => {
            tracing_subscriber::fmt()
                // Colours only on a terminal: log files and journald get plain text.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
                .init();
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
            runtime.block_on(serve(|| shardgate::server::Server::bind_fleet(&boot)))
        }
        Command::Serve { config, .. } => {
            let Some(config) = config else { return ExitCode::FAILURE };
            let Some(rules) = load(&config) else { return ExitCode::FAILURE };
            let level = rules.server.log_level.clone().unwrap_or_else(|| "info".into());
            tracing_subscriber::fmt()
                // Colours only on a terminal: log files and journald get plain text.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()))
                .init();
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = rules.server.worker_threads {
                builder.worker_threads(n);
            }
            let runtime = builder.enable_all().build().expect("tokio runtime");
            runtime.block_on(serve(|| shardgate::server::Server::bind_file(&config)))
        }
    }
}

async fn serve<F: std::future::Future<Output = std::io::Result<shardgate::server::Server>>>(bind: impl FnOnce() -> F) -> ExitCode {
    let server = match bind().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(address = %server.local_addr(), "shardgate serving");
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    };
    server.serve_until(shutdown).await;
    ExitCode::SUCCESS
}
