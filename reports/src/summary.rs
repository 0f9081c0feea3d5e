//! The report's first screen, in words: what to change, how sure we are, what it costs. Every
//! format shows the same three answers, so they are worked out once here.

use crate::{ApplyKind, Report, Verdict};

/// The three answers a DBA reads first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// What to change (or that nothing should change, and why).
    pub change: String,
    /// The measured gain with its interval and the verdict's reason (the verdict itself is
    /// [`verdict_word`] of the report's validation, which each format shows its own way).
    pub certainty: String,
    /// Restart, durability and memory.
    pub costs: Vec<String>,
    /// A risk the reader must not miss (durability, a failed trial), shown highlighted.
    pub warnings: Vec<String>,
}

fn pct(x: f64) -> f64 {
    (x - 1.0) * 100.0
}

fn bytes(b: u64) -> String {
    let gib = b as f64 / (1u64 << 30) as f64;
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{:.0} MiB", b as f64 / (1u64 << 20) as f64)
    }
}

/// The verdict in one word, upper case so that it stands out in every format.
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Accept => "ACCEPT",
        Verdict::Reject => "REJECT",
        Verdict::Inconclusive => "INCONCLUSIVE",
    }
}

impl Summary {
    pub fn of(r: &Report) -> Summary {
        let values = r
            .changes
            .iter()
            .map(|c| format!("{} = {}", c.name, c.candidate))
            .collect::<Vec<_>>()
            .join(", ");
        let change = match &r.validation {
            _ if r.recommended && !r.changes.is_empty() => {
                format!("Change {} setting(s): {values}.", r.changes.len())
            }
            Some(v) if v.verdict == Verdict::Accept => {
                "Keep the current configuration: the accepted candidate differs from the default in no knob.".to_string()
            }
            Some(v) => format!(
                "Keep the current configuration. The best candidate (trial {}{}) was not shown to help: the gate's verdict is {}.",
                v.best_trial,
                if values.is_empty() { String::new() } else { format!(": {values}") },
                verdict_word(v.verdict).to_lowercase()
            ),
            None => "Keep the current configuration: no candidate was measured against the default.".to_string(),
        };
        let certainty = match &r.validation {
            Some(v) => {
                let objective = if v.objective.is_empty() {
                    "throughput"
                } else {
                    &v.objective
                };
                format!(
                    "{objective} {:+.1}% ({:.0}% CI {:+.1}% .. {:+.1}%) over {} interleaved rounds; {}",
                    pct(v.ratio),
                    v.confidence * 100.0,
                    pct(v.ci_low),
                    pct(v.ci_high),
                    v.rounds,
                    v.reason
                )
            }
            None => "No verdict: the gate did not run.".to_string(),
        };
        let mut costs = Vec::new();
        let mut warnings = Vec::new();
        if r.changes.is_empty() {
            costs.push("Nothing to apply.".to_string());
        } else {
            let restart: Vec<&str> = r
                .changes
                .iter()
                .filter(|c| c.apply == ApplyKind::Restart)
                .map(|c| c.name.as_str())
                .collect();
            costs.push(if restart.is_empty() {
                "No restart: every setting applies with a reload.".to_string()
            } else {
                format!(
                    "Restart needed for {} (apply with --allow-restart).",
                    restart.join(", ")
                )
            });
            let risky: Vec<String> = r
                .changes
                .iter()
                .filter(|c| c.durability_risk)
                .map(|c| format!("{} = {}", c.name, c.candidate))
                .collect();
            if risky.is_empty() {
                costs.push(
                    "No durability risk: committed transactions stay safe on a crash.".to_string(),
                );
            } else {
                let text = format!(
                    "DURABILITY RISK: {} can lose committed transactions on a crash.",
                    risky.join(", ")
                );
                costs.push(text.clone());
                warnings.push(text);
            }
        }
        if let Some(m) = r.memory {
            costs.push(format!(
                "Memory: worst case {} of a {} budget ({} RAM).",
                bytes(m.worst_case_bytes),
                bytes(m.budget_bytes),
                bytes(m.ram_bytes)
            ));
        }
        let failed = r
            .default
            .iter()
            .chain(&r.trials)
            .filter(|t| t.status != crate::TrialStatus::Measured)
            .count();
        if failed > 0 {
            warnings.push(format!(
                "{failed} trial(s) failed or were refused; see the trials table for the reasons."
            ));
        }
        if r.validation
            .as_ref()
            .is_some_and(|v| v.verdict == Verdict::Inconclusive)
        {
            warnings.push("INCONCLUSIVE: the gain is within the noise of this run; do not apply it on this evidence.".to_string());
        }
        Summary {
            change,
            certainty,
            costs,
            warnings,
        }
    }
}
