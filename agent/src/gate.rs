//! The safe-apply gate on staging: the baseline and the candidate measured interleaved in
//! rounds (A B, then B A, …), each arm through the same apply, restart or reload, vacuum,
//! checkpoint and warm-up ([`crate::tune`]'s measurement path), until the decision is clear or
//! the time is up. Rounds come in pairs of opposite order (A B then B A, or B A then A B,
//! drawn per pair from the seed); decisions are taken only after an even number of rounds, so
//! that each order is used equally often and a drift over the run favours neither arm (identical runs
//! here drifted by up to a third over a minute). The statistics are pure and live in
//! [`models::gate`]; this module only runs the rounds.

use std::time::{Duration, Instant};

use anyhow::Result;
use knobs::Config;
use models::gate::{decide, Decision, GateEvidence, GateSettings, RoundPair};
use tokio_util::sync::CancellationToken;
use workloads::Measurement;

use crate::tune::measure::Bench;
use crate::tune::{Events, Interrupted};

/// How many rounds, within what time.
#[derive(Debug, Clone, Copy)]
pub struct GatePlan {
    /// Rounds before the first decision (at least 2).
    pub min_rounds: usize,
    /// More rounds while the decision is inconclusive and time allows.
    pub max_rounds: usize,
    /// No round starts unless it can finish by then.
    pub deadline: Instant,
    /// What one measurement costs (apply, warm-up, measure), as seen so far.
    pub slot_cost: Duration,
    /// The candidate's p99 must stay below this (ms).
    pub p99_limit_ms: Option<f64>,
    /// Draws each pair of rounds' order (A B B A or B A A B).
    pub seed: u64,
}

/// Whether the candidate runs first in `round`. Rounds come in pairs of opposite order; which
/// order a pair starts with is drawn, so that no periodic disturbance of the machine can line
/// up with a fixed pattern of arms.
fn candidate_first(round: usize, seed: u64) -> bool {
    // splitmix64 of the pair's index.
    let mut z = seed.wrapping_add((round as u64 / 2).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let flip = (z ^ (z >> 31)) & 1 == 1;
    (round % 2 == 1) != flip
}

/// The gate's result: a verdict with its evidence, or why there is none.
#[derive(Debug)]
pub struct GateOutcome {
    pub evidence: Option<GateEvidence>,
    /// Why no verdict could be reached (too little time, the candidate failed …).
    pub failure: Option<String>,
    pub baseline_runs: Vec<Measurement>,
    pub candidate_runs: Vec<Measurement>,
}

/// Run the gate: `candidate` against `baseline`.
pub async fn run(
    bench: &mut Bench,
    baseline: &Config,
    candidate: &Config,
    settings: &GateSettings,
    plan: GatePlan,
    events: &Events,
    cancel: &CancellationToken,
) -> Result<GateOutcome> {
    let objective = bench.objective;
    let mut pairs: Vec<RoundPair> = Vec::new();
    let mut outcome = GateOutcome {
        evidence: None,
        failure: None,
        baseline_runs: Vec::new(),
        candidate_runs: Vec::new(),
    };
    let even = |n: usize| n + n % 2;
    let min_rounds = even(plan.min_rounds.max(2));
    let max_rounds = even(plan.max_rounds).max(min_rounds);
    while pairs.len() < max_rounds {
        let round = pairs.len();
        // Rounds come in pairs (A B, B A): a pair starts only if both fit.
        let needed = if round.is_multiple_of(2) { 4 } else { 2 };
        if Instant::now() + plan.slot_cost * needed > plan.deadline {
            if round < min_rounds {
                events.note(format!(
                    "gate: time for {round} of {min_rounds} rounds only"
                ));
            }
            break;
        }
        // Opposite orders within each pair, so that drift favours neither arm.
        let candidate_first = candidate_first(round, plan.seed);
        let mut arms = [None, None];
        for is_candidate in [candidate_first, !candidate_first] {
            if cancel.is_cancelled() {
                return Err(Interrupted("during the gate".into()).into());
            }
            events.phase(format!(
                "gate round {} of {}: {}",
                round + 1,
                min_rounds.max(round + 1),
                if is_candidate {
                    "candidate"
                } else {
                    "baseline"
                }
            ));
            let config = if is_candidate { candidate } else { baseline };
            // A joint plan: the baseline runs without the session's indexes, the candidate
            // with them.
            let measured = match bench.set_indexes(is_candidate).await {
                Ok(()) => bench.run(config).await,
                Err(e) => Err(e),
            };
            match measured {
                Ok(run) => arms[usize::from(is_candidate)] = Some(run),
                Err(e) => {
                    if !e.is_infeasible() {
                        bench.recover().await?;
                    }
                    let who = if is_candidate {
                        "candidate"
                    } else {
                        "baseline"
                    };
                    outcome.failure = Some(format!("the {who} failed during the gate: {e}"));
                    return Ok(outcome);
                }
            }
        }
        let [Some(base), Some(cand)] = arms else {
            outcome.failure = Some("a gate round lost one of its arms".into());
            return Ok(outcome);
        };
        pairs.push(RoundPair {
            baseline: base.arm(objective),
            candidate: cand.arm(objective),
        });
        events.note(format!(
            "gate round {}: candidate / baseline = {:.3}",
            round + 1,
            cand.score(objective) / base.score(objective).max(f64::MIN_POSITIVE)
        ));
        outcome.baseline_runs.push(base.measurement);
        outcome.candidate_runs.push(cand.measurement);
        if pairs.len() >= min_rounds && pairs.len().is_multiple_of(2) {
            let evidence = decide(&pairs, settings)?;
            let done = evidence.decision != Decision::Inconclusive;
            outcome.evidence = Some(evidence);
            if done {
                break;
            }
        }
    }
    if outcome.evidence.is_none() && pairs.len() >= 2 {
        // Fewer rounds than planned, but balanced: a decision, with the wide interval of
        // few rounds.
        pairs.truncate(pairs.len() - pairs.len() % 2);
        outcome.baseline_runs.truncate(pairs.len());
        outcome.candidate_runs.truncate(pairs.len());
        outcome.evidence = Some(decide(&pairs, settings)?);
    }
    if outcome.evidence.is_none() {
        outcome.failure = Some(format!(
            "only {} gate round(s) fit in the time budget; at least 2 are needed",
            pairs.len()
        ));
    }
    if let (Some(e), Some(limit)) = (outcome.evidence.as_mut(), plan.p99_limit_ms) {
        let worst = outcome
            .candidate_runs
            .iter()
            .map(|m| m.latency.p99_ms)
            .fold(0.0, f64::max);
        if worst > limit && e.decision == Decision::Accept {
            e.decision = Decision::Reject;
            e.reason =
                format!("the candidate's p99 reached {worst:.1} ms, above the limit of {limit} ms");
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::candidate_first;

    #[test]
    fn each_pair_of_rounds_has_both_orders_and_pairs_differ() {
        for seed in 0..20 {
            for pair in 0..8 {
                assert_ne!(
                    candidate_first(2 * pair, seed),
                    candidate_first(2 * pair + 1, seed)
                );
            }
        }
        let starts: Vec<bool> = (0..16).map(|p| candidate_first(2 * p, 1)).collect();
        assert!(
            starts.contains(&true) && starts.contains(&false),
            "{starts:?}"
        );
    }
}
