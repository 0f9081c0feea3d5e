//! The gate on a real sandbox: it accepts a real gain, rejects a planted regression, and calls
//! identical configurations (A/A) never an improvement.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use agent::gate::{self, GatePlan};
use agent::staging::Staging;
use agent::tune::measure::{Bench, Window, DATABASE};
use agent::tune::{Events, Objective};
use knobs::{catalog, Config, Engine};
use models::gate::{Decision, GateSettings};
use tokio_util::sync::CancellationToken;
use workloads::builtin::Builtin;
use workloads::replay::Replay;
use workloads::Sandbox;

async fn bench() -> Bench {
    let sandbox = tokio::task::spawn_blocking(|| Sandbox::start(Engine::Postgres))
        .await
        .unwrap()
        .unwrap();
    let url: workloads::TargetUrl = sandbox.url().parse().unwrap();
    workloads::target::connect_postgres(&url)
        .await
        .unwrap()
        .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
        .await
        .unwrap();
    let staging = Staging::new(sandbox, catalog::for_engine(Engine::Postgres).unwrap());
    let builtin = Builtin::new("tpcb", 2).unwrap();
    let db = staging.url(DATABASE).unwrap();
    builtin.load(&db).await.unwrap();
    let replay = Replay::new(&builtin.spec().unwrap(), &db).await.unwrap();
    let window = Window {
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(3),
    };
    Bench::new(staging, replay, 4, window, false, Objective::Throughput, 1)
}

async fn verdict(
    bench: &mut Bench,
    baseline: &[(&str, &str)],
    candidate: &[(&str, &str)],
) -> models::gate::GateEvidence {
    let cat = catalog::for_engine(Engine::Postgres).unwrap();
    let baseline = Config::parse_pairs(&cat, baseline.iter().copied()).unwrap();
    let candidate = Config::parse_pairs(&cat, candidate.iter().copied()).unwrap();
    let plan = GatePlan {
        min_rounds: 4,
        max_rounds: 4,
        deadline: Instant::now() + Duration::from_secs(600),
        slot_cost: Duration::from_secs(6),
        p99_limit_ms: None,
        seed: 1,
    };
    let outcome = gate::run(
        bench,
        &baseline,
        &candidate,
        &GateSettings::default(),
        plan,
        &Events::none(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    assert_eq!(outcome.baseline_runs.len(), 4);
    outcome.evidence.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_accepts_a_gain_rejects_a_regression_and_never_accepts_a_a() {
    let mut bench = bench().await;
    let same = verdict(&mut bench, &[], &[]).await;
    assert_ne!(same.decision, Decision::Accept, "A/A accepted: {same:?}");

    // A planted regression: every commit waits 1 ms for company that never comes. Its size
    // is set by a sleep, not by this machine's disk: a WAL-flush knob (synchronous_commit=off)
    // gained +4% to +49% per round with one client here depending on fsync latency at the
    // time, and in one run of this test (four clients) its rounds were 1.12, 0.55, 0.66, 0.73.
    let planted = [("commit_delay", "1000"), ("commit_siblings", "1")];
    let loss = verdict(&mut bench, &[], &planted).await;
    assert_eq!(loss.decision, Decision::Reject, "{loss:?}");
    assert!(loss.score.high < 1.0, "{loss:?}");

    // The same difference seen from the other side is a real gain, and is accepted.
    let gain = verdict(&mut bench, &planted, &[]).await;
    assert_eq!(gain.decision, Decision::Accept, "{gain:?}");
    assert!(gain.score.low > 1.02, "{gain:?}");
}
