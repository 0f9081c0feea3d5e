//! `dbtuner advise indexes`: argument checks, the sandbox for a built-in, and the three
//! outputs (text for a person, `--json`, `--sql`).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use knobs::Engine;
use workloads::TargetUrl;

use super::args::{AdviseCommand, AdviseIndexesArgs, AlgorithmArg, WhatIfArg};
use crate::advise::{self, Advice, AdviseSettings, Algorithm, Mechanism, Source};
use crate::BadInput;

/// "20%" or a fraction "0.2".
fn fraction(flag: &str, text: &str) -> Result<f64, BadInput> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| BadInput(format!("{flag} '{text}': a percentage such as 20%")))?;
    if !(v.is_finite() && (0.0..=10.0).contains(&v)) {
        return Err(BadInput(format!("{flag} '{text}': between 0% and 1000%")));
    }
    Ok(v)
}

pub async fn run(command: AdviseCommand) -> Result<ExitCode> {
    match command {
        AdviseCommand::Indexes(a) => indexes(a).await,
    }
}

async fn indexes(args: AdviseIndexesArgs) -> Result<ExitCode> {
    // Every argument is checked before anything connects.
    let settings = AdviseSettings {
        budget: Some(advise::parse_budget(&args.budget)?),
        max_per_table: args.max_per_table as usize,
        min_gain: fraction("--min-gain", &args.min_gain)?,
        max_regression: fraction("--max-regression", &args.max_regression)?,
        algorithm: match args.algorithm {
            AlgorithmArg::Extend => Algorithm::Extend,
            AlgorithmArg::Greedy => Algorithm::Greedy,
            AlgorithmArg::Exhaustive => Algorithm::Exhaustive,
            AlgorithmArg::PerStatement => Algorithm::PerStatement,
        },
        min_unused_window: humantime::parse_duration(&args.min_unused_window).map_err(|e| {
            BadInput(format!(
                "--min-unused-window '{}': {e}",
                args.min_unused_window
            ))
        })?,
        mechanism: match args.whatif {
            WhatIfArg::Auto => None,
            WhatIfArg::Hypopg => Some(Mechanism::Hypopg),
            WhatIfArg::Staging => Some(Mechanism::StagingTransaction),
        },
        seed: args.seed,
    };
    let staging: Option<TargetUrl> = args.staging.as_deref().map(str::parse).transpose()?;
    let validate_measure = humantime::parse_duration(&args.validate_duration).map_err(|e| {
        BadInput(format!(
            "--validate-duration '{}': {e}",
            args.validate_duration
        ))
    })?;
    if args.validate && staging.is_none() && args.sandbox.is_none() {
        return Err(BadInput(
            "--validate builds the indexes on a staging copy: give --staging URL (or use --sandbox)"
                .into(),
        )
        .into());
    }
    let source = if let Some(w) = &args.workload {
        let (spec, _) = crate::bench::resolve_workload(w, args.scale)?;
        Source::Workload(Box::new(spec))
    } else if let Some(path) = &args.queries {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BadInput(format!("--queries {}: {e}", path.display())))?;
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Source::Queries { text, file }
    } else {
        Source::Stats {
            min_calls: args.min_calls,
            top: args.top as usize,
        }
    };

    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress.enable_steady_tick(Duration::from_millis(200));
    // A sandbox lives for the whole run; it is its own staging copy.
    let mut _sandbox = None;
    let (target, staging) = match (&args.target, args.sandbox) {
        (Some(url), None) => (url.parse::<TargetUrl>()?, staging),
        (None, Some(engine)) => {
            let engine: Engine = engine.into();
            let Some(name) = &args.workload else {
                return Err(
                    BadInput("--sandbox needs --workload: a built-in to load".into()).into(),
                );
            };
            let (_, builtin) = crate::bench::resolve_workload(name, args.scale)?;
            let Some(builtin) = builtin else {
                return Err(BadInput(format!(
                    "--sandbox loads a built-in workload; '{name}' is a file"
                ))
                .into());
            };
            progress.set_message(format!("starting a {} sandbox", engine.display_name()));
            let (sandbox, url) = crate::bench::sandbox_database(engine).await?;
            progress.set_message(format!(
                "loading {} at scale {}",
                builtin.name,
                builtin.scale_factor()
            ));
            builtin
                .load(&url)
                .await
                .context("loading the workload's tables")?;
            if engine == Engine::Postgres {
                let client = workloads::target::connect_postgres(&url).await?;
                client.batch_execute("ANALYZE").await?;
                advise::hypopg::ensure(&client).await?;
            }
            _sandbox = Some(sandbox);
            (url.clone(), staging.or(Some(url)))
        }
        _ => {
            return Err(
                BadInput("give exactly one of --target URL or --sandbox ENGINE".into()).into(),
            )
        }
    };
    let report = |m: &str| progress.set_message(m.to_string());
    let result = tokio::select! {
        r = advise::advise(&target, staging.as_ref(), source, &settings, &report) => r,
        _ = tokio::signal::ctrl_c() => {
            progress.finish_and_clear();
            return Err(anyhow::anyhow!("interrupted"));
        }
    };
    let mut advice = result?;
    if args.validate && !advice.recommendations.is_empty() {
        if let (Some(staging), Some(workload)) = (staging.as_ref(), advice.workload.clone()) {
            let indexes: Vec<_> = advice
                .recommendations
                .iter()
                .map(|r| r.index.clone())
                .collect();
            let options = advise::validate::ValidateOptions {
                rounds: args.validate_rounds as usize,
                clients: args.clients as usize,
                warmup: Duration::from_secs(2).min(validate_measure),
                measure: validate_measure,
                seed: args.seed,
            };
            let validation = tokio::select! {
                r = advise::validate::validate(staging, advice.engine, &workload, &indexes, &options, &report) => r,
                _ = tokio::signal::ctrl_c() => {
                    progress.finish_and_clear();
                    return Err(anyhow::anyhow!("interrupted (the validation indexes dbtuner_validate_* may remain on staging)"));
                }
            };
            advice.validation = Some(validation?);
        }
    }
    progress.finish_and_clear();
    if let Some(path) = &args.plan {
        crate::apply::Plan::from_advice(&advice)
            .save(path)
            .with_context(|| format!("writing the plan {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&advice)?);
    } else if args.sql {
        print!("{}", render_sql(&advice));
    } else {
        print!("{}", render_text(&advice));
    }
    Ok(ExitCode::SUCCESS)
}

fn size(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..=1023 => format!("{bytes} B"),
        1024..=1_048_575 => format!("{:.0} kB", b / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.1} MB", b / 1_048_576.0),
        _ => format!("{:.2} GB", b / 1_073_741_824.0),
    }
}

