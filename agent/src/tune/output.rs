//! What a finished session leaves: the verdict and the report's context in the repository,
//! the report rebuilt from the repository (`report.html`, `report.md` with `charts/`,
//! `report.json`, the change's snippets; see [`crate::report`]), and `plan.json` when the gate
//! accepted the best configuration (a stale plan from an earlier run is removed otherwise).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result};
use knobs::{catalog, ApplyMode, Config, Durability, Engine, Hardware, Knob, Space};
use models::gate::{Decision, GateEvidence};
use reports::{KnobImportance, Report, TrialRecord};

use super::measure::Window;
use super::{TuneSettings, WorkloadChoice};
use crate::apply::plan::{PlanEvidence, PlannedChange};
use crate::apply::Plan;
use crate::gate::GateOutcome;
use crate::report::SessionContext;
use crate::repository::{NewVerdict, Repository};
use workloads::Measurement;

/// What the outputs are written from.
#[derive(Debug)]
pub struct Context<'a> {
    pub settings: &'a TuneSettings,
    pub engine: Engine,
    pub server_version: &'a str,
    pub catalog: &'a [Knob],
    pub hardware: Hardware,
    pub space: &'a Space,
    pub window: Window,
    pub restart_each: bool,
    pub load_rows: u64,
    pub load_secs: f64,
    pub started: Instant,
    pub session_id: i64,
    pub importance: Vec<KnobImportance>,
    pub narrowed_to: Vec<String>,
    /// `tune --indexes`: the index advice the knobs were searched with.
    pub advice: Option<&'a crate::advise::Advice>,
    /// Knobs of the default list that cannot be tuned on this staging server ("name: why").
    pub left_out: Vec<String>,
}

/// What was written.
#[derive(Debug)]
pub struct Written {
    pub report: Report,
    pub evidence: Option<GateEvidence>,
    pub markdown_path: PathBuf,
    pub json_path: PathBuf,
    pub plan_path: Option<PathBuf>,
}

const METHOD: &str = "Student-t interval over the rounds' log ratios (each round: default and candidate measured next to each other, order alternating and balanced, both through the same apply/restart, vacuum, checkpoint and warm-up)";

