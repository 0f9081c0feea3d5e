//! Applying a plan to a live target and rolling it back exactly (safety rules 1, 2, 4, 7, 8).
//!
//! Order of work: validate everything against the target's own catalog (nothing is changed
//! when anything is wrong) → check the memory guardrail → record the change with previous
//! values and rollback statements → apply each knob the way it takes effect (SET PERSIST /
//! ALTER SYSTEM + reload, or a restart only when allowed) → read every value back and report
//! what the server clamped → mark the record applied. A restart that fails is undone: the
//! previous configuration is restored and the server brought back up.

pub mod indexes;
pub mod plan;
pub mod restart;
pub mod store;
pub mod watch;

use std::time::{Duration, Instant};

use knobs::{catalog, ApplyMode, Config, Durability, Engine, Knob, MemoryEstimate, Value};
use mysql_async::prelude::Queryable;
use thiserror::Error;
use workloads::{Target, TargetError, TargetUrl};

use crate::discovery::{self, DiscoveryError};
pub use plan::{Plan, PlanIndex};
pub use restart::{CommandRestarter, Restarter, SandboxRestarter};
pub use store::{ChangeRecord, ChangeStatus, KnobChangeRecord, Store, StoreError};

const START_OPTION: &str = "-- start option ";

#[derive(Debug, Error)]
pub enum ApplyError {
    /// Bad input: nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// A safety rule refused the change: nothing was changed.
    #[error("{0}")]
    Refused(String),
    #[error("change {id} failed and was rolled back: {reason}")]
    RolledBack { id: String, reason: String },
    #[error("change {id} failed and could not be fully rolled back: {reason}; the record in {store} lists the previous values")]
    Stuck {
        id: String,
        reason: String,
        store: String,
    },
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("mysql: {0}")]
    Mysql(#[from] mysql_async::Error),
}

impl ApplyError {
    /// Exit code 2: the input was wrong or a safety rule said no; nothing changed.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, ApplyError::Invalid(_) | ApplyError::Refused(_))
    }
}

/// What the operator allows.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    pub allow_restart: bool,
    pub allow_durability_risk: bool,
    pub dry_run: bool,
    /// Worst-case memory budget; `None` skips the guardrail (remote target, unknown RAM).
    pub memory_budget: Option<u64>,
}

/// The result of `apply`.
#[derive(Debug, Clone)]
pub struct ApplyOutcome {
    pub record: ChangeRecord,
    /// "name: requested X, server has Y".
    pub clamped: Vec<String>,
    pub warnings: Vec<String>,
}

