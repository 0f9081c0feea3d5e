//! One trial: guardrail → apply → warm-up → measure → telemetry → record. A configuration
//! that is refused, cannot start or crashes the server is a failed trial (a failure for the
//! optimizer, never a success), and the server is brought back before the session goes on.

use anyhow::Result;
use knobs::{catalog, Config, Knob, MemoryEstimate};
use models::stats::Summary;
use models::Outcome;
use reports::{Figure, KnobSetting, TrialRecord, TrialStatus, TrialTelemetry};
use workloads::Measurement;

use super::measure::Bench;
use crate::repository::{NewTrial, Repository};
use crate::staging::Applied;
use crate::telemetry::Observed;

/// Statements of the server's statistics kept per trial for the report.
const TOP_STATEMENTS: usize = 5;

/// The repository rows of one session.
pub struct Recorder {
    pub repo: Box<dyn Repository>,
    pub target_id: i64,
    pub session_id: i64,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("target_id", &self.target_id)
            .field("session_id", &self.session_id)
            .finish()
    }
}

impl Recorder {
    pub async fn trial(
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
        self.repo
            .add_trial(&NewTrial {
                session_id: self.session_id,
                seq: seq as i64,
                status: status.to_string(),
                config: serde_json::to_value(config)?,
                measurement,
                snapshot_id,
            })
            .await?;
        Ok(())
    }
}

/// What a trial gave.
#[derive(Debug)]
pub struct TrialResult {
    pub record: TrialRecord,
    pub outcome: Outcome,
    /// The objective's score when measured.
    pub score: Option<f64>,
}

/// Limits a configuration must respect before and after it is measured.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Worst-case memory budget (bytes).
    pub memory_budget: u64,
    pub p99_limit_ms: Option<f64>,
}

/// Run one trial and record it.
pub async fn evaluate(
    bench: &mut Bench,
    recorder: &Recorder,
    id: usize,
    label: &str,
    config: &Config,
    limits: Limits,
) -> Result<TrialResult> {
    let catalog = bench.staging.catalog().to_vec();
    let engine = bench.staging.engine();
    if let Err(e) = MemoryEstimate::of(engine, config, &catalog).check(limits.memory_budget) {
        let reason = format!("refused before it was tried: {e}");
        return not_measured(
            recorder,
            id,
            label,
            config,
            &catalog,
            TrialStatus::Rejected { reason },
        )
        .await;
    }
    let run = match bench.run(config).await {
        Ok(run) => run,
        Err(e) => {
            let reason = e.to_string();
            // The server may be down (a crash mid-run) or still in the failed configuration:
            // bring it back to what staging believes it has before anything else runs.
            if !e.is_infeasible() {
                bench.recover().await?;
            }
            return not_measured(
                recorder,
                id,
                label,
                config,
                &catalog,
                TrialStatus::Failed { reason },
            )
            .await;
        }
    };
    let m = &run.measurement;
    let status = if m.committed == 0 || m.error_count() * 100 > m.committed {
        TrialStatus::Failed {
            reason: format!(
                "{} errors in {} units of work: {:?}",
                m.error_count(),
                m.committed,
                m.errors
            ),
        }
    } else if let Some(limit) = limits.p99_limit_ms.filter(|l| m.latency.p99_ms > *l) {
        TrialStatus::Failed {
            reason: format!(
                "p99 {:.1} ms exceeds the limit of {limit} ms",
                m.latency.p99_ms
            ),
        }
    } else {
        TrialStatus::Measured
    };
    if status != TrialStatus::Measured && !bench.staging.is_running() {
        // The server died during the run (the driver saw its connections drop).
        bench.recover().await?;
    }
    let score = (status == TrialStatus::Measured).then(|| run.score(bench.objective));
    let outcome = match (&status, score) {
        (TrialStatus::Measured, Some(s)) => Outcome::Value(s),
        (TrialStatus::Failed { reason } | TrialStatus::Rejected { reason }, _) => {
            Outcome::Failed(reason.clone())
        }
        (TrialStatus::Measured, None) => Outcome::Failed("no score".into()),
    };
    let status_name = if status == TrialStatus::Measured {
        "measured"
    } else {
        "failed"
    };
    recorder
        .trial(
            id,
            status_name,
            config,
            // Everything the report shows of a trial, so that `dbtuner report` can write it
            // again from the repository alone.
            serde_json::json!({
                "label": label,
                "measurement": m,
                "score": score,
                "objective": bench.objective,
                "derived": run.observed.as_ref().map(|o| &o.delta.derived),
                // The server's own view of the statements (normalized texts, no literals).
                "top_statements": run.observed.as_ref().map(|o| {
                    o.delta
                        .statements
                        .iter()
                        .take(TOP_STATEMENTS)
                        .map(|s| serde_json::json!({
                            "text": s.text,
                            "calls": s.calls,
                            "total_ms": s.total_time_ms,
                        }))
                        .collect::<Vec<_>>()
                }),
                "reason": match &status {
                    TrialStatus::Failed { reason } | TrialStatus::Rejected { reason } => Some(reason),
                    TrialStatus::Measured => None,
                },
                "applied": &run.applied.server_values,
                "restarted": run.applied.restarted,
            }),
            run.observed.as_ref(),
        )
        .await?;
    let mut rec = record(
        id,
        label,
        config,
        Some(&run.applied),
        &catalog,
        status,
        Some(m),
    );
    rec.telemetry = run.observed.as_ref().map(trial_telemetry);
    Ok(TrialResult {
        record: rec,
        outcome,
        score,
    })
}

