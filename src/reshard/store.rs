//! Where a reshard job's progress is persisted: for a proxy started from a rules file, one row per rules
//! file in `shardgate.reshard_jobs` on the default data source's primary (the data source a ShardingSphere
//! user keeps the proxy's own metadata on), so a proxy restarted from that file finds the job it was
//! running and resumes it; for a fleet, etcd (`P/reshard/job`, see [`super::fleet`]).

use mysql_async::prelude::Queryable;

use super::job::JobState;
use crate::config::Rules;

/// Where a job is saved.
pub enum Store {
    /// A table on the default data source.
    Table(TableStore),
    /// The fleet's etcd.
    Fleet(std::sync::Arc<crate::fleet::Fleet>),
}

impl Store {
    /// The store of the job run by the proxy started from `rules_path`.
    pub fn new(rules: &Rules, rules_path: &std::path::Path) -> Result<Store, String> {
        TableStore::new(rules, rules_path).map(Store::Table)
    }

    /// The job saved, if any.
    pub async fn load(&mut self) -> Result<Option<JobState>, String> {
        match self {
            Store::Table(t) => t.load().await,
            Store::Fleet(f) => super::fleet::load_job(f).await,
        }
    }

    /// Saves `state`.
    pub async fn save(&mut self, state: &JobState) -> Result<(), String> {
        match self {
            Store::Table(t) => t.save(state).await,
            Store::Fleet(f) => super::fleet::save_job(f, state).await,
        }
    }
}

/// The job table of one rules file.
pub struct TableStore {
    rules: Rules,
    data_source: String,
    key: String,
    conn: Option<mysql_async::Conn>,
    ensured: bool,
}

/// The data source the proxy's own metadata lives on: the rules' default data source, else the first
/// schema's, else the first data source.
pub fn home(rules: &Rules) -> Option<String> {
    rules
        .default_data_source
        .as_ref()
        .map(|d| d.get_ref().clone())
        .or_else(|| rules.schemas.values().next().map(|s| s.data_source.get_ref().clone()))
        .or_else(|| rules.data_sources.keys().next().cloned())
}

impl TableStore {
    /// The table store of the job run by the proxy started from `rules_path`.
    pub fn new(rules: &Rules, rules_path: &std::path::Path) -> Result<TableStore, String> {
        let data_source = home(rules).ok_or("the rules name no data source to keep the reshard's progress on")?;
        Ok(TableStore { rules: rules.clone(), data_source, key: rules_path.display().to_string(), conn: None, ensured: false })
    }

    async fn conn(&mut self) -> Result<&mut mysql_async::Conn, String> {
        if self.conn.is_none() {
            self.conn = Some(self.open().await?);
        }
        Ok(self.conn.as_mut().expect("opened above"))
    }

    async fn open(&self) -> Result<mysql_async::Conn, String> {
        super::connect(&self.rules, &self.data_source).await
    }

    /// Creates the job table on the first save only: a proxy that never reshards (every proxy reads the
    /// table at start-up) leaves nothing on the default data source.
    async fn ensure_table(&mut self) -> Result<(), String> {
        if self.ensured {
            return Ok(());
        }
        let ds = self.data_source.clone();
        let conn = self.conn().await?;
        for sql in [
            "CREATE DATABASE IF NOT EXISTS shardgate",
            "CREATE TABLE IF NOT EXISTS shardgate.reshard_jobs (rules_path VARCHAR(700) PRIMARY KEY, state LONGTEXT NOT NULL, updated TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3))",
        ] {
            conn.query_drop(sql).await.map_err(|e| format!("reshard progress on {ds}: {e}"))?;
        }
        self.ensured = true;
        Ok(())
    }

    /// The job last saved for this rules file, if any.
    pub async fn load(&mut self) -> Result<Option<JobState>, String> {
        let key = self.key.clone();
        let conn = self.conn().await?;
        let text: Option<String> = match conn.exec_first("SELECT state FROM shardgate.reshard_jobs WHERE rules_path = ?", (key,)).await {
            Ok(t) => t,
            // No database or table yet: no job was ever saved here.
            Err(mysql_async::Error::Server(e)) if e.code == 1049 || e.code == 1146 => None,
            Err(e) => return Err(e.to_string()),
        };
        text.map(|t| serde_json::from_str(&t).map_err(|e| format!("the saved reshard job does not parse ({e}); delete it from shardgate.reshard_jobs"))).transpose()
    }

    /// Saves `state` as this rules file's job.
    pub async fn save(&mut self, state: &JobState) -> Result<(), String> {
        let text = serde_json::to_string(state).map_err(|e| e.to_string())?;
        let (key, ds) = (self.key.clone(), self.data_source.clone());
        self.ensure_table().await?;
        let conn = self.conn().await?;
        let saved = conn.exec_drop("REPLACE INTO shardgate.reshard_jobs (rules_path, state) VALUES (?, ?)", (key, text)).await;
        if saved.is_err() {
            // The next save opens a fresh connection.
            self.conn = None;
            self.ensured = false;
        }
        saved.map_err(|e| format!("saving the reshard's progress on {ds}: {e}"))
    }
}
