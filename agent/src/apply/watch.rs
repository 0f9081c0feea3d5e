//! `apply --watch`: telemetry intervals just before a change and for a window after it, then
//! keep or revert ([`models::watch::judge`]). Every step is in the audit log.

use std::time::Duration;

use anyhow::Result;
use models::watch::{judge, WatchSample, WatchSettings, WatchVerdict};
use workloads::TargetUrl;

use crate::telemetry::{Collector, Delta, Snapshot, TelemetryConfig};

/// How long to watch, in what steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchPlan {
    /// The window after the change.
    pub window: Duration,
    pub interval: Duration,
    /// The baseline window before it.
    pub baseline: Duration,
    pub settings: WatchSettings,
}

impl WatchPlan {
    /// A plan for a window: intervals of `interval`, a baseline of half the window (at least 3
    /// intervals, at most 5 minutes).
    pub fn new(window: Duration, interval: Duration) -> Result<WatchPlan, crate::BadInput> {
        if interval < Duration::from_secs(1) {
            return Err(crate::BadInput(format!(
                "--watch-interval {interval:?}: at least 1s"
            )));
        }
        if window < interval * 3 {
            return Err(crate::BadInput(format!(
                "--watch {window:?}: at least three intervals of {interval:?}"
            )));
        }
        let baseline = (window / 2).clamp(interval * 3, Duration::from_secs(300).max(interval * 3));
        Ok(WatchPlan {
            window,
            interval,
            baseline,
            settings: WatchSettings::default(),
        })
    }
}

/// Telemetry in steps of `interval` for `total`.
pub struct Sampler {
    collector: Collector,
    last: Option<Snapshot>,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sampler")
    }
}

impl Sampler {
    pub fn new(url: &TargetUrl) -> Result<Sampler> {
        Ok(Sampler {
            collector: Collector::new(url.clone(), TelemetryConfig::default())?.log_notices(false),
            last: None,
        })
    }

    /// Start a fresh series (the next interval begins now).
    pub async fn restart(&mut self) -> Result<()> {
        self.last = Some(self.collector.collect().await?);
        Ok(())
    }

    /// Intervals until `total` has passed; a failed scrape skips its interval.
    pub async fn sample(
        &mut self,
        total: Duration,
        interval: Duration,
    ) -> Result<Vec<WatchSample>> {
        if self.last.is_none() {
            self.restart().await?;
        }
        let mut out = Vec::new();
        let steps = (total.as_secs_f64() / interval.as_secs_f64())
            .floor()
            .max(1.0) as usize;
        for _ in 0..steps {
            tokio::time::sleep(interval).await;
            let snapshot = match self.collector.collect().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "watch: a telemetry scrape failed; interval skipped");
                    self.last = None;
                    continue;
                }
            };
            if let Some(prev) = self.last.replace(snapshot.clone()) {
                if let Some(sample) = sample_of(&Delta::between(&prev, &snapshot)) {
                    out.push(sample);
                }
            }
        }
        Ok(out)
    }
}

/// One interval's figures; `None` across a restart (counters are not comparable).
fn sample_of(delta: &Delta) -> Option<WatchSample> {
    if delta.restarted || delta.seconds <= 0.0 {
        return None;
    }
    let d = &delta.derived;
    Some(WatchSample {
        tps: d.tps?,
        mean_latency_ms: d.mean_statement_latency_ms,
        rollbacks_per_s: d.rollbacks.unwrap_or(0.0) / delta.seconds,
    })
}

/// The watch's conclusion with the samples it rests on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WatchReport {
    pub verdict: WatchVerdict,
    pub before: Vec<WatchSample>,
    pub after: Vec<WatchSample>,
    /// Whether the change was rolled back.
    pub reverted: bool,
}

/// Judge after the window.
pub fn conclude(
    before: Vec<WatchSample>,
    after: Vec<WatchSample>,
    plan: &WatchPlan,
) -> Result<WatchReport> {
    let verdict = judge(&before, &after, &plan.settings)?;
    Ok(WatchReport {
        verdict,
        before,
        after,
        reverted: false,
    })
}
