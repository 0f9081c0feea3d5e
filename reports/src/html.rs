//! One self-contained HTML file: inline CSS and SVG, no script, no font or image fetched
//! from anywhere, so it opens the same from a ticket attachment, offline, printed or on a
//! phone. The first screen answers what to change, how sure we are and what it costs.

use std::fmt::Write as _;

use crate::markdown::{environment_rows, figure, knobs, ms, status};
use crate::summary::{verdict_word, Summary};
use crate::{ApplyKind, Chart, Report, TrialStatus, Verdict};

const STYLE: &str = r#"
:root { color-scheme: light; --fg:#1b1b1b; --muted:#5a5a5a; --line:#d6d6d6; --ok:#1e7a3c; --bad:#b3261e; --warn:#8a5a00; --bg-warn:#fff4d6; --bg-bad:#fde7e5; --bg-ok:#e6f4ea; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0 auto; max-width: 1100px; padding: 12px 16px 40px; line-height: 1.45; font-size: 16px; }
h1 { font-size: 1.5rem; margin: .4rem 0 .8rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(250px, 1fr)); gap: 10px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.tile h3 { margin: 0 0 .3rem; font-size: .8rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.tile p { margin: .2rem 0; }
.verdict { font-weight: 700; padding: 1px 6px; border-radius: 4px; }
.accept { background: var(--bg-ok); color: var(--ok); } .reject { background: var(--bg-bad); color: var(--bad); } .inconclusive { background: var(--bg-warn); color: var(--warn); }
.warning { background: var(--bg-warn); border-left: 4px solid var(--warn); padding: 8px 12px; margin: 8px 0; font-weight: 600; }
.risk { color: var(--bad); font-weight: 700; }
.failed { color: var(--bad); font-weight: 600; }
.table { overflow-x: auto; } table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
pre { background: #f6f6f6; border: 1px solid var(--line); padding: 8px; overflow-x: auto; white-space: pre-wrap; word-break: break-word; font-size: .85rem; }
figure { margin: 12px 0; } figure svg { width: 100%; height: auto; max-width: 760px; display: block; border: 1px solid var(--line); }
.absent { color: var(--muted); font-style: italic; }
.snippets { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 10px; }
@media print { body { max-width: none; font-size: 11pt; } h2 { break-after: avoid; } figure, .tile, pre { break-inside: avoid; } .table { overflow: visible; } }
"#;

/// Text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Accept => "accept",
        Verdict::Reject => "reject",
        Verdict::Inconclusive => "inconclusive",
    }
}

/// Render the whole report as one HTML document; `charts` from [`crate::render_charts`].
pub fn render_html(r: &Report, charts: &[Chart]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>dbtuner report: {}</title><style>{STYLE}</style></head><body>\n",
        esc(&r.title)
    );
    let _ = writeln!(o, "<h1>dbtuner report: {}</h1>", esc(&r.title));
    summary(&mut o, r);
    changes(&mut o, r);
    snippets(&mut o, r);
    gate(&mut o, r, charts);
    statements(&mut o, r, charts);
    section(&mut o, "indexes", "Index advice");
    if r.indexes.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"absent\">No index advice in this session: it tuned knobs only.</p>"
        );
    } else {
        let rows = r.indexes.iter().map(|i| {
            let opt = |v: &Option<String>| esc(v.as_deref().unwrap_or("—"));
            vec![
                format!("<code>{}</code>", esc(&i.ddl)),
                format!("<code>{}</code>", esc(&i.rollback)),
                i.size_bytes
                    .map(|b| format!("{b} B"))
                    .unwrap_or_else(|| "—".into()),
                opt(&i.gain),
                opt(&i.write_overhead),
                opt(&i.validated),
            ]
        });
        table(
            &mut o,
            &[
                "DDL",
                "rollback",
                "size",
                "gain",
                "write overhead",
                "validated",
            ],
            rows,
        );
    }
    importance(&mut o, r, charts);
    trials(&mut o, r, charts);
    environment(&mut o, r);
    if !r.notes.is_empty() {
        section(&mut o, "notes", "Notes");
        let _ = writeln!(o, "<ul>");
        for n in &r.notes {
            let _ = writeln!(o, "<li>{}</li>", esc(n));
        }
        let _ = writeln!(o, "</ul>");
    }
    let _ = writeln!(o, "</body></html>");
    o
}