/// Apply a plan to the target at `url`.
pub async fn apply(
    url: &TargetUrl,
    plan: &Plan,
    options: &ApplyOptions,
    mut restarter: Option<&mut (dyn Restarter + '_)>,
    store: &Store,
) -> Result<ApplyOutcome, ApplyError> {
    let mut target = Target::connect(url).await?;
    let engine = target.engine();
    if let Some(e) = &plan.engine {
        let wanted: Engine = e
            .parse()
            .map_err(|err: knobs::KnobError| ApplyError::Invalid(format!("plan: engine: {err}")))?;
        if wanted != engine && !(wanted.is_mysql_family() && engine.is_mysql_family()) {
            return Err(ApplyError::Invalid(format!(
                "the plan is for {}, the target is {}",
                wanted.display_name(),
                engine.display_name()
            )));
        }
    }
    let reconciled = discovery::discover(&mut target).await?;
    let catalog = &reconciled.catalog;
    let mut warnings = reconciled.warnings.clone();

    // Validate every knob before touching anything.
    let mut requested = Config::new();
    for (name, value) in &plan.knobs {
        let knob =
            catalog::find(catalog, name).map_err(|e| ApplyError::Invalid(format!("plan: {e}")))?;
        let value = knob
            .parse_value(&value.as_text())
            .map_err(|e| ApplyError::Invalid(format!("plan: {e}")))?;
        match knob.durability {
            Durability::MayCorrupt if knob.is_risky_value(&value) => return Err(ApplyError::Refused(format!("{} = {value} can corrupt data on a crash; dbtuner never applies it", knob.name))),
            Durability::MayLoseCommits if knob.is_risky_value(&value) && !options.allow_durability_risk => {
                return Err(ApplyError::Refused(format!("{} = {value} can lose committed transactions on a crash; pass --allow-durability-risk to apply it anyway", knob.name)))
            }
            _ => {}
        }
        requested.set(&knob.name, value);
    }

    // Indexes: checked and rendered now, built after the knobs.
    let (index_steps, index_warnings) = indexes::prepare(&mut target, &plan.indexes).await?;
    warnings.extend(index_warnings);

    // Current values, and the configuration the target would run with.
    let mut current = Config::new();
    let mut previous_text = std::collections::BTreeMap::new();
    for knob in catalog {
        if let Ok(text) = show(&mut target, &knob.name).await {
            if let Ok(v) = knob.parse_value(&text) {
                current.set(&knob.name, v);
            }
            previous_text.insert(knob.name.clone(), text);
        }
    }
    let mut future = current.clone();
    for (name, value) in requested.iter() {
        future.set(name, value.clone());
    }
    if let Some(budget) = options.memory_budget {
        MemoryEstimate::of(engine, &future, catalog)
            .check(budget)
            .map_err(|e| ApplyError::Refused(e.to_string()))?;
    }

    let changes: Vec<(&Knob, Value)> = requested
        .iter()
        .filter_map(|(name, v)| catalog::find(catalog, name).ok().map(|k| (k, v.clone())))
        .filter(|(k, v)| current.get(&k.name) != Some(v))
        .collect();
    let restart_knobs: Vec<&str> = changes
        .iter()
        .filter(|(k, _)| k.apply == ApplyMode::Restart)
        .map(|(k, _)| k.name.as_str())
        .collect();
    if !restart_knobs.is_empty() {
        if !options.allow_restart {
            return Err(ApplyError::Refused(format!("{} need a server restart; pass --allow-restart (with --restart-command) to apply them, or leave them out; nothing was changed", restart_knobs.join(", "))));
        }
        if restarter.is_none() {
            return Err(ApplyError::Invalid(
                "--allow-restart needs --restart-command to restart the server".into(),
            ));
        }
    }
    // Every privilege the change needs, named at once, before anything is recorded.
    let settings: Vec<String> = changes
        .iter()
        .filter(|(k, _)| k.apply != ApplyMode::Restart || engine == Engine::Postgres)
        .map(|(k, _)| k.name.clone())
        .collect();
    let mut tables: Vec<String> = index_steps.iter().map(|i| i.table.clone()).collect();
    tables.sort();
    tables.dedup();
    let lacking = crate::privileges::missing(
        &mut target,
        &crate::privileges::Intent {
            settings: &settings,
            index_tables: &tables,
            database: None,
            // The change record keeps the previous ALTER SYSTEM entries (rule 1).
            record_configuration: true,
        },
    )
    .await;
    if !lacking.is_empty() {
        return Err(ApplyError::Refused(crate::privileges::explain(&lacking)));
    }
    let mariadb_start_options = engine == Engine::Mariadb && !restart_knobs.is_empty();
    if mariadb_start_options
        && !restarter
            .as_mut()
            .is_some_and(|r| r.set_start_option("dbtuner_probe", None))
    {
        return Err(ApplyError::Refused(format!("MariaDB cannot change {} at run time and dbtuner does not edit my.cnf: add them under [mysqld] and restart", restart_knobs.join(", "))));
    }

    // The record, before anything changes.
    let persisted = persisted_settings(&mut target).await;
    let (previous_auto_conf, data_directory) = match &target {
        Target::Postgres { client, .. } => (
            client
                .query_one("SELECT pg_read_file('postgresql.auto.conf')", &[])
                .await
                .ok()
                .map(|r| r.get::<_, String>(0)),
            client
                .query_one("SHOW data_directory", &[])
                .await
                .ok()
                .map(|r| r.get::<_, String>(0)),
        ),
        Target::Mysql { .. } => (None, None),
    };
    // A server that does not come back after the restart cannot be asked to undo anything:
    // the previous postgresql.auto.conf is put back through the file system, which works only
    // where this machine sees the server's data directory (a remote server's path is no path
    // here). Checked before anything changes.
    if engine == Engine::Postgres && !restart_knobs.is_empty() && !options.dry_run {
        if let Err(why) =
            auto_conf_is_local(previous_auto_conf.as_deref(), data_directory.as_deref())
        {
            return Err(ApplyError::Refused(format!(
                "{} need a restart, and if the server failed to start with them dbtuner could not restore its previous configuration: {why}. Apply restart knobs from the server's host (or leave them out); nothing was changed",
                restart_knobs.join(", ")
            )));
        }
    }
    let store_id = store.new_id();
    let knob_records: Vec<KnobChangeRecord> = changes
        .iter()
        .map(|(knob, value)| {
            let previous = previous_text.get(&knob.name).cloned().unwrap_or_default();
            let persisted_value = persisted
                .iter()
                .find(|(n, _)| n == &knob.name)
                .map(|(_, v)| v.clone());
            let (apply_statement, rollback_statements) =
                statements(engine, knob, value, &previous, persisted_value.as_deref());
            KnobChangeRecord {
                name: knob.name.clone(),
                previous,
                previous_was_default: persisted_value.is_none(),
                requested: value.human(knob.unit()),
                applied: None,
                apply_mode: knob.apply,
                apply_statement,
                rollback_statements,
                durability_risk: knob.is_risky_value(value),
            }
        })
        .collect();
    let mut record = ChangeRecord {
        id: store_id,
        created_at: store::now(),
        target: url.to_string(),
        engine,
        server_version: target.version().to_string(),
        note: plan.note.clone(),
        knobs: knob_records,
        previous_auto_conf,
        data_directory,
        restarted: false,
        status: ChangeStatus::Planned,
        indexes: index_steps,
    };
    let nothing = record.knobs.is_empty() && record.indexes.is_empty();
    if options.dry_run || nothing {
        if nothing {
            warnings.push(
                "every knob and index of the plan is already as requested; nothing to do".into(),
            );
        }
        return Ok(ApplyOutcome {
            record,
            clamped: Vec::new(),
            warnings,
        });
    }
    store.save(&record).await?;
    store
        .audit(
            &record,
            "apply-start",
            &format!(
                "{} knob(s), {} index step(s): {}",
                record.knobs.len(),
                record.indexes.len(),
                record
                    .knobs
                    .iter()
                    .map(|k| format!("{}={}", k.name, k.requested))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .await?;

    // Apply.
    for (done, k) in record.knobs.iter().enumerate() {
        let result = if let Some(option) = k.apply_statement.strip_prefix(START_OPTION) {
            let (name, value) = option.split_once('=').unwrap_or((option, ""));
            restarter
                .as_mut()
                .is_some_and(|r| r.set_start_option(name.trim(), Some(value.trim())))
                .then_some(())
                .ok_or_else(|| "cannot set a start option".to_string())
        } else {
            exec(&mut target, &k.apply_statement).await
        };
        if let Err(e) = result {
            let reason = format!("{} = {}: {e}", k.name, k.requested);
            undo(&mut target, &record.knobs[..done], restarter.as_deref_mut()).await;
            return fail(store, &mut record, reason).await;
        }
    }
    if let Target::Postgres { client, .. } = &target {
        // A restart knob is reported as "setting could not be applied" until the restart:
        // that one is expected; any other error means a value the server will not take.
        let errors: Vec<_> = client
            .query(
                "SELECT name, error FROM pg_file_settings WHERE error IS NOT NULL",
                &[],
            )
            .await?
            .into_iter()
            .filter(|r| {
                !(r.get::<_, String>(1) == "setting could not be applied"
                    && r.get::<_, Option<String>>(0)
                        .is_some_and(|n| restart_knobs.contains(&n.as_str())))
            })
            .collect();
        if !errors.is_empty() {
            let reason = errors
                .iter()
                .map(|r| {
                    format!(
                        "{}: {}",
                        r.get::<_, Option<String>>(0).unwrap_or_default(),
                        r.get::<_, String>(1)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            undo(&mut target, &record.knobs, restarter.as_deref_mut()).await;
            return fail(
                store,
                &mut record,
                format!("the server rejected the configuration file: {reason}"),
            )
            .await;
        }
        client.batch_execute("SELECT pg_reload_conf()").await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Indexes, one at a time, each saved with its outcome; a failure undoes the whole change.
    for i in 0..record.indexes.len() {
        let statement = record.indexes[i].apply_statement.clone();
        store.audit(&record, "index-start", &statement).await?;
        let mut step = record.indexes[i].clone();
        let result = indexes::run_step(&mut target, &mut step).await;
        record.indexes[i] = step;
        store.save(&record).await?;
        if let Err(e) = result {
            let left = indexes::undo(&mut target, &mut record.indexes[..i]).await;
            undo(&mut target, &record.knobs, restarter.as_deref_mut()).await;
            if !left.is_empty() {
                record.status = ChangeStatus::Failed {
                    reason: format!("{statement}: {e}"),
                };
                store.save(&record).await?;
                return Err(ApplyError::Stuck {
                    id: record.id.clone(),
                    reason: format!(
                        "{statement}: {e}; undoing the indexes before it failed: {}",
                        left.join("; ")
                    ),
                    store: store.location().to_string(),
                });
            }
            return fail(store, &mut record, format!("{statement}: {e}")).await;
        }
        store
            .audit(&record, "index-done", &record.indexes[i].name.clone())
            .await?;
    }
    if !restart_knobs.is_empty() {
        let restarter =
            restarter.ok_or_else(|| ApplyError::Invalid("no way to restart the server".into()))?;
        store
            .audit(&record, "restart", &restarter.describe())
            .await?;
        drop(target);
        if let Err(e) = restart_and_wait(restarter, url).await {
            return recover_failed_start(url, store, &mut record, restarter, e).await;
        }
        record.restarted = true;
        target = Target::connect(url).await?;
        if engine == Engine::Mariadb {
            // SET GLOBAL does not survive a restart: set the run-time knobs again.
            for k in record
                .knobs
                .iter()
                .filter(|k| !k.apply_statement.starts_with(START_OPTION))
            {
                if let Err(e) = exec(&mut target, &k.apply_statement).await {
                    let reason = format!("{} = {} after the restart: {e}", k.name, k.requested);
                    let knobs = record.knobs.clone();
                    undo(&mut target, &knobs, Some(restarter)).await;
                    return fail(store, &mut record, reason).await;
                }
            }
        }
    }

    // Read back what the server actually has.
    let mut clamped = Vec::new();
    for (i, (knob, value)) in changes.iter().enumerate() {
        let applied = read_back_settled(&mut target, knob, value).await;
        if knob.parse_value(&applied).ok().as_ref() != Some(value) {
            clamped.push(format!(
                "{}: requested {}, server has {applied}",
                knob.name,
                value.human(knob.unit())
            ));
        }
        record.knobs[i].applied = Some(applied);
    }
    if let Target::Postgres { client, .. } = &target {
        for row in client
            .query("SELECT name FROM pg_settings WHERE pending_restart", &[])
            .await?
        {
            warnings.push(format!("{} is pending a restart", row.get::<_, String>(0)));
        }
    }
    if engine == Engine::Mariadb
        && record
            .knobs
            .iter()
            .any(|k| k.apply_mode != ApplyMode::Restart)
    {
        warnings.push("MariaDB has no SET PERSIST: these values last until the next restart unless you also put them in my.cnf".into());
    }
    record.status = ChangeStatus::Applied;
    store.save(&record).await?;
    store
        .audit(
            &record,
            "applied",
            &if clamped.is_empty() {
                "all values read back as requested".to_string()
            } else {
                format!("clamped: {}", clamped.join("; "))
            },
        )
        .await?;
    Ok(ApplyOutcome {
        record,
        clamped,
        warnings,
    })
}

/// Undo a recorded change.
pub async fn rollback(
    url: &TargetUrl,
    id: &str,
    allow_restart: bool,
    mut restarter: Option<&mut (dyn Restarter + '_)>,
    store: &Store,
) -> Result<ChangeRecord, ApplyError> {
    let mut record = store.load(id).await.map_err(|e| match e {
        StoreError::NotFound { .. } => ApplyError::Invalid(e.to_string()),
        other => ApplyError::Store(other),
    })?;
    if record.status == ChangeStatus::RolledBack {
        return Err(ApplyError::Invalid(format!(
            "change {id} is already rolled back"
        )));
    }
    if record.target != url.to_string() {
        return Err(ApplyError::Refused(format!(
            "change {id} was made on {}, not {url}",
            record.target
        )));
    }
    let needs_restart: Vec<&str> = record
        .knobs
        .iter()
        .filter(|k| k.apply_mode == ApplyMode::Restart)
        .map(|k| k.name.as_str())
        .collect();
    if !needs_restart.is_empty() && (!allow_restart || restarter.is_none()) {
        return Err(ApplyError::Refused(format!(
            "rolling back {} needs a restart; pass --allow-restart with --restart-command",
            needs_restart.join(", ")
        )));
    }
    let mut target = Target::connect(url).await?;
    store.audit(&record, "rollback-start", "").await?;
    let left = indexes::undo(&mut target, &mut record.indexes).await;
    if !left.is_empty() {
        store.save(&record).await?;
        store
            .audit(&record, "rollback-incomplete", &left.join("; "))
            .await?;
        return Err(ApplyError::Stuck {
            id: id.to_string(),
            reason: left.join("; "),
            store: store.location().to_string(),
        });
    }
    for k in &record.knobs {
        for statement in &k.rollback_statements {
            run_statement(&mut target, statement, restarter.as_deref_mut())
                .await
                .map_err(|e| ApplyError::Stuck {
                    id: id.to_string(),
                    reason: format!("{statement}: {e}"),
                    store: store.location().to_string(),
                })?;
        }
    }
    if let Target::Postgres { client, .. } = &target {
        client.batch_execute("SELECT pg_reload_conf()").await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !needs_restart.is_empty() {
        if let Some(r) = restarter {
            drop(target);
            restart_and_wait(r, url)
                .await
                .map_err(|e| ApplyError::Stuck {
                    id: id.to_string(),
                    reason: e,
                    store: store.location().to_string(),
                })?;
            target = Target::connect(url).await?;
            if record.engine == Engine::Mariadb {
                // Run-time values do not survive the restart: set the previous ones again.
                for statement in record
                    .knobs
                    .iter()
                    .flat_map(|k| &k.rollback_statements)
                    .filter(|s| !s.starts_with(START_OPTION))
                {
                    exec(&mut target, statement)
                        .await
                        .map_err(|e| ApplyError::Stuck {
                            id: id.to_string(),
                            reason: format!("{statement}: {e}"),
                            store: store.location().to_string(),
                        })?;
                }
            }
        }
    }
    // Verify: every knob is back to its previous value.
    let reconciled = discovery::discover(&mut target).await?;
    let mut mismatches = Vec::new();
    for k in &record.knobs {
        let Ok(knob) = catalog::find(&reconciled.catalog, &k.name) else {
            continue;
        };
        let now = show(&mut target, &k.name).await.unwrap_or_default();
        if knob.parse_value(&now).ok() != knob.parse_value(&k.previous).ok() {
            mismatches.push(format!(
                "{}: expected {}, server has {now}",
                k.name, k.previous
            ));
        }
    }
    if !mismatches.is_empty() {
        store
            .audit(&record, "rollback-incomplete", &mismatches.join("; "))
            .await?;
        return Err(ApplyError::Stuck {
            id: id.to_string(),
            reason: mismatches.join("; "),
            store: store.location().to_string(),
        });
    }
    record.status = ChangeStatus::RolledBack;
    store.save(&record).await?;
    store
        .audit(
            &record,
            "rolled-back",
            "every knob reads back its previous value; every index is as before",
        )
        .await?;
    Ok(record)
}

/// Apply and rollback statements for one knob.
fn statements(
    engine: Engine,
    knob: &Knob,
    value: &Value,
    previous: &str,
    persisted: Option<&str>,
) -> (String, Vec<String>) {
    let name = &knob.name;
    let rendered = value.render(engine, knob.unit());
    let quote = |t: &str| format!("'{}'", t.replace('\'', "''"));
    match engine {
        Engine::Postgres => {
            let undo = match persisted {
                Some(p) => format!("ALTER SYSTEM SET {name} = {}", quote(p)),
                None => format!("ALTER SYSTEM RESET {name}"),
            };
            (
                format!("ALTER SYSTEM SET {name} = {}", quote(&rendered)),
                vec![undo],
            )
        }
        Engine::Mysql => {
            let restart = knob.apply == ApplyMode::Restart;
            let verb = if restart {
                "SET PERSIST_ONLY"
            } else {
                "SET PERSIST"
            };
            let mut undo = Vec::new();
            match persisted {
                Some(p) => undo.push(format!("{verb} {name} = {}", knobs::render::mysql_value(p))),
                None => {
                    undo.push(format!("RESET PERSIST IF EXISTS {name}"));
                    if !restart {
                        undo.push(format!(
                            "SET GLOBAL {name} = {}",
                            knobs::render::mysql_value(previous)
                        ));
                    }
                }
            }
            (
                format!("{verb} {name} = {}", knobs::render::mysql_value(&rendered)),
                undo,
            )
        }
        Engine::Mariadb if knob.apply == ApplyMode::Restart => (
            format!("{START_OPTION}{name}={rendered}"),
            vec![format!("{START_OPTION}{name}={previous}")],
        ),
        Engine::Mariadb => (
            format!(
                "SET GLOBAL {name} = {}",
                knobs::render::mysql_value(&rendered)
            ),
            vec![format!(
                "SET GLOBAL {name} = {}",
                knobs::render::mysql_value(previous)
            )],
        ),
    }
}

async fn exec(target: &mut Target, sql: &str) -> Result<(), String> {
    match target {
        Target::Postgres { client, .. } => client.batch_execute(sql).await.map_err(|e| {
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string())
        }),
        Target::Mysql { conn, .. } => conn.query_drop(sql).await.map_err(|e| e.to_string()),
    }
}

async fn run_statement(
    target: &mut Target,
    statement: &str,
    restarter: Option<&mut (dyn Restarter + '_)>,
) -> Result<(), String> {
    if let Some(option) = statement.strip_prefix(START_OPTION) {
        let (name, value) = option.split_once('=').unwrap_or((option, ""));
        let set = match restarter {
            Some(r) => r.set_start_option(name.trim(), Some(value.trim())),
            None => false,
        };
        return if set {
            Ok(())
        } else {
            Err("start options need the sandbox that owns them".into())
        };
    }
    exec(target, statement).await
}

/// The server's current value of a knob, in its own words.
async fn show(target: &mut Target, name: &str) -> Result<String, String> {
    match target {
        Target::Postgres { client, .. } => client
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .map(|r| r.get::<_, String>(0))
            .map_err(|e| e.to_string()),
        Target::Mysql { conn, .. } => conn
            .query_first::<Option<String>, _>(format!("SELECT CAST(@@GLOBAL.{name} AS CHAR)"))
            .await
            .map(|v| v.flatten().unwrap_or_default())
            .map_err(|e| e.to_string()),
    }
}

/// Read a value back, giving online resizes (InnoDB's buffer pool) a few seconds to finish.
async fn read_back_settled(target: &mut Target, knob: &Knob, wanted: &Value) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = show(target, &knob.name).await.unwrap_or_default();
        if knob.parse_value(&text).ok().as_ref() == Some(wanted) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Knobs set by a configuration command: PostgreSQL's postgresql.auto.conf, MySQL's
/// persisted variables. MariaDB persists nothing.
async fn persisted_settings(target: &mut Target) -> Vec<(String, String)> {
    match target {
        Target::Postgres { client, .. } => client
            .query("SELECT name, setting FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno", &[])
            .await
            .map(|rows| rows.iter().filter_map(|r| Some((r.try_get::<_, Option<String>>(0).ok()??, r.try_get::<_, Option<String>>(1).ok()??))).collect())
            .unwrap_or_default(),
        // Raw values: a NULL or non-UTF-8 value must not panic (typed tuples do).
        Target::Mysql { conn, engine: Engine::Mysql, .. } => conn
            .query::<mysql_async::Row, _>("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM performance_schema.persisted_variables")
            .await
            .map(persisted_pairs)
            .unwrap_or_default(),
        Target::Mysql { .. } => Vec::new(),
    }
}

/// (name, value) pairs of persisted variables; rows with a NULL name or value are left out.
fn persisted_pairs(rows: Vec<mysql_async::Row>) -> Vec<(String, String)> {
    workloads::target::mysql_text_rows(rows)
        .into_iter()
        .filter_map(|r| match r.as_slice() {
            [Some(name), Some(value)] => Some((name.clone(), value.clone())),
            _ => None,
        })
        .collect()
}

async fn undo(
    target: &mut Target,
    knobs: &[KnobChangeRecord],
    mut restarter: Option<&mut (dyn Restarter + '_)>,
) {
    for k in knobs.iter().rev() {
        for statement in &k.rollback_statements {
            if let Err(e) = run_statement(target, statement, restarter.as_deref_mut()).await {
                tracing::error!(knob = %k.name, "undo failed: {e}");
            }
        }
    }
    if let Target::Postgres { client, .. } = target {
        let _ = client.batch_execute("SELECT pg_reload_conf()").await;
    }
}

async fn fail(
    store: &Store,
    record: &mut ChangeRecord,
    reason: String,
) -> Result<ApplyOutcome, ApplyError> {
    let reason = workloads::redact::redact(&reason);
    record.status = ChangeStatus::Failed {
        reason: reason.clone(),
    };
    store.save(record).await?;
    store.audit(record, "failed-rolled-back", &reason).await?;
    Err(ApplyError::RolledBack {
        id: record.id.clone(),
        reason,
    })
}

/// Restart and wait until the server accepts connections again.
async fn restart_and_wait(
    restarter: &mut (dyn Restarter + '_),
    url: &TargetUrl,
) -> Result<(), String> {
    let restarted = tokio::task::block_in_place(|| restarter.restart());
    restarted?;
    wait_until_accepting(url, Duration::from_secs(60)).await
}

/// Wait until the server at `url` accepts connections, at most `within` (after a restart).
pub(crate) async fn wait_until_accepting(url: &TargetUrl, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        match Target::connect(url).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(format!(
                    "server not reachable {} s after the restart: {e}",
                    within.as_secs()
                ))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Whether `data_directory/postgresql.auto.conf` on this machine is the server's own file
/// (same content as the server reads), so that a failed start can be undone from here.
pub(crate) fn auto_conf_is_local(
    server_content: Option<&str>,
    data_directory: Option<&str>,
) -> Result<(), String> {
    let (Some(content), Some(dir)) = (server_content, data_directory) else {
        return Err("the server would not show its postgresql.auto.conf and data directory (pg_read_file needs superuser or pg_read_server_files)".into());
    };
    let path = std::path::Path::new(dir).join("postgresql.auto.conf");
    match std::fs::read_to_string(&path) {
        Ok(local) if local == content => Ok(()),
        Ok(_) => Err(format!(
            "{} on this machine is not the server's file (another server's data directory?)",
            path.display()
        )),
        Err(e) => Err(format!(
            "its data directory {dir} is not readable from this machine ({e})"
        )),
    }
}

/// The server did not come back with the new configuration: restore the previous one and
/// restart again (safety rule 4).
async fn recover_failed_start(
    url: &TargetUrl,
    store: &Store,
    record: &mut ChangeRecord,
    restarter: &mut (dyn Restarter + '_),
    error: String,
) -> Result<ApplyOutcome, ApplyError> {
    store.audit(record, "start-failed", &error).await?;
    let mut restored = false;
    if record.engine == Engine::Postgres {
        if let (Some(content), Some(dir)) = (&record.previous_auto_conf, &record.data_directory) {
            let path = std::path::Path::new(dir).join("postgresql.auto.conf");
            // It can hold primary_conninfo with a password: never world-readable if recreated.
            restored = crate::repository::create_private(&path).is_ok()
                && std::fs::write(&path, content).is_ok();
        }
    } else {
        for k in &record.knobs {
            if let Some(option) = k
                .rollback_statements
                .first()
                .and_then(|s| s.strip_prefix(START_OPTION))
            {
                let (name, value) = option.split_once('=').unwrap_or((option, ""));
                restored |= restarter.set_start_option(name.trim(), Some(value.trim()));
            }
        }
    }
    if !restored {
        return Err(ApplyError::Stuck {
            id: record.id.clone(),
            reason: format!("{error}; the previous configuration could not be restored from here"),
            store: store.location().to_string(),
        });
    }
    if let Err(again) = restart_and_wait(restarter, url).await {
        return Err(ApplyError::Stuck {
            id: record.id.clone(),
            reason: format!("{error}; restart with the previous configuration failed too: {again}"),
            store: store.location().to_string(),
        });
    }
    // Back up with the old file: reload so that the running server reads it too.
    if let Ok(Target::Postgres { client, .. }) = Target::connect(url).await {
        let _ = client.batch_execute("SELECT pg_reload_conf()").await;
    }
    fail(store, record, format!("the server did not start with the new configuration, so the previous one was restored: {error}")).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::auto_conf_is_local;

    #[test]
    fn restart_knobs_need_the_servers_own_auto_conf_on_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        std::fs::write(
            dir.path().join("postgresql.auto.conf"),
            "work_mem = '8MB'\n",
        )
        .unwrap();
        assert!(auto_conf_is_local(Some("work_mem = '8MB'\n"), Some(data)).is_ok());
        // Same path, another server's file (a remote server whose path exists here too).
        let other = auto_conf_is_local(Some("work_mem = '64MB'\n"), Some(data)).unwrap_err();
        assert!(other.contains("not the server's file"), "{other}");
        // A remote server's path that does not exist here.
        let remote = auto_conf_is_local(Some(""), Some("/srv/elsewhere/pgdata")).unwrap_err();
        assert!(
            remote.contains("not readable from this machine"),
            "{remote}"
        );
        // A server that would not show its file.
        assert!(auto_conf_is_local(None, Some(data)).is_err());
    }
}
