//! The gate's verdict as the report shows it, from a stored verdict's evidence: the
//! decision, its interval, each round, and the latency of the rounds' runs.

use models::gate::{Decision, GateEvidence};
use models::stats::Summary;
use reports::{
    Figure, GateRound, LatencyComparison, Percentiles, StatementLatency, Validation, Verdict,
};
use serde::Deserialize;
use workloads::Measurement;

use crate::repository::VerdictRecord;

/// What `tune` stores as a verdict's evidence.
#[derive(Debug, Deserialize)]
struct Stored {
    evidence: GateEvidence,
    #[serde(default)]
    method: String,
    #[serde(default)]
    baseline_runs: Vec<Measurement>,
    #[serde(default)]
    candidate_runs: Vec<Measurement>,
}

/// The gate's part of the report.
#[derive(Debug, Default)]
pub struct GateView {
    pub validation: Option<Validation>,
    pub rounds: Vec<GateRound>,
    pub latency: Option<LatencyComparison>,
    pub statements: Vec<StatementLatency>,
    pub decision: Option<Decision>,
    pub candidate_seq: Option<i64>,
}

fn figure(samples: &[f64]) -> Figure {
    Summary::of(samples)
        .map(|s| Figure {
            mean: s.mean,
            stdev: s.stdev,
            min: s.min,
            max: s.max,
            samples: s.n,
        })
        .unwrap_or(Figure {
            mean: 0.0,
            stdev: 0.0,
            min: 0.0,
            max: 0.0,
            samples: 0,
        })
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

fn percentiles(runs: &[Measurement]) -> Percentiles {
    Percentiles {
        mean_ms: mean(runs.iter().map(|m| m.latency.mean_ms)),
        p50_ms: mean(runs.iter().map(|m| m.latency.p50_ms)),
        p95_ms: mean(runs.iter().map(|m| m.latency.p95_ms)),
        p99_ms: mean(runs.iter().map(|m| m.latency.p99_ms)),
        p999_ms: mean(runs.iter().map(|m| m.latency.p999_ms)),
        max_ms: mean(runs.iter().map(|m| m.latency.max_ms)),
    }
}

/// At most this many statements, the most time-consuming first.
const TOP_STATEMENTS: usize = 20;

fn statements(baseline: &[Measurement], candidate: &[Measurement]) -> Vec<StatementLatency> {
    let names: std::collections::BTreeSet<&String> = baseline
        .iter()
        .chain(candidate)
        .flat_map(|m| m.per_template.keys())
        .collect();
    let stat =
        |runs: &[Measurement], name: &str, f: fn(&workloads::driver::TemplateStats) -> f64| {
            mean(runs.iter().filter_map(|m| m.per_template.get(name)).map(f))
        };
    let mut out: Vec<StatementLatency> = names
        .into_iter()
        .map(|name| StatementLatency {
            statement: name.clone(),
            calls: stat(baseline, name, |t| t.count as f64),
            default_mean_ms: stat(baseline, name, |t| t.latency.mean_ms),
            candidate_mean_ms: stat(candidate, name, |t| t.latency.mean_ms),
            default_p99_ms: stat(baseline, name, |t| t.latency.p99_ms),
            candidate_p99_ms: stat(candidate, name, |t| t.latency.p99_ms),
        })
        .collect();
    out.sort_by(|a, b| (b.calls * b.default_mean_ms).total_cmp(&(a.calls * a.default_mean_ms)));
    out.truncate(TOP_STATEMENTS);
    out
}

/// The latest verdict of a session; `None` parts when it is absent or unreadable.
pub fn view(verdicts: &[VerdictRecord], min_gain: Option<f64>) -> (GateView, Option<String>) {
    let Some(v) = verdicts.last() else {
        return (GateView::default(), None);
    };
    let stored: Stored = match serde_json::from_value(v.verdict.evidence.clone()) {
        Ok(s) => s,
        Err(e) => {
            return (
                GateView {
                    candidate_seq: Some(v.verdict.candidate_seq),
                    ..GateView::default()
                },
                Some(format!("The stored verdict '{}' on trial {} does not read ({e}); its evidence is not shown.", v.verdict.verdict, v.verdict.candidate_seq)),
            )
        }
    };
    let e = &stored.evidence;
    let (base, cand) = (&stored.baseline_runs, &stored.candidate_runs);
    let tps = |runs: &[Measurement]| runs.iter().map(Measurement::throughput).collect::<Vec<_>>();
    let validation = Validation {
        best_trial: usize::try_from(v.verdict.candidate_seq).unwrap_or(0),
        rounds: e.rounds,
        default_throughput: figure(&tps(base)),
        best_throughput: figure(&tps(cand)),
        ratio: e.score.ratio,
        ci_low: e.score.low,
        ci_high: e.score.high,
        confidence: e.confidence,
        round_ratios: e.round_ratios.clone(),
        default_p99_ms: mean(base.iter().map(|m| m.latency.p99_ms)),
        best_p99_ms: mean(cand.iter().map(|m| m.latency.p99_ms)),
        verdict: match e.decision {
            Decision::Accept => Verdict::Accept,
            Decision::Reject => Verdict::Reject,
            Decision::Inconclusive => Verdict::Inconclusive,
        },
        reason: e.reason.clone(),
        objective: String::new(),
        method: stored.method.clone(),
        p99_ratio: Some([e.p99.ratio, e.p99.low, e.p99.high]),
        query_regressions: e
            .query_regressions
            .iter()
            .map(|q| {
                format!(
                    "{}: {:.2}× slower (CI {:.2}× .. {:.2}×)",
                    q.query, q.latency_ratio.ratio, q.latency_ratio.low, q.latency_ratio.high
                )
            })
            .collect(),
        accept_above: min_gain.map(|g| 1.0 + g),
    };
    let rounds = base
        .iter()
        .zip(cand)
        .enumerate()
        .map(|(i, (b, c))| GateRound {
            round: i + 1,
            default_tps: b.throughput(),
            candidate_tps: c.throughput(),
            ratio: e.round_ratios.get(i).copied().unwrap_or(f64::NAN),
            default_p99_ms: b.latency.p99_ms,
            candidate_p99_ms: c.latency.p99_ms,
            default_per_second: b.per_second.clone(),
            candidate_per_second: c.per_second.clone(),
            default_p99_per_second: b.p99_per_second.clone(),
            candidate_p99_per_second: c.p99_per_second.clone(),
        })
        .collect();
    let latency = (!base.is_empty() && !cand.is_empty()).then(|| LatencyComparison {
        default: percentiles(base),
        candidate: percentiles(cand),
    });
    (
        GateView {
            validation: Some(validation),
            rounds,
            latency,
            statements: statements(base, cand),
            decision: Some(e.decision),
            candidate_seq: Some(v.verdict.candidate_seq),
        },
        None,
    )
}
