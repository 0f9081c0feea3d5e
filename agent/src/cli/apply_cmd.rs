//! `dbtuner apply` and `dbtuner rollback`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use workloads::TargetUrl;

use super::args::{ApplyArgs, RollbackArgs};
use crate::apply::watch::{conclude, Sampler, WatchPlan};
use crate::apply::{self, ApplyOptions, CommandRestarter, Plan, Restarter, Store};
use crate::BadInput;

fn target_url(text: &str) -> Result<TargetUrl> {
    Ok(text.parse::<TargetUrl>()?)
}

fn restarter(command: &Option<String>) -> Option<CommandRestarter> {
    command
        .as_ref()
        .map(|c| CommandRestarter { command: c.clone() })
}

fn is_local(url: &TargetUrl) -> bool {
    matches!(url.host(), "localhost" | "127.0.0.1" | "::1" | "[::1]") || url.host().starts_with('/')
}

async fn open_store(state: &Option<PathBuf>, repo: &Option<String>) -> Result<Store> {
    let store = match repo {
        Some(spec) => Store::open(spec).await,
        None => Store::open_dir(&state.clone().unwrap_or_else(Store::default_dir)).await,
    };
    store.context("opening the change store")
}

pub async fn apply(args: ApplyArgs) -> Result<ExitCode> {
    let url = target_url(&args.target)?;
    let plan = Plan::load(&args.plan)?;
    let memory_budget = match &args.memory {
        Some(text) => Some(
            knobs::parse_bytes(text).map_err(|e| BadInput(format!("--memory '{text}': {e}")))? / 10
                * 9,
        ),
        None if is_local(&url) => Some(crate::hardware::detect().ram_bytes / 10 * 9),
        None => {
            tracing::warn!("remote target and no --memory: the memory guardrail is off");
            None
        }
    };
    let store = open_store(&args.state, &args.repo).await?;
    let options = ApplyOptions {
        allow_restart: args.allow_restart,
        allow_durability_risk: args.allow_durability_risk,
        dry_run: args.dry_run,
        memory_budget,
    };
    let watch = match &args.watch {
        Some(window) => {
            let parse = |flag: &str, text: &str| {
                humantime::parse_duration(text)
                    .map_err(|e| BadInput(format!("--{flag} {text}: {e} (e.g. 30s, 10m)")))
            };
            Some(WatchPlan::new(
                parse("watch", window)?,
                parse("watch-interval", &args.watch_interval)?,
            )?)
        }
        None => None,
    };
    // The baseline is taken just before the change, on the load the target has now.
    let mut watching = None;
    if let (Some(plan), false) = (&watch, args.dry_run) {
        let mut sampler = Sampler::new(&url)?;
        if !args.json {
            eprintln!(
                "watch: measuring a baseline for {}",
                humantime::format_duration(plan.baseline)
            );
        }
        let before = sampler.sample(plan.baseline, plan.interval).await?;
        watching = Some((plan, sampler, before));
    }
    let mut command = restarter(&args.restart_command);
    let outcome = apply::apply(
        &url,
        &plan,
        &options,
        command.as_mut().map(|c| c as &mut dyn Restarter),
        &store,
    )
    .await?;
    let mut watched = None;
    if let Some((plan, mut sampler, before)) =
        watching.filter(|_| !(outcome.record.knobs.is_empty() && outcome.record.indexes.is_empty()))
    {
        store
            .audit(
                &outcome.record,
                "watch-start",
                &format!(
                    "watching {} in {} intervals against a {} baseline ({} intervals)",
                    humantime::format_duration(plan.window),
                    humantime::format_duration(plan.interval),
                    humantime::format_duration(plan.baseline),
                    before.len()
                ),
            )
            .await?;
        if !args.json {
            eprintln!(
                "watch: change applied; watching for {}",
                humantime::format_duration(plan.window)
            );
        }
        sampler.restart().await?;
        let after = sampler.sample(plan.window, plan.interval).await?;
        let mut report = conclude(before, after, plan)?;
        if report.verdict.keep {
            store
                .audit(&outcome.record, "watch-keep", &report.verdict.reason)
                .await?;
        } else {
            store
                .audit(&outcome.record, "watch-revert", &report.verdict.reason)
                .await?;
            apply::rollback(
                &url,
                &outcome.record.id,
                args.allow_restart,
                command.as_mut().map(|c| c as &mut dyn Restarter),
                &store,
            )
            .await?;
            report.reverted = true;
        }
        watched = Some(report);
    }
    let reverted = watched.as_ref().is_some_and(|w| w.reverted);
    let code = if reverted {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    if args.json {
        // The record's previous postgresql.auto.conf can hold primary_conninfo's password:
        // kept exactly in the repository (0600) for a restore, never printed.
        let mut json = serde_json::json!({ "change": outcome.record, "clamped": outcome.clamped, "warnings": outcome.warnings, "dry_run": args.dry_run, "watch": watched });
        workloads::redact::redact_json(&mut json);
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(code);
    }
    if let Some(w) = &watched {
        let what = if w.reverted { "reverted" } else { "kept" };
        println!(
            "watch: change {} {what}: {}",
            outcome.record.id, w.verdict.reason
        );
        if w.reverted {
            return Ok(code);
        }
    }
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    if args.dry_run {
        println!(
            "dry run: nothing changed. Would run on {}:",
            outcome.record.target
        );
        for k in &outcome.record.knobs {
            println!(
                "  {};   -- now {}, undo: {}",
                k.apply_statement,
                k.previous,
                k.rollback_statements.join("; ")
            );
        }
        for i in &outcome.record.indexes {
            println!(
                "  {};   -- undo: {}",
                i.apply_statement, i.rollback_statement
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if outcome.record.knobs.is_empty() && outcome.record.indexes.is_empty() {
        println!("nothing to change");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "change {} applied to {}{}",
        outcome.record.id,
        outcome.record.target,
        if outcome.record.restarted {
            " (restarted)"
        } else {
            ""
        }
    );
    for k in &outcome.record.knobs {
        let risk = if k.durability_risk {
            "  [DURABILITY RISK]"
        } else {
            ""
        };
        println!(
            "  {:<32} {} -> {} (server: {}){risk}",
            k.name,
            k.previous,
            k.requested,
            k.applied.as_deref().unwrap_or("?")
        );
    }
    for i in &outcome.record.indexes {
        println!(
            "  {};   -- undo: {}",
            i.apply_statement, i.rollback_statement
        );
    }
    for c in &outcome.clamped {
        println!("  clamped: {c}");
    }
    println!(
        "undo with: dbtuner rollback --target '{}' --change {}",
        outcome.record.target, outcome.record.id
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn rollback(args: RollbackArgs) -> Result<ExitCode> {
    let url = target_url(&args.target)?;
    let store = open_store(&args.state, &args.repo).await?;
    let mut command = restarter(&args.restart_command);
    let record = apply::rollback(
        &url,
        &args.change,
        args.allow_restart,
        command.as_mut().map(|c| c as &mut dyn Restarter),
        &store,
    )
    .await?;
    if args.json {
        let mut json = serde_json::to_value(&record)?;
        workloads::redact::redact_json(&mut json);
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("change {} rolled back on {}", record.id, record.target);
        for k in &record.knobs {
            println!("  {:<32} back to {}", k.name, k.previous);
        }
        for i in &record.indexes {
            println!("  {};", i.rollback_statement);
        }
    }
    Ok(ExitCode::SUCCESS)
}
