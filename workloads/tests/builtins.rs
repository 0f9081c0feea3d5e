//! Every built-in benchmark loads with the row counts its scale promises and runs for a few
//! seconds with zero errors, on PostgreSQL and on MariaDB, through the one replay path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use knobs::Engine;
use workloads::builtin::{Builtin, NAMES};
use workloads::driver::DriverOptions;
use workloads::replay::Replay;
use workloads::spec::{Literal, ParamSpec, WorkloadSpec};
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
        if *name == "tpcc" {
            new_orders_take_the_district_id(&spec, &url, engine).await;
        }
    }
}

/// TPC-C's new order through the workload's bindings: four clients on one district, each
/// reading `d_next_o_id` under a row lock and inserting it as the order id. Without the
/// binding (or without the lock) two of them would insert the same id.
async fn new_orders_take_the_district_id(spec: &WorkloadSpec, url: &TargetUrl, engine: Engine) {
    let mut spec = spec.clone();
    spec.transactions.retain(|t| t.name == "new_order");
    for p in ["w", "d"] {
        spec.params.insert(
            p.into(),
            ParamSpec::List {
                values: vec![Literal::Int(1)],
                weights: Vec::new(),
            },
        );
    }
    let before = orders_placed(url, engine).await;
    let replay = Replay::new(&spec, url).await.unwrap();
    let options = DriverOptions::closed(4, Duration::ZERO, Duration::from_secs(2), 5);
    let m = replay.run(&options, url).await.unwrap();
    assert_eq!(m.error_count(), 0, "new order on {engine}: {:?}", m.errors);
    assert!(m.committed > 10, "new order on {engine}: {}", m.committed);
    let after = orders_placed(url, engine).await;
    // Every order the district handed out is there once: ids and rows advance together
    // (a transaction that ends after the window commits without being counted).
    let handed_out = after.0 - before.0;
    assert!(
        handed_out >= m.committed as i64,
        "{engine}: {handed_out} ids handed out"
    );
    assert_eq!(after.1 - before.1, handed_out, "{engine}: orders inserted");
    assert_eq!(after.2, after.1, "{engine}: distinct order ids");
}

/// District (1, 1): its next order id, its orders and their distinct ids.
async fn orders_placed(url: &TargetUrl, engine: Engine) -> (i64, i64, i64) {
    let sql = "SELECT (SELECT d_next_o_id FROM tpcc_district WHERE d_w_id = 1 AND d_id = 1), count(*), count(DISTINCT o_id) FROM tpcc_orders WHERE o_w_id = 1 AND o_d_id = 1";
    let row: Vec<i64> = match engine {
        Engine::Postgres => {
            let c = workloads::target::connect_postgres(url).await.unwrap();
            let r = c.query_one(sql, &[]).await.unwrap();
            vec![i64::from(r.get::<_, i32>(0)), r.get(1), r.get(2)]
        }
        _ => {
            use mysql_async::prelude::Queryable;
            let mut c = workloads::target::connect_mysql(url).await.unwrap();
            let r: (i64, i64, i64) = c.query_first(sql).await.unwrap().unwrap();
            vec![r.0, r.1, r.2]
        }
    };
    (row[0], row[1], row[2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtins_on_postgres() {
    all_builtins(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtins_on_mariadb() {
    all_builtins(Engine::Mariadb).await;
}
