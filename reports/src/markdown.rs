//! Markdown rendering of a report, for the DBA who decides.

use std::fmt::Write as _;

use crate::summary::{verdict_word, Summary};
use crate::{ApplyKind, Chart, Figure, Report, TrialRecord, TrialStatus};

pub(crate) fn figure(f: &Option<Figure>) -> String {
    match f {
        Some(f) => format!(
            "{:.0} ± {:.0} (min {:.0}, max {:.0}, n = {})",
            f.mean, f.stdev, f.min, f.max, f.samples
        ),
        None => "—".into(),
    }
}

pub(crate) fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into())
}

pub(crate) fn knobs(trial: &TrialRecord) -> String {
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

pub(crate) fn status(trial: &TrialRecord) -> String {
    match &trial.status {
        TrialStatus::Measured => "measured".into(),
        TrialStatus::Failed { reason } => {
            format!("failed: {}", reason.lines().next().unwrap_or_default())
        }
        TrialStatus::Rejected { reason } => format!("rejected: {reason}"),
    }
}

/// A table cell: no line breaks, no column separators.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn chart(out: &mut String, charts: &[Chart], name: &str) {
    if let Some(c) = charts.iter().find(|c| c.name == name) {
        match c.svg {
            Some(_) => {
                let _ = writeln!(out, "\n![{}](charts/{}.svg)", c.title, c.name);
            }
            None => {
                let _ = writeln!(out, "\n_{}: {}_", c.title, c.absent);
            }
        }
    }
}

fn apply_kind(a: ApplyKind) -> &'static str {
    match a {
        ApplyKind::Session => "session",
        ApplyKind::Reload => "reload",
        ApplyKind::Restart => "**restart**",
    }
}

/// Render the report as Markdown; `charts` (from [`crate::render_charts`]) are linked as
/// `charts/NAME.svg`, which the caller writes beside the Markdown.
pub fn render_markdown(r: &Report, charts: &[Chart]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# dbtuner report: {}\n", r.title);
    summary(&mut out, r);
    changes(&mut out, r);
    snippets(&mut out, r);
    gate(&mut out, r, charts);
    statements(&mut out, r, charts);
    let _ = writeln!(out, "\n## Index advice\n");
    if r.indexes.is_empty() {
        let _ = writeln!(out, "No index advice in this session: it tuned knobs only.");
    } else {
        let _ = writeln!(out, "| DDL | rollback | size | gain | write overhead | validated |\n|---|---|---|---|---|---|");
        for i in &r.indexes {
            let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
            let size = i
                .size_bytes
                .map(|b| format!("{b} B"))
                .unwrap_or_else(|| "—".into());
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {size} | {} | {} | {} |",
                cell(&i.ddl),
                cell(&i.rollback),
                opt(&i.gain),
                opt(&i.write_overhead),
                opt(&i.validated)
            );
        }
    }
    importance(&mut out, r, charts);
    trials(&mut out, r, charts);
    environment(&mut out, r);
    if !r.notes.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
}

fn summary(out: &mut String, r: &Report) {
    let s = Summary::of(r);
    let _ = writeln!(out, "## Summary\n");
    for w in &s.warnings {
        let _ = writeln!(out, "> **⚠ {w}**\n");
    }
    let _ = writeln!(out, "- **What to change:** {}", s.change);
    match &r.validation {
        Some(v) => {
            let _ = writeln!(
                out,
                "- **How sure:** **{}** — {}",
                verdict_word(v.verdict),
                s.certainty
            );
        }
        None => {
            let _ = writeln!(out, "- **How sure:** {}", s.certainty);
        }
    }
    let _ = writeln!(out, "- **What it costs:** {}", s.costs.join(" "));
}

fn changes(out: &mut String, r: &Report) {
    let _ = writeln!(out, "\n## Recommended change\n");
    if r.changes.is_empty() {
        let _ = writeln!(out, "{}", no_change(r));
        return;
    }
    if !r.recommended {
        let _ = writeln!(out, "**Not recommended**: the gate did not accept this candidate. Shown for the record only.\n");
    }
    let shared = shared_evidence(r);
    if let Some(e) = shared {
        let _ = writeln!(out, "Evidence: {e}.\n");
    }
    let evidence_head = if shared.is_none() { " evidence |" } else { "" };
    let evidence_rule = if shared.is_none() { "---|" } else { "" };
    let _ = writeln!(out, "| knob | default | current | heuristic | candidate | applies by | durability | what it does |{evidence_head}\n|---|---|---|---|---|---|---|---|{evidence_rule}");
    for c in &r.changes {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
        let risk = if c.durability_risk {
            "**⚠ can lose committed transactions on a crash**"
        } else {
            "safe"
        };
        let evidence = match shared {
            Some(_) => String::new(),
            None => format!(" {} |", cell(&c.evidence)),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | **{}** | {} | {risk} | {} |{evidence}",
            c.name,
            cell(&c.default),
            cell(&opt(&c.current)),
            cell(&opt(&c.heuristic)),
            cell(&c.candidate),
            apply_kind(c.apply),
            cell(&c.description),
        );
    }
}

