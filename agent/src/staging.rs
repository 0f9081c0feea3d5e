//! Applying configurations to a sandbox used as staging: each knob the way it takes effect
//! (restart-time options for restart knobs; `ALTER SYSTEM` + reload or `SET GLOBAL` for the
//! rest), reading back what the server actually applied, and rolling back a configuration
//! that stops the server from starting.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use knobs::{ApplyMode, Config, Engine, Knob, KnobChange};
use mysql_async::prelude::Queryable;
use thiserror::Error;
use workloads::target::{connect_mysql, connect_postgres};
use workloads::{Sandbox, SandboxError, TargetError, TargetUrl};

#[derive(Debug, Error)]
pub enum StagingError {
    /// The configuration stopped the server from starting; it was rolled back.
    #[error("server did not start with this configuration (rolled back): {0}")]
    Infeasible(String),
    /// The server rejected a value.
    #[error("server rejected the change: {0}")]
    Rejected(String),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("mysql: {0}")]
    Mysql(#[from] mysql_async::Error),
}

impl StagingError {
    /// True when the configuration itself is at fault (the optimizer should avoid it), not the
    /// environment.
    pub fn is_infeasible(&self) -> bool {
        matches!(
            self,
            StagingError::Infeasible(_) | StagingError::Rejected(_)
        )
    }
}

/// What applying did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub restarted: bool,
    /// Knob → value as the server reports it.
    pub server_values: BTreeMap<String, String>,
}

/// A sandbox with a known current configuration.
#[derive(Debug)]
pub struct Staging {
    // Shared so that a restart (blocking: it waits for the server) runs on a blocking thread.
    sandbox: Arc<Mutex<Sandbox>>,
    engine: Engine,
    catalog: Vec<Knob>,
    current: Config,
}

impl Staging {
    pub fn new(sandbox: Sandbox, catalog: Vec<Knob>) -> Staging {
        Staging {
            engine: sandbox.engine(),
            sandbox: Arc::new(Mutex::new(sandbox)),
            catalog,
            current: Config::new(),
        }
    }

    fn sandbox(&self) -> MutexGuard<'_, Sandbox> {
        // A poisoned lock only means a restart thread panicked; the sandbox is still ours.
        self.sandbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// PID of the staging server's main process, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.sandbox().pid()
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Whether the staging server is still running.
    pub fn is_running(&self) -> bool {
        self.sandbox().is_running()
    }

    pub fn catalog(&self) -> &[Knob] {
        &self.catalog
    }

    pub fn current(&self) -> &Config {
        &self.current
    }

    /// Superuser URL of a database on the staging server.
    pub fn url(&self, database: &str) -> Result<TargetUrl, TargetError> {
        self.sandbox().url_for_database(database).parse()
    }

    /// Stop and start the server with its current start options, on a blocking thread.
    pub async fn restart(&self) -> Result<(), StagingError> {
        let sandbox = Arc::clone(&self.sandbox);
        tokio::task::spawn_blocking(move || {
            sandbox.lock().unwrap_or_else(|p| p.into_inner()).restart()
        })
        .await
        .map_err(|e| StagingError::Rejected(format!("restart task failed: {e}")))??;
        Ok(())
    }

    /// Bring the server to the same state before every measurement. On PostgreSQL: VACUUM
    /// the workload's database (as pgbench does before each run: dead tuples left by the
    /// previous run made identical runs drift down by a third over a minute here), then a
    /// checkpoint, so that every arm starts with the same full-page-write debt (after a
    /// restart's shutdown checkpoint every first change of a page writes a full page).
    pub async fn settle(&self, database: &str) -> Result<(), StagingError> {
        if self.engine == Engine::Postgres {
            let client = connect_postgres(&self.url(database)?).await?;
            client.batch_execute("VACUUM").await?;
            client.batch_execute("CHECKPOINT").await?;
        }
        Ok(())
    }

    /// Make `config` the staging configuration (knobs it lacks go back to their defaults).
    pub async fn apply(&mut self, config: &Config) -> Result<Applied, StagingError> {
        self.apply_with(config, false).await
    }