fn section(o: &mut String, id: &str, title: &str) {
    let _ = writeln!(o, "<section id=\"{id}\"><h2>{}</h2></section>", esc(title));
}

/// Cells are HTML already (escaped by the caller).
fn table(o: &mut String, head: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let _ = write!(o, "<div class=\"table\"><table><thead><tr>");
    for h in head {
        let _ = write!(o, "<th>{}</th>", esc(h));
    }
    let _ = write!(o, "</tr></thead><tbody>");
    for row in rows {
        let _ = write!(o, "<tr>");
        for c in row {
            let class = if c.starts_with(|ch: char| ch.is_ascii_digit() || ch == '+' || ch == '-') {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(o, "<td{class}>{c}</td>");
        }
        let _ = write!(o, "</tr>");
    }
    let _ = writeln!(o, "</tbody></table></div>");
}

fn chart(o: &mut String, charts: &[Chart], name: &str) {
    let Some(c) = charts.iter().find(|c| c.name == name) else {
        return;
    };
    match &c.svg {
        Some(svg) => {
            let _ = writeln!(
                o,
                "<figure id=\"chart-{}\">{}<figcaption class=\"absent\">{}</figcaption></figure>",
                c.name,
                svg.trim_start_matches(|ch: char| ch != '<'),
                esc(&c.title)
            );
        }
        None => {
            let _ = writeln!(
                o,
                "<p class=\"absent\" id=\"chart-{}\">{}: {}</p>",
                c.name,
                esc(&c.title),
                esc(&c.absent)
            );
        }
    }
}

fn summary(o: &mut String, r: &Report) {
    let s = Summary::of(r);
    let _ = writeln!(o, "<section id=\"summary\">");
    for w in &s.warnings {
        let _ = writeln!(o, "<div class=\"warning\">⚠ {}</div>", esc(w));
    }
    let verdict = r.validation.as_ref().map(|v| {
        format!(
            "<span class=\"verdict {}\">{}</span> ",
            verdict_class(v.verdict),
            verdict_word(v.verdict)
        )
    });
    let costs: String = s
        .costs
        .iter()
        .map(|c| {
            if c.starts_with("DURABILITY RISK") {
                format!("<p class=\"risk\">{}</p>", esc(c))
            } else {
                format!("<p>{}</p>", esc(c))
            }
        })
        .collect();
    let _ = writeln!(
        o,
        "<div class=\"tiles\">\
         <div class=\"tile\"><h3>What to change</h3><p>{}</p></div>\
         <div class=\"tile\"><h3>How sure we are</h3><p>{}{}</p></div>\
         <div class=\"tile\"><h3>What it costs</h3>{costs}</div></div></section>",
        esc(&s.change),
        verdict.unwrap_or_default(),
        esc(&s.certainty)
    );
}

fn changes(o: &mut String, r: &Report) {
    section(o, "changes", "Recommended change");
    if r.changes.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"absent\">{}</p>",
            esc(crate::markdown::no_change(r))
        );
        return;
    }
    if !r.recommended {
        let _ = writeln!(o, "<p class=\"warning\">Not recommended: the gate did not accept this candidate. Shown for the record only.</p>");
    }
    let shared = crate::markdown::shared_evidence(r);
    if let Some(e) = shared {
        let _ = writeln!(o, "<p>Evidence: {}.</p>", esc(e));
    }
    let rows = r.changes.iter().map(|c| {
        let opt = |v: &Option<String>| esc(v.as_deref().unwrap_or("—"));
        let mut row = vec![
            format!("<code>{}</code>", esc(&c.name)),
            esc(&c.default),
            opt(&c.current),
            opt(&c.heuristic),
            format!("<strong>{}</strong>", esc(&c.candidate)),
            match c.apply {
                ApplyKind::Session => "session".into(),
                ApplyKind::Reload => "reload".into(),
                ApplyKind::Restart => "<strong>restart</strong>".into(),
            },
            if c.durability_risk {
                "<span class=\"risk\">⚠ can lose committed transactions on a crash</span>".into()
            } else {
                "safe".into()
            },
            esc(&c.description),
        ];
        if shared.is_none() {
            row.push(esc(&c.evidence));
        }
        row
    });
    let mut head = vec![
        "knob",
        "default",
        "current",
        "heuristic",
        "candidate",
        "applies by",
        "durability",
        "what it does",
    ];
    if shared.is_none() {
        head.push("evidence");
    }
    table(o, &head, rows);
}

