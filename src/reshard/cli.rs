//! `shardgate reshard run` and `abort`: a client of the proxy's admin statements. It starts (or resumes, or
//! attaches to) the job with `RESHARD RUN`, then draws SHOW SHARDGATE RESHARD as a progress bar until the
//! job is done or stops. Killing the command leaves the job running in the proxy; running it again attaches.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::config::Rules;

/// How to reach the proxy's admin statements.
pub struct Admin {
    /// The proxy's address.
    pub address: std::net::SocketAddr,
    /// An admin user and its password.
    pub user: String,
    /// Its password.
    pub password: String,
}

impl Admin {
    /// The proxy the rules file `rules` describes, as its first admin user with a plain password (or
    /// `user`/`password` when given).
    pub fn of(rules: &Rules, user: Option<String>, password: Option<String>) -> Result<Admin, String> {
        let mut address = rules.server.listen;
        if address.ip().is_unspecified() {
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let (user, password) = match (user, password) {
            (Some(u), Some(p)) => (u, p),
            _ => rules
                .users
                .iter()
                .map(|u| u.get_ref())
                .find(|u| u.admin && u.password.is_some())
                .map(|u| (u.name.clone(), u.password.clone().unwrap_or_default()))
                .ok_or("the rules name no admin user with a password; pass --user and --password")?,
        };
        Ok(Admin { address, user, password })
    }

    async fn conn(&self) -> Result<mysql_async::Conn, String> {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(self.address.ip().to_string())
            .tcp_port(self.address.port())
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .prefer_socket(false);
        mysql_async::Conn::new(opts).await.map_err(|e| format!("cannot reach the proxy at {}: {e}", self.address))
    }
}

fn quoted(path: &Path) -> Result<String, String> {
    let abs = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(format!("'{}'", abs.display().to_string().replace('\\', "\\\\").replace('\'', "''")))
}

/// Runs the reshard to the rules in `to` and follows it to the end.
pub async fn run(admin: Admin, to: &Path, rate: Option<u64>, cleanup: bool) -> ExitCode {
    match follow(admin, to, rate, cleanup).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reshard: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn follow(admin: Admin, to: &Path, rate: Option<u64>, cleanup: bool) -> Result<(), String> {
    let mut conn = admin.conn().await?;
    let mut sql = format!("RESHARD RUN {}", quoted(to)?);
    if let Some(r) = rate {
        sql += &format!(" RATE {r}");
    }
    if cleanup {
        sql += " CLEANUP";
    }
    let said: Option<String> = conn.query_first(sql).await.map_err(|e| e.to_string())?;
    println!("{}", said.unwrap_or_default());
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} rows read, {msg}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    loop {
        let row: Option<mysql_async::Row> = match conn.query_first("SHOW SHARDGATE RESHARD").await {
            Ok(r) => r,
            // The proxy restarting: it resumes the job itself; follow it when it is back (within a minute).
            Err(_) => {
                conn = reconnect(&admin).await?;
                continue;
            }
        };
        let row = row.ok_or("the proxy shows no reshard")?;
        let get = |name: &str| row.get::<Option<String>, _>(name).flatten().unwrap_or_default();
        let (phase, error) = (get("phase"), get("error"));
        bar.set_length(get("rows_estimated").parse().unwrap_or(0).max(get("rows_scanned").parse().unwrap_or(0)));
        bar.set_position(get("rows_scanned").parse().unwrap_or(0));
        bar.set_prefix(phase.clone());
        bar.set_message(format!("{} copied, {} rows/s, ETA {} s, {} changes applied", get("rows_copied"), get("rows_per_s"), get("eta_s"), get("changes_applied")));
        if !error.is_empty() {
            bar.abandon();
            return Err(format!("stopped at {phase}: {error}"));
        }
        match phase.as_str() {
            "done" => {
                bar.finish();
                println!("done: cut-over pause {} ms, {} of the rows moved", get("pause_ms"), get("moved_share"));
                return Ok(());
            }
            "aborted" => {
                bar.abandon();
                return Err("the reshard was aborted".into());
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

async fn reconnect(admin: &Admin) -> Result<mysql_async::Conn, String> {
    let mut last = String::new();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match admin.conn().await {
            Ok(c) => return Ok(c),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Aborts the reshard before its switch.
pub async fn abort(admin: Admin) -> ExitCode {
    let result = async {
        let mut conn = admin.conn().await?;
        conn.query_first::<String, _>("RESHARD ABORT").await.map_err(|e| e.to_string())
    };
    match result.await {
        Ok(said) => {
            println!("{}", said.unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("reshard: {e}");
            ExitCode::FAILURE
        }
    }
}
