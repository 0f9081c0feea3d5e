//! The safe-apply gate's decision, from paired rounds measured interleaved on staging.
//!
//! Why rounds and not seconds: seconds within one run are correlated (caches, checkpoints,
//! the machine's neighbours), so a test over pooled per-second samples is far too sure of
//! itself. A round is one baseline run and one candidate run next to each other (the order
//! alternates, A B B A …), both through the same restart or reload and the same warm-up; the
//! round's ratio candidate / baseline is one observation.
//!
//! The test: a Student-t interval over the rounds' log ratios (so the interval of the ratio is
//! the exponential of a symmetric interval; a gain of ×1.1 and a loss of ×1/1.1 weigh the
//! same). With `n` rounds it has `n − 1` degrees of freedom, which keeps few rounds honest:
//! at 3 rounds the t quantile is 4.3, not 1.96. The decision:
//!
//! - **accept** when the lower bound of the objective's ratio clears `1 + min_gain`, the p99
//!   ratio's estimate does not exceed `1 + max_p99_regression`, and no query regressed;
//! - **reject** when the upper bound of the objective's ratio is below 1 (significantly
//!   worse), when p99 regressed significantly beyond the tolerance (its lower bound above
//!   `1 + max_p99_regression`), or when one query of the stream became significantly slower
//!   by more than `max_query_regression` (a plan flip: the total can improve while one query
//!   gets several times slower);
//! - **inconclusive** otherwise: keep the baseline, or measure longer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::error::{ModelError, Result};

/// What one arm of a round measured. `score` is higher-is-better (throughput, or the inverse
/// of a latency when the objective is a latency).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmMeasure {
    pub score: f64,
    pub p99_ms: f64,
    /// Mean latency per query template (ms), for query streams; may be empty.
    #[serde(default)]
    pub queries: BTreeMap<String, f64>,
}

/// One round: baseline and candidate measured next to each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundPair {
    pub baseline: ArmMeasure,
    pub candidate: ArmMeasure,
}

/// Thresholds of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateSettings {
    /// Smallest gain accepted: the lower bound must clear `1 + min_gain`.
    pub min_gain: f64,
    /// Largest p99 regression tolerated.
    pub max_p99_regression: f64,
    /// Largest slowdown of one query tolerated (0.5: 1.5× slower).
    pub max_query_regression: f64,
    /// Two-sided confidence of the intervals.
    pub confidence: f64,
}

impl Default for GateSettings {
    fn default() -> Self {
        GateSettings {
            min_gain: 0.02,
            max_p99_regression: 0.10,
            max_query_regression: 0.5,
            confidence: 0.95,
        }
    }
}

impl GateSettings {
    pub fn validate(&self) -> Result<()> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        if !ok(self.min_gain) || !ok(self.max_p99_regression) || !ok(self.max_query_regression) {
            return Err(ModelError::Invalid(format!(
                "gate thresholds must be finite and ≥ 0: {self:?}"
            )));
        }
        if !(self.confidence > 0.5 && self.confidence < 1.0) {
            return Err(ModelError::Invalid(format!(
                "gate confidence {} must be in (0.5, 1)",
                self.confidence
            )));
        }
        Ok(())
    }
}

/// The gate's three answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accept,
    Reject,
    Inconclusive,
}

/// A ratio candidate / baseline over rounds with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatioInterval {
    /// Geometric mean of the round ratios.
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
}

/// One query whose latency got significantly worse beyond the tolerance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRegression {
    pub query: String,
    /// Candidate / baseline latency (above 1 is slower).
    pub latency_ratio: RatioInterval,
}

/// The decision with everything it was based on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateEvidence {
    pub rounds: usize,
    pub confidence: f64,
    /// Objective score ratio (above 1 is better).
    pub score: RatioInterval,
    /// p99 latency ratio (above 1 is worse).
    pub p99: RatioInterval,
    pub round_ratios: Vec<f64>,
    pub query_regressions: Vec<QueryRegression>,
    pub decision: Decision,
    pub reason: String,
}

