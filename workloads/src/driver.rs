//! The benchmark driver: N client sessions, a warm-up then a measured window, per-second
//! throughput samples (the unit of evidence for the statistics downstream) and latency
//! histograms, overall and per template.
//!
//! Two modes. Closed loop: each client starts its next unit of work when the last one ends.
//! Open loop (`rate`): units arrive on a fixed schedule (regular or Poisson) whatever the
//! server does, and latency counts from the *intended* start, so a stall shows in the tail
//! instead of silently slowing the arrivals (no coordinated omission); the gap between the
//! intended and the actual start is reported separately as schedule lag.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::{Result, WorkloadError};

/// One client's connection, able to run one unit of work (a transaction).
pub trait Session: Send + 'static {
    /// Run one unit; returns the index of the template (transaction type) it ran.
    fn run_once(&mut self, rng: &mut StdRng) -> impl Future<Output = Result<usize>> + Send;

    /// Names of the templates, by index.
    fn labels(&self) -> Vec<String> {
        vec!["transaction".into()]
    }

    /// The template the last `run_once` chose, so that its failure is counted against it.
    fn last_template(&self) -> Option<usize> {
        None
    }
}

/// Arrival process of the open loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    #[default]
    Poisson,
    Regular,
}

/// How to drive a workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriverOptions {
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub seed: u64,
    /// Open loop at this many units per second (all clients together); closed loop if None.
    #[serde(default)]
    pub rate: Option<f64>,
    #[serde(default)]
    pub arrival: Arrival,
    /// Client threads (each a single-threaded event loop); by default one per core.
    #[serde(default)]
    pub threads: Option<usize>,
}

impl DriverOptions {
    pub fn closed(clients: usize, warmup: Duration, duration: Duration, seed: u64) -> Self {
        DriverOptions {
            clients,
            warmup,
            duration,
            seed,
            rate: None,
            arrival: Arrival::Poisson,
            threads: None,
        }
    }
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

/// One template's share of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateStats {
    pub count: u64,
    /// Failed units of this template (timeouts included).
    pub errors: u64,
    /// Units cancelled at the workload's statement timeout: started in the measured window,
    /// not completed (their latency is not in `latency`).
    #[serde(default)]
    pub timeouts: u64,
    pub latency: LatencySummary,
}

/// What one run measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub clients: usize,
    pub warmup_secs: f64,
    pub duration_secs: f64,
    /// Open-loop target rate, if any.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Units of work completed in the measured window.
    pub committed: u64,
    /// Completed units per second of the measured window, one sample a second.
    pub per_second: Vec<f64>,
    /// The 99th-percentile latency (ms) of each measured second, None for a second in which
    /// nothing completed. Coarse (about 10%): it shows stalls over time; `latency` is exact.
    #[serde(default)]
    pub p99_per_second: Vec<Option<f64>>,
    /// From the intended start in open loop, from the actual start in closed loop.
    pub latency: LatencySummary,
    /// Open loop: how late units started against their schedule.
    #[serde(default)]
    pub schedule_lag: Option<LatencySummary>,
    #[serde(default)]
    pub per_template: BTreeMap<String, TemplateStats>,
    /// Failures by kind (bounded set of labels).
    pub errors: BTreeMap<String, u64>,
    /// Retried deadlocks and serialization failures.
    pub retries: u64,
    /// The workload's statement timeout, when it had one (timed-out units count as this long
    /// in [`Measurement::censored_mean_ms`]).
    #[serde(default)]
    pub statement_timeout_ms: Option<u64>,
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

    /// A template's mean latency (ms) with each timed-out unit counted at the timeout: a
    /// lower bound of the true mean, but one that a query stuck beyond the timeout cannot
    /// improve. None when the template neither completed nor timed out.
    pub fn censored_mean_ms(&self, template: &str) -> Option<f64> {
        let t = self.per_template.get(template)?;
        let (timeouts, limit_ms) = match self.statement_timeout_ms {
            Some(ms) => (t.timeouts, ms as f64),
            None => (0, 0.0),
        };
        let n = t.count + timeouts;
        (n > 0)
            .then(|| (t.latency.mean_ms * t.count as f64 + limit_ms * timeouts as f64) / n as f64)
    }
}

