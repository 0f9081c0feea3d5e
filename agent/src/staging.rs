//! Applying configurations to staging, each knob the way it takes effect, reading back what
//! the server actually applied, and rolling back a configuration that stops the server from
//! starting. Staging is one of two places:
//!
//! - a sandbox dbtuner started: restart knobs are start-time options, the rest `ALTER SYSTEM`
//!   + reload or `SET GLOBAL`; its defaults are the server's own;
//! - a staging server the user named (`tune --target`): every knob through SQL (`ALTER
//!   SYSTEM` + reload, `SET GLOBAL`), restarts only with the user's command, and its
//!   configuration *as found* is the baseline: a configuration that lacks a knob means the
//!   value the server had, and [`Staging::apply`] of an empty configuration puts every knob
//!   back as found (the `postgresql.auto.conf` entry it had, or none).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use knobs::{ApplyMode, Config, Engine, Knob, KnobChange, Value};
use mysql_async::prelude::Queryable;
use thiserror::Error;
use workloads::target::{connect_mysql, connect_postgres, mysql_text_rows};
use workloads::{Sandbox, SandboxError, Target, TargetError, TargetUrl};

use crate::apply::{CommandRestarter, Restarter};

/// Database the workload is loaded into on a named staging server: dbtuner's own, never one
/// of the user's (created when missing).
pub const NAMED_DATABASE: &str = "dbtuner_bench";
/// The same on a sandbox, which holds nothing else.
pub const SANDBOX_DATABASE: &str = "dbtuner";

/// How long a named server may take to accept connections again after its restart command.
const RESTART_WAIT: Duration = Duration::from_secs(60);

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
    /// A named server cannot be tuned this way safely; nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// A named server did not come back in its previous configuration.
    #[error("the staging server could not be brought back: {0}")]
    Stuck(String),
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

/// A staging server with a known current configuration.
#[derive(Debug)]
pub struct Staging {
    server: Server,
    engine: Engine,
    /// The catalog the configurations are diffed against: on a named server, each knob's
    /// default is its value as found.
    catalog: Vec<Knob>,
    current: Config,
}

#[derive(Debug)]
enum Server {
    // Shared so that a restart (blocking: it waits for the server) runs on a blocking thread.
    Sandbox(Arc<Mutex<Sandbox>>),
    Named(Box<Named>),
}

/// A staging server the user named.
#[derive(Debug)]
struct Named {
    /// As given, password included (TargetUrl prints without it).
    url: TargetUrl,
    /// Only with `--allow-restart` and `--restart-command`.
    restarter: Option<CommandRestarter>,
    found: Found,
    /// PostgreSQL with restarts allowed: the server's postgresql.auto.conf, seen from this
    /// machine, to put the previous one back when the server does not start.
    auto_conf_path: Option<PathBuf>,
    /// Knobs whose value as found does not read, with that value: never changed.
    unreadable: BTreeMap<String, String>,
}

/// A named server's configuration before the first change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    /// Every setting as the server shows it (`current_setting` / `SHOW GLOBAL VARIABLES`).
    pub shown: BTreeMap<String, String>,
    /// PostgreSQL: settings written by `ALTER SYSTEM` (postgresql.auto.conf), as written there.
    pub persisted: BTreeMap<String, String>,
}

impl Staging {
    pub fn new(sandbox: Sandbox, catalog: Vec<Knob>) -> Staging {
        Staging {
            engine: sandbox.engine(),
            server: Server::Sandbox(Arc::new(Mutex::new(sandbox))),
            catalog,
            current: Config::new(),
        }
    }