/// Record a trial that was refused or failed before it was measured.
async fn not_measured(
    recorder: &Recorder,
    id: usize,
    label: &str,
    config: &Config,
    catalog: &[Knob],
    status: TrialStatus,
) -> Result<TrialResult> {
    let (name, reason) = match &status {
        TrialStatus::Rejected { reason } => ("rejected", reason.clone()),
        TrialStatus::Failed { reason } => ("failed", reason.clone()),
        TrialStatus::Measured => ("failed", String::new()),
    };
    recorder
        .trial(
            id,
            name,
            config,
            serde_json::json!({ "label": label, "reason": reason }),
            None,
        )
        .await?;
    Ok(TrialResult {
        record: record(id, label, config, None, catalog, status, None),
        outcome: Outcome::Failed(reason),
        score: None,
    })
}

/// The figures the report shows from a trial's telemetry.
pub fn trial_telemetry(observed: &Observed) -> TrialTelemetry {
    let d = &observed.delta.derived;
    TrialTelemetry {
        buffer_hit_ratio: d.buffer_hit_ratio,
        checkpoints_timed: d.checkpoints_timed,
        checkpoints_requested: d.checkpoints_requested,
        wal_bytes_per_xact: d.wal_bytes_per_xact,
        temp_bytes: d.temp_bytes,
    }
}

pub fn figure(samples: &[f64]) -> Option<Figure> {
    Summary::of(samples).map(|s| Figure {
        mean: s.mean,
        stdev: s.stdev,
        min: s.min,
        max: s.max,
        samples: s.n,
    })
}

/// A configuration without values that cost durability (heuristics never need them).
pub fn safe_only(config: &Config, catalog: &[Knob]) -> Config {
    let mut out = Config::new();
    for (name, value) in config.iter() {
        if catalog::find(catalog, name).is_ok_and(|k| !k.is_risky_value(value)) {
            out.set(name, value.clone());
        }
    }
    out
}

/// The report's record of a trial.
pub fn record(
    id: usize,
    label: &str,
    config: &Config,
    applied: Option<&Applied>,
    catalog: &[Knob],
    status: TrialStatus,
    m: Option<&Measurement>,
) -> TrialRecord {
    let knobs = config
        .iter()
        .map(|(name, value)| {
            let knob = catalog::find(catalog, name).ok();
            let unit = knob.map(Knob::unit).unwrap_or(knobs::Unit::None);
            KnobSetting {
                name: name.to_string(),
                value: value.human(unit),
                applied: applied
                    .and_then(|a| a.server_values.get(name))
                    .map(|server| match knob.map(|k| k.parse_value(server)) {
                        // Same value in the server's spelling: show ours, so only real
                        // differences stand out.
                        Some(Ok(parsed)) if parsed == *value => value.human(unit),
                        _ => server.clone(),
                    }),
                durability_risk: knob.is_some_and(|k| k.is_risky_value(value)),
            }
        })
        .collect();
    TrialRecord {
        id,
        label: label.to_string(),
        knobs,
        status,
        throughput: m.and_then(|m| figure(&m.per_second)),
        p50_ms: m.map(|m| m.latency.p50_ms),
        p95_ms: m.map(|m| m.latency.p95_ms),
        p99_ms: m.map(|m| m.latency.p99_ms),
        errors: m.map(Measurement::error_count).unwrap_or(0),
        restarted: applied.is_some_and(|a| a.restarted),
        telemetry: None,
        score: None,
        top_waits: Vec::new(),
        top_statements: Vec::new(),
    }
}