fn percent(change: f64) -> String {
    format!("{:+.1}%", change * 100.0)
}

/// The DDL alone, for a migration or a ticket.
pub fn render_sql(a: &Advice) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- dbtuner index advice for {} ({} {}): estimated workload cost {}",
        a.target,
        a.engine.display_name(),
        a.version,
        percent(a.cost_change())
    );
    for r in &a.recommendations {
        let _ = writeln!(
            out,
            "\n-- {} ({}), rollback: {};",
            r.name,
            size(r.bytes),
            r.rollback
        );
        let _ = writeln!(out, "{};", r.ddl);
    }
    for d in &a.drops {
        let _ = writeln!(out, "\n-- drop: {}; rollback: {};", d.reason, d.rollback);
        let _ = writeln!(out, "{};", d.ddl);
    }
    out
}

/// What a person reads.
pub fn render_text(a: &Advice) -> String {
    let mut out = String::new();
    let mechanism = match a.mechanism {
        Mechanism::Hypopg => "HypoPG (hypothetical indexes)",
        Mechanism::StagingTransaction => "real indexes in a rolled-back transaction on staging",
        Mechanism::StagingIgnored => "real IGNORED indexes on staging",
    };
    let _ = writeln!(
        out,
        "Index advice for {} ({} {}), {} statement(s), costed with {mechanism}",
        a.target,
        a.engine.display_name(),
        a.version,
        a.statements
    );
    let _ = writeln!(
        out,
        "Estimated workload cost: {:.1} -> {:.1} ({}), new indexes {} of a {} budget",
        a.cost_before,
        a.cost_after,
        percent(a.cost_change()),
        size(a.recommendations.iter().map(|r| r.bytes).sum()),
        size(a.budget_bytes)
    );
    if a.recommendations.is_empty() {
        let _ = writeln!(
            out,
            "\nNo index to create: no candidate made a statement at least {:.0}% cheaper within the budget.",
            a.min_gain * 100.0
        );
    }
    for r in &a.recommendations {
        let _ = writeln!(out, "\nCREATE  {};", r.ddl);
        let _ = writeln!(
            out,
            "        size {}, saves {:.1} cost units per weighted statement (write overhead {:.1}); undo: {};",
            size(r.bytes),
            r.gain,
            r.write_overhead,
            r.rollback
        );
        for s in &r.statements {
            let _ = writeln!(
                out,
                "        {:<32} {:>10.1} -> {:>10.1} ({})",
                s.id,
                s.before,
                s.after,
                percent(s.change())
            );
        }
    }
    for d in &a.drops {
        let _ = writeln!(
            out,
            "\nDROP    {};  -- {} ({})",
            d.ddl,
            d.reason,
            size(d.bytes)
        );
        let _ = writeln!(out, "        undo: {};", d.rollback);
        match &d.slows {
            Some(s) if s.is_empty() => {
                let _ = writeln!(
                    out,
                    "        no statement of the workload gets slower without it"
                );
            }
            Some(s) => {
                for c in s {
                    let _ = writeln!(
                        out,
                        "        slower without it: {} {:.1} -> {:.1} ({})",
                        c.id,
                        c.before,
                        c.after,
                        percent(c.change())
                    );
                }
            }
            None => {
                let _ = writeln!(out, "        (what it would slow is not known: hiding an index needs HypoPG 1.4+ or --staging)");
            }
        }
    }
    if !a.skipped.is_empty() {
        let _ = writeln!(out, "\nSkipped statements:");
        for s in &a.skipped {
            let _ = writeln!(out, "  {}: {} -- {}", s.id, s.reason, s.statement);
        }
    }
    for u in &a.unindexable {
        let _ = writeln!(out, "  not indexed: {u}");
    }
    for n in &a.notes {
        let _ = writeln!(out, "note: {n}");
    }
    if let Some(v) = &a.validation {
        let e = &v.evidence;
        let _ = writeln!(
            out,
            "\nValidated on {}: {:?} — throughput ×{:.2} (95% CI {:.2} .. {:.2}) over {} interleaved rounds of {:.0} s, p99 ×{:.2}; {}",
            v.staging,
            e.decision,
            e.score.ratio,
            e.score.low,
            e.score.high,
            e.rounds,
            v.measure_secs,
            e.p99.ratio,
            e.reason
        );
        for t in &v.templates {
            let _ = writeln!(
                out,
                "  {:<32} {:>9.2} ms -> {:>9.2} ms",
                t.template, t.without_ms, t.with_ms
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{} candidate(s), {} what-if costing(s), {} EXPLAIN(s), {:.1} s",
        a.candidates,
        a.whatif_calls,
        a.explains,
        a.runtime_ms as f64 / 1000.0
    );
    out
}
