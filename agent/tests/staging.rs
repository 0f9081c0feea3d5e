//! Applying configurations to staging: reload vs restart, values read back, and a
//! configuration that stops the server from starting, or that the server refuses, is rolled
//! back (safety rule 4).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agent::staging::{Staging, StagingError};
use knobs::{catalog, ApplyMode, Config, Durability, Engine, Knob, KnobKind, Value};
use workloads::Sandbox;

/// A restart knob whose second value makes the server refuse to start.
fn breaking_knob(engine: Engine) -> (Knob, &'static str) {
    let (name, values, bad) = match engine {
        Engine::Postgres => (
            "shared_preload_libraries",
            vec![
                "pg_stat_statements".to_string(),
                "no_such_library".to_string(),
            ],
            "no_such_library",
        ),
        _ => (
            "innodb_page_size",
            vec!["16384".to_string(), "4096".to_string()],
            "4096",
        ),
    };
    let knob = Knob {
        name: name.into(),
        engine,
        kind: KnobKind::Enum {
            values: values.clone(),
        },
        default: Value::Enum(values[0].clone()),
        apply: ApplyMode::Restart,
        durability: Durability::Safe,
        risky_values: vec![],
        range: None,
        ram_fraction: None,
        special_values: vec![],
        versions: "all".into(),
        description: "test knob".into(),
    };
    (knob, bad)
}

async fn check(
    engine: Engine,
    reload_knob: &str,
    reload_value: &str,
    restart_knob: &str,
    restart_value: &str,
) {
    let mut cat = catalog::for_engine(engine).unwrap();
    let (breaker, bad) = breaking_knob(engine);
    cat.push(breaker.clone());
    let sandbox = tokio::task::spawn_blocking(move || Sandbox::start(engine))
        .await
        .unwrap()
        .unwrap();
    let mut staging = Staging::new(sandbox, cat.clone());

    let online = Config::parse_pairs(&cat, [(reload_knob, reload_value)]).unwrap();
    let pid = staging.pid();
    let applied = staging.apply(&online).await.unwrap();
    assert!(!applied.restarted);
    assert_eq!(staging.pid(), pid, "a reload knob must not restart");
    let knob = catalog::find(&cat, reload_knob).unwrap();
    assert_eq!(
        knob.parse_value(&applied.server_values[reload_knob])
            .unwrap(),
        *online.get(reload_knob).unwrap()
    );

    let mut both = online.clone();
    both.set(
        restart_knob,
        catalog::find(&cat, restart_knob)
            .unwrap()
            .parse_value(restart_value)
            .unwrap(),
    );
    let applied = staging.apply(&both).await.unwrap();
    assert!(applied.restarted);
    assert_ne!(staging.pid(), pid);

    let mut broken = both.clone();
    broken.set(&breaker.name, Value::Enum(bad.into()));
    broken.set(reload_knob, knob.default.clone());
    let err = staging.apply(&broken).await.unwrap_err();
    assert!(matches!(err, StagingError::Infeasible(_)), "{err}");
    assert!(err.is_infeasible());
    assert!(err.to_string().contains("server log"), "{err}");
    // Rolled back: running again, with the previous configuration in force.
    assert_eq!(staging.current(), &both);
    let again = staging.apply(&both).await.unwrap();
    assert!(!again.restarted);
    let server = &again.server_values;
    assert_eq!(
        knob.parse_value(&server[reload_knob]).unwrap(),
        *both.get(reload_knob).unwrap(),
        "online knob of the failed config not undone"
    );
    assert_eq!(
        catalog::find(&cat, restart_knob)
            .unwrap()
            .parse_value(&server[restart_knob])
            .unwrap(),
        *both.get(restart_knob).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reload_restart_and_rollback() {
    check(
        Engine::Postgres,
        "max_wal_size",
        "2GB",
        "shared_buffers",
        "256MB",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_reload_restart_and_rollback() {
    check(
        Engine::Mariadb,
        "innodb_io_capacity",
        "1000",
        "innodb_log_buffer_size",
        "32MB",
    )
    .await;
}

/// A value MariaDB refuses online (innodb_log_file_size below the running log buffer) fails the
/// trial and undoes the knobs already changed; the same value with a smaller buffer, applied by
/// a restart, is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_refused_value_is_undone_and_restart_applies_knobs_together() {
    use mysql_async::prelude::Queryable;
    let cat = catalog::for_engine(Engine::Mariadb).unwrap();
    let sandbox = tokio::task::spawn_blocking(|| Sandbox::start(Engine::Mariadb))
        .await
        .unwrap()
        .unwrap();
    let url: workloads::TargetUrl = sandbox.url().parse().unwrap();
    let mut staging = Staging::new(sandbox, cat.clone());
    let read = |url: workloads::TargetUrl| async move {
        let mut conn = workloads::target::connect_mysql(&url).await.unwrap();
        let row: (u64, u64, u64) = conn
            .query_first(
                "SELECT @@innodb_buffer_pool_size, @@innodb_log_file_size, @@innodb_log_buffer_size",
            )
            .await
            .unwrap()
            .unwrap();
        row
    };

    let big_buffer = Config::parse_pairs(&cat, [("innodb_log_buffer_size", "64MB")]).unwrap();
    assert!(staging.apply(&big_buffer).await.unwrap().restarted);
    let url = url.with_database("mysql");
    let before = read(url.clone()).await;

    // The buffer pool (earlier in the catalog, applied online first) then a refused log size.
    let mut refused = big_buffer.clone();
    refused.set(
        "innodb_buffer_pool_size",
        cat_value(&cat, "innodb_buffer_pool_size", "256MB"),
    );
    refused.set(
        "innodb_log_file_size",
        cat_value(&cat, "innodb_log_file_size", "16MB"),
    );
    let err = staging.apply(&refused).await.unwrap_err();
    assert!(matches!(err, StagingError::Rejected(_)), "{err}");
    assert!(err.is_infeasible());
    assert_eq!(staging.current(), &big_buffer);
    assert_eq!(
        read(url.clone()).await,
        before,
        "half of the refused config stayed"
    );

    // Smaller buffer and small log together: the restart sets both, and nothing of the
    // refused configuration (its buffer pool start option) comes back with it.
    let together = Config::parse_pairs(
        &cat,
        [
            ("innodb_log_buffer_size", "8MB"),
            ("innodb_log_file_size", "16MB"),
        ],
    )
    .unwrap();
    let applied = staging.apply(&together).await.unwrap();
    assert!(applied.restarted);
    assert_eq!(read(url).await, (before.0, 16 << 20, 8 << 20));
}

fn cat_value(cat: &[Knob], name: &str, value: &str) -> Value {
    catalog::find(cat, name)
        .unwrap()
        .parse_value(value)
        .unwrap()
}
