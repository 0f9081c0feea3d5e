//! The decision after a change reached a target: keep it, or revert it. Pure: the agent samples
//! the target's telemetry in intervals before and after the change and asks [`judge`].
//!
//! Unlike the gate, nothing is interleaved here (the change is live), so the baseline is the
//! window just before the change and the unit of evidence is an interval. The test is a
//! percentile bootstrap of the ratio of means after / before (intervals resampled
//! independently). Revert when, beyond the tolerance and significantly:
//!
//! - mean statement latency rose (the interval's lower bound above `1 + max_latency_regression`),
//! - throughput fell (the upper bound below `1 − max_throughput_drop`), or
//! - the rate of rolled-back transactions more than doubled and rose by more than
//!   `min_error_rate` per second (a guard against errors a latency mean can hide).
//!
//! Otherwise keep. Production load varies by itself: a change is reverted only for what the
//! intervals show beyond their own spread.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::stats::{bootstrap_ratio, RatioEstimate, Summary};

/// What one interval of telemetry showed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WatchSample {
    /// Committed transactions per second.
    pub tps: f64,
    /// Mean execution time per statement call (ms), when the server reports it.
    pub mean_latency_ms: Option<f64>,
    /// Rolled-back transactions per second.
    pub rollbacks_per_s: f64,
}

/// Tolerances of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WatchSettings {
    pub max_latency_regression: f64,
    pub max_throughput_drop: f64,
    /// Rolled-back transactions per second that an increase must exceed to count.
    pub min_error_rate: f64,
    pub confidence: f64,
    pub seed: u64,
}

impl Default for WatchSettings {
    fn default() -> Self {
        WatchSettings {
            max_latency_regression: 0.2,
            max_throughput_drop: 0.2,
            min_error_rate: 1.0,
            confidence: 0.95,
            seed: 1,
        }
    }
}

/// Keep or revert, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchVerdict {
    pub keep: bool,
    pub reason: String,
    /// After / before throughput.
    pub throughput: Option<RatioEstimate>,
    /// After / before mean statement latency.
    pub latency: Option<RatioEstimate>,
    pub rollbacks_before: f64,
    pub rollbacks_after: f64,
    pub intervals_before: usize,
    pub intervals_after: usize,
}

const RESAMPLES: usize = 4000;

