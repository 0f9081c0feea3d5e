//! The session loop and its stop policy: baselines, search, narrowing, gate, outputs.
//!
//! Stop policy: a search trial starts only if it and the gate's minimum rounds still fit in
//! the time budget (by the most expensive measurement seen so far), and only while fewer than
//! `--trials` search trials ran; a measurement still running when the budget ends is
//! abandoned. Ctrl-C (through the cancellation token) stops at once and puts the staging
//! server back in its original configuration.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use knobs::heuristic::{HeuristicInput, Profile, Storage};
use knobs::{catalog, ApplyMode, Config, Engine, Hardware, Knob, Space, SpaceOptions};
use models::gate::{Decision, GateEvidence};
use models::importance::lasso_ranking;
use models::{
    BayesOpt, BoSettings, Optimizer, Outcome, RandomSearch, SurrogateKind, COARSE_SEPARATION,
};
use mysql_async::prelude::Queryable;
use reports::{KnobImportance, Report, TrialRecord, TrialStatus};
use tokio_util::sync::CancellationToken;
use workloads::builtin::Builtin;
use workloads::replay::Replay;
use workloads::target::{connect_mysql, connect_postgres};
use workloads::{Sandbox, Target, TargetUrl};

use super::measure::{Bench, Window};
use super::space::{default_knobs, search_space};
use super::trial::{self, Limits, Recorder, TrialResult};
use super::{
    Events, Interrupted, KnobSelection, LoadKind, OptimizerChoice, StagingChoice, TuneEvent,
    TuneSettings, WorkloadChoice,
};
use crate::apply::CommandRestarter;
use crate::gate::{self, GatePlan};
use crate::repository::NewSession;
use crate::staging::{Staging, StagingError};
use crate::BadInput;

/// Gate rounds before its first decision, and at most.
const GATE_MIN_ROUNDS: usize = 4;
const GATE_MAX_ROUNDS: usize = 8;

/// A finished session.
#[derive(Debug)]
pub struct TuneOutcome {
    pub report: Report,
    pub session_id: i64,
    pub evidence: Option<GateEvidence>,
    pub markdown_path: PathBuf,
    pub json_path: PathBuf,
    /// Written only when the gate accepted the best configuration.
    pub plan_path: Option<PathBuf>,
}

/// One trial as the session keeps it.
struct Tried {
    record: TrialRecord,
    config: Config,
    score: Option<f64>,
}

impl Tried {
    /// What the optimizer is told about this configuration.
    fn outcome(&self) -> Outcome {
        match self.score {
            Some(s) => Outcome::Value(s),
            None => Outcome::Failed("failed when it was tried".into()),
        }
    }
}

/// The best measured trial, the default (trial 0) left out unless `with_default`.
fn best(tried: &[Tried], with_default: bool) -> Option<&Tried> {
    tried
        .iter()
        .filter(|t| t.score.is_some() && (with_default || t.record.id != 0))
        .max_by(|a, b| a.score.unwrap_or(0.0).total_cmp(&b.score.unwrap_or(0.0)))
}

/// Validate what can be validated before anything starts: knob names and their space.
pub fn check_settings(
    settings: &TuneSettings,
    engine: Engine,
    hardware: Hardware,
) -> Result<(), BadInput> {
    let WorkloadChoice::Builtin { name, scale } = &settings.workload;
    Builtin::with_scale(name, *scale).map_err(|e| BadInput(format!("--workload: {e}")))?;
    if settings.trials == Some(0) {
        return Err(BadInput("--trials 0: give at least one trial".into()));
    }
    let catalog = catalog::for_engine(engine).map_err(|e| BadInput(e.to_string()))?;
    knob_space(settings, engine, &catalog, hardware, &|_| None)?;
    settings
        .gate
        .validate()
        .map_err(|e| BadInput(e.to_string()))?;
    Ok(())
}