/// The evidence when every knob has the same (one candidate, one gate): said once.
pub(crate) fn shared_evidence(r: &Report) -> Option<&str> {
    let first = r.changes.first()?;
    r.changes
        .iter()
        .all(|c| c.evidence == first.evidence)
        .then_some(first.evidence.as_str())
}

fn snippets(out: &mut String, r: &Report) {
    let _ = writeln!(out, "\n## Apply it\n");
    if r.snippets.is_empty() {
        let _ = writeln!(out, "Nothing to apply: no change is recommended.");
        return;
    }
    if let Some(cmd) = &r.apply_command {
        let _ = writeln!(out, "With dbtuner (records the previous values, the rollback and an audit entry):\n\n```sh\n{cmd}\n```\n");
    }
    for s in &r.snippets {
        let _ = writeln!(
            out,
            "**{}** (also in `{}`):\n\n```\n{}\n```\n\nRollback:\n\n```\n{}\n```\n",
            s.title,
            s.file_name,
            s.apply.trim_end(),
            s.rollback.trim_end()
        );
    }
}

fn gate(out: &mut String, r: &Report, charts: &[Chart]) {
    let _ = writeln!(out, "\n## Gate verdict\n");
    let Some(v) = &r.validation else {
        let _ = writeln!(out, "No configuration was measured against the default.");
        return;
    };
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
        "- verdict: **{}**: {}",
        verdict_word(v.verdict),
        v.reason
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
    if r.gate_rounds.is_empty() {
        let _ = writeln!(out, "\nThe rounds' measurements were not recorded.");
    } else {
        let _ = writeln!(out, "\n| round | default tx/s | candidate tx/s | ratio | default p99 ms | candidate p99 ms |\n|---|---|---|---|---|---|");
        for g in &r.gate_rounds {
            let _ = writeln!(
                out,
                "| {} | {:.1} | {:.1} | {:.3} | {:.2} | {:.2} |",
                g.round,
                g.default_tps,
                g.candidate_tps,
                g.ratio,
                g.default_p99_ms,
                g.candidate_p99_ms
            );
        }
    }
    chart(out, charts, "gate_rounds");
    chart(out, charts, "gate_seconds");
    chart(out, charts, "gate_p99_seconds");
    chart(out, charts, "latency");
}

fn statements(out: &mut String, r: &Report, charts: &[Chart]) {
    let _ = writeln!(out, "\n## Per-statement latency\n");
    if r.statements.is_empty() {
        let _ = writeln!(out, "No per-statement latency was measured in the gate.");
    } else {
        driver_statements(out, r, charts);
    }
    server_statements(out, r);
}

/// The server's own counters, beside the driver's timings: they include what the driver
/// cannot see (statements of other sessions, time inside the server only).
fn server_statements(out: &mut String, r: &Report) {
    let _ = writeln!(out, "\n### The server's top statements\n");
    let rows = r.server_statements();
    if rows.is_empty() {
        let _ = writeln!(out, "The server's statement statistics were not recorded for these trials (PostgreSQL: pg_stat_statements in shared_preload_libraries and the extension created; MySQL/MariaDB: performance_schema on).");
        return;
    }
    let _ = writeln!(
        out,
        "| trial | statement | calls | total ms | mean ms |\n|---|---|---|---|---|"
    );
    for (trial, s) in rows {
        let mean = if s.calls > 0.0 {
            s.total_ms / s.calls
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.1} | {:.3} |",
            cell(&trial),
            cell(&s.text),
            s.calls,
            s.total_ms,
            mean
        );
    }
}

fn driver_statements(out: &mut String, r: &Report, charts: &[Chart]) {
    let _ = writeln!(out, "| statement | runs per round | default mean ms | candidate mean ms | default p99 ms | candidate p99 ms |\n|---|---|---|---|---|---|");
    for s in &r.statements {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} |",
            cell(&s.statement),
            s.calls,
            s.default_mean_ms,
            s.candidate_mean_ms,
            s.default_p99_ms,
            s.candidate_p99_ms
        );
    }
    chart(out, charts, "statements");
}