const MAX_RETRIES: u32 = 10;

struct ClientResult {
    histogram: Histogram<u64>,
    lag: Histogram<u64>,
    templates: Vec<Histogram<u64>>,
    buckets: Vec<u64>,
    /// One coarse latency histogram per measured second.
    second_latency: Vec<Histogram<u32>>,
    errors: BTreeMap<String, u64>,
    /// Per template: failed units, and those of them that timed out.
    template_errors: Vec<u64>,
    template_timeouts: Vec<u64>,
    retries: u64,
}

/// The open loop's shared schedule: the k-th arrival's offset from the start, deterministic
/// under the seed whichever client takes it. Arrivals are generated as they are taken, so a
/// high `--rate` costs no memory (a list of them was ~800 MB at 50 M arrivals).
struct Schedule {
    rate: f64,
    arrival: Arrival,
    horizon: f64,
    state: std::sync::Mutex<ScheduleState>,
}

/// The next arrival and the generator of the gaps after it.
struct ScheduleState {
    k: u64,
    t: f64,
    rng: StdRng,
}

impl Schedule {
    fn new(rate: f64, arrival: Arrival, horizon: Duration, seed: u64) -> Schedule {
        Schedule {
            rate,
            arrival,
            horizon: horizon.as_secs_f64(),
            state: std::sync::Mutex::new(ScheduleState {
                k: 0,
                t: 0.0,
                rng: StdRng::seed_from_u64(seed ^ 0x5EED_A441_7A1E),
            }),
        }
    }

    /// The next arrival's offset, `None` past the horizon.
    fn take(&self) -> Option<Duration> {
        // A poisoned lock only means another client panicked; the state is still whole.
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let t = match self.arrival {
            // k / rate, not a running sum: no drift over millions of arrivals.
            Arrival::Regular => s.k as f64 / self.rate,
            Arrival::Poisson => s.t,
        };
        if t.is_nan() || t >= self.horizon {
            return None;
        }
        s.k += 1;
        if self.arrival == Arrival::Poisson {
            // Exponential gaps: -ln(U) / rate.
            let gap = -(1.0 - s.rng.gen::<f64>()).ln() / self.rate;
            s.t += gap;
        }
        Some(Duration::from_secs_f64(t))
    }
}

/// The client threads to use when the options leave it open: one per core, as `pgbench -j`
/// would be set. Each thread is a single-threaded event loop; a work-stealing runtime moved
/// every statement between threads and measured 0.80x pgbench on 2 cores, these loops ~1.0x.
fn default_threads(clients: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.clamp(1, clients.max(1))
}

/// What a client thread reports once its sessions are connected.
type Ready = Result<Vec<String>>;