/// The space to search, and the knobs of the workload's default list left out because
/// `why_not` says they cannot be tuned on this staging server ("name: why"). A knob named
/// in `--knobs` that cannot be tuned there is bad input instead.
fn knob_space(
    settings: &TuneSettings,
    engine: Engine,
    catalog: &[Knob],
    hardware: Hardware,
    why_not: &dyn Fn(&Knob) -> Option<String>,
) -> Result<(Space, Vec<String>), BadInput> {
    let WorkloadChoice::Builtin { name, .. } = &settings.workload;
    let mut left_out = Vec::new();
    let names = match &settings.knobs {
        KnobSelection::List(names) => {
            for n in names {
                if let Some(why) = catalog::find(catalog, n).ok().and_then(why_not) {
                    return Err(BadInput(format!("--knobs {n}: {why}; nothing was changed")));
                }
            }
            names.clone()
        }
        KnobSelection::Default | KnobSelection::Top(_) => default_knobs(
            engine,
            LoadKind::of_builtin(name),
            catalog,
            settings.allow_durability_risk,
        )
        .into_iter()
        .filter(|n| match catalog::find(catalog, n).ok().and_then(why_not) {
            Some(why) => {
                left_out.push(format!("{n}: {why}"));
                false
            }
            None => true,
        })
        .collect(),
    };
    Ok((space_of(names, catalog, hardware, settings)?, left_out))
}

fn space_of(
    names: Vec<String>,
    catalog: &[Knob],
    hardware: Hardware,
    settings: &TuneSettings,
) -> Result<Space, BadInput> {
    Space::new(
        catalog,
        &SpaceOptions {
            knobs: names,
            hardware,
            allow_durability_risk: settings.allow_durability_risk,
        },
    )
    .map_err(|e| BadInput(format!("--knobs: {e}")))
}

fn make_optimizer(
    choice: OptimizerChoice,
    space: &Space,
    seed: u64,
) -> Result<Box<dyn Optimizer + Send>> {
    let surrogate = match choice {
        OptimizerChoice::Random => return Ok(Box::new(RandomSearch::new(space.dims(), seed))),
        OptimizerChoice::Auto => SurrogateKind::Auto,
        OptimizerChoice::Gp => SurrogateKind::Gp,
        OptimizerChoice::Forest => SurrogateKind::Forest,
    };
    // Trials are slow and noisy: never spend one within a few tenths of a percent of a
    // measured configuration.
    let settings = BoSettings {
        surrogate,
        min_separation: COARSE_SEPARATION,
        ..BoSettings::default()
    };
    Ok(Box::new(BayesOpt::new(
        search_space(space)?,
        settings,
        seed,
    )?))
}