    /// A staging server the user named, its configuration recorded as found. Changes nothing.
    /// With `restarter`, restart knobs may be applied; on PostgreSQL that needs the server's
    /// postgresql.auto.conf on this machine (to undo a configuration it cannot start with),
    /// and on MariaDB/MySQL it is refused: `SET GLOBAL` does not survive a restart and dbtuner
    /// does not edit a named server's my.cnf, so a start option could not be put back.
    pub async fn named(
        url: TargetUrl,
        catalog: &[Knob],
        restarter: Option<CommandRestarter>,
    ) -> Result<Staging, StagingError> {
        let mut target = Target::connect(&url).await?;
        let engine = target.engine();
        let found = read_found(&mut target).await?;
        let mut own = Vec::new();
        let mut unreadable = BTreeMap::new();
        for knob in catalog {
            let Some(text) = found.shown.get(&knob.name) else {
                continue;
            };
            match knob.parse_value(text) {
                Ok(value) => {
                    let mut knob = knob.clone();
                    knob.default = value;
                    own.push(knob);
                }
                Err(_) => {
                    unreadable.insert(knob.name.clone(), text.clone());
                }
            }
        }
        let auto_conf_path = match (&restarter, &target) {
            (Some(_), Target::Postgres { client, .. }) => {
                let file = client
                    .query_one("SELECT pg_read_file('postgresql.auto.conf')", &[])
                    .await
                    .ok()
                    .map(|r| r.get::<_, String>(0));
                let dir = client
                    .query_one("SHOW data_directory", &[])
                    .await
                    .ok()
                    .map(|r| r.get::<_, String>(0));
                crate::apply::auto_conf_is_local(file.as_deref(), dir.as_deref()).map_err(
                    |why| {
                        StagingError::Refused(format!(
                            "--allow-restart on {url}: if the server failed to start with a trial's configuration dbtuner could not put the previous one back: {why}. Run dbtuner on the server's host, or leave --allow-restart out (restart knobs are then not searched); nothing was changed"
                        ))
                    },
                )?;
                dir.map(|d| PathBuf::from(d).join("postgresql.auto.conf"))
            }
            (Some(_), Target::Mysql { .. }) => {
                return Err(StagingError::Refused(format!(
                    "--allow-restart on {url}: {} keeps SET GLOBAL values only until a restart and dbtuner does not edit a named server's my.cnf, so restart knobs cannot be tried and put back there; leave --allow-restart out (online knobs are tuned with SET GLOBAL); nothing was changed",
                    engine.display_name()
                )))
            }
            (None, _) => None,
        };
        Ok(Staging {
            engine,
            server: Server::Named(Box::new(Named {
                url,
                restarter,
                found,
                auto_conf_path,
                unreadable,
            })),
            catalog: own,
            current: Config::new(),
        })
    }