/// Run `options.clients` sessions made by `connect` and measure them.
///
/// Clients run on dedicated threads, each a single-threaded event loop owning its share of the
/// sessions: a unit of work never hops between threads, so the driver spends little CPU per
/// statement. All sessions connect before the clock starts.
pub async fn run<S, F, Fut>(options: &DriverOptions, connect: F) -> Result<Measurement>
where
    S: Session,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<S>> + 'static,
{
    if options.clients == 0 || options.duration.is_zero() {
        return Err(WorkloadError::Run(
            "need at least one client and a non-zero duration".into(),
        ));
    }
    if let Some(rate) = options.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(WorkloadError::Run(format!(
                "rate {rate} must be a positive number of units per second"
            )));
        }
    }
    let threads = options
        .threads
        .unwrap_or_else(|| default_threads(options.clients))
        .clamp(1, options.clients);
    let seconds = options.duration.as_secs().max(1) as usize;
    let schedule = options.rate.map(|rate| {
        Arc::new(Schedule::new(
            rate,
            options.arrival,
            options.warmup + options.duration,
            options.seed,
        ))
    });
    let connect = Arc::new(connect);
    let mut readies = Vec::with_capacity(threads);
    let mut starts = Vec::with_capacity(threads);
    let mut results = Vec::with_capacity(threads);
    for t in 0..threads {
        let (ready_tx, ready_rx) = oneshot::channel::<Ready>();
        let (start_tx, start_rx) = oneshot::channel::<Instant>();
        let (result_tx, result_rx) = oneshot::channel::<Vec<ClientResult>>();
        readies.push(ready_rx);
        starts.push(start_tx);
        results.push(result_rx);
        // Clients t, t + threads, t + 2·threads, ...
        let mine: Vec<usize> = (t..options.clients).step_by(threads).collect();
        let connect = connect.clone();
        let schedule = schedule.clone();
        let options = options.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| WorkloadError::Run(format!("starting a client thread: {e}")))?;
        std::thread::Builder::new()
            .name(format!("dbtuner-client-{t}"))
            .spawn(move || {
                runtime.block_on(client_thread(
                    mine,
                    connect,
                    &options,
                    schedule,
                    seconds,
                    (ready_tx, start_rx, result_tx),
                ))
            })
            .map_err(|e| WorkloadError::Run(format!("starting a client thread: {e}")))?;
    }
    let mut labels = Vec::new();
    for ready in readies {
        match ready.await {
            Ok(Ok(l)) => {
                if labels.is_empty() {
                    labels = l;
                }
            }
            // Dropping the start senders tells the other threads to close their sessions.
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(WorkloadError::Run("a client thread failed".into())),
        }
    }
    let start = Instant::now();
    for s in starts {
        let _ = s.send(start);
    }
    let mut clients = Vec::with_capacity(options.clients);
    for r in results {
        clients.extend(
            r.await
                .map_err(|_| WorkloadError::Run("a client thread failed".into()))?,
        );
    }
    if clients.len() != options.clients {
        return Err(WorkloadError::Run(format!(
            "{} of {} clients failed",
            options.clients - clients.len(),
            options.clients
        )));
    }
    aggregate(options, labels, seconds, clients)
}

/// How a client thread talks to `run`: it reports its sessions ready, waits for the start
/// instant, and sends its clients' results back.
type ThreadChannels = (
    oneshot::Sender<Ready>,
    oneshot::Receiver<Instant>,
    oneshot::Sender<Vec<ClientResult>>,
);

/// One client thread: connect its sessions (clients `mine`), then run them from the start
/// instant to the end of the window on this thread's event loop.
async fn client_thread<S, F, Fut>(
    mine: Vec<usize>,
    connect: Arc<F>,
    options: &DriverOptions,
    schedule: Option<Arc<Schedule>>,
    seconds: usize,
    (ready_tx, start_rx, result_tx): ThreadChannels,
) where
    S: Session,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<S>>,
{
    let mut sessions = Vec::with_capacity(mine.len());
    for &i in &mine {
        match connect(i).await {
            Ok(s) => sessions.push((i, s)),
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        }
    }
    let labels = sessions
        .first()
        .map(|(_, s)| s.labels())
        .unwrap_or_default();
    if ready_tx.send(Ok(labels)).is_err() {
        return;
    }
    let Ok(start) = start_rx.await else {
        return;
    };
    let clock = Clock {
        start,
        measure_from: start + options.warmup,
        end: start + options.warmup + options.duration,
        seconds,
    };
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|(i, session)| {
            let seed = options
                .seed
                .wrapping_add(i as u64)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
            tokio::spawn(client(session, seed, schedule.clone(), clock))
        })
        .collect();
    let mut done = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(r) = task.await {
            done.push(r);
        }
    }
    let _ = result_tx.send(done);
}

