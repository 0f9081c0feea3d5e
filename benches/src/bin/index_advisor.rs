//! The index advisor's quality and runtime on a PostgreSQL sandbox with HypoPG:
//! - quality: on random small workloads (at most 12 candidates), the estimated cost reduction
//!   of Extend (ours, the default) and of a Dexter-like baseline (one index per statement,
//!   kept if it halves that statement's cost) as a share of the exhaustive optimum over the
//!   same candidates, under a budget that forces choices; gates off, so that only the
//!   selection differs;
//! - the built-in analytic workload (`olap`), default settings: Extend vs the baseline;
//! - runtime: a 50-statement workload advised with the default settings, with the number of
//!   what-if costings and EXPLAINs.
//!
//! `cargo run --release -p benches --bin index_advisor -- [instances] [runtime repeats]`

use std::fmt::Write as _;
use std::time::Instant;

use agent::advise::{self, Advice, AdviseSettings, Algorithm, Budget, Source};
use anyhow::{Context, Result};
use knobs::Engine;
use models::stats::Summary;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use workloads::builtin::Builtin;
use workloads::{Sandbox, TargetUrl};

const TABLES: usize = 4;
const COLUMNS: usize = 8;

fn schema() -> String {
    let mut sql = String::from("CREATE EXTENSION IF NOT EXISTS hypopg;\n");
    for t in 0..TABLES {
        let cols: Vec<String> = (0..COLUMNS).map(|c| format!("c{c} int NOT NULL")).collect();
        let _ = writeln!(
            sql,
            "CREATE TABLE t{t} (id int PRIMARY KEY, {});",
            cols.join(", ")
        );
        // Column c has about 10^(1 + c % 4) distinct values, spread differently per table.
        let values: Vec<String> = (0..COLUMNS)
            .map(|c| {
                let modulus = 10_i64.pow(1 + (c % 4) as u32);
                format!("(g * {}) % {modulus}", 7 + 2 * (c + t))
            })
            .collect();
        let _ = writeln!(
            sql,
            "INSERT INTO t{t} SELECT g, {} FROM generate_series(1, {}) g;",
            values.join(", "),
            40_000 + 20_000 * t
        );
    }
    sql.push_str("ANALYZE;\n");
    sql
}

/// A random statement: equality on one or two columns, maybe a range, maybe an ordering.
fn statement(rng: &mut StdRng, tables: usize) -> String {
    let t = rng.gen_range(0..tables);
    let mut cols: Vec<usize> = (0..COLUMNS).collect();
    for i in 0..cols.len() {
        let j = rng.gen_range(i..cols.len());
        cols.swap(i, j);
    }
    let mut predicates: Vec<String> = Vec::new();
    let eq = rng.gen_range(1..=2);
    for c in &cols[..eq] {
        let modulus = 10_i64.pow(1 + (*c % 4) as u32);
        predicates.push(format!("c{c} = {}", rng.gen_range(0..modulus)));
    }
    if rng.gen_bool(0.4) {
        let c = cols[eq];
        predicates.push(format!("c{c} BETWEEN 10 AND {}", 10 + rng.gen_range(1..20)));
    }
    let count = rng.gen_bool(0.5);
    let select = if count {
        "count(*)".to_string()
    } else {
        format!("id, c{}", cols[COLUMNS - 1])
    };
    let order = if !count && rng.gen_bool(0.5) {
        format!(" ORDER BY c{} LIMIT 10", cols[eq + 1])
    } else {
        String::new()
    };
    format!(
        "SELECT {select} FROM t{t} WHERE {}{order}",
        predicates.join(" AND ")
    )
}

async fn run(url: &TargetUrl, text: &str, settings: &AdviseSettings) -> Result<Advice> {
    advise::advise(
        url,
        None,
        Source::Queries {
            text: text.to_string(),
            file: "bench.sql".into(),
        },
        settings,
        &|_| {},
    )
    .await
    .context("advise")
}

fn reduction(a: &Advice) -> f64 {
    a.cost_before - a.cost_after
}