fn importance(out: &mut String, r: &Report, charts: &[Chart]) {
    let _ = writeln!(out, "\n## Knob importance\n");
    if !r.narrowed_to.is_empty() {
        let _ = writeln!(
            out,
            "After the initial design the search was narrowed to: {}.\n",
            r.narrowed_to.join(", ")
        );
    }
    if r.importance.is_empty() {
        let _ = writeln!(
            out,
            "Not computed for this session: the space was not narrowed (use --knobs top:N)."
        );
        return;
    }
    let _ = writeln!(
        out,
        "| knob | importance (Lasso path, 1 = first to enter) |\n|---|---|"
    );
    for k in &r.importance {
        let _ = writeln!(out, "| {} | {:.2} |", k.name, k.score);
    }
    chart(out, charts, "importance");
}

fn trials(out: &mut String, r: &Report, charts: &[Chart]) {
    let _ = writeln!(out, "\n## Trials\n");
    if r.default.is_none() && r.trials.is_empty() {
        let _ = writeln!(out, "No trial was recorded.");
        return;
    }
    let _ = writeln!(
        out,
        "Throughput is transactions per second: mean ± stdev of per-second samples.\n"
    );
    let _ = writeln!(out, "Server telemetry per trial (the workload's telemetry): buffer hit ratio, checkpoints (timed/requested), WAL or redo bytes per transaction, and the most frequent waits sampled.\n");
    let _ = writeln!(out, "| # | configuration | status | tx/s | p50 ms | p95 ms | p99 ms | errors | hit % | ckpt t/r | WAL B/tx | top waits |\n|---|---|---|---|---|---|---|---|---|---|---|---|");
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
        let status = match &t.status {
            TrialStatus::Measured => status(t),
            _ => format!("**{}**", status(t)),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {hit} | {ckpt} | {wal} | {} |",
            t.label,
            cell(&knobs(t)),
            cell(&status),
            figure(&t.throughput),
            ms(t.p50_ms),
            ms(t.p95_ms),
            ms(t.p99_ms),
            t.errors,
            cell(&waits(t))
        );
    }
    chart(out, charts, "convergence");
    chart(out, charts, "convergence_compared");
    chart(out, charts, "throughput");
}

fn environment(out: &mut String, r: &Report) {
    let _ = writeln!(out, "\n## Environment\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let e = &r.environment;
    for (k, v) in environment_rows(r) {
        let _ = writeln!(out, "| {k} | {} |", cell(&v));
    }
    if !e.reproduce.is_empty() {
        let _ = writeln!(out, "\nTo reproduce:\n\n```sh");
        for c in &e.reproduce {
            let _ = writeln!(out, "{c}");
        }
        let _ = writeln!(out, "```");
    }
}

/// The trial's top waits, "event ×samples" (the first three).
pub(crate) fn waits(t: &TrialRecord) -> String {
    if t.top_waits.is_empty() {
        return "—".into();
    }
    t.top_waits
        .iter()
        .take(3)
        .map(|(event, n)| format!("{event} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the change table is empty.
pub(crate) fn no_change(r: &Report) -> &'static str {
    if r.validation.is_some() {
        "No knob differs from the default in the gate's candidate: nothing to change."
    } else {
        "No candidate went through the gate: nothing to change."
    }
}

/// The environment as label/value pairs (shared with the HTML).
pub(crate) fn environment_rows(r: &Report) -> Vec<(&'static str, String)> {
    let e = &r.environment;
    let or_unknown = |s: &str| {
        if s.is_empty() {
            "unknown".to_string()
        } else {
            s.to_string()
        }
    };
    vec![
        (
            "session",
            r.session_id
                .map(|i| format!("{i} ({})", or_unknown(&e.session_status)))
                .unwrap_or_else(|| "—".into()),
        ),
        ("started", or_unknown(&e.started_at)),
        ("report written", or_unknown(&r.generated_at)),
        ("engine", format!("{} {}", r.engine, r.server_version)),
        ("staging target", or_unknown(&e.target)),
        (
            "workload",
            format!("{} ({} clients)", r.workload, r.clients),
        ),
        ("machine", or_unknown(&r.hardware)),
        ("dbtuner", or_unknown(&e.dbtuner_version)),
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
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KnobSetting, Validation, Verdict};

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
            score: Some(1000.0),
            top_waits: Vec::new(),
            top_statements: Vec::new(),
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
            accept_above: Some(1.02),
        });
        r.narrowed_to = vec!["shared_buffers".into()];
        r.importance = vec![crate::KnobImportance {
            name: "shared_buffers".into(),
            score: 1.0,
        }];
        let md = render_markdown(&r, &crate::render_charts(&r).unwrap());
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
