//! The report model from the repository's records of one session.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Result;
use knobs::{catalog, Config, Engine, Knob, MemoryEstimate};
use reports::{MemoryUse, Report, TrialStatus, TrialTelemetry};
use workloads::Measurement;

use super::advice;
use super::context::SessionContext;
use crate::repository::{Repository, SessionRecord, TargetRecord, TrialRecord, VerdictRecord};
use crate::staging::Applied;
use crate::tune::{KnobSelection, OptimizerChoice, StagingChoice, TuneSettings, WorkloadChoice};

/// Everything the repository holds about one session.
#[derive(Debug, Clone)]
pub struct Stored {
    pub session: SessionRecord,
    pub target: Option<TargetRecord>,
    pub context: Option<SessionContext>,
    pub trials: Vec<TrialRecord>,
    pub verdicts: Vec<VerdictRecord>,
}

/// Read the session's records; `None` when the repository has no such session.
pub async fn load(repo: &dyn Repository, session_id: i64) -> Result<Option<Stored>> {
    let Some(session) = repo.session(session_id).await? else {
        return Ok(None);
    };
    let target = match session.target_id {
        Some(id) => repo.target(id).await?,
        None => None,
    };
    Ok(Some(Stored {
        context: super::context::load_context(repo, session_id).await?,
        trials: repo.trials(session_id).await?,
        verdicts: repo.verdicts(session_id).await?,
        session,
        target,
    }))
}

/// The report of a stored session; an unknown id is bad input naming the nearest ids.
pub async fn build(repo: &dyn Repository, repo_spec: &str, session_id: i64) -> Result<Report> {
    match load(repo, session_id).await? {
        Some(stored) => {
            let mut report = assemble(&stored, repo_spec);
            report.compared_search = compared_search(repo, &stored).await?;
            Ok(report)
        }
        None => Err(super::list::unknown_session(repo, repo_spec, session_id)
            .await?
            .into()),
    }
}

/// What makes two sessions' searches comparable: workload (with its scale) and objective;
/// and which kind of search ran (random or a model).
fn search_key(s: &SessionRecord) -> Option<(serde_json::Value, bool, String)> {
    let tune = s.settings.get("tune_settings")?;
    let optimizer = tune.get("optimizer")?.as_str()?.to_string();
    let same = serde_json::json!([tune.get("workload")?, tune.get("objective")?]);
    Some((same, optimizer == "random", optimizer))
}

/// The latest other finished session on the same engine, workload, scale and objective that
/// searched the other way, with its best-so-far curve relative to its own default.
async fn compared_search(
    repo: &dyn Repository,
    stored: &Stored,
) -> Result<Option<reports::SearchComparison>> {
    let Some((same, random, _)) = search_key(&stored.session) else {
        return Ok(None);
    };
    let engine = stored.target.as_ref().map(|t| t.engine.clone());
    let mut others: Vec<(SessionRecord, String)> = repo
        .sessions()
        .await?
        .into_iter()
        .filter(|s| s.id != stored.session.id && s.finished_at_ms.is_some())
        .filter_map(|s| {
            let (key, other_random, optimizer) = search_key(&s)?;
            (key == same && other_random != random).then_some((s, optimizer))
        })
        .collect();
    others.sort_by_key(|(s, _)| std::cmp::Reverse(s.started_at_ms));
    for (session, optimizer) in others {
        let other_engine = match session.target_id {
            Some(id) => repo.target(id).await?.map(|t| t.engine),
            None => None,
        };
        if other_engine != engine {
            continue;
        }
        let mut scores: Vec<(usize, f64)> = repo
            .trials(session.id)
            .await?
            .iter()
            .filter_map(|t| {
                let seq = usize::try_from(t.trial.seq).ok()?;
                Some((seq, t.trial.measurement.get("score")?.as_f64()?))
            })
            .collect();
        scores.sort_by_key(|(seq, _)| *seq);
        // The curve is relative to the default, which must have been measured.
        if scores.first().map(|(seq, _)| *seq) != Some(0) {
            continue;
        }
        let curve = reports::best_vs_default(&scores);
        if !curve.is_empty() {
            return Ok(Some(reports::SearchComparison {
                session_id: session.id,
                optimizer,
                best_vs_default: curve,
            }));
        }
    }
    Ok(None)
}

pub(crate) fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

fn text<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(serde_json::Value::as_str)
}