fn snippets(o: &mut String, r: &Report) {
    section(o, "apply", "Apply it");
    if r.snippets.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"absent\">Nothing to apply: no change is recommended.</p>"
        );
        return;
    }
    if let Some(cmd) = &r.apply_command {
        let _ = writeln!(o, "<p>With dbtuner (records the previous values, the rollback and an audit entry):</p><pre>{}</pre>", esc(cmd));
    }
    let _ = writeln!(o, "<div class=\"snippets\">");
    for s in &r.snippets {
        let _ = writeln!(
            o,
            "<div><h3>{} <small>(<code>{}</code>)</small></h3><pre>{}</pre><p>Rollback:</p><pre>{}</pre></div>",
            esc(&s.title),
            esc(&s.file_name),
            esc(s.apply.trim_end()),
            esc(s.rollback.trim_end())
        );
    }
    let _ = writeln!(o, "</div>");
}

fn gate(o: &mut String, r: &Report, charts: &[Chart]) {
    section(o, "gate", "Gate verdict");
    let Some(v) = &r.validation else {
        let _ = writeln!(
            o,
            "<p class=\"absent\">No configuration was measured against the default.</p>"
        );
        return;
    };
    let pct = |x: f64| (x - 1.0) * 100.0;
    let _ = writeln!(
        o,
        "<p><span class=\"verdict {}\">{}</span> {}</p>\
         <p>Trial {} against the default over {} interleaved rounds: {:+.1}% ({:.0}% CI {:+.1}% .. {:+.1}%); \
         p99 {:.2} ms vs {:.2} ms. Default {} tx/s; candidate {} tx/s.</p>",
        verdict_class(v.verdict),
        verdict_word(v.verdict),
        esc(&v.reason),
        v.best_trial,
        v.rounds,
        pct(v.ratio),
        v.confidence * 100.0,
        pct(v.ci_low),
        pct(v.ci_high),
        v.best_p99_ms,
        v.default_p99_ms,
        esc(&figure(&Some(v.default_throughput))),
        esc(&figure(&Some(v.best_throughput)))
    );
    for q in &v.query_regressions {
        let _ = writeln!(o, "<p class=\"risk\">Query regression: {}</p>", esc(q));
    }
    if !v.method.is_empty() {
        let _ = writeln!(o, "<p class=\"absent\">Method: {}</p>", esc(&v.method));
    }
    if r.gate_rounds.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"absent\">The rounds' measurements were not recorded.</p>"
        );
    } else {
        let rows = r.gate_rounds.iter().map(|g| {
            vec![
                g.round.to_string(),
                format!("{:.1}", g.default_tps),
                format!("{:.1}", g.candidate_tps),
                format!("{:.3}", g.ratio),
                format!("{:.2}", g.default_p99_ms),
                format!("{:.2}", g.candidate_p99_ms),
            ]
        });
        table(
            o,
            &[
                "round",
                "default tx/s",
                "candidate tx/s",
                "ratio",
                "default p99 ms",
                "candidate p99 ms",
            ],
            rows,
        );
    }
    chart(o, charts, "gate_rounds");
    chart(o, charts, "gate_seconds");
    chart(o, charts, "gate_p99_seconds");
    chart(o, charts, "latency");
}

fn statements(o: &mut String, r: &Report, charts: &[Chart]) {
    section(o, "statements", "Per-statement latency");
    if r.statements.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"absent\">No per-statement latency was measured in the gate.</p>"
        );
    } else {
        driver_statements(o, r, charts);
    }
    server_statements(o, r);
}

