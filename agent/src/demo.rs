//! `dbtuner demo`: the whole path on an embedded default. Start a sandbox, load a TPC-B-like
//! data set, measure the default configuration, random-search a few knobs that matter for the
//! workload (restarting or reloading as each requires), then measure the best configuration
//! against the default interleaved in the same run and report the gain with its spread.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use knobs::heuristic::{HeuristicInput, Profile, Storage};
use knobs::{
    catalog, Config, Durability, Engine, Hardware, Knob, MemoryEstimate, Space, SpaceOptions,
};
use models::stats::{bootstrap_ratio, Summary};
use models::{
    BayesOpt, BoSettings, DimKind, Optimizer, Outcome, RandomSearch, SearchSpace, COARSE_SEPARATION,
};
use mysql_async::prelude::Queryable;
use reports::{
    Figure, KnobSetting, Report, TrialRecord, TrialStatus, TrialTelemetry, Validation, Verdict,
};
use workloads::builtin::Builtin;
use workloads::driver::DriverOptions;
use workloads::replay::Replay;
use workloads::target::{connect_mysql, connect_postgres};
use workloads::{Measurement, Sandbox, Target};

use crate::repository::{NewSession, NewTrial, Repository};
use crate::staging::{Applied, Staging};
use crate::telemetry::{observe, Collector, Observed, TelemetryConfig};

/// Smallest gain the gate accepts (lower CI bound of the throughput ratio above 1 + this).
const MIN_GAIN: f64 = 0.02;
/// Largest p99 latency regression accepted.
const MAX_P99_REGRESSION: f64 = 0.10;
const DATABASE: &str = "dbtuner";

/// What the demo does.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub engine: Engine,
    pub minutes: u32,
    pub out: PathBuf,
    pub allow_durability_risk: bool,
    pub seed: u64,
    pub clients: usize,
    /// Data set size (branches of 100,000 accounts); default by run length.
    pub scale: Option<u32>,
    pub optimizer: OptimizerChoice,
}

/// Which optimizer proposes the trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptimizerChoice {
    /// Bayesian optimization (GP or random forest, chosen by the space), seeded with the
    /// heuristic configuration.
    Bayes,
    /// Uniform random search: the baseline.
    Random,
}

/// The optimizer's view of a knob space: booleans and enums are categorical, small linear
/// integer ranges are integer levels, the rest continuous (as `models::space` documents).
pub fn search_space(space: &Space) -> Result<SearchSpace> {
    let kinds = space
        .dimensions()
        .iter()
        .map(|d| match (&d.knob.kind, d.range) {
            (knobs::KnobKind::Bool, _) => DimKind::Categorical { choices: 2 },
            (knobs::KnobKind::Enum { values }, _) => DimKind::Categorical {
                choices: values.len() as u32,
            },
            (knobs::KnobKind::Integer { unit, .. }, Some(r))
                if r.scale == knobs::Scale::Linear
                    && *unit != knobs::Unit::Bytes
                    && r.high - r.low + 1.0 <= 64.0 =>
            {
                DimKind::Integer {
                    levels: (r.high - r.low + 1.0) as u32,
                }
            }
            _ => DimKind::Continuous,
        })
        .collect();
    Ok(SearchSpace::new(kinds)?)
}

/// The finished demo.
#[derive(Debug)]
pub struct DemoOutcome {
    pub report: Report,
    pub markdown_path: PathBuf,
    pub json_path: PathBuf,
}

/// Time plan derived from the budget once setup is done.
struct Plan {
    warmup: Duration,
    window: Duration,
}

struct Run {
    staging: Staging,
    replay: Replay,
    clients: usize,
    seed: u64,
    plan: Plan,
    recorder: Recorder,
}

/// Where the demo keeps what it did: the observation repository (SQLite in `--out`).
struct Recorder {
    repo: Box<dyn Repository>,
    target_id: i64,
    session_id: i64,
}

impl Recorder {
    async fn trial(
        &self,
        seq: usize,
        status: &str,
        config: &Config,
        measurement: serde_json::Value,
        observed: Option<&Observed>,
    ) -> Result<()> {
        let snapshot_id = match observed {
            Some(o) => Some(self.repo.insert_snapshot(self.target_id, &o.after).await?),
            None => None,
        };
        let trial = NewTrial {
            session_id: self.session_id,
            seq: seq as i64,
            status: status.to_string(),
            config: serde_json::to_value(config)?,
            measurement,
            snapshot_id,
        };
        self.repo.add_trial(&trial).await?;
        Ok(())
    }
}