/// Run a whole session.
pub async fn run(
    settings: &TuneSettings,
    hardware: Hardware,
    events: &Events,
    cancel: &CancellationToken,
) -> Result<TuneOutcome> {
    let started = Instant::now();
    let deadline = started + settings.time_budget;
    let WorkloadChoice::Builtin {
        name: workload_name,
        scale,
    } = &settings.workload;
    let Opened {
        staging,
        server_version,
        engine: detected,
        version,
        catalog,
    } = open_staging(settings, hardware, events).await?;
    // Checked before anything is changed or created on a named server.
    let (mut space, left_out) = knob_space(settings, detected, &catalog, hardware, &|k| {
        staging.why_not_tunable(k)
    })?;
    if !left_out.is_empty() {
        events.note(format!(
            "left out of the search on this server: {}",
            left_out.join("; ")
        ));
    }
    if ensure_database(&staging)
        .await
        .context("creating the workload's database")?
    {
        events.note(format!(
            "created the database {} for the workload",
            staging.database()
        ));
    }

    let repo_path = settings.out.join("dbtuner.db");
    let repo = crate::repository::open(&repo_path.to_string_lossy())
        .await
        .with_context(|| format!("opening {}", repo_path.display()))?;
    let target_id = repo
        .upsert_target(
            &staging.url(staging.database())?,
            detected.as_str(),
            &server_version,
        )
        .await?;
    let session_id = repo
        .create_session(&NewSession {
            target_id: Some(target_id),
            kind: settings.kind.clone(),
            settings: serde_json::json!({
                "workload": workload_name,
                "scale": scale,
                "trials": settings.trials,
                "time_budget_secs": settings.time_budget.as_secs(),
                "objective": settings.objective,
                "seed": settings.seed,
                "clients": settings.clients,
                "allow_durability_risk": settings.allow_durability_risk,
                "gate": settings.gate,
                "resumed_from": settings.resume_from,
                "tune_settings": settings,
            }),
        })
        .await?;
    let imported = match settings.resume_from {
        Some(old) => {
            let trials = super::resume::imported_trials(repo.as_ref(), old).await?;
            repo.finish_session(old, "resumed").await?;
            events.note(format!(
                "resuming session {old}: {} of its trials carried over",
                trials.len()
            ));
            trials
        }
        None => Vec::new(),
    };
    let recorder = Recorder {
        repo,
        target_id,
        session_id,
    };

    let builtin = Builtin::with_scale(workload_name, *scale)?;
    events.phase(format!("loading {workload_name}, scale {scale}"));
    let load = builtin
        .load(&staging.url(staging.database())?)
        .await
        .context("loading the data set")?;
    let replay = Replay::new(&builtin.spec()?, &staging.url(staging.database())?).await?;
    events.note(format!(
        "loaded {} rows in {:.1} s",
        load.rows, load.seconds
    ));

    let restart_each = space
        .dimensions()
        .iter()
        .any(|d| d.knob.apply == ApplyMode::Restart);
    let window = settings.window.unwrap_or_else(|| {
        plan_window(
            settings.time_budget.saturating_sub(started.elapsed()),
            settings.trials,
            restart_each,
        )
    });
    let mut bench = Bench::new(
        staging,
        replay,
        settings.clients,
        window,
        restart_each,
        settings.objective,
        settings.seed,
    );
    let mut advice = None;
    if settings.indexes {
        events.phase("advising indexes for the workload");
        let url = bench.staging.url(bench.staging.database())?;
        if detected == Engine::Postgres {
            let client = workloads::target::connect_postgres(&url).await?;
            client.batch_execute("ANALYZE").await?;
            crate::advise::hypopg::ensure(&client).await?;
        }
        let a = crate::advise::advise(
            &url,
            Some(&url),
            crate::advise::Source::Workload(Box::new(builtin.spec()?)),
            &crate::advise::AdviseSettings {
                budget: settings
                    .index_budget
                    .as_deref()
                    .map(crate::advise::parse_budget)
                    .transpose()?,
                ..crate::advise::AdviseSettings::default()
            },
            &|m| events.note(format!("index advice: {m}")),
        )
        .await?;
        events.note(format!(
            "index advice: {} index(es) within {} bytes, estimated workload cost {:+.1}%; knobs are searched with them built",
            a.recommendations.len(),
            a.budget_bytes,
            a.cost_change() * 100.0
        ));
        bench.indexes = a.recommendations.iter().map(|r| r.index.clone()).collect();
        advice = Some(a);
    }
    let limits = Limits {
        memory_budget: hardware.ram_bytes / 10 * 9,
        p99_limit_ms: settings.p99_limit_ms,
    };
    let mut session = Session {
        bench,
        recorder,
        events: events.clone(),
        tried: Vec::new(),
        slot_cost: Duration::ZERO,
        objective: settings.objective,
        catalog: catalog.clone(),
        engine: detected,
        version,
        hardware,
        limits,
        deadline,
    };
    let (importance, narrowed_to) = match session
        .search(settings, &mut space, &imported, cancel)
        .await
    {
        Ok(found) => found,
        Err(e) => return Err(session.abandon(e).await),
    };

    // The gate: the search's best against the default, re-measured interleaved.
    let best = best(&session.tried, false).map(|t| (t.record.id, t.config.clone()));
    let mut gate_outcome = None;
    if let Some((best_id, best_config)) = &best {
        let plan = GatePlan {
            min_rounds: GATE_MIN_ROUNDS,
            max_rounds: GATE_MAX_ROUNDS,
            deadline,
            slot_cost: session.slot_cost,
            p99_limit_ms: settings.p99_limit_ms,
            seed: settings.seed,
        };
        events.phase(format!("gate: trial {best_id} against the default"));
        let baseline = Config::new();
        let outcome = tokio::select! {
            outcome = gate::run(&mut session.bench, &baseline, best_config, &settings.gate, plan, events, cancel) => outcome,
            _ = cancel.cancelled() => Err(Interrupted("during the gate".into()).into()),
        };
        match outcome {
            Ok(o) => gate_outcome = Some((*best_id, o)),
            Err(e) => return Err(session.abandon(e).await),
        }
    }
    // Leave staging as it was found.
    session.bench.set_indexes(false).await?;
    session.bench.staging.apply(&Config::new()).await?;
    let left = session.bench.staging.differences_from_found().await?;
    if !left.is_empty() {
        let error = anyhow::anyhow!(
            "the staging server is not back as it was found: {}",
            left.join("; ")
        );
        return Err(session.abandon(error).await);
    }

    let context = super::output::Context {
        settings,
        engine: detected,
        server_version: &server_version,
        catalog: &catalog,
        hardware,
        space: &space,
        window,
        restart_each,
        load_rows: load.rows,
        load_secs: load.seconds,
        started,
        session_id,
        importance,
        narrowed_to,
        advice: advice.as_ref(),
        left_out,
    };
    let trials: Vec<(TrialRecord, Config)> = session
        .tried
        .into_iter()
        .map(|t| (t.record, t.config))
        .collect();
    let written = super::output::write(
        &context,
        trials,
        gate_outcome,
        session.recorder.repo.as_ref(),
    )
    .await?;
    let status = match written.evidence.as_ref().map(|e| e.decision) {
        Some(Decision::Accept) => "accepted",
        Some(Decision::Reject) => "rejected",
        Some(Decision::Inconclusive) | None => "inconclusive",
    };
    session
        .recorder
        .repo
        .finish_session(session_id, status)
        .await?;
    Ok(TuneOutcome {
        report: written.report,
        session_id,
        evidence: written.evidence,
        markdown_path: written.markdown_path,
        json_path: written.json_path,
        plan_path: written.plan_path,
    })
}

