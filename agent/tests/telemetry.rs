//! Telemetry against real sandboxes: counts match a known load, resets and restarts give no
//! negative deltas, least-privilege roles collect and say what they could not read, and a
//! missing pg_stat_statements is named with its fix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use agent::telemetry::{Collector, Delta, Snapshot, TelemetryConfig};
use knobs::Engine;
use mysql_async::prelude::Queryable;
use workloads::builtin::Builtin;
use workloads::driver::DriverOptions;
use workloads::replay::Replay;
use workloads::{Sandbox, TargetUrl};

async fn start(engine: Engine, settings: &'static [(&'static str, &'static str)]) -> Sandbox {
    tokio::task::spawn_blocking(move || Sandbox::start_with(engine, settings))
        .await
        .unwrap()
        .unwrap()
}

async fn pg_exec(url: &str, sql: &str) {
    let client = workloads::target::connect_postgres(&url.parse().unwrap())
        .await
        .unwrap();
    client.batch_execute(sql).await.unwrap();
}

async fn my_exec(url: &str, sql: &str) {
    let mut conn = workloads::target::connect_mysql(&url.parse().unwrap())
        .await
        .unwrap();
    conn.query_drop(sql).await.unwrap();
}

fn collector(url: &str) -> Collector {
    Collector::new(url.parse().unwrap(), TelemetryConfig::default()).unwrap()
}

/// Collect, reconnecting once if the server went away since the last scrape.
async fn collect(c: &mut Collector) -> Snapshot {
    match c.collect().await {
        Ok(s) => s,
        Err(_) => c.collect().await.unwrap(),
    }
}

fn assert_no_negative(d: &Delta) {
    for (k, v) in &d.counters {
        assert!(*v >= 0.0, "negative delta {k} = {v}");
    }
    for s in &d.statements {
        assert!(s.calls >= 0.0 && s.total_time_ms >= 0.0, "{s:?}");
    }
}

/// Load the TPC-B-like tables (scale 1).
async fn load_tpcb(url: &str) {
    Builtin::new("tpcb", 1)
        .unwrap()
        .load(&url.parse().unwrap())
        .await
        .unwrap();
}

/// Run the TPC-B load and return what the driver counted.
async fn known_load(url: &str, seconds: u64) -> u64 {
    let url: TargetUrl = url.parse().unwrap();
    let spec = Builtin::new("tpcb", 1).unwrap().spec().unwrap();
    let replay = Replay::new(&spec, &url).await.unwrap();
    let options = DriverOptions::closed(3, Duration::ZERO, Duration::from_secs(seconds), 3);
    let m = replay.run(&options, &url).await.unwrap();
    assert_eq!(m.error_count(), 0, "{:?}", m.errors);
    m.committed
}