/// The figures the report shows from a trial's telemetry.
fn trial_telemetry(observed: &Observed) -> TrialTelemetry {
    let d = &observed.delta.derived;
    TrialTelemetry {
        buffer_hit_ratio: d.buffer_hit_ratio,
        checkpoints_timed: d.checkpoints_timed,
        checkpoints_requested: d.checkpoints_requested,
        wal_bytes_per_xact: d.wal_bytes_per_xact,
        temp_bytes: d.temp_bytes,
    }
}

impl Run {
    fn driver_options(&self, round: u64) -> DriverOptions {
        DriverOptions::closed(
            self.clients,
            self.plan.warmup,
            self.plan.window,
            self.seed.wrapping_add(round),
        )
    }

    async fn measure(&mut self, round: u64) -> Result<Measurement> {
        let url = self.staging.url(DATABASE)?;
        let options = self.driver_options(round);
        let replay = &self.replay;
        Ok(replay.run(&options, &url).await?)
    }

    /// Measure with a telemetry snapshot before and after (1 s settle: PostgreSQL backends
    /// hand over their counters when they exit).
    async fn measure_observed(&mut self, round: u64) -> Result<(Measurement, Option<Observed>)> {
        let url = self.staging.url(DATABASE)?;
        let options = self.driver_options(round);
        let replay = &self.replay;
        let mut collector =
            Collector::new(url.clone(), TelemetryConfig::default())?.log_notices(false);
        let (m, observed) = observe(
            &mut collector,
            Duration::from_secs(1),
            replay.run(&options, &url),
        )
        .await;
        Ok((m?, observed))
    }

    async fn apply_and_measure(
        &mut self,
        config: &Config,
        round: u64,
    ) -> Result<(Applied, Measurement)> {
        let applied = self.staging.apply(config).await?;
        let m = self.measure(round).await?;
        Ok((applied, m))
    }
}

