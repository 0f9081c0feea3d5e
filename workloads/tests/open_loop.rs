//! Open-loop accounting: a stall on the server shows in the open loop's tail latency (measured
//! from each unit's intended start) and much less in the closed loop's, which only sees the few
//! requests that were in flight (coordinated omission).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use knobs::Engine;
use workloads::driver::{Arrival, DriverOptions, Measurement};
use workloads::replay::Replay;
use workloads::spec::WorkloadSpec;
use workloads::target::connect_postgres;
use workloads::{Sandbox, TargetUrl};

const SPEC: &str = r#"
version = 1
name = "tiny-read"
[[transactions]]
name = "read"
weight = 1
statements = ["SELECT x FROM stall_t"]
"#;

/// Run the workload while another session holds an ACCESS EXCLUSIVE lock for one second.
async fn run_with_stall(url: &TargetUrl, options: DriverOptions) -> Measurement {
    let spec = WorkloadSpec::parse(SPEC, true, "tiny-read").unwrap();
    let replay = Replay::new(&spec, url).await.unwrap();
    let locker = connect_postgres(url).await.unwrap();
    let stall = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        locker
            .batch_execute(
                "BEGIN; LOCK TABLE stall_t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1); COMMIT;",
            )
            .await
            .unwrap();
    });
    let m = replay.run(&options, url).await.unwrap();
    stall.await.unwrap();
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_open_loop_tail_not_in_the_closed_loop() {
    let sandbox = tokio::task::spawn_blocking(|| Sandbox::start(Engine::Postgres))
        .await
        .unwrap()
        .unwrap();
    let url: TargetUrl = sandbox.url().parse().unwrap();
    connect_postgres(&url)
        .await
        .unwrap()
        .batch_execute("CREATE TABLE stall_t (x int); INSERT INTO stall_t VALUES (1);")
        .await
        .unwrap();

    let open = DriverOptions {
        clients: 4,
        warmup: Duration::from_millis(500),
        duration: Duration::from_secs(4),
        seed: 1,
        rate: Some(300.0),
        arrival: Arrival::Regular,
        threads: None,
    };
    let open = run_with_stall(&url, open).await;
    let closed = DriverOptions::closed(4, Duration::from_millis(500), Duration::from_secs(4), 1);
    let closed = run_with_stall(&url, closed).await;

    assert_eq!(open.error_count() + closed.error_count(), 0);
    // Open loop: ~300 of ~1200 units were due during the stall and waited for it.
    assert!(
        open.latency.max_ms >= 800.0,
        "open max {}",
        open.latency.max_ms
    );
    assert!(
        open.latency.p99_ms >= 500.0,
        "open p99 {}",
        open.latency.p99_ms
    );
    // Per second, the stall is where it happened: not in the first measured second (before
    // the lock), but in the one in which the waiting units completed.
    let seconds = &open.p99_per_second;
    assert_eq!(seconds.len(), 4, "{seconds:?}");
    let first = seconds[0].unwrap();
    let worst = seconds.iter().flatten().fold(0.0_f64, |a, b| a.max(*b));
    assert!(first < 100.0, "first second's p99 {first}: {seconds:?}");
    assert!(worst >= 500.0, "no stalled second: {seconds:?}");
    let lag = open.schedule_lag.as_ref().unwrap();
    assert!(lag.max_ms >= 500.0, "schedule lag {lag:?}");
    // Closed loop: the same stall delays only the 4 requests in flight.
    assert!(
        closed.latency.max_ms >= 800.0,
        "closed max {}",
        closed.latency.max_ms
    );
    assert!(
        closed.latency.p99_ms * 2.0 < open.latency.p99_ms,
        "closed p99 {} vs open p99 {}",
        closed.latency.p99_ms,
        open.latency.p99_ms
    );
    // And the open loop kept its rate.
    assert!(
        (open.throughput() - 300.0).abs() < 30.0,
        "open throughput {}",
        open.throughput()
    );
}