/// The run's timeline, shared by every client.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    measure_from: Instant,
    end: Instant,
    seconds: usize,
}

/// One client's loop: run units until the window ends, recording those inside it.
async fn client<S: Session>(
    mut session: S,
    seed: u64,
    schedule: Option<Arc<Schedule>>,
    clock: Clock,
) -> ClientResult {
    let n_labels = session.labels().len().max(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut result = ClientResult {
        histogram: new_histogram(),
        lag: new_histogram(),
        templates: (0..n_labels).map(|_| new_histogram()).collect(),
        buckets: vec![0; clock.seconds],
        second_latency: (0..clock.seconds).map(|_| new_second_histogram()).collect(),
        errors: BTreeMap::new(),
        template_errors: vec![0; n_labels],
        template_timeouts: vec![0; n_labels],
        retries: 0,
    };
    loop {
        // When the unit should start: now (closed loop) or its slot in the schedule.
        let intended = match &schedule {
            None => Instant::now(),
            Some(s) => match s.take() {
                Some(offset) => clock.start + offset,
                None => break,
            },
        };
        if intended >= clock.end {
            break;
        }
        if schedule.is_some() {
            tokio::time::sleep_until(intended.into()).await;
        }
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
        // A timeout ends after the window more often than not: it counts when it started in it.
        let timed_out = matches!(&outcome, Err(e) if e.is_timeout());
        if intended < clock.measure_from || (done > clock.end && !timed_out) {
            continue;
        }
        match outcome {
            Ok(template) => {
                let micros = done.duration_since(intended).as_micros().max(1) as u64;
                let micros = micros.min(result.histogram.high());
                let _ = result.histogram.record(micros);
                if let Some(h) = result.templates.get_mut(template) {
                    let _ = h.record(micros);
                }
                if schedule.is_some() {
                    let lag = began.duration_since(intended).as_micros().max(1) as u64;
                    let _ = result.lag.record(lag.min(result.lag.high()));
                }
                let second = (done.duration_since(clock.measure_from).as_secs() as usize)
                    .min(clock.seconds - 1);
                result.buckets[second] += 1;
                if let Some(h) = result.second_latency.get_mut(second) {
                    let _ = h.record(micros);
                }
            }
            Err(e) => {
                *result.errors.entry(e.kind()).or_default() += 1;
                if let Some(t) = session.last_template() {
                    if let Some(n) = result.template_errors.get_mut(t) {
                        *n += 1;
                    }
                    if timed_out {
                        if let Some(n) = result.template_timeouts.get_mut(t) {
                            *n += 1;
                        }
                    }
                }
                // A broken connection would fail instantly forever: back off a little.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    result
}

/// Merge the clients' results into one measurement.
fn aggregate(
    options: &DriverOptions,
    labels: Vec<String>,
    seconds: usize,
    clients: Vec<ClientResult>,
) -> Result<Measurement> {
    let mut histogram = new_histogram();
    let mut lag = new_histogram();
    let mut templates: Vec<Histogram<u64>> =
        (0..labels.len().max(1)).map(|_| new_histogram()).collect();
    let mut buckets = vec![0u64; seconds];
    let mut second_latency: Vec<Histogram<u32>> =
        (0..seconds).map(|_| new_second_histogram()).collect();
    let mut errors = BTreeMap::new();
    let mut template_errors = vec![0u64; templates.len()];
    let mut template_timeouts = vec![0u64; templates.len()];
    let mut retries = 0;
    for r in clients {
        for (total, n) in template_errors.iter_mut().zip(&r.template_errors) {
            *total += n;
        }
        for (total, n) in template_timeouts.iter_mut().zip(&r.template_timeouts) {
            *total += n;
        }
        let _ = histogram.add(&r.histogram);
        let _ = lag.add(&r.lag);
        for (total, h) in templates.iter_mut().zip(&r.templates) {
            let _ = total.add(h);
        }
        for (total, b) in buckets.iter_mut().zip(&r.buckets) {
            *total += b;
        }
        for (total, h) in second_latency.iter_mut().zip(&r.second_latency) {
            let _ = total.add(h);
        }
        for (k, v) in r.errors {
            *errors.entry(k).or_default() += v;
        }
        retries += r.retries;
    }
    let committed: u64 = buckets.iter().sum();
    let per_template = labels
        .iter()
        .zip(&templates)
        .enumerate()
        .map(|(i, (name, h))| {
            (
                name.clone(),
                TemplateStats {
                    count: h.len(),
                    errors: template_errors[i],
                    timeouts: template_timeouts[i],
                    latency: summarize(h),
                },
            )
        })
        .collect();
    Ok(Measurement {
        clients: options.clients,
        warmup_secs: options.warmup.as_secs_f64(),
        duration_secs: seconds as f64,
        rate: options.rate,
        committed,
        per_second: buckets.iter().map(|&b| b as f64).collect(),
        p99_per_second: second_latency
            .iter()
            .map(|h| (!h.is_empty()).then(|| h.value_at_quantile(0.99) as f64 / 1000.0))
            .collect(),
        latency: summarize(&histogram),
        schedule_lag: options.rate.map(|_| summarize(&lag)),
        per_template,
        errors,
        retries,
        statement_timeout_ms: None,
    })
}

fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    LatencySummary {
        mean_ms: h.mean() / 1000.0,
        p50_ms: ms(h.value_at_quantile(0.5)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

#[allow(clippy::expect_used)]
fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 10 min at 3 significant digits: constant bounds, valid by construction.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant histogram bounds are valid")
}

/// A per-second histogram: one significant digit (about 10%), so that a long run's seconds
/// cost a few kilobytes each rather than the exact histogram's ~400 kB.
#[allow(clippy::expect_used)]
fn new_second_histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, 600_000_000, 1).expect("constant histogram bounds are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(s: &Schedule) -> Vec<Duration> {
        std::iter::from_fn(|| s.take()).collect()
    }

    #[test]
    fn schedules_are_deterministic_and_hit_the_rate() {
        let a = offsets(&Schedule::new(
            1000.0,
            Arrival::Poisson,
            Duration::from_secs(10),
            7,
        ));
        let b = offsets(&Schedule::new(
            1000.0,
            Arrival::Poisson,
            Duration::from_secs(10),
            7,
        ));
        assert_eq!(a, b);
        let n = a.len() as f64;
        assert!(
            (n - 10_000.0).abs() < 400.0,
            "{n} arrivals in 10 s at 1000/s"
        );
        assert!(a.windows(2).all(|w| w[0] <= w[1]), "in order");
        let r = offsets(&Schedule::new(
            100.0,
            Arrival::Regular,
            Duration::from_secs(1),
            7,
        ));
        assert_eq!(r.len(), 100);
        assert_eq!(r[1], Duration::from_millis(10));
    }

    #[test]
    fn a_huge_rate_is_streamed_not_built_in_memory() {
        // A billion arrivals a second for an hour: building it took minutes and gigabytes.
        let started = Instant::now();
        for arrival in [Arrival::Regular, Arrival::Poisson] {
            let s = Schedule::new(1e9, arrival, Duration::from_secs(3600), 1);
            let first: Vec<_> = (0..1000).map_while(|_| s.take()).collect();
            assert_eq!(first.len(), 1000);
            assert!(first[999] < Duration::from_millis(1), "{:?}", first[999]);
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        // A rate too small for one arrival in the horizon: one at zero, then none.
        let s = Schedule::new(1e-300, Arrival::Poisson, Duration::from_secs(1), 1);
        assert_eq!(offsets(&s), vec![Duration::ZERO]);
    }
}
