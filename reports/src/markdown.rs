//! Markdown rendering of a report, for the DBA who decides.

use std::fmt::Write as _;

use crate::{Figure, Report, TrialRecord, TrialStatus, Verdict};

fn figure(f: &Option<Figure>) -> String {
    match f {
        Some(f) => format!(
            "{:.0} ± {:.0} (min {:.0}, max {:.0}, n = {})",
            f.mean, f.stdev, f.min, f.max, f.samples
        ),
        None => "—".into(),
    }
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into())
}

fn knobs(trial: &TrialRecord) -> String {
    if trial.knobs.is_empty() {
        return "defaults".into();
    }
    trial
        .knobs
        .iter()
        .map(|k| {
            let applied = match &k.applied {
                Some(a) if a != &k.value => format!(" (server: {a})"),
                _ => String::new(),
            };
            let risk = if k.durability_risk {
                " ⚠ durability"
            } else {
                ""
            };
            format!("{}={}{applied}{risk}", k.name, k.value)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn status(trial: &TrialRecord) -> String {
    match &trial.status {
        TrialStatus::Measured => "measured".into(),
        TrialStatus::Failed { reason } => {
            format!("failed: {}", reason.lines().next().unwrap_or_default())
        }
        TrialStatus::Rejected { reason } => format!("rejected: {reason}"),
    }
}

/// Render the report as Markdown.
pub fn render_markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# dbtuner report: {}\n", r.title);
    let _ = writeln!(out, "| | |\n|---|---|");
    for (k, v) in [
        ("generated", r.generated_at.clone()),
        ("engine", format!("{} {}", r.engine, r.server_version)),
        (
            "workload",
            format!("{} ({} clients)", r.workload, r.clients),
        ),
        ("machine", r.hardware.clone()),
        ("optimizer", format!("{} (seed {})", r.optimizer, r.seed)),
        ("search space", r.search_space.join(", ")),
        (
            "durability risk allowed",
            if r.allow_durability_risk {
                "yes: knobs marked ⚠ can lose committed transactions on a crash".into()
            } else {
                "no: every searched knob keeps committed transactions safe".to_string()
            },
        ),
        (
            "measurement",
            format!(
                "{:.0} s per trial after warm-up; run took {:.0} s",
                r.measure_secs, r.elapsed_secs
            ),
        ),
    ] {
        let _ = writeln!(out, "| {k} | {v} |");
    }

    let _ = writeln!(out, "\n## Result\n");
    match &r.validation {
        Some(v) => {
            let pct = |x: f64| (x - 1.0) * 100.0;
            let objective = if v.objective.is_empty() {
                "throughput"
            } else {
                v.objective.as_str()
            };
            let _ = writeln!(
                out,
                "Best configuration (trial {}) vs the default, measured interleaved over {} rounds in this run: \
                 {objective} **{:+.1}%** ({:.0}% CI {:+.1}% .. {:+.1}%), p99 latency {:.2} ms vs {:.2} ms.\n",
                v.best_trial,
                v.rounds,
                pct(v.ratio),
                v.confidence * 100.0,
                pct(v.ci_low),
                pct(v.ci_high),
                v.best_p99_ms,
                v.default_p99_ms
            );
            let _ = writeln!(
                out,
                "- default: {} tx/s",
                figure(&Some(v.default_throughput))
            );
            let _ = writeln!(out, "- best: {} tx/s", figure(&Some(v.best_throughput)));
            let rounds: Vec<String> = v
                .round_ratios
                .iter()
                .map(|x| format!("{:+.1}%", pct(*x)))
                .collect();
            let _ = writeln!(out, "- per round: {}", rounds.join(", "));
            if let Some([ratio, low, high]) = v.p99_ratio {
                let _ = writeln!(
                    out,
                    "- p99 best / default: {ratio:.3} (CI {low:.3} .. {high:.3}; above 1 is slower)"
                );
            }
            for q in &v.query_regressions {
                let _ = writeln!(out, "- query regression: {q}");
            }
            if !v.method.is_empty() {
                let _ = writeln!(out, "- method: {}", v.method);
            }
            let verdict = match v.verdict {
                Verdict::Accept => "**accept**",
                Verdict::Reject => "**reject**",
                Verdict::Inconclusive => "**inconclusive**",
            };
            let _ = writeln!(out, "- verdict: {verdict}: {}", v.reason);
        }
        None => {
            let _ = writeln!(out, "No configuration was measured against the default.");
        }
    }
    if !r.recommendation.is_empty() {
        let _ = writeln!(out, "\nRecommended settings:\n\n```");
        for line in &r.recommendation {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out, "```");
    }

    if !r.narrowed_to.is_empty() || !r.importance.is_empty() {
        let _ = writeln!(out, "\n## Knob importance\n");
        if !r.narrowed_to.is_empty() {
            let _ = writeln!(
                out,
                "After the initial design the search was narrowed to: {}.\n",
                r.narrowed_to.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "| knob | importance (Lasso path, 1 = first to enter) |\n|---|---|"
        );
        for k in &r.importance {
            let _ = writeln!(out, "| {} | {:.2} |", k.name, k.score);
        }
    }

    let _ = writeln!(out, "\n## Trials\n");
    let _ = writeln!(
        out,
        "Throughput is transactions per second: mean ± stdev of per-second samples.\n"
    );
    let _ = writeln!(out, "Server telemetry per trial: buffer hit ratio, checkpoints (timed/requested) and WAL or redo bytes per transaction.\n");
    let _ = writeln!(out, "| # | configuration | status | tx/s | p50 ms | p95 ms | p99 ms | errors | hit % | ckpt t/r | WAL B/tx |\n|---|---|---|---|---|---|---|---|---|---|---|");
    for t in r.default.iter().chain(&r.trials) {
        let tel = t.telemetry.unwrap_or_default();
        let hit = tel
            .buffer_hit_ratio
            .map(|h| format!("{:.1}", h * 100.0))
            .unwrap_or_else(|| "—".into());
        let ckpt = match (tel.checkpoints_timed, tel.checkpoints_requested) {
            (Some(a), Some(b)) => format!("{a:.0}/{b:.0}"),
            _ => "—".into(),
        };
        let wal = tel
            .wal_bytes_per_xact
            .map(|w| format!("{w:.0}"))
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {hit} | {ckpt} | {wal} |",
            t.label,
            knobs(t),
            status(t),
            figure(&t.throughput),
            ms(t.p50_ms),
            ms(t.p95_ms),
            ms(t.p99_ms),
            t.errors
        );
    }
    if !r.notes.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KnobSetting, Validation};

    #[test]
    fn marks_durability_risk_and_shows_spread() {
        let mut r = Report::empty("demo");
        r.allow_durability_risk = true;
        let trial = TrialRecord {
            id: 1,
            label: "1".into(),
            knobs: vec![KnobSetting {
                name: "synchronous_commit".into(),
                value: "off".into(),
                applied: Some("off".into()),
                durability_risk: true,
            }],
            status: TrialStatus::Measured,
            throughput: Some(Figure {
                mean: 1000.0,
                stdev: 50.0,
                min: 900.0,
                max: 1100.0,
                samples: 10,
            }),
            p50_ms: Some(1.0),
            p95_ms: Some(2.0),
            p99_ms: Some(3.0),
            errors: 0,
            restarted: false,
            telemetry: None,
        };
        r.trials.push(trial);
        let f = Figure {
            mean: 800.0,
            stdev: 40.0,
            min: 700.0,
            max: 900.0,
            samples: 10,
        };
        r.validation = Some(Validation {
            best_trial: 1,
            rounds: 2,
            default_throughput: f,
            best_throughput: f,
            ratio: 1.25,
            ci_low: 1.2,
            ci_high: 1.3,
            confidence: 0.95,
            round_ratios: vec![1.2, 1.3],
            default_p99_ms: 3.0,
            best_p99_ms: 2.0,
            verdict: Verdict::Accept,
            reason: "significant".into(),
            objective: "throughput".into(),
            method: "t interval over rounds".into(),
            p99_ratio: Some([0.67, 0.6, 0.75]),
            query_regressions: Vec::new(),
        });
        r.narrowed_to = vec!["shared_buffers".into()];
        r.importance = vec![crate::KnobImportance {
            name: "shared_buffers".into(),
            score: 1.0,
        }];
        let md = render_markdown(&r);
        assert!(md.contains("synchronous_commit=off ⚠ durability"), "{md}");
        assert!(md.contains("1000 ± 50 (min 900, max 1100, n = 10)"), "{md}");
        assert!(md.contains("**+25.0%** (95% CI +20.0% .. +30.0%)"), "{md}");
        assert!(md.contains("narrowed to: shared_buffers"), "{md}");
        assert!(md.contains("p99 best / default: 0.670"), "{md}");
        let json = crate::render_json(&r).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
