//! `--validate`: the recommended indexes built for real on a staging copy and the workload
//! replayed without and with them, interleaved in rounds of opposite order (A B, B A, …), so
//! that a drift of the machine favours neither arm; the gate's statistics decide on the
//! throughput and on each template's latency. Planner costs rank candidates; only a measured
//! replay says they pay. Staging is left as it was: the indexes are dropped at the end.

use std::time::Duration;

use knobs::Engine;
use models::gate::{decide, GateEvidence, GateSettings, RoundPair};
use models::index::IndexDef;
use mysql_async::prelude::Queryable;
use serde::Serialize;
use workloads::driver::DriverOptions;
use workloads::replay::Replay;
use workloads::spec::WorkloadSpec;
use workloads::{Measurement, TargetUrl};

use super::ddl::{mysql_ident, mysql_key_columns, pg_ident, pg_index_body};
use super::AdviseError;

/// How the replay is measured.
#[derive(Debug, Clone, Copy)]
pub struct ValidateOptions {
    pub rounds: usize,
    pub clients: usize,
    pub warmup: Duration,
    pub measure: Duration,
    pub seed: u64,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            rounds: 4,
            clients: 2,
            warmup: Duration::from_secs(3),
            measure: Duration::from_secs(10),
            seed: 1,
        }
    }
}

/// One template's mean latency without and with the indexes, over all rounds.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateLatency {
    pub template: String,
    pub without_ms: f64,
    pub with_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub staging: String,
    pub evidence: GateEvidence,
    /// Throughput (transactions per second) of each round, without and with.
    pub rounds: Vec<(f64, f64)>,
    pub templates: Vec<TemplateLatency>,
    pub clients: usize,
    pub measure_secs: f64,
}

fn validation_name(i: usize) -> String {
    format!("dbtuner_validate_{i}")
}

/// Build (`present`) or drop the indexes on `url`, named `dbtuner_validate_N`.
pub async fn set_indexes(
    url: &TargetUrl,
    engine: Engine,
    indexes: &[IndexDef],
    present: bool,
) -> Result<(), AdviseError> {
    match engine {
        Engine::Postgres => {
            let c = workloads::target::connect_postgres(url).await?;
            for (i, index) in indexes.iter().enumerate() {
                let name = pg_ident(&validation_name(i));
                let sql = if present {
                    format!(
                        "CREATE INDEX IF NOT EXISTS {name} ON {}",
                        pg_index_body(index)
                    )
                } else {
                    format!("DROP INDEX IF EXISTS {name}")
                };
                c.batch_execute(&sql).await?;
            }
            // Both arms alike: index-only scans need the visibility map the plans were
            // costed with, and neither arm may inherit the other's dead tuples.
            c.batch_execute("VACUUM ANALYZE").await?;
        }
        Engine::Mysql | Engine::Mariadb => {
            let mut c = workloads::target::connect_mysql(url).await?;
            for (i, index) in indexes.iter().enumerate() {
                let name = mysql_ident(&validation_name(i));
                let table = mysql_ident(&index.table);
                let exists: Option<String> = c
                    .exec_first(
                        "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ? LIMIT 1",
                        (index.table.clone(), validation_name(i)),
                    )
                    .await?;
                let sql = match (present, exists.is_some()) {
                    (true, false) => {
                        let cols = mysql_key_columns(index);
                        format!("ALTER TABLE {table} ADD INDEX {name} ({cols})")
                    }
                    (false, true) => format!("ALTER TABLE {table} DROP INDEX {name}"),
                    _ => continue,
                };
                c.query_drop(sql).await?;
            }
        }
    }
    Ok(())
}

fn arm(m: &Measurement) -> models::gate::ArmMeasure {
    models::gate::ArmMeasure {
        score: m.throughput(),
        p99_ms: m.latency.p99_ms,
        queries: m
            .per_template
            .iter()
            .filter(|(_, t)| t.count > 0)
            .map(|(n, t)| (n.clone(), t.latency.mean_ms))
            .collect(),
    }
}

/// Replay `spec` on `staging` without and with `indexes`, interleaved.
pub async fn validate(
    staging: &TargetUrl,
    engine: Engine,
    spec: &WorkloadSpec,
    indexes: &[IndexDef],
    options: &ValidateOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Validation, AdviseError> {
    let replay = Replay::new(spec, staging).await?;
    let mut pairs: Vec<RoundPair> = Vec::new();
    let mut rounds = Vec::new();
    let mut runs = 0u64;
    let mut measure = |with: bool| {
        runs += 1;
        let seed = options.seed.wrapping_add(runs);
        let replay = replay.clone();
        async move {
            progress(&format!(
                "validating: replay {} the indexes",
                if with { "with" } else { "without" }
            ));
            set_indexes(staging, engine, indexes, with).await?;
            let o = DriverOptions::closed(options.clients, options.warmup, options.measure, seed);
            Ok::<Measurement, AdviseError>(replay.run(&o, staging).await?)
        }
    };
    let mut failure = None;
    for r in 0..options.rounds.max(2) {
        // A B, then B A: each order equally often.
        let candidate_first = r % 2 == 1;
        let (first, second) = if candidate_first {
            (measure(true).await, measure(false).await)
        } else {
            (measure(false).await, measure(true).await)
        };
        let (baseline, candidate) = if candidate_first {
            (second, first)
        } else {
            (first, second)
        };
        match (baseline, candidate) {
            (Ok(b), Ok(c)) => {
                rounds.push((b.throughput(), c.throughput()));
                pairs.push(RoundPair {
                    baseline: arm(&b),
                    candidate: arm(&c),
                });
            }
            (Err(e), _) | (_, Err(e)) => {
                failure = Some(e);
                break;
            }
        }
    }
    // Staging as it was, whatever happened.
    let cleaned = set_indexes(staging, engine, indexes, false).await;
    if let Some(e) = failure {
        return Err(e);
    }
    cleaned?;
    let evidence = decide(&pairs, &GateSettings::default())
        .map_err(|e| AdviseError::Task(format!("the gate: {e}")))?;
    let mut templates: Vec<TemplateLatency> = Vec::new();
    if let Some(first) = pairs.first() {
        for name in first.baseline.queries.keys() {
            let mean = |with: bool| {
                let v: Vec<f64> = pairs
                    .iter()
                    .filter_map(|p| {
                        if with {
                            p.candidate.queries.get(name)
                        } else {
                            p.baseline.queries.get(name)
                        }
                    })
                    .copied()
                    .collect();
                v.iter().sum::<f64>() / v.len().max(1) as f64
            };
            templates.push(TemplateLatency {
                template: name.clone(),
                without_ms: mean(false),
                with_ms: mean(true),
            });
        }
    }
    Ok(Validation {
        staging: staging.to_string(),
        evidence,
        rounds,
        templates,
        clients: options.clients,
        measure_secs: options.measure.as_secs_f64(),
    })
}
