//! Capture while a known mix runs: the captured templates carry the mix's shares, and the
//! capture replays without errors. Missing instrumentation is named with how to enable it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use knobs::Engine;
use mysql_async::prelude::Queryable;
use workloads::builtin::Builtin;
use workloads::capture::{capture, CaptureOptions};
use workloads::driver::DriverOptions;
use workloads::replay::{Protocol, Replay};
use workloads::spec::WorkloadSpec;
use workloads::target::{connect_mysql, connect_postgres};
use workloads::{Sandbox, TargetUrl, WorkloadError};

const MIX: &str = r#"
version = 1
name = "known-mix"
[params.aid]
kind = "uniform"
min = 1
max = 100000
[params.tid]
kind = "uniform"
min = 1
max = 10
[params.bid]
kind = "list"
values = [1]
[[transactions]]
name = "accounts"
weight = 60
statements = ["SELECT abalance FROM tpcb_accounts WHERE aid = :aid"]
[[transactions]]
name = "tellers"
weight = 30
statements = ["UPDATE tpcb_tellers SET tbalance = tbalance + 1 WHERE tid = :tid"]
[[transactions]]
name = "branches"
weight = 10
statements = ["SELECT bbalance FROM tpcb_branches WHERE bid = :bid"]
"#;

async fn capture_known_mix(engine: Engine, settings: &'static [(&'static str, &'static str)]) {
    let sandbox = tokio::task::spawn_blocking(move || Sandbox::start_with(engine, settings))
        .await
        .unwrap()
        .unwrap();
    let url: TargetUrl = sandbox.url().parse().unwrap();
    if engine == Engine::Postgres {
        connect_postgres(&url)
            .await
            .unwrap()
            .batch_execute("CREATE EXTENSION pg_stat_statements")
            .await
            .unwrap();
    }
    Builtin::new("tpcb", 1).unwrap().load(&url).await.unwrap();
    let mix = WorkloadSpec::parse(MIX, true, "known-mix").unwrap();
    // MariaDB attributes only text-protocol statements to digests; most MySQL drivers send
    // text by default, so that is what the application here does.
    let protocol = if engine == Engine::Postgres {
        Protocol::Prepared
    } else {
        Protocol::Text
    };
    let replay = Replay::new(&mix, &url)
        .await
        .unwrap()
        .with_protocol(protocol);
    let load = {
        let (replay, url) = (replay.clone(), url.clone());
        tokio::spawn(async move {
            let options = DriverOptions::closed(2, Duration::ZERO, Duration::from_secs(6), 3);
            replay.run(&options, &url).await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let options = CaptureOptions {
        window: Duration::from_secs(4),
        top: 50,
        name: "captured".into(),
        since_reset: false,
        min_calls: 0,
        by_total_time: false,
    };
    let captured = capture(&url, &options, || {}).await.unwrap();
    let ran = load.await.unwrap();
    assert_eq!(ran.error_count(), 0);

    let spec = &captured.spec;
    let total: u64 = spec
        .transactions
        .iter()
        .filter_map(|t| t.captured_calls)
        .sum();
    let share = |table: &str| -> f64 {
        let calls: u64 = spec
            .transactions
            .iter()
            .filter(|t| t.statements[0].contains(table))
            .filter_map(|t| t.captured_calls)
            .sum();
        calls as f64 / total as f64 * 100.0
    };
    for (table, expected) in [
        ("tpcb_accounts", 60.0),
        ("tpcb_tellers", 30.0),
        ("tpcb_branches", 10.0),
    ] {
        let got = share(table);
        assert!(
            (got - expected).abs() <= 10.0,
            "{engine}: {table} captured at {got:.1}%, mix has {expected}% ({:#?}, notes {:?})",
            spec.transactions,
            captured.notes
        );
    }
    assert!(spec
        .transactions
        .iter()
        .all(|t| t.captured_mean_ms.is_some_and(|m| m >= 0.0)));

    // The capture is a workload file that replays without errors.
    let text = toml::to_string(spec).unwrap();
    let reread = WorkloadSpec::parse(&text, true, "captured.toml").unwrap();
    let replay = Replay::new(&reread, &url).await.unwrap();
    let options = DriverOptions::closed(2, Duration::ZERO, Duration::from_secs(2), 5);
    let m = replay.run(&options, &url).await.unwrap();
    assert_eq!(m.error_count(), 0, "{engine}: replay errors {:?}", m.errors);
    assert!(m.committed > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_capture_matches_the_mix_and_replays() {
    capture_known_mix(Engine::Postgres, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_capture_matches_the_mix_and_replays() {
    capture_known_mix(Engine::Mariadb, &[("performance_schema", "ON")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_instrumentation_says_how_to_enable_it() {
    let pg = tokio::task::spawn_blocking(|| Sandbox::start(Engine::Postgres))
        .await
        .unwrap()
        .unwrap();
    let options = CaptureOptions {
        window: Duration::from_millis(100),
        top: 10,
        name: "x".into(),
        since_reset: false,
        min_calls: 0,
        by_total_time: false,
    };
    let err = capture(&pg.url().parse().unwrap(), &options, || {})
        .await
        .unwrap_err();
    assert!(matches!(err, WorkloadError::Unavailable(_)), "{err}");
    assert!(
        err.to_string()
            .contains("CREATE EXTENSION pg_stat_statements"),
        "{err}"
    );

    let maria = tokio::task::spawn_blocking(|| Sandbox::start(Engine::Mariadb))
        .await
        .unwrap()
        .unwrap();
    let url: TargetUrl = maria.url().parse().unwrap();
    let on: Option<i64> = connect_mysql(&url)
        .await
        .unwrap()
        .query_first("SELECT @@performance_schema")
        .await
        .unwrap();
    assert_eq!(on, Some(0), "MariaDB ships with performance_schema off");
    let err = capture(&url, &options, || {}).await.unwrap_err();
    assert!(err.to_string().contains("performance_schema=ON"), "{err}");
}