/// Student-t interval of the exponentiated mean of `logs` (`None` for fewer than 2 values or
/// non-finite ones). Public for benchmarks that compare several arms the gate's way.
pub fn log_interval(logs: &[f64], confidence: f64) -> Option<RatioInterval> {
    let n = logs.len();
    if n < 2 || logs.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mean = logs.iter().sum::<f64>() / n as f64;
    let var = logs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .ok()?
        .inverse_cdf(0.5 + confidence / 2.0);
    let half = t * (var / n as f64).sqrt();
    Some(RatioInterval {
        ratio: mean.exp(),
        low: (mean - half).exp(),
        high: (mean + half).exp(),
    })
}

/// `ln(candidate / baseline)`, NaN when either is not positive.
pub fn log_ratio(candidate: f64, baseline: f64) -> f64 {
    if candidate > 0.0 && baseline > 0.0 {
        (candidate / baseline).ln()
    } else {
        f64::NAN
    }
}

/// Decide on a candidate from its rounds. Needs at least 2 rounds with positive scores.
pub fn decide(rounds: &[RoundPair], settings: &GateSettings) -> Result<GateEvidence> {
    settings.validate()?;
    let score_logs: Vec<f64> = rounds
        .iter()
        .map(|r| log_ratio(r.candidate.score, r.baseline.score))
        .collect();
    let score = log_interval(&score_logs, settings.confidence).ok_or_else(|| {
        ModelError::NotEnoughData(format!(
            "the gate needs at least 2 rounds with positive scores, got {} rounds ({:?})",
            rounds.len(),
            score_logs
        ))
    })?;
    let p99_logs: Vec<f64> = rounds
        .iter()
        .map(|r| log_ratio(r.candidate.p99_ms, r.baseline.p99_ms))
        .collect();
    // A latency of zero (nothing measured) gives no evidence either way.
    let p99 = log_interval(&p99_logs, settings.confidence).unwrap_or(RatioInterval {
        ratio: 1.0,
        low: 0.0,
        high: f64::INFINITY,
    });
    let query_regressions = query_regressions(rounds, settings);

    let p99_limit = 1.0 + settings.max_p99_regression;
    let pct = |x: f64| x * 100.0;
    let (decision, reason) = if let Some(q) = query_regressions.first() {
        (
            Decision::Reject,
            format!(
                "query {} became {:.2}× slower (interval {:.2}× .. {:.2}×), beyond the tolerated {:.2}×",
                q.query,
                q.latency_ratio.ratio,
                q.latency_ratio.low,
                q.latency_ratio.high,
                1.0 + settings.max_query_regression
            ),
        )
    } else if score.high < 1.0 {
        (
            Decision::Reject,
            format!(
                "significantly worse than the baseline: the whole interval is below 0 ({:+.1}% .. {:+.1}%)",
                pct(score.low - 1.0),
                pct(score.high - 1.0)
            ),
        )
    } else if p99.low > p99_limit {
        (
            Decision::Reject,
            format!(
                "p99 latency regressed by {:+.1}% (interval {:+.1}% .. {:+.1}%), beyond the tolerated {:.0}%",
                pct(p99.ratio - 1.0),
                pct(p99.low - 1.0),
                pct(p99.high - 1.0),
                pct(settings.max_p99_regression)
            ),
        )
    } else if score.low > 1.0 + settings.min_gain && p99.ratio <= p99_limit {
        (
            Decision::Accept,
            format!(
                "the whole {:.0}% interval ({:+.1}% .. {:+.1}%) is above +{:.0}% and p99 did not regress by more than {:.0}%",
                pct(settings.confidence),
                pct(score.low - 1.0),
                pct(score.high - 1.0),
                pct(settings.min_gain),
                pct(settings.max_p99_regression)
            ),
        )
    } else if score.low > 1.0 + settings.min_gain {
        (
            Decision::Inconclusive,
            format!(
                "faster, but p99 rose by {:+.1}% (tolerated {:.0}%; not significant): keep the baseline, or measure longer",
                pct(p99.ratio - 1.0),
                pct(settings.max_p99_regression)
            ),
        )
    } else {
        (
            Decision::Inconclusive,
            format!(
                "the {:.0}% interval ({:+.1}% .. {:+.1}%) does not clear +{:.0}%: keep the baseline, or measure longer",
                pct(settings.confidence),
                pct(score.low - 1.0),
                pct(score.high - 1.0),
                pct(settings.min_gain)
            ),
        )
    };
    Ok(GateEvidence {
        rounds: rounds.len(),
        confidence: settings.confidence,
        score,
        p99,
        round_ratios: score_logs.iter().map(|l| l.exp()).collect(),
        query_regressions,
        decision,
        reason,
    })
}