/// The server's own counters, beside the driver's timings.
fn server_statements(o: &mut String, r: &Report) {
    let _ = writeln!(o, "<h3>The server's top statements</h3>");
    let rows = r.server_statements();
    if rows.is_empty() {
        let _ = writeln!(o, "<p class=\"absent\">The server's statement statistics were not recorded for these trials (PostgreSQL: pg_stat_statements in shared_preload_libraries and the extension created; MySQL/MariaDB: performance_schema on).</p>");
        return;
    }
    let rows = rows.into_iter().map(|(trial, s)| {
        let mean = if s.calls > 0.0 {
            s.total_ms / s.calls
        } else {
            0.0
        };
        vec![
            esc(&trial),
            format!("<code>{}</code>", esc(&s.text)),
            format!("{:.0}", s.calls),
            format!("{:.1}", s.total_ms),
            format!("{mean:.3}"),
        ]
    });
    table(
        o,
        &["trial", "statement", "calls", "total ms", "mean ms"],
        rows,
    );
}

fn driver_statements(o: &mut String, r: &Report, charts: &[Chart]) {
    let rows = r.statements.iter().map(|s| {
        vec![
            format!("<code>{}</code>", esc(&s.statement)),
            format!("{:.0}", s.calls),
            format!("{:.3}", s.default_mean_ms),
            format!("{:.3}", s.candidate_mean_ms),
            format!("{:.3}", s.default_p99_ms),
            format!("{:.3}", s.candidate_p99_ms),
        ]
    });
    table(
        o,
        &[
            "statement",
            "runs per round",
            "default mean ms",
            "candidate mean ms",
            "default p99 ms",
            "candidate p99 ms",
        ],
        rows,
    );
    chart(o, charts, "statements");
}

fn importance(o: &mut String, r: &Report, charts: &[Chart]) {
    section(o, "importance", "Knob importance");
    if !r.narrowed_to.is_empty() {
        let _ = writeln!(
            o,
            "<p>After the initial design the search was narrowed to: {}.</p>",
            esc(&r.narrowed_to.join(", "))
        );
    }
    if r.importance.is_empty() {
        let _ = writeln!(o, "<p class=\"absent\">Not computed for this session: the space was not narrowed (use --knobs top:N).</p>");
        return;
    }
    chart(o, charts, "importance");
}

fn trials(o: &mut String, r: &Report, charts: &[Chart]) {
    section(o, "trials", "Trials");
    if r.default.is_none() && r.trials.is_empty() {
        let _ = writeln!(o, "<p class=\"absent\">No trial was recorded.</p>");
        return;
    }
    chart(o, charts, "convergence");
    chart(o, charts, "convergence_compared");
    chart(o, charts, "throughput");
    let rows = r.default.iter().chain(&r.trials).map(|t| {
        let tel = t.telemetry.unwrap_or_default();
        let status = match &t.status {
            TrialStatus::Measured => esc(&status(t)),
            _ => format!("<span class=\"failed\">{}</span>", esc(&status(t))),
        };
        let config =
            esc(&knobs(t)).replace("⚠ durability", "<span class=\"risk\">⚠ durability</span>");
        vec![
            esc(&t.label),
            config,
            status,
            esc(&figure(&t.throughput)),
            ms(t.p50_ms),
            ms(t.p95_ms),
            ms(t.p99_ms),
            t.errors.to_string(),
            tel.buffer_hit_ratio
                .map(|h| format!("{:.1}", h * 100.0))
                .unwrap_or_else(|| "—".into()),
            tel.wal_bytes_per_xact
                .map(|w| format!("{w:.0}"))
                .unwrap_or_else(|| "—".into()),
            esc(&crate::markdown::waits(t)),
        ]
    });
    let _ = writeln!(o, "<p>Throughput: transactions per second, mean ± stdev of per-second samples. Telemetry per trial: buffer hit ratio, WAL or redo bytes per transaction and the most frequent waits sampled.</p>");
    table(
        o,
        &[
            "#",
            "configuration",
            "status",
            "tx/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "errors",
            "hit %",
            "WAL B/tx",
            "top waits",
        ],
        rows,
    );
}

fn environment(o: &mut String, r: &Report) {
    section(o, "environment", "Environment");
    let rows = environment_rows(r)
        .into_iter()
        .map(|(k, v)| vec![esc(k), esc(&v)]);
    table(o, &["", ""], rows);
    if !r.environment.reproduce.is_empty() {
        let _ = writeln!(
            o,
            "<p>To reproduce:</p><pre>{}</pre>",
            esc(&r.environment.reproduce.join("\n"))
        );
    }
}
