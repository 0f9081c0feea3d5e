//! How a session measures a configuration. Every measurement — the default, each trial, each
//! arm of each gate round — takes the same path, so that none is measured in a state the
//! others were not: apply (with a restart for every configuration when the space has restart
//! knobs), settle (VACUUM and a checkpoint on PostgreSQL), warm up, then measure with the driver between
//! two telemetry snapshots.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use knobs::Config;
use models::gate::ArmMeasure;
use workloads::driver::DriverOptions;
use workloads::replay::Replay;
use workloads::Measurement;

use super::Objective;
use crate::staging::{Applied, Staging, StagingError};
use crate::telemetry::{observe, Collector, Observed, TelemetryConfig};

/// Database the workloads live in on a sandbox (see [`Staging::database`] for either kind).
pub use crate::staging::SANDBOX_DATABASE as DATABASE;

/// Durations of one measurement.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    pub warmup: Duration,
    pub measure: Duration,
}

/// Staging plus the workload, measured one way.
#[derive(Debug)]
pub struct Bench {
    pub staging: Staging,
    pub replay: Replay,
    pub clients: usize,
    pub window: Window,
    /// Restart for every configuration (the space has restart knobs).
    pub restart_each: bool,
    pub objective: Objective,
    /// Joint plans (`tune --indexes`): indexes built on staging for the candidate arm.
    pub indexes: Vec<models::index::IndexDef>,
    indexes_present: bool,
    seed: u64,
    runs: u64,
}

/// One measured run.
#[derive(Debug)]
pub struct Run {
    pub applied: Applied,
    pub measurement: Measurement,
    pub observed: Option<Observed>,
}

impl Run {
    pub fn score(&self, objective: Objective) -> f64 {
        objective.score(&self.measurement)
    }

    /// The gate's view of this run.
    pub fn arm(&self, objective: Objective) -> ArmMeasure {
        ArmMeasure {
            score: self.score(objective),
            p99_ms: self.measurement.latency.p99_ms,
            // A query cancelled at the statement timeout counts as that long: a candidate
            // that makes one query run past it is slower there, not missing.
            queries: self
                .measurement
                .per_template
                .keys()
                .filter_map(|name| {
                    let mean = self.measurement.censored_mean_ms(name)?;
                    Some((name.clone(), mean))
                })
                .collect::<BTreeMap<_, _>>(),
        }
    }
}

impl Bench {
    pub fn new(
        staging: Staging,
        replay: Replay,
        clients: usize,
        window: Window,
        restart_each: bool,
        objective: Objective,
        seed: u64,
    ) -> Bench {
        Bench {
            staging,
            replay,
            clients,
            window,
            restart_each,
            objective,
            indexes: Vec::new(),
            indexes_present: false,
            seed,
            runs: 0,
        }
    }

    /// Build (or drop) the session's indexes on staging; a no-op when they already are so.
    pub async fn set_indexes(&mut self, present: bool) -> Result<(), MeasureError> {
        if self.indexes.is_empty() || self.indexes_present == present {
            return Ok(());
        }
        let url = self
            .staging
            .url(self.staging.database())
            .map_err(|e| MeasureError::Apply(e.into()))?;
        let engine = url.family();
        crate::advise::validate::set_indexes(&url, engine, &self.indexes, present)
            .await
            .map_err(|e| MeasureError::Run(e.into()))?;
        self.indexes_present = present;
        Ok(())
    }

    /// Apply `config` and measure it. A configuration the server refuses or cannot start with
    /// is a [`StagingError`] that [`StagingError::is_infeasible`] recognizes.
    pub async fn run(&mut self, config: &Config) -> Result<Run, MeasureError> {
        let applied = self
            .staging
            .apply_with(config, self.restart_each)
            .await
            .map_err(MeasureError::Apply)?;
        self.staging
            .settle(self.staging.database())
            .await
            .map_err(MeasureError::Apply)?;
        self.runs += 1;
        let options = DriverOptions::closed(
            self.clients,
            self.window.warmup,
            self.window.measure,
            self.seed.wrapping_add(self.runs),
        );
        let url = self
            .staging
            .url(self.staging.database())
            .map_err(|e| MeasureError::Apply(e.into()))?;
        let mut collector = Collector::new(url.clone(), TelemetryConfig::default())
            .map_err(|e| MeasureError::Run(e.into()))?
            .log_notices(false);
        // PostgreSQL backends hand over their counters when they exit: settle 1 s.
        let (m, observed) = observe(
            &mut collector,
            Duration::from_secs(1),
            self.replay.run(&options, &url),
        )
        .await;
        let measurement = m.map_err(|e| MeasureError::Run(e.into()))?;
        Ok(Run {
            applied,
            measurement,
            observed,
        })
    }

    /// After a failed run (a crash, a lost connection): the server restarted with the
    /// configuration staging believes it has.
    pub async fn recover(&mut self) -> Result<(), StagingError> {
        // After a crash the old server's backends may hold its shared memory for a moment,
        // and a new postmaster refuses to start until they are gone: try a few times.
        let mut last = None;
        for attempt in 0..5u64 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(attempt)).await;
            }
            match self.staging.restart().await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "restarting staging after a failure");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| StagingError::Rejected("no restart attempted".into())))
    }
}

/// Why a measurement did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error(transparent)]
    Apply(StagingError),
    #[error("measuring: {0:#}")]
    Run(anyhow::Error),
}

impl MeasureError {
    /// The configuration is at fault (the optimizer should avoid it).
    pub fn is_infeasible(&self) -> bool {
        matches!(self, MeasureError::Apply(e) if e.is_infeasible())
    }
}