    /// Like [`Staging::apply`], restarting the server even when no knob needs it when
    /// `force_restart` is set: the measurement protocol of a session whose space has restart
    /// knobs, so that every configuration is measured after the same restart.
    pub async fn apply_with(
        &mut self,
        config: &Config,
        force_restart: bool,
    ) -> Result<Applied, StagingError> {
        let diff = self.current.diff(config, &self.catalog);
        let previous = self.current.clone();
        let restart = diff.needs_restart() || force_restart;
        // On MariaDB every knob is a start option, so a restart applies them all at once:
        // setting the online ones first could be refused against the outgoing values
        // (innodb_log_file_size below the old innodb_log_buffer_size).
        let restart_applies_all = restart && self.engine().is_mysql_family();
        let mut online: Vec<&KnobChange> = Vec::new();
        for change in &diff.changes {
            let unit = change.knob.unit();
            let is_default = change.to == change.knob.default;
            let rendered = change.to.render(self.engine(), unit);
            // Restart knobs (and on MariaDB, which has no persisted SET, every knob) become
            // start-time options, so that a failed start is undone by removing the option.
            let as_option =
                change.knob.apply == ApplyMode::Restart || self.engine().is_mysql_family();
            if as_option {
                if is_default {
                    self.sandbox().remove_setting(&change.knob.name);
                } else {
                    self.sandbox().set_setting(&change.knob.name, &rendered);
                }
            }
            if change.knob.apply != ApplyMode::Restart && !restart_applies_all {
                if let Err(e) = self
                    .set_online(&change.knob.name, &rendered, is_default)
                    .await
                {
                    // A rejected value (e.g. MariaDB's innodb_log_file_size below the log
                    // buffer) must not leave half a configuration behind for the next trial.
                    self.undo(&previous, &online).await?;
                    return Err(e);
                }
                online.push(change);
            }
        }
        if restart {
            if let Err(e) = self.restart().await {
                let reason = e.to_string();
                self.undo(&previous, &online).await?;
                return Err(StagingError::Infeasible(reason));
            }
        } else if !diff.is_empty() {
            self.reload().await?;
        }
        self.current = config.clone();
        let server_values = self.read_back(config).await?;
        Ok(Applied {
            restarted: restart,
            server_values,
        })
    }

    /// Put back the start options of `previous` and the online knobs already changed.
    async fn undo(
        &mut self,
        previous: &Config,
        online: &[&KnobChange],
    ) -> Result<(), StagingError> {
        self.rollback_options(previous).await?;
        for change in online.iter().rev() {
            let rendered = change.from.render(self.engine(), change.knob.unit());
            self.set_online(
                &change.knob.name,
                &rendered,
                change.from == change.knob.default,
            )
            .await?;
        }
        self.reload().await
    }

    async fn reload(&self) -> Result<(), StagingError> {
        if self.engine() == Engine::Postgres {
            let client = connect_postgres(&self.url("postgres")?).await?;
            client.batch_execute("SELECT pg_reload_conf()").await?;
            // The postmaster handles SIGHUP asynchronously; new sessions see the values after.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    async fn set_online(
        &mut self,
        name: &str,
        rendered: &str,
        is_default: bool,
    ) -> Result<(), StagingError> {
        match self.engine() {
            Engine::Postgres => {
                let client = connect_postgres(&self.url("postgres")?).await?;
                let sql = if is_default {
                    format!("ALTER SYSTEM RESET {name}")
                } else {
                    format!(
                        "ALTER SYSTEM SET {name} = '{}'",
                        rendered.replace('\'', "''")
                    )
                };
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| StagingError::Rejected(format!("{name} = {rendered}: {e}")))?;
            }
            Engine::Mysql | Engine::Mariadb => {
                let mut conn = connect_mysql(&self.url("mysql")?).await?;
                let value = if is_default {
                    "DEFAULT".to_string()
                } else {
                    knobs::render::mysql_value(rendered)
                };
                conn.query_drop(format!("SET GLOBAL {name} = {value}"))
                    .await
                    .map_err(|e| StagingError::Rejected(format!("{name} = {rendered}: {e}")))?;
            }
        }
        Ok(())
    }

    /// Put back the start-time options of `previous` and start the server again.
    async fn rollback_options(&mut self, previous: &Config) -> Result<(), StagingError> {
        let engine = self.engine;
        {
            let mut sandbox = self.sandbox();
            for knob in &self.catalog {
                if knob.apply == ApplyMode::Restart || engine.is_mysql_family() {
                    match previous.get(&knob.name) {
                        Some(v) if *v != knob.default => {
                            sandbox.set_setting(&knob.name, &v.render(engine, knob.unit()))
                        }
                        _ => sandbox.remove_setting(&knob.name),
                    }
                }
            }
        }
        self.restart().await
    }

    /// The values the server reports for the knobs of `config`.
    async fn read_back(&self, config: &Config) -> Result<BTreeMap<String, String>, StagingError> {
        let mut values = BTreeMap::new();
        match self.engine() {
            Engine::Postgres => {
                let client = connect_postgres(&self.url("postgres")?).await?;
                for (name, _) in config.iter() {
                    let row = client.query_one(&format!("SHOW {name}"), &[]).await?;
                    values.insert(name.to_string(), row.get::<_, String>(0));
                }
            }
            Engine::Mysql | Engine::Mariadb => {
                let mut conn = connect_mysql(&self.url("mysql")?).await?;
                for (name, _) in config.iter() {
                    let v: Option<String> = conn
                        .query_first(format!("SELECT CAST(@@GLOBAL.{name} AS CHAR)"))
                        .await?;
                    values.insert(name.to_string(), v.unwrap_or_default());
                }
            }
        }
        Ok(values)
    }
}