/// How long each measurement warms up and measures, from the time left after setup: about
/// 16 measurement slots (the default, the heuristic, the search, the gate's rounds) unless
/// `--trials` says how many.
fn plan_window(remaining: Duration, trials: Option<u32>, restart_each: bool) -> Window {
    let slots = match trials {
        Some(t) => 2.0 + f64::from(t) + 2.0 * GATE_MIN_ROUNDS as f64,
        None => 16.0,
    };
    let overhead = if restart_each { 3.5 } else { 1.5 };
    let usable = (remaining.as_secs_f64() / slots - overhead).max(0.0);
    let measure = (usable * 2.0 / 3.0).clamp(5.0, 60.0).floor();
    let warmup = (usable / 3.0).clamp(2.0, 20.0).floor();
    Window {
        warmup: Duration::from_secs_f64(warmup),
        measure: Duration::from_secs_f64(measure),
    }
}

struct Session {
    bench: Bench,
    recorder: Recorder,
    events: Events,
    tried: Vec<Tried>,
    /// The most expensive measurement so far (apply, warm-up, measure, telemetry).
    slot_cost: Duration,
    objective: super::Objective,
    catalog: Vec<Knob>,
    engine: Engine,
    version: knobs::Version,
    hardware: Hardware,
    limits: Limits,
    /// The end of the time budget.
    deadline: Instant,
}

impl Session {
    /// Run one trial, with cancellation and the hard deadline; `None` when the deadline
    /// passed mid-trial (the trial is abandoned).
    async fn trial(
        &mut self,
        id: usize,
        label: &str,
        config: &Config,
        cancel: &CancellationToken,
    ) -> Result<Option<TrialResult>> {
        let started = Instant::now();
        let result = tokio::select! {
            r = trial::evaluate(&mut self.bench, &self.recorder, id, label, config, self.limits) => r?,
            _ = cancel.cancelled() => return Err(Interrupted(format!("during trial {id}")).into()),
            _ = tokio::time::sleep_until(self.deadline.into()) => return Ok(None),
        };
        self.slot_cost = self.slot_cost.max(started.elapsed());
        let spread = |t: &TrialRecord| t.throughput.map(|f| f.stdev).unwrap_or(0.0);
        let measured = result.score.map(|s| (s, spread(&result.record)));
        self.tried.push(Tried {
            record: result.record.clone(),
            config: config.clone(),
            score: result.score,
        });
        let best = best(&self.tried, true).map(|t| (t.score.unwrap_or(0.0), spread(&t.record)));
        let summary = match &result.record.status {
            TrialStatus::Measured => format!(
                "{} {:.1}, p99 {:.1} ms  [{}]",
                self.objective.name(),
                result.score.unwrap_or(0.0),
                result.record.p99_ms.unwrap_or(0.0),
                describe_knobs(&result.record)
            ),
            TrialStatus::Failed { reason } | TrialStatus::Rejected { reason } => {
                format!("{reason}  [{}]", describe_knobs(&result.record))
            }
        };
        self.events.send(TuneEvent::Trial {
            id,
            label: label.to_string(),
            score: measured,
            summary,
            best,
        });
        Ok(Some(result))
    }