/// Run the demo, writing `report.md` and `report.json` to `options.out`.
pub async fn run(
    options: &DemoOptions,
    hardware: Hardware,
    progress: &ProgressBar,
) -> Result<DemoOutcome> {
    let started = Instant::now();
    let budget = Duration::from_secs(u64::from(options.minutes) * 60);
    let engine = options.engine;

    progress.set_message(format!("starting a {} sandbox", engine.display_name()));
    let sandbox = tokio::task::spawn_blocking(move || Sandbox::start(engine))
        .await
        .context("sandbox start task")??;
    let admin_url = sandbox.url().parse().context("sandbox URL")?;
    let target = Target::connect(&admin_url).await?;
    let server_version = target.version().to_string();
    let detected_engine = target.engine();
    drop(target);
    create_database(&sandbox).await?;

    let version = knobs::Version::parse(&server_version)
        .unwrap_or(knobs::Version::default_for(detected_engine));
    let catalog = catalog::for_version(detected_engine, version)?;
    let staging = Staging::new(sandbox, catalog.clone());
    // Every trial and its telemetry go to the observation repository, next to the report.
    let repo_path = options.out.join("dbtuner.db");
    let repo = crate::repository::open(&repo_path.to_string_lossy())
        .await
        .with_context(|| format!("opening {}", repo_path.display()))?;
    let target_id = repo
        .upsert_target(
            &staging.url(DATABASE)?,
            detected_engine.as_str(),
            &server_version,
        )
        .await?;
    let session_id = repo
        .create_session(&NewSession { target_id: Some(target_id), kind: "demo".into(), settings: serde_json::json!({ "minutes": options.minutes, "seed": options.seed, "clients": options.clients, "allow_durability_risk": options.allow_durability_risk }) })
        .await?;
    let recorder = Recorder {
        repo,
        target_id,
        session_id,
    };
    let scale = options
        .scale
        .unwrap_or(if options.minutes >= 3 { 10 } else { 4 });
    let bench = Builtin::new("tpcb", scale)?;
    progress.set_message(format!("loading TPC-B-like data, scale {scale}"));
    let load = bench
        .load(&staging.url(DATABASE)?)
        .await
        .context("loading the data set")?;
    let replay = Replay::new(&bench.spec()?, &staging.url(DATABASE)?).await?;
    progress.println(format!(
        "loaded {} rows in {:.1} s",
        load.rows, load.seconds
    ));

    let space = Space::new(
        &catalog,
        &SpaceOptions {
            knobs: search_knobs(&catalog, engine, options.allow_durability_risk),
            hardware,
            allow_durability_risk: options.allow_durability_risk,
        },
    )?;
    let setup = started.elapsed();
    let remaining = budget.saturating_sub(setup + Duration::from_secs(3));
    // ~20 measurement slots: the default, the trials and four validation rounds.
    let window = Duration::from_secs_f64((remaining.as_secs_f64() / 20.0).clamp(3.0, 20.0).floor());
    let warmup = Duration::from_secs_f64((window.as_secs_f64() / 3.0).clamp(1.0, 5.0));
    let mut run = Run {
        staging,
        replay,
        clients: options.clients,
        seed: options.seed,
        plan: Plan { warmup, window },
        recorder,
    };

    // The default configuration.
    progress.set_message("measuring the default configuration");
    let slot_started = Instant::now();
    run.staging.apply(&Config::new()).await?;
    let (default_m, default_observed) = run.measure_observed(0).await?;
    run.recorder.trial(0, "measured", &Config::new(), serde_json::json!({ "measurement": default_m, "derived": default_observed.as_ref().map(|o| &o.delta.derived) }), default_observed.as_ref()).await?;
    let mut slot_cost = slot_started.elapsed();
    let mut default_record = record(
        0,
        &Config::new(),
        None,
        &catalog,
        TrialStatus::Measured,
        Some(&default_m),
        false,
    );
    default_record.telemetry = default_observed.as_ref().map(trial_telemetry);
    progress.println(format!("default: {}", describe_measurement(&default_m)));

    let budget_bytes = hardware.ram_bytes / 10 * 9;
    let mut trials: Vec<(TrialRecord, Config)> = Vec::new();

    // The heuristic starting point (PGTune / InnoDB rules for this machine): a baseline the
    // search must beat, measured like every trial.
    let heuristic = knobs::heuristic::recommend(&HeuristicInput {
        engine: detected_engine,
        version,
        memory_bytes: hardware.ram_bytes,
        cpus: hardware.cpus,
        connections: None,
        storage: Storage::Ssd,
        profile: Profile::Oltp,
    })?;
    let heuristic_config = safe_only(&heuristic.config, &catalog);
    progress.set_message("measuring the heuristic configuration");
    let (mut heuristic_record, heuristic_outcome, cost) = evaluate(
        &mut run,
        1,
        &heuristic_config,
        &catalog,
        budget_bytes,
        progress,
    )
    .await?;
    heuristic_record.label = "heuristic".into();
    slot_cost = slot_cost.max(cost);
    trials.push((heuristic_record, heuristic_config));

    // Random search.
    let mut optimizer: Box<dyn Optimizer> = match options.optimizer {
        OptimizerChoice::Random => Box::new(RandomSearch::new(space.dims(), options.seed)),
        OptimizerChoice::Bayes => {
            // The heuristic's measurement, at its values of the searched knobs, is the model's
            // first observation (its other knobs are not in the space, so this is a hint).
            // Trials are slow and noisy: never spend one on a configuration within a few
            // tenths of a percent of a measured one.
            let settings = BoSettings {
                min_separation: COARSE_SEPARATION,
                ..BoSettings::default()
            };
            let mut bo = BayesOpt::new(search_space(&space)?, settings, options.seed)?;
            bo.observe(space.encode(&trials[0].1), heuristic_outcome.clone());
            Box::new(bo)
        }
    };
    let mut attempts = 0;
    loop {
        let measured = trials
            .iter()
            .skip(1)
            .filter(|(t, _)| t.status == TrialStatus::Measured)
            .count();
        let time_left = budget.saturating_sub(started.elapsed());
        let needed = slot_cost * 5; // this trial plus four validation rounds
        if attempts >= 60 || (measured >= 3 && time_left < needed) {
            break;
        }
        attempts += 1;
        let id = trials.len() + 1;
        let point = optimizer.suggest();
        let config = space.decode(&point)?;
        progress.set_message(format!("trial {id}: applying and measuring"));
        let (trial, outcome, cost) =
            evaluate(&mut run, id, &config, &catalog, budget_bytes, progress).await?;
        slot_cost = slot_cost.max(cost);
        optimizer.observe(point, outcome);
        trials.push((trial, config));
    }

    // Validation: best vs default, interleaved ABBA so that drift cancels.
    let best = trials
        .iter()
        .filter(|(t, _)| t.status == TrialStatus::Measured)
        .max_by(|a, b| {
            a.0.throughput
                .map(|f| f.mean)
                .unwrap_or(0.0)
                .total_cmp(&b.0.throughput.map(|f| f.mean).unwrap_or(0.0))
        })
        .map(|(t, c)| (t.id, c.clone()));
    let mut validation = None;
    if let Some((best_id, best_config)) = best {
        let time_left = budget.saturating_sub(started.elapsed());
        let rounds = if time_left > slot_cost * 6 { 3 } else { 2 };
        let mut defaults = Vec::new();
        let mut bests = Vec::new();
        for round in 0..rounds {
            let order: [bool; 2] = if round % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for is_best in order {
                progress.set_message(format!(
                    "validating: round {} of {rounds}, {}",
                    round + 1,
                    if is_best { "best" } else { "default" }
                ));
                let config = if is_best {
                    best_config.clone()
                } else {
                    Config::new()
                };
                let (_, m) = run
                    .apply_and_measure(&config, 1000 + round as u64 * 2 + u64::from(is_best))
                    .await?;
                if is_best {
                    bests.push(m);
                } else {
                    defaults.push(m);
                }
            }
        }
        validation = Some(validate(best_id, &defaults, &bests, options.seed)?);
    }

    let validation_ref = validation.as_ref();
    let trials_configs: Vec<(usize, Config)> =
        trials.iter().map(|(t, c)| (t.id, c.clone())).collect();
    let recommendation = match validation_ref {
        Some(v) if v.verdict == Verdict::Accept => trials
            .iter()
            .find(|(t, _)| t.id == v.best_trial)
            .map(|(_, c)| render_recommendation(c, &catalog, engine))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let report = Report {
        title: format!(
            "demo on {} (TPC-B-like, scale {scale})",
            detected_engine.display_name()
        ),
        generated_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        engine: detected_engine.display_name().to_string(),
        server_version,
        workload: format!(
            "tpcb (TPC-B-like), scale {scale}: {} rows loaded in {:.1} s",
            load.rows, load.seconds
        ),
        clients: options.clients,
        hardware: crate::hardware::describe(&hardware),
        allow_durability_risk: options.allow_durability_risk,
        search_space: space
            .dimensions()
            .iter()
            .map(|d| d.knob.name.clone())
            .collect(),
        optimizer: match options.optimizer {
            OptimizerChoice::Bayes => "Bayesian optimization (GP or random forest by space size), seeded with the heuristic configuration".into(),
            OptimizerChoice::Random => "random search".into(),
        },
        seed: options.seed,
        elapsed_secs: started.elapsed().as_secs_f64(),
        measure_secs: window.as_secs_f64(),
        default: Some(default_record),
        trials: trials.into_iter().map(|(t, _)| t).collect(),
        validation,
        recommendation,
        notes: notes(options, warmup),
    };
    run.recorder
        .repo
        .finish_session(run.recorder.session_id, "done")
        .await?;
    let markdown_path = options.out.join("report.md");
    let json_path = options.out.join("report.json");
    std::fs::write(&markdown_path, reports::render_markdown(&report))
        .with_context(|| format!("writing {}", markdown_path.display()))?;
    std::fs::write(&json_path, reports::render_json(&report)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    // An accepted recommendation is also a plan that `dbtuner apply` takes as it is.
    let plan_path = options.out.join("plan.toml");
    let accepted = report
        .validation
        .as_ref()
        .filter(|v| v.verdict == Verdict::Accept);
    match accepted.and_then(|v| {
        trials_configs
            .iter()
            .find(|(id, _)| *id == v.best_trial)
            .map(|(_, c)| (v, c))
    }) {
        Some((v, config)) => {
            let note = format!("dbtuner demo {}: {:+.1}% throughput (95% CI {:+.1}% .. {:+.1}%) on a sandbox; validate on your staging copy", report.generated_at, (v.ratio - 1.0) * 100.0, (v.ci_low - 1.0) * 100.0, (v.ci_high - 1.0) * 100.0);
            let plan = crate::apply::Plan::from_config(engine, config, &catalog, Some(note));
            std::fs::write(&plan_path, plan.to_toml()?)
                .with_context(|| format!("writing {}", plan_path.display()))?;
        }
        None => {
            // A stale plan from an earlier run must not be mistaken for this run's advice.
            let _ = std::fs::remove_file(&plan_path);
        }
    }
    Ok(DemoOutcome {
        report,
        markdown_path,
        json_path,
    })
}

/// Guardrail, apply, measure and record one configuration. Failures become failed trials
/// (and failed outcomes for the optimizer), never errors of the run.
async fn evaluate(
    run: &mut Run,
    id: usize,
    config: &Config,
    catalog: &[Knob],
    budget_bytes: u64,
    progress: &ProgressBar,
) -> Result<(TrialRecord, Outcome, Duration)> {
    let started = Instant::now();
    if let Err(e) = MemoryEstimate::of(run.staging.engine(), config, catalog).check(budget_bytes) {
        progress.println(format!("trial {id}: rejected before it was tried: {e}"));
        let reason = e.to_string();
        run.recorder
            .trial(
                id,
                "rejected",
                config,
                serde_json::json!({ "reason": reason }),
                None,
            )
            .await?;
        return Ok(not_measured(
            id,
            config,
            catalog,
            TrialStatus::Rejected { reason },
            false,
            Duration::ZERO,
        ));
    }
    let applied = match run.staging.apply(config).await {
        Ok(applied) => applied,
        Err(e) if e.is_infeasible() => {
            progress.println(format!("trial {id}: {e}"));
            run.recorder
                .trial(
                    id,
                    "infeasible",
                    config,
                    serde_json::json!({ "reason": e.to_string() }),
                    None,
                )
                .await?;
            return Ok(not_measured(
                id,
                config,
                catalog,
                TrialStatus::Failed {
                    reason: e.to_string(),
                },
                true,
                started.elapsed(),
            ));
        }
        Err(e) => return Err(e).context(format!("applying trial {id}")),
    };
    let (m, observed) = run.measure_observed(id as u64).await?;
    let status = if m.committed == 0 || m.error_count() * 100 > m.committed {
        TrialStatus::Failed {
            reason: format!(
                "{} errors in {} transactions: {:?}",
                m.error_count(),
                m.committed,
                m.errors
            ),
        }
    } else {
        TrialStatus::Measured
    };
    let outcome = match &status {
        TrialStatus::Measured => Outcome::Value(m.throughput()),
        TrialStatus::Failed { reason } | TrialStatus::Rejected { reason } => {
            Outcome::Failed(reason.clone())
        }
    };
    let knobs = config
        .describe(catalog)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    progress.println(format!(
        "trial {id}: {}  [{knobs}]",
        describe_measurement(&m)
    ));
    let status_name = if status == TrialStatus::Measured {
        "measured"
    } else {
        "failed"
    };
    run.recorder.trial(id, status_name, config, serde_json::json!({ "measurement": m, "derived": observed.as_ref().map(|o| &o.delta.derived) }), observed.as_ref()).await?;
    let mut rec = record(
        id,
        config,
        Some(&applied),
        catalog,
        status,
        Some(&m),
        applied.restarted,
    );
    rec.telemetry = observed.as_ref().map(trial_telemetry);
    Ok((rec, outcome, started.elapsed()))
}

/// The record and optimizer outcome of a trial that was refused or failed before measuring.
fn not_measured(
    id: usize,
    config: &Config,
    catalog: &[Knob],
    status: TrialStatus,
    restarted: bool,
    cost: Duration,
) -> (TrialRecord, Outcome, Duration) {
    let reason = match &status {
        TrialStatus::Failed { reason } | TrialStatus::Rejected { reason } => reason.clone(),
        TrialStatus::Measured => String::new(),
    };
    (
        record(id, config, None, catalog, status, None, restarted),
        Outcome::Failed(reason),
        cost,
    )
}

/// A configuration without knobs that cost durability (heuristics never need them).
fn safe_only(config: &Config, catalog: &[Knob]) -> Config {
    let mut out = Config::new();
    for (name, value) in config.iter() {
        if catalog::find(catalog, name).is_ok_and(|k| !k.is_risky_value(value)) {
            out.set(name, value.clone());
        }
    }
    out
}

/// The demo's searched knobs: the durability-safe list, plus the commit-losing ones on opt-in.
fn search_knobs(catalog: &[Knob], engine: Engine, allow_durability_risk: bool) -> Vec<String> {
    let mut names: Vec<String> = catalog::demo_search_knobs(engine)
        .iter()
        .map(|s| s.to_string())
        .collect();
    if allow_durability_risk {
        names.extend(
            catalog
                .iter()
                .filter(|k| k.durability == Durability::MayLoseCommits)
                // Searchable ones only: sync_binlog, say, has no range worth searching.
                .filter(|k| {
                    k.range.is_some()
                        || matches!(k.kind, knobs::KnobKind::Bool | knobs::KnobKind::Enum { .. })
                })
                .map(|k| k.name.clone()),
        );
    }
    names
}

async fn create_database(sandbox: &Sandbox) -> Result<()> {
    let url = sandbox.url().parse()?;
    match sandbox.engine() {
        Engine::Postgres => {
            connect_postgres(&url)
                .await?
                .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
                .await?
        }
        Engine::Mysql | Engine::Mariadb => {
            connect_mysql(&url)
                .await?
                .query_drop(format!("CREATE DATABASE {DATABASE}"))
                .await?
        }
    }
    Ok(())
}

fn figure(samples: &[f64]) -> Option<Figure> {
    Summary::of(samples).map(|s| Figure {
        mean: s.mean,
        stdev: s.stdev,
        min: s.min,
        max: s.max,
        samples: s.n,
    })
}

fn describe_measurement(m: &Measurement) -> String {
    let s = Summary::of(&m.per_second);
    format!(
        "{:.0} ± {:.0} tx/s, p99 {:.1} ms",
        m.throughput(),
        s.map(|s| s.stdev).unwrap_or(0.0),
        m.latency.p99_ms
    )
}

fn record(
    id: usize,
    config: &Config,
    applied: Option<&Applied>,
    catalog: &[Knob],
    status: TrialStatus,
    m: Option<&Measurement>,
    restarted: bool,
) -> TrialRecord {
    let knobs = config
        .iter()
        .map(|(name, value)| {
            let knob = catalog::find(catalog, name).ok();
            KnobSetting {
                name: name.to_string(),
                value: value.human(knob.map(Knob::unit).unwrap_or(knobs::Unit::None)),
                applied: applied
                    .and_then(|a| a.server_values.get(name))
                    .map(|server| match knob.map(|k| k.parse_value(server)) {
                        // Same value in the server's spelling: show ours, so only real differences stand out.
                        Some(Ok(parsed)) if parsed == *value => {
                            value.human(knob.map(Knob::unit).unwrap_or(knobs::Unit::None))
                        }
                        _ => server.clone(),
                    }),
                durability_risk: knob.is_some_and(|k| k.is_risky_value(value)),
            }
        })
        .collect();
    TrialRecord {
        id,
        label: if id == 0 {
            "default".to_string()
        } else {
            id.to_string()
        },
        knobs,
        status,
        throughput: m.and_then(|m| figure(&m.per_second)),
        p50_ms: m.map(|m| m.latency.p50_ms),
        p95_ms: m.map(|m| m.latency.p95_ms),
        p99_ms: m.map(|m| m.latency.p99_ms),
        errors: m.map(Measurement::error_count).unwrap_or(0),
        restarted,
        telemetry: None,
    }
}

/// The gate's statistics: a bootstrap CI over the pooled per-second samples of the
/// interleaved rounds, an effect-size floor, and a p99 guard.
fn validate(
    best_trial: usize,
    defaults: &[Measurement],
    bests: &[Measurement],
    seed: u64,
) -> Result<Validation> {
    let pool = |ms: &[Measurement]| {
        ms.iter()
            .flat_map(|m| m.per_second.iter().copied())
            .collect::<Vec<f64>>()
    };
    let (base, cand) = (pool(defaults), pool(bests));
    let estimate = bootstrap_ratio(&base, &cand, 0.95, 4000, seed)
        .context("no throughput measured during validation")?;
    let mean_p99 = |ms: &[Measurement]| {
        ms.iter().map(|m| m.latency.p99_ms).sum::<f64>() / ms.len().max(1) as f64
    };
    let (default_p99, best_p99) = (mean_p99(defaults), mean_p99(bests));
    let p99_regressed = best_p99 > default_p99 * (1.0 + MAX_P99_REGRESSION);
    let (verdict, reason) = if estimate.low > 1.0 + MIN_GAIN && !p99_regressed {
        (Verdict::Accept, format!("the whole 95% interval is above +{:.0}% and p99 did not regress by more than {:.0}%", MIN_GAIN * 100.0, MAX_P99_REGRESSION * 100.0))
    } else if estimate.high < 1.0 || p99_regressed {
        (
            Verdict::Reject,
            if p99_regressed {
                format!(
                    "p99 latency regressed by more than {:.0}%",
                    MAX_P99_REGRESSION * 100.0
                )
            } else {
                "significantly slower than the default".to_string()
            },
        )
    } else {
        (Verdict::Inconclusive, format!("the 95% interval does not clear +{:.0}%: keep the default, or measure longer (--minutes)", MIN_GAIN * 100.0))
    };
    let round_ratios = defaults
        .iter()
        .zip(bests)
        .map(|(d, b)| {
            if d.throughput() > 0.0 {
                b.throughput() / d.throughput()
            } else {
                0.0
            }
        })
        .collect();
    Ok(Validation {
        best_trial,
        rounds: defaults.len().min(bests.len()),
        default_throughput: figure(&base).context("no default samples")?,
        best_throughput: figure(&cand).context("no best samples")?,
        ratio: estimate.ratio,
        ci_low: estimate.low,
        ci_high: estimate.high,
        confidence: estimate.confidence,
        round_ratios,
        default_p99_ms: default_p99,
        best_p99_ms: best_p99,
        verdict,
        reason,
    })
}

/// The best configuration in the engine's own syntax (only knobs that differ from default).
fn render_recommendation(config: &Config, catalog: &[Knob], engine: Engine) -> Vec<String> {
    let mut lines = Vec::new();
    if engine.is_mysql_family() {
        lines.push("[mysqld]".to_string());
    }
    for (name, value) in config.iter() {
        let Ok(knob) = catalog::find(catalog, name) else {
            continue;
        };
        if *value == knob.default {
            continue;
        }
        let risk = if knob.is_risky_value(value) {
            "  # DURABILITY RISK: can lose committed transactions on a crash"
        } else {
            ""
        };
        let restart = if knob.apply == knobs::ApplyMode::Restart {
            "  # needs a restart"
        } else {
            ""
        };
        match engine {
            Engine::Postgres => lines.push(format!(
                "ALTER SYSTEM SET {name} = '{}';{restart}{risk}",
                value.human(knob.unit())
            )),
            Engine::Mysql | Engine::Mariadb => lines.push(format!(
                "{name} = {}{restart}{risk}",
                value.render(engine, knob.unit())
            )),
        }
    }
    lines
}

fn notes(options: &DemoOptions, warmup: Duration) -> Vec<String> {
    let mut notes = vec![
        format!("Each measurement runs {} clients after {:.0} s of warm-up; throughput figures are means of per-second samples with their standard deviation.", options.clients, warmup.as_secs_f64()),
        "The gain is measured default vs best in interleaved rounds (ABBA order) in the same run; its 95% interval is a percentile bootstrap over the pooled per-second samples.".to_string(),
        "A sandbox on this machine: gains are relative and specific to this workload and hardware; validate on a staging copy of your own data before production.".to_string(),
    ];
    if options.allow_durability_risk {
        notes.push("--allow-durability-risk was given: knobs marked ⚠ can lose committed transactions on a crash. They were searched at your request.".to_string());
    } else {
        notes.push("Knobs that can lose committed transactions on a crash (synchronous_commit, innodb_flush_log_at_trx_commit …) were not searched; pass --allow-durability-risk to include them. Knobs that can corrupt data (fsync, full_page_writes, innodb_doublewrite) are never tuned.".to_string());
    }
    notes
}
