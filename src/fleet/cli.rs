//! `shardgate rules …` and `shardgate fleet status`: the operator's side of the fleet.

use std::path::Path;
use std::process::ExitCode;

use super::rules_store::{self, Pushed};
use super::{connect, Keys};

/// Which fleet a command talks to.
pub struct Target {
    /// etcd endpoints.
    pub etcd: Vec<String>,
    /// The fleet's prefix.
    pub prefix: String,
}

/// What `shardgate rules` can do (its subcommands, as the command line shows them).
#[derive(clap::Subcommand)]
pub enum RulesOp {
    /// Print the rules with a first line naming their revision (keep it: push reads it).
    Get,
    /// Validate FILE as `check` does, then write it unless the rules changed since the revision it was
    /// based on (its first line, or --revision); the loser of two concurrent pushes is told so.
    Push {
        /// The edited rules.
        file: std::path::PathBuf,
        /// The revision FILE was based on (0 for the very first push).
        #[arg(long)]
        revision: Option<i64>,
        /// Overwrite whatever revision is there.
        #[arg(long)]
        force: bool,
    },
    /// The last N revisions (etcd's history).
    History {
        /// How many.
        #[arg(short, default_value_t = 10)]
        n: usize,
    },
    /// Push an older revision's document again as the newest revision.
    Rollback {
        /// The revision to return to.
        rev: i64,
    },
}

impl Target {
    /// The fleet's keys and a (lazy) etcd client.
    async fn open(&self) -> Result<(etcd_client::Client, Keys), String> {
        Ok((connect(&self.etcd).await?, Keys { prefix: self.prefix.trim_end_matches('/').to_string() }))
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("shardgate: {msg}");
    ExitCode::FAILURE
}

/// Validates `text` exactly as `shardgate check` does; prints the errors.
fn valid(text: &str, origin: &str) -> bool {
    match crate::config::parse(text, Path::new(origin)) {
        Ok(_) => true,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            false
        }
    }
}

/// Writes `text` based on `expected` and says how it went.
async fn write(client: &etcd_client::Client, keys: &Keys, text: &str, expected: Option<i64>) -> ExitCode {
    match rules_store::push(client, &keys.rules(), text, expected).await {
        Ok(Pushed::Written(rev)) => {
            println!("pushed: {} is now at revision {rev}", keys.rules());
            ExitCode::SUCCESS
        }
        Ok(Pushed::Lost { expected, current }) => fail(format!(
            "push refused: the rules changed since revision {expected} (now {current}); nothing was written. \
             Run `shardgate rules get`, merge your change into it and push again (or --force to overwrite)"
        )),
        Err(e) => fail(format!("etcd: {e}")),
    }
}

/// Runs a `shardgate rules` command.
pub async fn rules(target: Target, op: RulesOp) -> ExitCode {
    let (client, keys) = match target.open().await {
        Ok(open) => open,
        Err(e) => return fail(e),
    };
    match op {
        RulesOp::Get => match rules_store::get(&client, &keys.rules(), None).await {
            Ok(Some(doc)) => {
                println!("{}", rules_store::header(doc.revision));
                print!("{}", doc.text);
                ExitCode::SUCCESS
            }
            Ok(None) => fail(format!("no rules at {} yet; push a file with `shardgate rules push FILE --revision 0`", keys.rules())),
            Err(e) => fail(format!("etcd: {e}")),
        },
        RulesOp::Push { file, revision, force } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => return fail(format!("{}: cannot read: {e}", file.display())),
            };
            if !valid(&text, &file.display().to_string()) {
                return fail("push refused: the file is not valid (errors above); nothing was written");
            }
            let stored = rules_store::strip_header(&text);
            if force {
                eprintln!("shardgate: WARNING: --force overwrites {} whatever revision it is at; changes pushed by others since you read it are lost", keys.rules());
                return write(&client, &keys, &stored, None).await;
            }
            let Some(expected) = revision.or_else(|| rules_store::base_revision(&text)) else {
                return fail(
                    "push refused: say which revision you edited: start from `shardgate rules get > FILE` (its first line \
                     names the revision), or pass --revision N (0 for the first push), or --force",
                );
            };
            write(&client, &keys, &stored, Some(expected)).await
        }
        RulesOp::History { n } => match rules_store::history(&client, &keys.rules(), n).await {
            Ok(docs) if docs.is_empty() => fail(format!("no rules at {}", keys.rules())),
            Ok(docs) => {
                for d in docs {
                    let first = d.text.lines().find(|l| !l.trim().is_empty() && !l.starts_with('#')).unwrap_or("");
                    println!("{}\t{} bytes\t{first}", d.revision, d.text.len());
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("etcd: {e}")),
        },
        RulesOp::Rollback { rev } => {
            let old = match rules_store::get(&client, &keys.rules(), Some(rev)).await {
                Ok(Some(d)) if d.revision == rev => d,
                Ok(Some(d)) => return fail(format!("revision {rev} is not a revision of the rules (the document then was revision {}); see `shardgate rules history`", d.revision)),
                Ok(None) => return fail(format!("no rules at revision {rev}")),
                Err(e) => return fail(format!("etcd: {e} (revisions before the last compaction are gone; see `shardgate rules history`)")),
            };
            if !valid(&old.text, &format!("etcd:{}@{rev}", keys.rules())) {
                return fail("rollback refused: that revision does not validate with this shardgate");
            }
            let current = match rules_store::get(&client, &keys.rules(), None).await {
                Ok(d) => d.map_or(0, |d| d.revision),
                Err(e) => return fail(format!("etcd: {e}")),
            };
            write(&client, &keys, &old.text, Some(current)).await
        }
    }
}

/// `shardgate fleet status`: every registered instance, flagged when behind; exit 1 if any is.
pub async fn status(target: Target) -> ExitCode {
    let (client, keys) = match target.open().await {
        Ok(open) => open,
        Err(e) => return fail(e),
    };
    match super::membership::list(&client, &keys).await {
        Ok((newest, regs)) => {
            println!("rules {} at revision {newest}; {} instance(s)", keys.rules(), regs.len());
            let rows = super::membership::rows(newest, &regs);
            for r in &rows {
                println!("{}", r.join("\t"));
            }
            if regs.iter().any(|r| r.revision < newest) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(format!("etcd: {e}")),
    }
}