    /// Baselines, then the optimizer until the stop policy says stop. Returns the knob
    /// importance (when it was computed) and the knobs the space was narrowed to.
    async fn search(
        &mut self,
        settings: &TuneSettings,
        space: &mut Space,
        imported: &[super::resume::Imported],
        cancel: &CancellationToken,
    ) -> Result<(Vec<KnobImportance>, Vec<String>)> {
        self.events.phase("measuring the default configuration");
        let default = self.trial(0, "default", &Config::new(), cancel).await?;
        match default {
            Some(r) if r.score.is_some() => {}
            Some(r) => anyhow::bail!(
                "the default configuration could not be measured: {:?}",
                r.record.status
            ),
            None => anyhow::bail!(
                "the time budget ended while the default configuration was measured; give more time (--time-budget)"
            ),
        }
        // Joint plans: the default was measured without the advised indexes; every other
        // trial runs with them.
        self.bench.set_indexes(true).await?;

        let WorkloadChoice::Builtin { name, .. } = &settings.workload;
        let profile = match LoadKind::of_builtin(name) {
            LoadKind::Writes => Profile::Oltp,
            LoadKind::Reads if name == "olap" || name == "tpch" => Profile::Dw,
            LoadKind::Reads | LoadKind::Mixed => Profile::Mixed,
        };
        let heuristic = knobs::heuristic::recommend(&HeuristicInput {
            engine: self.engine,
            version: self.version,
            memory_bytes: self.hardware.ram_bytes,
            cpus: self.hardware.cpus,
            connections: None,
            storage: Storage::Ssd,
            profile,
        })?;
        let mut heuristic_config = Config::new();
        // On a named server, the knobs that cannot be tuned there (restart knobs without
        // --allow-restart) are left out: the rest of the heuristic is still worth a trial.
        for (name, value) in trial::safe_only(&heuristic.config, &self.catalog).iter() {
            let tunable = knobs::catalog::find(&self.catalog, name)
                .is_ok_and(|k| self.bench.staging.why_not_tunable(k).is_none());
            if tunable {
                heuristic_config.set(name, value.clone());
            }
        }
        let mut optimizer = make_optimizer(settings.optimizer, space, settings.seed)?;
        if self.fits() {
            self.events.phase("measuring the heuristic configuration");
            if let Some(r) = self
                .trial(1, "heuristic", &heuristic_config, cancel)
                .await?
            {
                // The heuristic, at its values of the searched knobs, is the model's first
                // observation (its other knobs are not in the space, so this is a hint).
                optimizer.observe(space.encode(&heuristic_config), r.outcome);
            }
        }

        let mut search_trials = 0u32;
        for t in imported {
            self.carry_over(t, settings.resume_from.unwrap_or_default())
                .await?;
            optimizer.observe(space.encode(&t.config), t.outcome.clone());
            search_trials += 1;
        }
        // The optimizer's state is its observations and its place in its suggestion sequence
        // (same seed): it goes on after the interrupted session's suggestions.
        optimizer.skip(imported.len() as u64);
        let mut importance = Vec::new();
        let mut narrowed_to = Vec::new();
        loop {
            if settings.trials.is_some_and(|t| search_trials >= t) || !self.fits() {
                break;
            }
            if let KnobSelection::Top(n) = settings.knobs {
                let observed = optimizer
                    .observations()
                    .iter()
                    .filter(|o| matches!(o.outcome, Outcome::Value(_)))
                    .count();
                if narrowed_to.is_empty() && n < space.dims() && observed >= (n + 2).max(4) {
                    let (ranked, kept) = narrow(space, optimizer.as_ref(), n)?;
                    self.events.note(format!(
                        "narrowed to {} (Lasso ranking over {observed} trials)",
                        kept.join(", ")
                    ));
                    *space = space_of(kept.clone(), &self.catalog, self.hardware, settings)?;
                    let mut next = make_optimizer(settings.optimizer, space, settings.seed)?;
                    for t in self.tried.iter().filter(|t| t.record.id != 0) {
                        next.observe(space.encode(&t.config), t.outcome());
                    }
                    optimizer = next;
                    importance = ranked;
                    narrowed_to = kept;
                }
            }
            let id = self.next_id();
            let Some((point, config)) = self.next_untried(optimizer.as_mut(), space)? else {
                self.events.note(
                    "every suggestion repeats a configuration already measured: the space is exhausted",
                );
                break;
            };
            self.events
                .phase(format!("trial {id}: applying and measuring"));
            let Some(r) = self.trial(id, &id.to_string(), &config, cancel).await? else {
                break;
            };
            optimizer.observe(point, r.outcome);
            search_trials += 1;
        }
        Ok((importance, narrowed_to))
    }