/// Queries measured in every round of both arms that became significantly slower beyond the
/// tolerance, worst first.
fn query_regressions(rounds: &[RoundPair], settings: &GateSettings) -> Vec<QueryRegression> {
    let Some(first) = rounds.first() else {
        return Vec::new();
    };
    let mut out: Vec<QueryRegression> = first
        .baseline
        .queries
        .keys()
        .filter_map(|name| {
            let logs: Option<Vec<f64>> = rounds
                .iter()
                .map(|r| {
                    let b = r.baseline.queries.get(name)?;
                    let c = r.candidate.queries.get(name)?;
                    Some(log_ratio(*c, *b))
                })
                .collect();
            let interval = log_interval(&logs?, settings.confidence)?;
            (interval.ratio > 1.0 + settings.max_query_regression && interval.low > 1.0).then(
                || QueryRegression {
                    query: name.clone(),
                    latency_ratio: interval,
                },
            )
        })
        .collect();
    out.sort_by(|a, b| b.latency_ratio.ratio.total_cmp(&a.latency_ratio.ratio));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(score: f64, p99: f64) -> ArmMeasure {
        ArmMeasure {
            score,
            p99_ms: p99,
            queries: BTreeMap::new(),
        }
    }

    /// Rounds whose candidate/baseline ratios are `ratios` (baseline 1000 ± a drift).
    fn rounds(ratios: &[f64], p99_ratio: f64) -> Vec<RoundPair> {
        ratios
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let base = 1000.0 + 80.0 * (i as f64 - 2.0);
                RoundPair {
                    baseline: arm(base, 2.0),
                    candidate: arm(base * r, 2.0 * p99_ratio),
                }
            })
            .collect()
    }

    #[test]
    fn a_clear_gain_is_accepted() {
        let e = decide(
            &rounds(&[1.10, 1.12, 1.09, 1.11], 0.95),
            &GateSettings::default(),
        )
        .unwrap();
        assert_eq!(e.decision, Decision::Accept, "{e:?}");
        assert!(e.score.low > 1.07 && e.score.high < 1.14, "{e:?}");
        assert!((e.score.ratio - 1.1049).abs() < 1e-3, "{e:?}");
    }

    #[test]
    fn a_clear_loss_is_rejected() {
        let e = decide(
            &rounds(&[0.90, 0.88, 0.91, 0.89], 1.0),
            &GateSettings::default(),
        )
        .unwrap();
        assert_eq!(e.decision, Decision::Reject, "{e:?}");
        assert!(e.reason.contains("worse"), "{}", e.reason);
    }

    #[test]
    fn noise_is_inconclusive() {
        let e = decide(
            &rounds(&[1.06, 0.95, 1.03, 0.97], 1.0),
            &GateSettings::default(),
        )
        .unwrap();
        assert_eq!(e.decision, Decision::Inconclusive, "{e:?}");
        assert!(e.score.low < 1.0 && e.score.high > 1.0, "{e:?}");
    }

    #[test]
    fn a_gain_with_a_p99_regression_is_rejected() {
        let e = decide(
            &rounds(&[1.15, 1.16, 1.14, 1.15], 1.5),
            &GateSettings::default(),
        )
        .unwrap();
        assert_eq!(e.decision, Decision::Reject, "{e:?}");
        assert!(e.reason.contains("p99"), "{}", e.reason);
        // Within the tolerance, the same gain is accepted.
        let e = decide(
            &rounds(&[1.15, 1.16, 1.14, 1.15], 1.05),
            &GateSettings::default(),
        )
        .unwrap();
        assert_eq!(e.decision, Decision::Accept, "{e:?}");
    }

    #[test]
    fn a_gain_below_the_floor_is_not_accepted() {
        // Significant (+1%, tight) but below the +2% effect-size floor.
        let e = decide(
            &rounds(&[1.010, 1.011, 1.009, 1.010], 1.0),
            &GateSettings::default(),
        )
        .unwrap();
        assert_eq!(e.decision, Decision::Inconclusive, "{e:?}");
        assert!(e.score.low > 1.0, "{e:?}");
    }

    #[test]
    fn few_rounds_give_wide_intervals() {
        // The same mean gain over 2 rounds with spread: t with 1 degree of freedom (12.7).
        let e = decide(&rounds(&[1.04, 1.14], 1.0), &GateSettings::default()).unwrap();
        assert_eq!(e.decision, Decision::Inconclusive, "{e:?}");
        assert!(e.score.low < 1.0, "{e:?}");
        assert!(decide(&rounds(&[1.1], 1.0), &GateSettings::default()).is_err());
        assert!(decide(&[], &GateSettings::default()).is_err());
    }

    #[test]
    fn one_query_that_flips_its_plan_rejects_a_faster_stream() {
        let mut rs = rounds(&[1.10, 1.12, 1.09, 1.11], 1.0);
        for (i, r) in rs.iter_mut().enumerate() {
            let jitter = 1.0 + 0.02 * i as f64;
            r.baseline.queries.insert("q03".into(), 100.0 * jitter);
            r.candidate.queries.insert("q03".into(), 80.0 * jitter);
            r.baseline.queries.insert("q18".into(), 200.0 * jitter);
            r.candidate.queries.insert("q18".into(), 600.0 / jitter);
        }
        let e = decide(&rs, &GateSettings::default()).unwrap();
        assert_eq!(e.decision, Decision::Reject, "{e:?}");
        assert_eq!(e.query_regressions.len(), 1, "{e:?}");
        assert_eq!(e.query_regressions[0].query, "q18");
        assert!(e.reason.contains("q18"), "{}", e.reason);
        // A looser tolerance lets it through.
        let loose = GateSettings {
            max_query_regression: 4.0,
            ..GateSettings::default()
        };
        assert_eq!(decide(&rs, &loose).unwrap().decision, Decision::Accept);
    }

    #[test]
    fn identical_arms_are_never_an_improvement() {
        // A/A with seeded noise of 7% per run: the false-accept rate over many comparisons
        // stays at the test's one-sided level or below (the floor makes it far lower).
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut accepts = 0;
        for _ in 0..500 {
            let rs: Vec<RoundPair> = (0..4)
                .map(|_| {
                    let mut run = || 1000.0 * (1.0 + 0.07 * (rng.gen::<f64>() - 0.5) * 3.4);
                    RoundPair {
                        baseline: arm(run(), 2.0),
                        candidate: arm(run(), 2.0),
                    }
                })
                .collect();
            if decide(&rs, &GateSettings::default()).unwrap().decision == Decision::Accept {
                accepts += 1;
            }
        }
        // The interval is two-sided at 95%: at most 2.5% of A/A comparisons may clear 1.0, and
        // the +2% floor must keep them fewer still.
        assert!(accepts <= 12, "{accepts} of 500 A/A comparisons accepted");
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = GateSettings {
            confidence: 1.5,
            ..GateSettings::default()
        };
        assert!(decide(&rounds(&[1.1, 1.1], 1.0), &bad).is_err());
    }
}
