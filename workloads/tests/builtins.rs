//! Every built-in benchmark loads with the row counts its scale promises and runs for a few
//! seconds with zero errors, on PostgreSQL and on MariaDB, through the one replay path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use knobs::Engine;
use workloads::builtin::{Builtin, NAMES};
use workloads::driver::DriverOptions;
use workloads::replay::Replay;
use workloads::{Sandbox, TargetUrl};

async fn all_builtins(engine: Engine) {
    let sandbox = tokio::task::spawn_blocking(move || Sandbox::start(engine))
        .await
        .unwrap()
        .unwrap();
    let url: TargetUrl = sandbox.url().parse().unwrap();
    for name in NAMES {
        if *name == "tpch" {
            // SF 1 is too big for this loop; tests/tpch.rs loads and runs it at SF 0.01.
            continue;
        }
        let builtin = Builtin::new(name, 1).unwrap();
        // select-only reads the tpcb tables and the YCSB workloads share one table: load each
        // table family once.
        if matches!(*name, "tpcb" | "tpcc" | "ycsb-a" | "olap") {
            let load = builtin
                .load(&url)
                .await
                .unwrap_or_else(|e| panic!("{name}: load: {e}"));
            assert!(load.rows > 0 && load.seconds > 0.0);
            eprintln!(
                "{engine} {name}: loaded {} rows in {:.1} s",
                load.rows, load.seconds
            );
        }
        for (table, want, got) in builtin.row_counts(&url).await.unwrap() {
            assert_eq!(want, got, "{name}: {table}");
        }
        let spec = builtin.spec().unwrap();
        let replay = Replay::new(&spec, &url).await.unwrap();
        // Analytic queries take a good part of a second each on these small machines.
        let seconds = if *name == "olap" { 6 } else { 2 };
        let options = DriverOptions::closed(
            2,
            Duration::from_millis(300),
            Duration::from_secs(seconds),
            11,
        );
        let m = replay
            .run(&options, &url)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.error_count(), 0, "{name} on {engine}: {:?}", m.errors);
        assert!(m.committed > 0, "{name} on {engine}: nothing committed");
        let templates: Vec<&String> = m
            .per_template
            .iter()
            .filter(|(_, s)| s.count > 0)
            .map(|(k, _)| k)
            .collect();
        if m.committed >= 100 {
            assert_eq!(
                templates.len(),
                spec.transactions.len(),
                "{name}: templates run {templates:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtins_on_postgres() {
    all_builtins(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtins_on_mariadb() {
    all_builtins(Engine::Mariadb).await;
}