    /// The optimizer's next suggestion that is not a configuration already measured (servers
    /// see the same values: small integer and categorical spaces make repeats common). A
    /// repeat is told the outcome it had, and the optimizer asked again; `None` after ten
    /// repeats in a row.
    fn next_untried(
        &self,
        optimizer: &mut (dyn Optimizer + Send),
        space: &Space,
    ) -> Result<Option<(Vec<f64>, Config)>> {
        for _ in 0..10 {
            let point = optimizer.suggest();
            let config = space.decode(&point)?;
            let seen = self
                .tried
                .iter()
                .find(|t| t.config.diff(&config, &self.catalog).is_empty());
            match seen {
                None => return Ok(Some((point, config))),
                Some(t) => optimizer.observe(point, t.outcome()),
            }
        }
        Ok(None)
    }

    /// The id of the next search trial: after every trial so far, and never 0 or 1 (the
    /// default and the heuristic, which may not have run).
    fn next_id(&self) -> usize {
        self.tried
            .iter()
            .map(|t| t.record.id + 1)
            .max()
            .unwrap_or(0)
            .max(2)
    }

    /// Record a trial of the session being resumed as this session's own (`imported`), so that
    /// the new session is complete by itself; it is not measured again.
    async fn carry_over(&mut self, t: &super::resume::Imported, from: i64) -> Result<()> {
        let id = self.next_id();
        let mut raw = t.raw.clone();
        if let Some(obj) = raw.as_object_mut() {
            obj.insert(
                "from".into(),
                serde_json::json!({ "session": from, "seq": t.seq }),
            );
        }
        self.recorder
            .trial(id, "imported", &t.config, raw, None)
            .await?;
        let status = match &t.outcome {
            Outcome::Value(_) => TrialStatus::Measured,
            Outcome::Failed(reason) => TrialStatus::Failed {
                reason: reason.clone(),
            },
        };
        let label = format!("{id} (session {from} trial {})", t.seq);
        let record = trial::record(
            id,
            &label,
            &t.config,
            None,
            &self.catalog,
            status,
            t.measurement.as_ref(),
        );
        let score = match t.outcome {
            Outcome::Value(s) => Some(s),
            Outcome::Failed(_) => None,
        };
        self.tried.push(Tried {
            record,
            config: t.config.clone(),
            score,
        });
        Ok(())
    }

    /// Whether one more measurement and the gate's minimum rounds fit before the deadline.
    fn fits(&self) -> bool {
        let reserve = self.slot_cost * (2 * GATE_MIN_ROUNDS as u32);
        Instant::now() + self.slot_cost + reserve <= self.deadline
    }