/// Judge a change from intervals before and after it. Needs at least 3 intervals on each side.
pub fn judge(
    before: &[WatchSample],
    after: &[WatchSample],
    settings: &WatchSettings,
) -> Result<WatchVerdict> {
    if before.len() < 3 || after.len() < 3 {
        return Err(ModelError::NotEnoughData(format!(
            "the watch needs at least 3 intervals before and after the change, got {} and {}",
            before.len(),
            after.len()
        )));
    }
    let tps = |s: &[WatchSample]| s.iter().map(|x| x.tps).collect::<Vec<_>>();
    let latency = |s: &[WatchSample]| {
        s.iter()
            .filter_map(|x| x.mean_latency_ms)
            .collect::<Vec<_>>()
    };
    let rollbacks = |s: &[WatchSample]| {
        Summary::of(&s.iter().map(|x| x.rollbacks_per_s).collect::<Vec<_>>())
            .map(|s| s.mean)
            .unwrap_or(0.0)
    };
    let c = settings.confidence;
    let throughput = bootstrap_ratio(&tps(before), &tps(after), c, RESAMPLES, settings.seed);
    let (lb, la) = (latency(before), latency(after));
    let latency = if lb.len() >= 3 && la.len() >= 3 {
        bootstrap_ratio(&lb, &la, c, RESAMPLES, settings.seed.wrapping_add(1))
    } else {
        None
    };
    let (rollbacks_before, rollbacks_after) = (rollbacks(before), rollbacks(after));
    let pct = |x: f64| (x - 1.0) * 100.0;
    let reason = if let Some(l) = latency.filter(|l| l.low > 1.0 + settings.max_latency_regression)
    {
        Some(format!(
            "mean statement latency rose {:+.1}% (interval {:+.1}% .. {:+.1}%), beyond the tolerated {:.0}%",
            pct(l.ratio),
            pct(l.low),
            pct(l.high),
            settings.max_latency_regression * 100.0
        ))
    } else if let Some(t) = throughput.filter(|t| t.high < 1.0 - settings.max_throughput_drop) {
        Some(format!(
            "throughput fell {:+.1}% (interval {:+.1}% .. {:+.1}%), beyond the tolerated {:.0}%",
            pct(t.ratio),
            pct(t.low),
            pct(t.high),
            settings.max_throughput_drop * 100.0
        ))
    } else if rollbacks_after > 2.0 * rollbacks_before
        && rollbacks_after - rollbacks_before > settings.min_error_rate
    {
        Some(format!(
            "rolled-back transactions rose from {rollbacks_before:.1}/s to {rollbacks_after:.1}/s"
        ))
    } else {
        None
    };
    Ok(WatchVerdict {
        keep: reason.is_none(),
        reason: reason.unwrap_or_else(|| {
            "no significant regression of latency, throughput or errors beyond the tolerances"
                .into()
        }),
        throughput,
        latency,
        rollbacks_before,
        rollbacks_after,
        intervals_before: before.len(),
        intervals_after: after.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(tps: f64, latency: f64, rollbacks: f64, n: usize) -> Vec<WatchSample> {
        (0..n)
            .map(|i| {
                let wobble = 1.0 + 0.04 * ((i * 7 % 5) as f64 - 2.0) / 2.0;
                WatchSample {
                    tps: tps * wobble,
                    mean_latency_ms: Some(latency / wobble),
                    rollbacks_per_s: rollbacks,
                }
            })
            .collect()
    }

    #[test]
    fn a_harmless_change_is_kept() {
        let v = judge(
            &samples(1000.0, 2.0, 0.0, 8),
            &samples(1010.0, 1.98, 0.0, 8),
            &WatchSettings::default(),
        )
        .unwrap();
        assert!(v.keep, "{v:?}");
    }

    #[test]
    fn a_slowdown_is_reverted() {
        let v = judge(
            &samples(1000.0, 2.0, 0.0, 8),
            &samples(980.0, 3.0, 0.0, 8),
            &WatchSettings::default(),
        )
        .unwrap();
        assert!(!v.keep, "{v:?}");
        assert!(v.reason.contains("latency"), "{}", v.reason);
        // Within the tolerance (+10%) it stays.
        let v = judge(
            &samples(1000.0, 2.0, 0.0, 8),
            &samples(1000.0, 2.2, 0.0, 8),
            &WatchSettings::default(),
        )
        .unwrap();
        assert!(v.keep, "{v:?}");
    }

    #[test]
    fn a_throughput_drop_without_latency_figures_is_reverted() {
        let mut before = samples(1000.0, 2.0, 0.0, 6);
        let mut after = samples(600.0, 2.0, 0.0, 6);
        for s in before.iter_mut().chain(after.iter_mut()) {
            s.mean_latency_ms = None;
        }
        let v = judge(&before, &after, &WatchSettings::default()).unwrap();
        assert!(!v.keep && v.reason.contains("throughput"), "{v:?}");
        assert!(v.latency.is_none());
    }

    #[test]
    fn rising_errors_are_reverted_but_a_trickle_is_not() {
        let v = judge(
            &samples(1000.0, 2.0, 0.5, 6),
            &samples(1000.0, 2.0, 20.0, 6),
            &WatchSettings::default(),
        )
        .unwrap();
        assert!(!v.keep && v.reason.contains("rolled-back"), "{v:?}");
        let v = judge(
            &samples(1000.0, 2.0, 0.1, 6),
            &samples(1000.0, 2.0, 0.5, 6),
            &WatchSettings::default(),
        )
        .unwrap();
        assert!(v.keep, "{v:?}");
    }

    #[test]
    fn too_few_intervals_are_refused() {
        assert!(judge(
            &samples(1.0, 1.0, 0.0, 2),
            &samples(1.0, 1.0, 0.0, 5),
            &WatchSettings::default()
        )
        .is_err());
    }
}