    fn sandbox(&self) -> Option<MutexGuard<'_, Sandbox>> {
        match &self.server {
            // A poisoned lock only means a restart thread panicked; the sandbox is still ours.
            Server::Sandbox(s) => Some(s.lock().unwrap_or_else(|p| p.into_inner())),
            Server::Named(_) => None,
        }
    }

    /// PID of a sandbox server's main process, while it runs (`None` on a named server).
    pub fn pid(&self) -> Option<u32> {
        self.sandbox().and_then(|s| s.pid())
    }

    /// Whether this is a server the user named (its configuration is put back as found).
    pub fn is_named(&self) -> bool {
        matches!(self.server, Server::Named(_))
    }

    /// The database the workload lives in.
    pub fn database(&self) -> &'static str {
        match self.server {
            Server::Sandbox(_) => SANDBOX_DATABASE,
            Server::Named(_) => NAMED_DATABASE,
        }
    }

    /// Why a knob cannot be tuned on this staging server, if it cannot.
    pub fn why_not_tunable(&self, knob: &Knob) -> Option<String> {
        let Server::Named(named) = &self.server else {
            return None;
        };
        if let Some(text) = named.unreadable.get(&knob.name) {
            return Some(format!(
                "its value on the server ('{text}') does not read, so it could not be put back exactly"
            ));
        }
        if knob.apply != ApplyMode::Restart {
            return None;
        }
        if self.engine.is_mysql_family() {
            return Some(format!(
                "it needs a restart, and {} keeps SET GLOBAL values only until a restart: dbtuner does not edit a named server's my.cnf",
                self.engine.display_name()
            ));
        }
        named.restarter.is_none().then(|| {
            "it needs a server restart; pass --allow-restart with --restart-command to tune it on --target".to_string()
        })
    }

    /// A named server's configuration as found (`None` on a sandbox).
    pub fn found(&self) -> Option<&Found> {
        match &self.server {
            Server::Named(n) => Some(&n.found),
            Server::Sandbox(_) => None,
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Whether the staging server is still running. A named server's process is not ours to
    /// see: a lost server shows as failed connections, and [`Staging::restart`] waits for it.
    pub fn is_running(&self) -> bool {
        self.sandbox().is_none_or(|mut s| s.is_running())
    }

    pub fn catalog(&self) -> &[Knob] {
        &self.catalog
    }

    pub fn current(&self) -> &Config {
        &self.current
    }

    /// Superuser URL of a database on the staging server (on a named server: the user's URL
    /// with that database).
    pub fn url(&self, database: &str) -> Result<TargetUrl, TargetError> {
        match &self.server {
            Server::Sandbox(sandbox) => sandbox
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .url_for_database(database)
                .parse(),
            Server::Named(n) => Ok(n.url.with_database(database)),
        }
    }

    /// URL for administration: the sandbox's maintenance database, or the URL as given.
    pub fn admin_url(&self) -> Result<TargetUrl, TargetError> {
        match &self.server {
            Server::Sandbox(_) => self.url(if self.engine == Engine::Postgres {
                "postgres"
            } else {
                "mysql"
            }),
            Server::Named(n) => Ok(n.url.clone()),
        }
    }

    /// Stop and start the server with its current configuration. A sandbox restarts on a
    /// blocking thread; a named server through the user's restart command, then dbtuner waits
    /// until it accepts connections. Without a restart command a named server is not
    /// restarted: this only waits for it to accept connections again.
    pub async fn restart(&self) -> Result<(), StagingError> {
        match &self.server {
            Server::Sandbox(sandbox) => {
                let sandbox = Arc::clone(sandbox);
                tokio::task::spawn_blocking(move || {
                    sandbox.lock().unwrap_or_else(|p| p.into_inner()).restart()
                })
                .await
                .map_err(|e| StagingError::Rejected(format!("restart task failed: {e}")))??;
            }
            Server::Named(named) => {
                if named.restarter.is_some() {
                    restart_named(named).await.map_err(StagingError::Stuck)?;
                } else {
                    crate::apply::wait_until_accepting(&named.url, RESTART_WAIT)
                        .await
                        .map_err(StagingError::Stuck)?;
                }
            }
        }
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
        if self.is_named() {
            return self.apply_named(config, force_restart).await;
        }
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
            if let (true, Some(mut sandbox)) = (as_option, self.sandbox()) {
                if is_default {
                    sandbox.remove_setting(&change.knob.name);
                } else {
                    sandbox.set_setting(&change.knob.name, &rendered);
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
        self.applied(config, restart).await
    }

    /// `config` is in effect now: remember it and read back what the server applied.
    async fn applied(&mut self, config: &Config, restarted: bool) -> Result<Applied, StagingError> {
        self.current = config.clone();
        let server_values = self.read_back(config).await?;
        Ok(Applied {
            restarted,
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
            let client = connect_postgres(&self.admin_url()?).await?;
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
                let client = connect_postgres(&self.admin_url()?).await?;
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
                let mut conn = connect_mysql(&self.admin_url()?).await?;
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
        if let Some(mut sandbox) = self.sandbox() {
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

    /// [`Staging::apply_with`] on a named server: every knob through SQL, a knob absent from
    /// `config` back to its value as found; a restart only through the user's command.
    async fn apply_named(
        &mut self,
        config: &Config,
        force_restart: bool,
    ) -> Result<Applied, StagingError> {
        let diff = self.current.diff(config, &self.catalog);
        let restart = diff.needs_restart() || force_restart;
        if let Some(why) = diff
            .changes
            .iter()
            .find_map(|c| self.why_not_tunable(&c.knob).map(|w| (c, w)))
            .map(|(c, w)| format!("{}: {w}", c.knob.name))
        {
            return Err(StagingError::Rejected(why));
        }
        if restart && !self.can_restart() {
            return Err(StagingError::Rejected(
                "this configuration needs a restart, which is not allowed on this server".into(),
            ));
        }
        // The file as it was, to put back if the server does not start with the new one.
        let previous_file = if restart {
            Some(self.read_auto_conf().await?)
        } else {
            None
        };
        let mut done: Vec<&KnobChange> = Vec::new();
        for change in &diff.changes {
            if let Err(e) = self.set_named(&change.knob, &change.to).await {
                // A rejected value must not leave half a configuration for the next trial.
                for earlier in done.iter().rev() {
                    self.set_named(&earlier.knob, &earlier.from).await?;
                }
                self.reload().await?;
                return Err(e);
            }
            done.push(change);
        }
        if restart {
            let Server::Named(named) = &self.server else {
                return Err(StagingError::Rejected("not a named server".into()));
            };
            if let Err(reason) = restart_named(named).await {
                return Err(recover_failed_start(named, previous_file.flatten(), reason).await);
            }
        } else if !diff.is_empty() {
            self.reload().await?;
        }
        self.applied(config, restart).await
    }

    /// Whether restart knobs may be applied here.
    fn can_restart(&self) -> bool {
        match &self.server {
            Server::Sandbox(_) => true,
            Server::Named(n) => n.restarter.is_some() && self.engine == Engine::Postgres,
        }
    }

    /// Set one knob of a named server to `value`; its value as found (the catalog's default
    /// here) is put back the way it was set: the postgresql.auto.conf entry it had, or none.
    async fn set_named(&self, knob: &Knob, value: &Value) -> Result<(), StagingError> {
        let Server::Named(named) = &self.server else {
            return Err(StagingError::Rejected("not a named server".into()));
        };
        let name = &knob.name;
        let as_found = *value == knob.default;
        let rendered = value.render(self.engine, knob.unit());
        let quote = |t: &str| format!("'{}'", t.replace('\'', "''"));
        let rejected = |e: String| StagingError::Rejected(format!("{name} = {rendered}: {e}"));
        match self.engine {
            Engine::Postgres => {
                let sql = match (as_found, named.found.persisted.get(name)) {
                    (true, Some(persisted)) => {
                        format!("ALTER SYSTEM SET {name} = {}", quote(persisted))
                    }
                    (true, None) => format!("ALTER SYSTEM RESET {name}"),
                    (false, _) => format!("ALTER SYSTEM SET {name} = {}", quote(&rendered)),
                };
                connect_postgres(&named.url)
                    .await?
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| rejected(e.to_string()))?;
            }
            Engine::Mysql | Engine::Mariadb => {
                let text = match (as_found, named.found.shown.get(name)) {
                    (true, Some(shown)) => shown.clone(),
                    _ => rendered.clone(),
                };
                connect_mysql(&named.url)
                    .await?
                    .query_drop(format!(
                        "SET GLOBAL {name} = {}",
                        knobs::render::mysql_value(&text)
                    ))
                    .await
                    .map_err(|e| rejected(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// PostgreSQL's postgresql.auto.conf as the server reads it (`None` elsewhere).
    async fn read_auto_conf(&self) -> Result<Option<String>, StagingError> {
        if self.engine != Engine::Postgres {
            return Ok(None);
        }
        let client = connect_postgres(&self.admin_url()?).await?;
        let row = client
            .query_one("SELECT pg_read_file('postgresql.auto.conf')", &[])
            .await?;
        Ok(Some(row.get::<_, String>(0)))
    }

    /// On a named server: the knobs (and, on PostgreSQL, the postgresql.auto.conf entries)
    /// that differ from how the server was found, one line each; empty when it is as found.
    pub async fn differences_from_found(&self) -> Result<Vec<String>, StagingError> {
        let Server::Named(named) = &self.server else {
            return Ok(Vec::new());
        };
        let now = read_found(&mut Target::connect(&named.url).await?).await?;
        let before = &named.found;
        let mut out: Vec<String> = self
            .catalog
            .iter()
            .filter_map(|k| {
                let (was, is) = (before.shown.get(&k.name), now.shown.get(&k.name));
                (was != is).then(|| format!("{}: was {was:?}, now {is:?}", k.name))
            })
            .collect();
        for (name, was) in &before.persisted {
            if now.persisted.get(name) != Some(was) {
                out.push(format!(
                    "postgresql.auto.conf {name}: was '{was}', now {:?}",
                    now.persisted.get(name)
                ));
            }
        }
        for name in now.persisted.keys() {
            if !before.persisted.contains_key(name) {
                out.push(format!("postgresql.auto.conf {name}: was not set, now set"));
            }
        }
        Ok(out)
    }

    /// The values the server reports for the knobs of `config`.
    async fn read_back(&self, config: &Config) -> Result<BTreeMap<String, String>, StagingError> {
        let mut values = BTreeMap::new();
        match self.engine() {
            Engine::Postgres => {
                let client = connect_postgres(&self.admin_url()?).await?;
                for (name, _) in config.iter() {
                    let row = client.query_one(&format!("SHOW {name}"), &[]).await?;
                    values.insert(name.to_string(), row.get::<_, String>(0));
                }
            }
            Engine::Mysql | Engine::Mariadb => {
                let mut conn = connect_mysql(&self.admin_url()?).await?;
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

/// Every setting of a server as it shows it, and on PostgreSQL what `ALTER SYSTEM` wrote.
async fn read_found(target: &mut Target) -> Result<Found, StagingError> {
    match target {
        Target::Postgres { client, url, .. } => {
            let shown = client
                .query("SELECT name, current_setting(name) FROM pg_settings", &[])
                .await?
                .iter()
                .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
                .collect();
            // Without the previous ALTER SYSTEM entries nothing could be put back exactly
            // (safety rule 1): refuse rather than guess.
            let rows = client
                .query(
                    "SELECT name, setting FROM pg_file_settings \
                     WHERE sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno",
                    &[],
                )
                .await
                .map_err(|e| {
                    StagingError::Refused(format!(
                        "{url}: cannot read what ALTER SYSTEM set (pg_file_settings: {e}); dbtuner needs a superuser (or SELECT on pg_file_settings and EXECUTE on pg_show_all_file_settings()) to record the configuration before changing it; nothing was changed"
                    ))
                })?;
            // Later lines of the file win, as when the server reads it.
            let persisted = rows
                .iter()
                .filter_map(|r| {
                    Some((
                        r.try_get::<_, Option<String>>(0).ok()??,
                        r.try_get::<_, Option<String>>(1).ok()??,
                    ))
                })
                .collect();
            Ok(Found { shown, persisted })
        }
        Target::Mysql { conn, .. } => {
            let rows: Vec<mysql_async::Row> = conn.query("SHOW GLOBAL VARIABLES").await?;
            let shown = mysql_text_rows(rows)
                .into_iter()
                .filter_map(|r| match r.as_slice() {
                    [Some(name), Some(value)] => Some((name.to_lowercase(), value.clone())),
                    _ => None,
                })
                .collect();
            Ok(Found {
                shown,
                persisted: BTreeMap::new(),
            })
        }
    }
}

/// Run a named server's restart command (audited in the log, redacted) and wait until it
/// accepts connections.
async fn restart_named(named: &Named) -> Result<(), String> {
    let Some(restarter) = named.restarter.clone() else {
        return Err("no restart command was given".into());
    };
    tracing::info!(target = %named.url, "restarting the staging server: {}", restarter.describe());
    let mut restarter = restarter;
    tokio::task::spawn_blocking(move || restarter.restart())
        .await
        .map_err(|e| format!("restart task failed: {e}"))??;
    crate::apply::wait_until_accepting(&named.url, RESTART_WAIT).await
}

/// The named server did not come back with a configuration (safety rule 4): put its previous
/// postgresql.auto.conf back through the file system and restart it again. Returns
/// `Infeasible` when it is back in the previous configuration, `Stuck` when not.
async fn recover_failed_start(
    named: &Named,
    previous_file: Option<String>,
    reason: String,
) -> StagingError {
    let (Some(content), Some(path)) = (previous_file, &named.auto_conf_path) else {
        return StagingError::Stuck(format!(
            "{reason}; the previous postgresql.auto.conf could not be put back from here"
        ));
    };
    // It can hold primary_conninfo with a password: never world-readable if recreated.
    if let Err(e) =
        crate::repository::create_private(path).and_then(|()| std::fs::write(path, content))
    {
        return StagingError::Stuck(format!(
            "{reason}; writing the previous {} failed: {e}",
            path.display()
        ));
    }
    match restart_named(named).await {
        Ok(()) => StagingError::Infeasible(reason),
        Err(again) => StagingError::Stuck(format!(
            "{reason}; with the previous postgresql.auto.conf it did not come back either: {again}"
        )),
    }
}
