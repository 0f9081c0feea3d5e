//! The TPC-B-like benchmark loads and runs on both engines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use knobs::Engine;
use workloads::driver::{self, DriverOptions};
use workloads::tpcb::Tpcb;
use workloads::{Sandbox, TargetUrl};

async fn load_and_run(engine: Engine) {
    let sandbox = Sandbox::start(engine).unwrap();
    let url: TargetUrl = sandbox.url().parse().unwrap();
    let bench = Tpcb::new(2).unwrap();
    let load = bench.load(&url).await.unwrap();
    assert_eq!(load.rows, 2 + 20 + 200_000);
    assert_eq!(
        bench.row_counts(&url).await.unwrap(),
        bench.expected_counts()
    );
    let options = DriverOptions {
        clients: 3,
        warmup: Duration::from_millis(500),
        duration: Duration::from_secs(3),
        seed: 7,
    };
    let m = driver::run(&options, |_| bench.session(&url))
        .await
        .unwrap();
    assert_eq!(m.error_count(), 0, "{:?}", m.errors);
    assert_eq!(m.per_second.len(), 3);
    assert!(m.committed > 30, "only {} transactions", m.committed);
    assert_eq!(m.per_second.iter().sum::<f64>() as u64, m.committed);
    assert!(
        m.latency.p50_ms > 0.0
            && m.latency.p50_ms <= m.latency.p99_ms
            && m.latency.p99_ms <= m.latency.max_ms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpcb_on_postgres() {
    load_and_run(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpcb_on_mariadb() {
    load_and_run(Engine::Mariadb).await;
}