pub async fn write(
    cx: &Context<'_>,
    trials: Vec<(TrialRecord, Config)>,
    gate: Option<(usize, GateOutcome)>,
    repo: &dyn Repository,
) -> Result<Written> {
    let settings = cx.settings;
    let mut notes = notes(cx);
    let mut evidence = None;
    if gate.is_none() {
        notes.push("No trial besides the default was measured against it: the time budget left no room for a trial and the gate's rounds; give more time (--time-budget, --minutes).".to_string());
    }
    if let Some((best_id, outcome)) = &gate {
        if let Some(reason) = &outcome.failure {
            notes.push(format!("No verdict on trial {best_id}: {reason}."));
        }
        notes.extend(timeout_note(
            &outcome.baseline_runs,
            &outcome.candidate_runs,
        ));
        if let Some(e) = &outcome.evidence {
            repo.add_verdict(&NewVerdict {
                session_id: cx.session_id,
                candidate_seq: *best_id as i64,
                verdict: decision_name(e.decision).to_string(),
                evidence: serde_json::json!({
                    "evidence": e,
                    "method": METHOD,
                    "baseline_runs": outcome.baseline_runs,
                    "candidate_runs": outcome.candidate_runs,
                }),
            })
            .await?;
            evidence = Some(e.clone());
        }
    }
    let accepted = evidence
        .as_ref()
        .filter(|e| e.decision == Decision::Accept)
        .and_then(|e| gate.as_ref().map(|(id, _)| (*id, e)))
        .and_then(|(id, e)| trials.iter().find(|(t, _)| t.id == id).map(|(_, c)| (c, e)));
    let WorkloadChoice::Builtin { name, scale } = &settings.workload;
    let context = SessionContext {
        session_id: cx.session_id,
        engine: cx.engine.display_name().to_string(),
        server_version: cx.server_version.to_string(),
        hardware: crate::hardware::describe(&cx.hardware),
        ram_bytes: cx.hardware.ram_bytes,
        workload: format!(
            "{name}, scale {scale}: {} rows loaded in {:.1} s",
            cx.load_rows, cx.load_secs
        ),
        search_space: cx
            .space
            .dimensions()
            .iter()
            .map(|d| d.knob.name.clone())
            .collect(),
        optimizer: optimizer_name(settings.optimizer).into(),
        elapsed_secs: cx.started.elapsed().as_secs_f64(),
        measure_secs: cx.window.measure.as_secs_f64(),
        importance: cx.importance.clone(),
        narrowed_to: cx.narrowed_to.clone(),
        notes,
        indexes: cx
            .advice
            .map(|a| {
                a.recommendations
                    .iter()
                    .map(|r| reports::IndexAdvice {
                        ddl: r.ddl.clone(),
                        rollback: r.rollback.clone(),
                        size_bytes: Some(r.bytes),
                        gain: Some(format!(
                            "{:.1} planner cost units per weighted statement ({} statement(s) changed)",
                            r.gain,
                            r.statements.len()
                        )),
                        write_overhead: Some(format!("{:.1}", r.write_overhead)),
                        validated: Some(
                            "measured together with the knobs: the gate's candidate arm has these indexes, the default arm does not".into(),
                        ),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    let target_id = repo.session(cx.session_id).await?.and_then(|s| s.target_id);
    crate::report::record_context(repo, target_id, &context).await?;
    // Written from the repository, as `dbtuner report` writes it later: one path, one report.
    let repo_spec = settings.out.join("dbtuner.db");
    let mut report =
        crate::report::build(repo, &repo_spec.to_string_lossy(), cx.session_id).await?;
    // The session is marked finished, with this name, after this returns.
    report.environment.session_status = match evidence.as_ref().map(|e| e.decision) {
        Some(Decision::Accept) => "accepted",
        Some(Decision::Reject) => "rejected",
        Some(Decision::Inconclusive) | None => "inconclusive",
    }
    .into();
    let files = reports::render(&report, &crate::report::ALL_FORMATS)?;
    crate::report::write_files(&settings.out, &files)?;
    let markdown_path = settings.out.join("report.md");
    let json_path = settings.out.join("report.json");

    let plan_path = settings.out.join("plan.json");
    let plan_path = match accepted {
        Some((config, e)) => {
            let plan = plan_of(cx, config, e);
            std::fs::write(&plan_path, plan.to_json()?)
                .with_context(|| format!("writing {}", plan_path.display()))?;
            Some(plan_path)
        }
        None => {
            // A stale plan from an earlier run must not be mistaken for this run's advice.
            let _ = std::fs::remove_file(&plan_path);
            None
        }
    };
    Ok(Written {
        report,
        evidence,
        markdown_path,
        json_path,
        plan_path,
    })
}

fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Accept => "accept",
        Decision::Reject => "reject",
        Decision::Inconclusive => "inconclusive",
    }
}

fn optimizer_name(choice: super::OptimizerChoice) -> &'static str {
    match choice {
        super::OptimizerChoice::Auto => {
            "Bayesian optimization (GP or random forest by space size), told the heuristic's result first"
        }
        super::OptimizerChoice::Gp => "Bayesian optimization with a Gaussian process",
        super::OptimizerChoice::Forest => "Bayesian optimization with a random forest (SMAC-like)",
        super::OptimizerChoice::Random => "random search",
    }
}

fn non_default(config: &Config, catalog: &[Knob]) -> Config {
    let mut out = Config::new();
    for (name, value) in config.iter() {
        if catalog::find(catalog, name).is_ok_and(|k| *value != k.default) {
            out.set(name, value.clone());
        }
    }
    out
}

fn plan_of(cx: &Context<'_>, config: &Config, e: &GateEvidence) -> Plan {
    let note = format!(
        "dbtuner {} session {}: {} {:+.1}% (95% CI {:+.1}% .. {:+.1}%) over {} interleaved rounds on staging; validate on your own staging copy first",
        cx.settings.kind,
        cx.session_id,
        cx.settings.objective.name(),
        (e.score.ratio - 1.0) * 100.0,
        (e.score.low - 1.0) * 100.0,
        (e.score.high - 1.0) * 100.0,
        e.rounds
    );
    let mut plan = Plan::from_config(cx.engine, config, cx.catalog, Some(note));
    let changed = non_default(config, cx.catalog);
    plan.changes = changed
        .iter()
        .filter_map(|(name, value)| {
            let knob = catalog::find(cx.catalog, name).ok()?;
            let mut one = Config::new();
            one.set(name, value.clone());
            let apply_statement = knobs::render::sql(cx.engine, &one, cx.catalog)
                .into_iter()
                .next()
                .unwrap_or_default();
            let rollback_statement = match cx.engine {
                Engine::Postgres => format!("ALTER SYSTEM RESET {name};"),
                Engine::Mysql => format!("RESET PERSIST {name};"),
                Engine::Mariadb => {
                    format!("SET GLOBAL {name} = DEFAULT;  -- and remove it from my.cnf")
                }
            };
            Some(PlannedChange {
                name: name.to_string(),
                value: value.human(knob.unit()),
                previous: knob.default.human(knob.unit()),
                apply_statement,
                rollback_statement,
                needs_restart: knob.apply == ApplyMode::Restart,
                durability: if knob.is_risky_value(value) {
                    "may_lose_commits".into()
                } else {
                    match knob.durability {
                        Durability::Safe | Durability::MayLoseCommits => "safe".into(),
                        Durability::MayCorrupt => "may_corrupt".into(),
                    }
                },
            })
        })
        .collect();
    if let Some(a) = cx.advice {
        plan.indexes = a
            .recommendations
            .iter()
            .map(|r| crate::apply::PlanIndex {
                create: Some(r.index.clone()),
                drop: None,
                reason: Some(format!(
                    "advised with the knobs; validated together by the gate (session {})",
                    cx.session_id
                )),
            })
            .collect();
    }
    plan.evidence = Some(PlanEvidence {
        session_id: cx.session_id,
        verdict: decision_name(e.decision).into(),
        reason: e.reason.clone(),
        objective: cx.settings.objective.name().into(),
        ratio: e.score.ratio,
        ci_low: e.score.low,
        ci_high: e.score.high,
        confidence: e.confidence,
        rounds: e.rounds,
        round_ratios: e.round_ratios.clone(),
        p99_ratio: e.p99.ratio,
        method: METHOD.into(),
    });
    plan.seal();
    plan
}

fn notes(cx: &Context<'_>) -> Vec<String> {
    let s = cx.settings;
    let mut notes = vec![
        format!(
            "Each measurement: {} clients, {:.0} s of warm-up, then {:.0} s measured; {}; then VACUUM and a checkpoint (PostgreSQL) before each.",
            s.clients,
            cx.window.warmup.as_secs_f64(),
            cx.window.measure.as_secs_f64(),
            if cx.restart_each {
                "the server is restarted for every configuration (the space has restart knobs), the default included"
            } else {
                "each configuration is applied by reload"
            }
        ),
        format!("The gain is the best trial against the default, re-measured in interleaved rounds; {METHOD}. Accept needs the interval's lower bound above +{:.0}% and p99 within +{:.0}%; one query slower by more than {:.1}× (significantly) rejects.", s.gate.min_gain * 100.0, s.gate.max_p99_regression * 100.0, 1.0 + s.gate.max_query_regression),
        "Trial figures are single measurements, used to steer the search; only the gate's rounds decide.".to_string(),
        match &s.staging {
            super::StagingChoice::Sandbox(_) => "A sandbox on this machine: gains are relative and specific to this workload and hardware; validate on a staging copy of your own data before production.".to_string(),
            super::StagingChoice::Target(t) => format!("Staging server {} (--target): \"default\" is its configuration as dbtuner found it, and every knob was put back as found at the end (the built-in workload's database {} is left on it). Gains are specific to this workload and that server.", t.url, crate::staging::NAMED_DATABASE),
        },
    ];
    if !cx.left_out.is_empty() {
        notes.push(format!(
            "Left out of the search on this server: {}.",
            cx.left_out.join("; ")
        ));
    }
    if let Some(a) = cx.advice {
        notes.push(if a.recommendations.is_empty() {
            format!("Index advice ran (--indexes) and found no index worth its place within the budget of {:.1} MB: the knobs were tuned without new indexes.", a.budget_bytes as f64 / 1048576.0)
        } else {
            format!("Joint plan (--indexes): {} index(es) advised for the workload (estimated cost {:+.1}%) were built on staging for every trial after the default; the gate measured the default without them against the best knobs with them.", a.recommendations.len(), a.cost_change() * 100.0)
        });
    }
    if s.allow_durability_risk {
        notes.push("--allow-durability-risk was given: knobs marked ⚠ can lose committed transactions on a crash. They were searched at your request.".to_string());
    } else {
        notes.push("Knobs that can lose committed transactions on a crash (synchronous_commit, innodb_flush_log_at_trx_commit …) were not searched; pass --allow-durability-risk to include them. Knobs that can corrupt data (fsync, full_page_writes, innodb_doublewrite) are never tuned.".to_string());
    }
    notes
}

/// Queries the server cancelled at the workload's statement timeout during the gate, per arm
/// ("q17: 3 of its runs"); they count as lasting the timeout in the per-query check.
fn timeout_note(baseline: &[Measurement], candidate: &[Measurement]) -> Option<String> {
    let limit = baseline
        .iter()
        .chain(candidate)
        .find_map(|m| m.statement_timeout_ms)?;
    let arm = |runs: &[Measurement]| -> Vec<String> {
        let mut counts: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
        for m in runs {
            for (name, t) in &m.per_template {
                let c = counts.entry(name.as_str()).or_default();
                c.0 += t.timeouts;
                c.1 += t.timeouts + t.count;
            }
        }
        counts
            .into_iter()
            .filter(|(_, (out, _))| *out > 0)
            .map(|(name, (out, all))| format!("{name} {out} of {all}"))
            .collect()
    };
    let (b, c) = (arm(baseline), arm(candidate));
    if b.is_empty() && c.is_empty() {
        return None;
    }
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    Some(format!(
        "Queries cancelled at the {:.0} s statement timeout during the gate (each counted as lasting the timeout in the per-query check): default: {}; candidate: {}.",
        limit as f64 / 1000.0,
        list(b),
        list(c)
    ))
}
