//! `dbtuner workload capture`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use workloads::capture::{capture, CaptureOptions};
use workloads::TargetUrl;

use super::args::WorkloadCommand;
use crate::BadInput;

pub async fn run(command: WorkloadCommand) -> Result<ExitCode> {
    let WorkloadCommand::Capture {
        target,
        out,
        window,
        top,
        name,
    } = command;
    let url: TargetUrl = target.parse()?;
    let window = humantime::parse_duration(&window)
        .map_err(|e| BadInput(format!("--window '{window}': {e}; use e.g. 60s or 5m")))?;
    if window < Duration::from_secs(1) {
        return Err(BadInput("--window: at least 1s".into()).into());
    }
    let toml_format = match out.extension().and_then(|e| e.to_str()) {
        Some("toml") => true,
        Some("json") => false,
        _ => {
            return Err(BadInput(format!(
                "--out {}: name the file .toml or .json",
                out.display()
            ))
            .into())
        }
    };
    // Fail before the window, not after it.
    std::fs::write(&out, b"")
        .map_err(|e| BadInput(format!("--out {}: cannot write there: {e}", out.display())))?;
    let progress = ProgressBar::new(window.as_secs());
    progress.set_style(
        ProgressStyle::with_template("{spinner} capturing [{wide_bar}] {pos}/{len} s")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                progress.inc(1);
            }
        })
    };
    let options = CaptureOptions {
        window,
        top: top as usize,
        name,
        since_reset: false,
        min_calls: 0,
        by_total_time: false,
    };
    let result = capture(&url, &options, || progress.set_position(0)).await;
    ticker.abort();
    progress.finish_and_clear();
    let captured = match result {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&out);
            return Err(e.into());
        }
    };
    let text = if toml_format {
        toml::to_string(&captured.spec)?
    } else {
        serde_json::to_string_pretty(&captured.spec)?
    };
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    let total: u64 = captured
        .spec
        .transactions
        .iter()
        .filter_map(|t| t.captured_calls)
        .sum();
    println!(
        "captured {} templates, {total} calls, into {}",
        captured.spec.transactions.len(),
        out.display()
    );
    for t in &captured.spec.transactions {
        let calls = t.captured_calls.unwrap_or(0);
        println!(
            "  {:>6.1}%  {:>8.2} ms  {}",
            calls as f64 / total.max(1) as f64 * 100.0,
            t.captured_mean_ms.unwrap_or(0.0),
            t.statements[0].chars().take(90).collect::<String>()
        );
    }
    for n in &captured.notes {
        eprintln!("note: {n}");
    }
    println!(
        "replay with: dbtuner bench --target '{url}' --workload {}",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