fn within(measured: f64, expected: f64, share: f64) -> bool {
    (measured - expected).abs() <= expected * share + 30.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_commit_delta_matches_a_known_load() {
    let sandbox = start(Engine::Postgres, &[]).await;
    let url = sandbox.url();
    pg_exec(&url, "CREATE EXTENSION pg_stat_statements").await;
    load_tpcb(&url).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let mut c = collector(&url);
    // Backends hand their counts to the shared statistics when they exit: settle a second.
    let (committed, observed) =
        agent::telemetry::observe(&mut c, Duration::from_millis(1200), known_load(&url, 6)).await;
    let observed = observed.expect("snapshots before and after");
    let (a, b) = (&observed.before, &observed.after);
    assert!(a.notices.is_empty(), "{:?}", a.notices);
    assert!(a
        .counters
        .contains_key("pg_stat_bgwriter/checkpoints_timed"));
    assert!(a.counters.contains_key("pg_stat_wal/wal_bytes"));
    assert!(a.counters.contains_key("pg_stat_statements/calls"));
    assert!(a.gauges.contains_key("pg_locks/granted"));
    assert_eq!(Delta::between(a, b), observed.delta);

    let d = observed.delta.clone();
    assert_no_negative(&d);
    let commits = d.derived.commits.unwrap();
    assert!(
        within(commits, committed as f64, 0.03),
        "server counted {commits} commits, the driver {committed}"
    );
    let tps = d.derived.tps.unwrap();
    assert!(tps > 0.0 && tps * d.seconds >= commits * 0.999);
    let hit = d.derived.buffer_hit_ratio.unwrap();
    assert!(hit > 0.5 && hit <= 1.0, "hit ratio {hit}");
    assert!(d.derived.wal_bytes_per_xact.unwrap() > 100.0);
    assert!(d.derived.mean_statement_latency_ms.unwrap() > 0.0);
    let top = d.statements.first().expect("statements in the interval");
    assert!(top.text.contains("tpcb_"), "{top:?}");
    assert!(b.wait_samples >= 1);
    // The summaries read the statistics functions directly: same totals as the views.
    let check = workloads::target::connect_postgres(&url.parse().unwrap())
        .await
        .unwrap();
    let row = check
        .query_one(
            "SELECT (SELECT count(*)::float8 FROM pg_stat_user_tables), \
             (SELECT sum(n_tup_ins)::float8 FROM pg_stat_user_tables), \
             (SELECT count(*)::float8 FROM pg_stat_user_indexes)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(b.gauges["pg_stat_user_tables/tables"], row.get::<_, f64>(0));
    assert_eq!(
        b.counters["pg_stat_user_tables/n_tup_ins"],
        row.get::<_, f64>(1)
    );
    assert_eq!(
        b.gauges["pg_stat_user_indexes/indexes"],
        row.get::<_, f64>(2)
    );
    // The snapshot round-trips through JSON (what the repository stores).
    let back: Snapshot = serde_json::from_str(&serde_json::to_string(b).unwrap()).unwrap();
    assert_eq!(back.counters.len(), b.counters.len());
    assert_eq!(back.statements.len(), b.statements.len());
    assert_eq!(back.notices, b.notices);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reset_and_restart_give_no_negative_deltas() {
    let mut sandbox = start(Engine::Postgres, &[]).await;
    let url = sandbox.url();
    pg_exec(&url, "CREATE EXTENSION pg_stat_statements").await;
    load_tpcb(&url).await;
    known_load(&url, 2).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut c = collector(&url);
    let a = collect(&mut c).await;

    pg_exec(&url, "SELECT pg_stat_reset(); SELECT pg_stat_reset_shared('bgwriter'); SELECT pg_stat_reset_shared('wal'); SELECT pg_stat_statements_reset()").await;
    known_load(&url, 1).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let b = collect(&mut c).await;
    let d = Delta::between(&a, &b);
    assert_no_negative(&d);
    assert!(!d.restarted);
    assert!(
        d.reset_groups.contains("pg_stat_database/postgres"),
        "{:?}",
        d.reset_groups
    );
    assert!(d.derived.commits.unwrap() > 0.0);

    let mut sandbox = tokio::task::spawn_blocking(move || {
        sandbox.restart().unwrap();
        sandbox
    })
    .await
    .unwrap();
    // A restarted sandbox listens on a new port.
    let url = sandbox.url();
    known_load(&url, 1).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let c2 = collect(&mut collector(&url)).await;
    let d = Delta::between(&b, &c2);
    assert!(
        d.restarted,
        "{:?} vs {:?}",
        b.server_started_at, c2.server_started_at
    );
    assert_no_negative(&d);
    assert!(d.derived.commits.unwrap() > 0.0);
    sandbox.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_least_privilege_and_missing_extension_are_named() {
    let sandbox = start(Engine::Postgres, &[]).await;
    let url = sandbox.url();
    pg_exec(
        &url,
        "CREATE ROLE monitor LOGIN PASSWORD 'm0n'; GRANT pg_monitor TO monitor; \
         CREATE ROLE nobody LOGIN PASSWORD 'n0b'; \
         CREATE TABLE t (id int primary key); CREATE INDEX ON t (id)",
    )
    .await;
    let port = sandbox.port();

    // Superuser, no extension: the snapshot succeeds and says how to enable it.
    let mut superuser = collector(&url);
    let s = collect(&mut superuser).await;
    let n = s
        .notices
        .iter()
        .find(|n| n.source == "pg_stat_statements")
        .expect("named");
    assert!(
        n.fix.contains("CREATE EXTENSION pg_stat_statements"),
        "{n:?}"
    );
    assert!(s
        .counters
        .contains_key("pg_stat_database/postgres/xact_commit"));
    assert!(s.statements.is_empty());

    pg_exec(&url, "CREATE EXTENSION pg_stat_statements").await;
    // The running collector picks the extension up by itself within 30 scrapes.
    let mut seen = false;
    for _ in 0..31 {
        let s = collect(&mut superuser).await;
        if !s.statements.is_empty() {
            assert!(s.notices.iter().all(|n| n.source != "pg_stat_statements"));
            seen = true;
            break;
        }
    }
    assert!(seen, "the new extension was never probed");
    // pg_monitor only: everything is readable.
    let mon = format!("postgres://monitor:m0n@127.0.0.1:{port}/postgres");
    let s = collect(&mut collector(&mon)).await;
    assert!(s.notices.is_empty(), "{:?}", s.notices);
    assert!(!s.statements.is_empty());
    assert!(s.statements.iter().any(|st| !st.text.is_empty()));

    // No role at all: collects what it may and names pg_monitor with the GRANT.
    let nobody = format!("postgres://nobody:n0b@127.0.0.1:{port}/postgres");
    let s = collect(&mut collector(&nobody)).await;
    let n = s
        .notices
        .iter()
        .find(|n| n.source == "pg_monitor")
        .expect("named");
    assert!(n.fix.contains("GRANT pg_monitor TO \"nobody\""), "{n:?}");
    assert!(s
        .counters
        .contains_key("pg_stat_database/postgres/xact_commit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_commit_delta_and_least_privilege() {
    let sandbox = start(Engine::Mariadb, &[("performance_schema", "ON")]).await;
    let url = sandbox.url();
    load_tpcb(&url).await;
    let mut c = collector(&url);
    let a = collect(&mut c).await;
    assert_eq!(a.engine, "mariadb");
    assert!(a.notices.is_empty(), "{:?}", a.notices);
    assert!(a.counters.contains_key("global_status/Com_commit"));
    assert!(a.counters.keys().any(|k| k.starts_with("innodb_metrics/")));
    assert!(a.gauges.contains_key("global_status/Threads_connected"));
    let committed = known_load(&url, 4).await;
    let b = collect(&mut c).await;
    let d = Delta::between(&a, &b);
    assert_no_negative(&d);
    let commits = d.derived.commits.unwrap();
    assert!(
        within(commits, committed as f64, 0.03),
        "server counted {commits} commits, the driver {committed}"
    );
    assert!(d.derived.buffer_hit_ratio.unwrap() > 0.5);
    assert!(d.derived.mean_statement_latency_ms.unwrap() > 0.0);
    // MariaDB's digests do not count binary-protocol (prepared) executions; COMMIT is a
    // plain statement whatever the client's protocol, so it is always there.
    assert!(
        d.statements.iter().any(|s| s.text.starts_with("COMMIT")),
        "{:?}",
        d.statements
    );

    // The documented grants: PROCESS and SELECT on performance_schema.
    my_exec(
        &url,
        "CREATE USER 'monitor'@'%'; GRANT PROCESS ON *.* TO 'monitor'@'%'; \
         GRANT SELECT ON performance_schema.* TO 'monitor'@'%'; CREATE USER 'nobody'@'%'",
    )
    .await;
    let port = sandbox.port();
    let s = collect(&mut collector(&format!(
        "mysql://monitor@127.0.0.1:{port}/"
    )))
    .await;
    assert!(s.notices.is_empty(), "{:?}", s.notices);
    assert!(!s.statements.is_empty());
    let s = collect(&mut collector(&format!("mysql://nobody@127.0.0.1:{port}/"))).await;
    assert!(s.counters.contains_key("global_status/Com_commit"));
    assert!(
        s.notices.iter().any(|n| n.fix.contains("GRANT PROCESS")),
        "{:?}",
        s.notices
    );

    // FLUSH STATUS and a restart: no negative deltas.
    my_exec(&url, "FLUSH STATUS").await;
    let b2 = collect(&mut c).await;
    assert_no_negative(&Delta::between(&b, &b2));
    let mut sandbox = tokio::task::spawn_blocking(move || {
        let mut s = sandbox;
        s.restart().unwrap();
        s
    })
    .await
    .unwrap();
    let mut c = collector(&sandbox.url());
    let b3 = collect(&mut c).await;
    let d = Delta::between(&b2, &b3);
    assert!(d.restarted);
    assert_no_negative(&d);
    sandbox.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_without_performance_schema_says_how_to_enable_it() {
    let sandbox = start(Engine::Mariadb, &[]).await;
    let s = collect(&mut collector(&sandbox.url())).await;
    let n = s
        .notices
        .iter()
        .find(|n| n.source == "performance_schema")
        .expect("named");
    assert!(n.fix.contains("performance_schema=ON"), "{n:?}");
    assert!(s.counters.contains_key("global_status/Com_commit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_keeps_one_scrape_in_flight_and_stops_on_shutdown() {
    use agent::telemetry::watch::{watch, WatchEvent};
    let sandbox = start(Engine::Postgres, &[]).await;
    let config = TelemetryConfig {
        // Slow scrapes on purpose: ten samples 20 ms apart take ~200 ms.
        wait_samples: 10,
        wait_sample_spacing_ms: 20,
        ..TelemetryConfig::default()
    };
    let c = Collector::new(sandbox.url().parse().unwrap(), config).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(1000);
    let summary = watch(
        c,
        Duration::from_millis(50),
        tokio::time::sleep(Duration::from_millis(1500)),
        tx,
    )
    .await;
    assert!(summary.scrapes >= 3, "{summary:?}");
    assert!(
        summary.skipped >= summary.scrapes,
        "ticks during a slow scrape are skipped: {summary:?}"
    );
    assert_eq!(summary.failed, 0);
    // At 50 ms ticks and ~200 ms scrapes, stacking would have run ~30 scrapes.
    assert!(summary.scrapes <= 9, "{summary:?}");
    let mut snapshots = 0;
    while let Ok(e) = rx.try_recv() {
        if let WatchEvent::Snapshot(s) = e {
            assert_eq!(s.wait_samples, 10);
            snapshots += 1;
        }
    }
    assert_eq!(snapshots, summary.scrapes);
}