fn line(name: &str, v: &[f64]) -> String {
    match Summary::of(v) {
        Some(s) => {
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            format!(
                "{name}: mean {:.3} ± {:.3} (min {:.3}, n = {})",
                s.mean,
                s.stdev,
                min,
                v.len()
            )
        }
        None => format!("{name}: no data"),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let instances: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let repeats: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);

    let sandbox = tokio::task::spawn_blocking(|| Sandbox::start(Engine::Postgres)).await??;
    let url: TargetUrl = sandbox.url().parse()?;
    workloads::target::connect_postgres(&url)
        .await?
        .batch_execute(&schema())
        .await?;

    // Quality against the exhaustive optimum.
    let open = AdviseSettings {
        budget: Some(Budget::Bytes(3 << 20)),
        min_gain: 0.0,
        max_regression: 1e9,
        max_per_table: 64,
        ..AdviseSettings::default()
    };
    let mut ours = Vec::new();
    let mut dexter = Vec::new();
    let mut rng = StdRng::seed_from_u64(42);
    let mut tried = 0;
    while ours.len() < instances && tried < instances * 20 {
        tried += 1;
        let text: Vec<String> = (0..3).map(|_| statement(&mut rng, 2)).collect();
        let text = text.join(";\n");
        let exhaustive = match run(
            &url,
            &text,
            &AdviseSettings {
                algorithm: Algorithm::Exhaustive,
                ..open.clone()
            },
        )
        .await
        {
            Ok(a) if a.candidates <= 12 && reduction(&a) > 0.0 => a,
            _ => continue,
        };
        let extend = run(&url, &text, &open).await?;
        let baseline = run(
            &url,
            &text,
            &AdviseSettings {
                algorithm: Algorithm::PerStatement,
                ..open.clone()
            },
        )
        .await?;
        ours.push(reduction(&extend) / reduction(&exhaustive));
        dexter.push(reduction(&baseline) / reduction(&exhaustive));
    }
    println!("## Estimated cost reduction as a share of the exhaustive optimum (≤ 12 candidates, 3 MB budget, gates off)");
    println!("{}", line("extend (dbtuner)", &ours));
    println!("{}", line("per-statement (Dexter-like)", &dexter));
    let at_least = ours.iter().filter(|r| **r >= 0.95).count();
    println!(
        "extend at ≥ 95% of the optimum on {at_least} of {} instances",
        ours.len()
    );

    // The built-in analytic workload, default settings but a budget that fits its indexes.
    let olap = Builtin::new("olap", 1)?;
    olap.load(&url).await?;
    workloads::target::connect_postgres(&url)
        .await?
        .batch_execute("ANALYZE")
        .await?;
    let spec = olap.spec()?;
    let defaults = AdviseSettings {
        budget: Some(Budget::Bytes(100 << 20)),
        ..AdviseSettings::default()
    };
    println!("\n## olap (scale 1), default gates, 100 MB budget");
    for (name, algorithm) in [
        ("extend (dbtuner)", Algorithm::Extend),
        ("per-statement (Dexter-like)", Algorithm::PerStatement),
    ] {
        let a = advise::advise(
            &url,
            None,
            Source::Workload(Box::new(spec.clone())),
            &AdviseSettings {
                algorithm,
                ..defaults.clone()
            },
            &|_| {},
        )
        .await?;
        println!(
            "{name}: cost {:.1} -> {:.1} ({:+.1}%), {} index(es), {:.1} MB",
            a.cost_before,
            a.cost_after,
            a.cost_change() * 100.0,
            a.recommendations.len(),
            a.recommendations.iter().map(|r| r.bytes).sum::<u64>() as f64 / 1048576.0
        );
    }

    // Runtime on 50 statements.
    let mut rng = StdRng::seed_from_u64(7);
    let fifty: Vec<String> = (0..50).map(|_| statement(&mut rng, TABLES)).collect();
    let text = fifty.join(";\n");
    let mut seconds = Vec::new();
    let mut last = None;
    for _ in 0..repeats {
        let started = Instant::now();
        let a = run(
            &url,
            &text,
            &AdviseSettings {
                budget: Some(Budget::Bytes(50 << 20)),
                ..AdviseSettings::default()
            },
        )
        .await?;
        seconds.push(started.elapsed().as_secs_f64());
        last = Some(a);
    }
    println!("\n## 50 statements on 4 tables, default settings, 50 MB budget");
    println!("{}", line("runtime (s)", &seconds));
    if let Some(a) = last {
        println!(
            "{} statements costed, {} candidates, {} what-if costings, {} EXPLAINs, {} index(es) recommended, cost {:+.1}%",
            a.statements,
            a.candidates,
            a.whatif_calls,
            a.explains,
            a.recommendations.len(),
            a.cost_change() * 100.0
        );
    }
    drop(sandbox);
    Ok(())
}