/// One stored trial as the report shows it, with its configuration.
fn trial(t: &TrialRecord, catalog: &[Knob]) -> (reports::TrialRecord, Config) {
    let row = &t.trial;
    let m = &row.measurement;
    let config: Config = serde_json::from_value(row.config.clone()).unwrap_or_default();
    let measurement: Option<Measurement> = m
        .get("measurement")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let score = m.get("score").and_then(serde_json::Value::as_f64);
    let reason = text(m, "reason")
        .unwrap_or("failed (no reason was recorded)")
        .to_string();
    let seq = usize::try_from(row.seq).unwrap_or(0);
    let label = match m.get("from") {
        Some(from) => format!(
            "{seq} (session {} trial {})",
            from.get("session")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0),
            from.get("seq")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0)
        ),
        None => match (text(m, "label"), seq) {
            (Some(l), _) => l.to_string(),
            (None, 0) => "default".into(),
            // Before labels were stored, trial 1 was always the heuristic.
            (None, 1) => "heuristic".into(),
            (None, n) => n.to_string(),
        },
    };
    let status = match row.status.as_str() {
        "measured" => TrialStatus::Measured,
        "imported" if score.is_some() => TrialStatus::Measured,
        "rejected" => TrialStatus::Rejected { reason },
        _ => TrialStatus::Failed { reason },
    };
    let applied = m
        .get("applied")
        .and_then(|v| serde_json::from_value::<BTreeMap<String, String>>(v.clone()).ok())
        .map(|server_values| Applied {
            restarted: m
                .get("restarted")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            server_values,
        });
    let measured = status == TrialStatus::Measured;
    let mut rec = crate::tune::trial_record(
        seq,
        &label,
        &config,
        applied.as_ref(),
        catalog,
        status,
        measurement.as_ref(),
    );
    let derived = m
        .get("derived")
        .and_then(|v| serde_json::from_value::<crate::telemetry::delta::Derived>(v.clone()).ok());
    rec.top_statements = m
        .get("top_statements")
        .and_then(|v| serde_json::from_value::<Vec<reports::ServerStatement>>(v.clone()).ok())
        .unwrap_or_default();
    rec.top_waits = derived
        .as_ref()
        .map(|d| d.top_waits.clone())
        .unwrap_or_default();
    rec.telemetry = derived.map(|d| TrialTelemetry {
        buffer_hit_ratio: d.buffer_hit_ratio,
        checkpoints_timed: d.checkpoints_timed,
        checkpoints_requested: d.checkpoints_requested,
        wal_bytes_per_xact: d.wal_bytes_per_xact,
        temp_bytes: d.temp_bytes,
    });
    rec.score = score.filter(|_| measured);
    (rec, config)
}

fn cli_optimizer(o: OptimizerChoice) -> &'static str {
    match o {
        OptimizerChoice::Auto => "auto",
        OptimizerChoice::Gp => "gp",
        OptimizerChoice::Forest => "rf",
        OptimizerChoice::Random => "random",
    }
}

/// A `dbtuner tune` command line that runs the session again.
fn tune_command(s: &TuneSettings, engine: Engine) -> String {
    let WorkloadChoice::Builtin { name, scale } = &s.workload;
    let objective = serde_json::to_value(s.objective)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| "throughput".into());
    // A named target is shown without its password (stored so): the user gives it again.
    let staging = match &s.staging {
        StagingChoice::Sandbox(_) => format!("--sandbox {}", engine.as_str()),
        StagingChoice::Target(t) => {
            let mut text = format!("--target '{}'", t.url);
            if let (true, Some(command)) = (t.allow_restart, &t.restart_command_shown) {
                text.push_str(&format!(" --allow-restart --restart-command '{command}'"));
            }
            text
        }
    };
    let mut cmd = format!(
        "dbtuner tune {staging} --workload {name} --scale {scale} --objective {objective} --optimizer {} --seed {} --clients {} --time-budget {}s",
        cli_optimizer(s.optimizer),
        s.seed,
        s.clients,
        s.time_budget.as_secs()
    );
    if let Some(t) = s.trials {
        cmd.push_str(&format!(" --trials {t}"));
    }
    match &s.knobs {
        KnobSelection::Default => {}
        KnobSelection::List(names) => cmd.push_str(&format!(" --knobs {}", names.join(","))),
        KnobSelection::Top(n) => cmd.push_str(&format!(" --knobs top:{n}")),
    }
    if s.allow_durability_risk {
        cmd.push_str(" --allow-durability-risk");
    }
    cmd.push_str(&format!(" --out {}", s.out.display()));
    cmd
}