    /// After Ctrl-C or a failure: staging back in its original configuration, the session
    /// marked `interrupted` or `failed`; returns the error to report.
    async fn abandon(&mut self, error: anyhow::Error) -> anyhow::Error {
        self.restore_original().await;
        let status = if error.is::<Interrupted>() {
            "interrupted"
        } else {
            "failed"
        };
        let session_id = self.recorder.session_id;
        if let Err(e) = self.recorder.repo.finish_session(session_id, status).await {
            tracing::warn!(error = %e, "could not mark the session {status}");
        }
        error
    }

    async fn restore_original(&mut self) {
        let original = Config::new();
        let restore = self.bench.staging.apply(&original);
        match tokio::time::timeout(Duration::from_secs(120), restore).await {
            Ok(Ok(_)) => self
                .events
                .note("staging restored to its original configuration"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not restore the staging configuration"),
            Err(_) => tracing::warn!("restoring the staging configuration timed out"),
        }
    }
}

/// Rank the space's knobs on what was observed and keep the top `n`.
fn narrow(
    space: &Space,
    optimizer: &(dyn Optimizer + Send),
    n: usize,
) -> Result<(Vec<KnobImportance>, Vec<String>)> {
    let (xs, ys): (Vec<Vec<f64>>, Vec<f64>) = optimizer
        .observations()
        .iter()
        .filter_map(|o| match o.outcome {
            Outcome::Value(v) => Some((o.point.clone(), v)),
            Outcome::Failed(_) => None,
        })
        .unzip();
    let ranking = lasso_ranking(&search_space(space)?, &xs, &ys)?;
    let names: Vec<String> = space
        .dimensions()
        .iter()
        .map(|d| d.knob.name.clone())
        .collect();
    let ranked: Vec<KnobImportance> = ranking
        .iter()
        .map(|imp| KnobImportance {
            name: names[imp.dim].clone(),
            score: imp.score,
        })
        .collect();
    let kept = ranked.iter().take(n).map(|k| k.name.clone()).collect();
    Ok((ranked, kept))
}

fn describe_knobs(record: &TrialRecord) -> String {
    record
        .knobs
        .iter()
        .map(|k| format!("{}={}", k.name, k.value))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A staging server, reached and described; nothing changed on it yet.
struct Opened {
    staging: Staging,
    server_version: String,
    engine: Engine,
    version: knobs::Version,
    catalog: Vec<Knob>,
}

/// Check the settings, then start the sandbox or reach the named server (an unreachable one is
/// bad input) and record its configuration as found.
async fn open_staging(
    settings: &TuneSettings,
    hardware: Hardware,
    events: &Events,
) -> Result<Opened> {
    let (url, sandbox, named) = match &settings.staging {
        StagingChoice::Sandbox(engine) => {
            let engine = *engine;
            check_settings(settings, engine, hardware)?;
            events.phase(format!("starting a {} sandbox", engine.display_name()));
            let sandbox = tokio::task::spawn_blocking(move || Sandbox::start(engine))
                .await
                .context("sandbox start task")??;
            let url: TargetUrl = sandbox.url().parse().context("sandbox URL")?;
            (url, Some(sandbox), None)
        }
        StagingChoice::Target(named) => {
            let url = named.connect.clone().ok_or_else(|| {
                BadInput(format!(
                    "--target {}: give the URL again (its password is not stored)",
                    named.url
                ))
            })?;
            events.phase(format!("connecting to {url}"));
            (url, None, Some(named))
        }
    };
    let target = Target::connect(&url).await.map_err(|e| match named {
        // Unreachable, or not the server the user meant: nothing was changed.
        Some(_) => anyhow::Error::new(BadInput(format!("--target: {e}"))),
        None => e.into(),
    })?;
    let server_version = target.version().to_string();
    let engine = target.engine();
    drop(target);
    let version =
        knobs::Version::parse(&server_version).unwrap_or(knobs::Version::default_for(engine));
    let catalog = catalog::for_version(engine, version)?;
    let staging = match (sandbox, named) {
        (Some(sandbox), _) => Staging::new(sandbox, catalog.clone()),
        (None, Some(named)) => {
            check_settings(settings, engine, hardware)?;
            let restarter = match (named.allow_restart, &named.restart_command) {
                (true, Some(command)) => Some(CommandRestarter {
                    command: command.clone(),
                }),
                (true, None) => {
                    return Err(BadInput(
                        "--allow-restart needs --restart-command to restart the server".into(),
                    )
                    .into())
                }
                (false, _) => None,
            };
            check_privileges(settings, named, engine, &catalog, hardware, &url).await?;
            Staging::named(url, &catalog, restarter)
                .await
                .map_err(|e| match e {
                    StagingError::Refused(why) => anyhow::Error::new(BadInput(why)),
                    other => anyhow::Error::new(other),
                })?
        }
        (None, None) => anyhow::bail!("no staging server"),
    };
    Ok(Opened {
        staging,
        server_version,
        engine,
        version,
        catalog,
    })
}

/// On a named server, every privilege the session would use, named at once before anything
/// is read or changed: recording the configuration, setting the knobs it would search (as the
/// search space will be chosen), creating its database.
async fn check_privileges(
    settings: &TuneSettings,
    named: &super::NamedTarget,
    engine: Engine,
    catalog: &[Knob],
    hardware: Hardware,
    url: &TargetUrl,
) -> Result<()> {
    let restart_refused = |k: &Knob| {
        (k.apply == ApplyMode::Restart && (!named.allow_restart || engine.is_mysql_family()))
            .then(|| "needs a restart".to_string())
    };
    // A --knobs list the space refuses is reported as such later, with its reason.
    let knob_names: Vec<String> = knob_space(settings, engine, catalog, hardware, &restart_refused)
        .map(|(space, _)| {
            space
                .dimensions()
                .iter()
                .map(|d| d.knob.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut target = Target::connect(url).await?;
    let lacking = crate::privileges::missing(
        &mut target,
        &crate::privileges::Intent {
            settings: &knob_names,
            index_tables: &[],
            database: Some(crate::staging::NAMED_DATABASE),
            record_configuration: true,
        },
    )
    .await;
    if lacking.is_empty() {
        Ok(())
    } else {
        Err(BadInput(format!(
            "--target: {}",
            crate::privileges::explain(&lacking)
        ))
        .into())
    }
}

/// Create the workload's database on staging when it is missing; whether it was created.
/// Only dbtuner's own database is ever created or loaded, never one of the user's.
async fn ensure_database(staging: &Staging) -> Result<bool> {
    let name = staging.database();
    // On a named server, the database of the URL as given (the user's role may not be allowed
    // into the maintenance database); it is only connected to, never changed.
    let admin = staging.admin_url()?;
    match staging.engine() {
        Engine::Postgres => {
            let client = connect_postgres(&admin).await?;
            let exists = client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await?
                .is_some();
            if !exists {
                client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await?;
            }
            // The trials' telemetry reads the server's statement counters in this database
            // (dbtuner's own); without a superuser it goes on without them and says so.
            let workload = connect_postgres(&staging.url(name)?).await?;
            if let Err(e) = workload
                .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                .await
            {
                tracing::debug!("pg_stat_statements in {name}: {e}");
            }
            Ok(!exists)
        }
        Engine::Mysql | Engine::Mariadb => {
            let mut conn = connect_mysql(&admin).await?;
            let exists: Option<String> = conn
                .exec_first(
                    "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                    (name,),
                )
                .await?;
            if exists.is_none() {
                conn.query_drop(format!("CREATE DATABASE {name}")).await?;
            }
            Ok(exists.is_none())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_grows_with_the_budget_and_stays_within_bounds() {
        let short = plan_window(Duration::from_secs(60), None, true);
        let long = plan_window(Duration::from_secs(1800), None, true);
        assert_eq!(short.measure, Duration::from_secs(5));
        assert!(long.measure > short.measure && long.measure <= Duration::from_secs(60));
        assert!(long.warmup >= short.warmup && long.warmup <= Duration::from_secs(20));
        // More trials in the same time: shorter measurements.
        let many = plan_window(Duration::from_secs(600), Some(30), false);
        let few = plan_window(Duration::from_secs(600), Some(3), false);
        assert!(many.measure < few.measure, "{many:?} vs {few:?}");
    }
}
