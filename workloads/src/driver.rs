//! The benchmark driver: N client sessions in a closed loop, a warm-up then a measured window,
//! per-second throughput samples (the unit of evidence for the statistics downstream) and a
//! latency histogram.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::{Result, WorkloadError};

/// One client's connection, able to run one unit of work (a transaction).
pub trait Session: Send + 'static {
    fn run_once(&mut self, rng: &mut StdRng) -> impl Future<Output = Result<()>> + Send;
}

/// How to drive a workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriverOptions {
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub seed: u64,
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// What one run measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub clients: usize,
    pub warmup_secs: f64,
    pub duration_secs: f64,
    /// Units of work completed in the measured window.
    pub committed: u64,
    /// Completed units per second of the measured window, one sample a second.
    pub per_second: Vec<f64>,
    pub latency: LatencySummary,
    /// Failures by kind (bounded set of labels).
    pub errors: BTreeMap<String, u64>,
    /// Retried deadlocks and serialization failures.
    pub retries: u64,
}

impl Measurement {
    /// Mean throughput over the measured window.
    pub fn throughput(&self) -> f64 {
        if self.duration_secs > 0.0 {
            self.committed as f64 / self.duration_secs
        } else {
            0.0
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

const MAX_RETRIES: u32 = 10;

struct ClientResult {
    histogram: Histogram<u64>,
    buckets: Vec<u64>,
    errors: BTreeMap<String, u64>,
    retries: u64,
}

/// Run `options.clients` sessions made by `connect` and measure them.
pub async fn run<S, F, Fut>(options: &DriverOptions, connect: F) -> Result<Measurement>
where
    S: Session,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<S>>,
{
    if options.clients == 0 || options.duration.is_zero() {
        return Err(WorkloadError::Run(
            "need at least one client and a non-zero duration".into(),
        ));
    }
    let mut sessions = Vec::with_capacity(options.clients);
    for i in 0..options.clients {
        sessions.push(connect(i).await?);
    }
    let start = Instant::now();
    let measure_from = start + options.warmup;
    let end = measure_from + options.duration;
    let seconds = options.duration.as_secs().max(1) as usize;
    let mut tasks = Vec::with_capacity(options.clients);
    for (i, mut session) in sessions.into_iter().enumerate() {
        let seed = options
            .seed
            .wrapping_add(i as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut result = ClientResult {
                histogram: new_histogram(),
                buckets: vec![0; seconds],
                errors: BTreeMap::new(),
                retries: 0,
            };
            while Instant::now() < end {
                let began = Instant::now();
                let mut attempt = 0;
                let outcome = loop {
                    match session.run_once(&mut rng).await {
                        Err(e) if e.is_retryable() && attempt < MAX_RETRIES => {
                            attempt += 1;
                            result.retries += 1;
                        }
                        other => break other,
                    }
                };
                let done = Instant::now();
                if began < measure_from || done > end {
                    continue;
                }
                match outcome {
                    Ok(()) => {
                        let micros = done.duration_since(began).as_micros().max(1) as u64;
                        let _ = result.histogram.record(micros.min(result.histogram.high()));
                        let second =
                            (done.duration_since(measure_from).as_secs() as usize).min(seconds - 1);
                        result.buckets[second] += 1;
                    }
                    Err(e) => {
                        *result.errors.entry(e.kind()).or_default() += 1;
                        // A broken connection would fail instantly forever: back off a little.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            result
        }));
    }
    let mut histogram = new_histogram();
    let mut buckets = vec![0u64; seconds];
    let mut errors = BTreeMap::new();
    let mut retries = 0;
    for task in tasks {
        let r = task
            .await
            .map_err(|e| WorkloadError::Run(format!("client task failed: {e}")))?;
        let _ = histogram.add(&r.histogram);
        for (total, b) in buckets.iter_mut().zip(&r.buckets) {
            *total += b;
        }
        for (k, v) in r.errors {
            *errors.entry(k).or_default() += v;
        }
        retries += r.retries;
    }
    let committed: u64 = buckets.iter().sum();
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(Measurement {
        clients: options.clients,
        warmup_secs: options.warmup.as_secs_f64(),
        duration_secs: seconds as f64,
        committed,
        per_second: buckets.iter().map(|&b| b as f64).collect(),
        latency: if histogram.is_empty() {
            LatencySummary::default()
        } else {
            LatencySummary {
                mean_ms: histogram.mean() / 1000.0,
                p50_ms: ms(histogram.value_at_quantile(0.5)),
                p95_ms: ms(histogram.value_at_quantile(0.95)),
                p99_ms: ms(histogram.value_at_quantile(0.99)),
                p999_ms: ms(histogram.value_at_quantile(0.999)),
                max_ms: ms(histogram.max()),
            }
        },
        errors,
        retries,
    })
}

#[allow(clippy::expect_used)]
fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 10 min at 3 significant digits: constant bounds, valid by construction.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant histogram bounds are valid")
}