/// The report of the stored session (pure: no I/O).
pub fn assemble(stored: &Stored, repo_spec: &str) -> Report {
    let s = &stored.session;
    let settings: Option<TuneSettings> = s
        .settings
        .get("tune_settings")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let engine = stored
        .target
        .as_ref()
        .and_then(|t| Engine::from_str(&t.engine).ok())
        .or(settings.as_ref().and_then(|s| s.staging.sandbox_engine()))
        .unwrap_or(Engine::Postgres);
    let server_version = stored
        .target
        .as_ref()
        .map(|t| t.version.clone())
        .unwrap_or_default();
    let version =
        knobs::Version::parse(&server_version).unwrap_or(knobs::Version::default_for(engine));
    let catalog = catalog::for_version(engine, version).unwrap_or_default();
    let context = stored.context.clone().unwrap_or_default();

    let trials: Vec<(reports::TrialRecord, Config)> =
        stored.trials.iter().map(|t| trial(t, &catalog)).collect();
    let min_gain = settings.as_ref().map(|s| s.gate.min_gain);
    let (gate, gate_note) = super::gate::view(&stored.verdicts, min_gain);
    let objective = settings
        .as_ref()
        .map(|s| s.objective.name().to_string())
        .unwrap_or_default();

    let mut r = Report::empty(&match &settings {
        Some(set) => {
            let WorkloadChoice::Builtin { name, scale } = &set.workload;
            format!(
                "{} on {} ({name}, scale {scale})",
                s.kind,
                engine.display_name()
            )
        }
        None => format!("{} session {}", s.kind, s.id),
    });
    r.generated_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    r.engine = engine.display_name().to_string();
    r.server_version = server_version;
    r.workload = if context.workload.is_empty() {
        settings
            .as_ref()
            .map(|set| {
                let WorkloadChoice::Builtin { name, scale } = &set.workload;
                format!("{name}, scale {scale}")
            })
            .unwrap_or_default()
    } else {
        context.workload.clone()
    };
    r.clients = settings.as_ref().map(|s| s.clients).unwrap_or(0);
    r.hardware = context.hardware.clone();
    r.allow_durability_risk = settings.as_ref().is_some_and(|s| s.allow_durability_risk);
    r.search_space = context.search_space.clone();
    r.optimizer = context.optimizer.clone();
    r.seed = settings.as_ref().map(|s| s.seed).unwrap_or(0);
    r.elapsed_secs = context.elapsed_secs;
    r.measure_secs = context.measure_secs;
    r.importance = context.importance.clone();
    r.narrowed_to = context.narrowed_to.clone();
    r.objective = objective.clone();
    r.session_id = Some(s.id);
    r.notes = context.notes.clone();
    r.indexes = context.indexes.clone();
    if stored.context.is_none() {
        r.notes.push(format!(
            "Session {} ({}) stored no summary (it did not finish, or an older dbtuner ran it): machine, search space and knob importance are unknown here.",
            s.id, s.status
        ));
    }
    r.notes.extend(gate_note);

    let mut all = trials.iter().map(|(t, _)| t.clone());
    r.default = all.next();
    r.trials = all.collect();

    let candidate = gate
        .candidate_seq
        .and_then(|seq| stored.trials.iter().position(|t| t.trial.seq == seq))
        .and_then(|i| trials.get(i));
    let heuristic = trials
        .iter()
        .find(|(t, _)| t.label == "heuristic")
        .map(|(_, c)| c);
    let accepted = gate.decision == Some(models::gate::Decision::Accept);
    if let (Some((rec, config)), Some(v)) = (candidate, gate.validation.as_ref()) {
        let evidence = format!(
            "trial {}: {} in the search; gate {:+.1}% ({:.0}% CI {:+.1}% .. {:+.1}%) over {} rounds",
            rec.id,
            rec.score.map(|s| format!("score {s:.1}")).unwrap_or_else(|| "not scored".into()),
            (v.ratio - 1.0) * 100.0,
            v.confidence * 100.0,
            (v.ci_low - 1.0) * 100.0,
            (v.ci_high - 1.0) * 100.0,
            v.rounds
        );
        r.changes = advice::changes(&advice::Inputs {
            catalog: &catalog,
            candidate: config,
            heuristic,
            current_is_default: settings.is_some(),
            evidence,
        });
        r.recommended = accepted && !r.changes.is_empty();
        if r.recommended {
            r.snippets = advice::snippets(engine, config, &catalog);
            r.recommendation =
                knobs::render::sql(engine, &advice::non_default(config, &catalog), &catalog);
            if let Some(set) = &settings {
                let restart = r
                    .changes
                    .iter()
                    .any(|c| c.apply == reports::ApplyKind::Restart);
                r.apply_command = Some(advice::apply_command(&set.out.join("plan.json"), restart));
            }
        }
        if context.ram_bytes > 0 {
            r.memory = Some(MemoryUse {
                worst_case_bytes: MemoryEstimate::of(engine, config, &catalog).total_bytes,
                budget_bytes: context.ram_bytes / 10 * 9,
                ram_bytes: context.ram_bytes,
            });
        }
    }
    r.validation = gate.validation.map(|mut v| {
        v.objective = objective;
        v
    });
    r.gate_rounds = gate.rounds;
    r.latency = gate.latency;
    r.statements = gate.statements;

    let mut reproduce = Vec::new();
    if let Some(set) = &settings {
        reproduce.push(tune_command(set, engine));
    }
    // The repository can be a postgres:// URL with its password: reports never carry it.
    reproduce.push(format!(
        "dbtuner report --session {} --repo {}",
        s.id,
        workloads::redact::redact(repo_spec)
    ));
    r.environment = reports::Environment {
        dbtuner_version: env!("CARGO_PKG_VERSION").to_string(),
        target: stored
            .target
            .as_ref()
            .map(|t| workloads::redact::redact(&t.url))
            .unwrap_or_default(),
        session_status: s.status.clone(),
        started_at: rfc3339(s.started_at_ms),
        reproduce,
    };
    r
}
