//! Safety rule 3 on live servers: indexes in a plan are recorded with their rollback before
//! they are built, built concurrently and checked valid; a build that fails midway leaves no
//! invalid index behind and the change record says what happened; rollback removes what was
//! built and rebuilds what was dropped; an index backing a constraint is never dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agent::apply::indexes::IndexAction;
use agent::apply::{self, ApplyError, ApplyOptions, ChangeStatus, Plan, Store};
use knobs::Engine;
use mysql_async::prelude::Queryable;
use workloads::{Sandbox, TargetUrl};

async fn start(engine: Engine) -> Sandbox {
    tokio::task::spawn_blocking(move || Sandbox::start(engine))
        .await
        .unwrap()
        .unwrap()
}

/// (name, valid) of every index on `t`.
async fn pg_indexes(url: &TargetUrl) -> Vec<(String, bool)> {
    let c = workloads::target::connect_postgres(url).await.unwrap();
    c.query(
        "SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid = 't'::regclass ORDER BY 1",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_indexes_are_built_concurrently_checked_and_undone() {
    let sandbox = start(Engine::Postgres).await;
    let url: TargetUrl = sandbox.url().parse().unwrap();
    let c = workloads::target::connect_postgres(&url).await.unwrap();
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, k int NOT NULL, v int NOT NULL);
         INSERT INTO t SELECT g, g % 10, g FROM generate_series(1, 20000) g;
         CREATE INDEX t_v ON t (v)",
    )
    .await
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let store = Store::open_dir(state.path()).await.unwrap();
    let options = ApplyOptions::default();

    // A create and a drop, then the rollback of both.
    let plan = Plan::parse(
        r#"{"indexes": [{"create": {"table": "t", "columns": ["k", "v"]}}, {"drop": "t_v"}]}"#,
        false,
    )
    .unwrap();
    let outcome = apply::apply(&url, &plan, &options, None, &store)
        .await
        .unwrap();
    let record = &outcome.record;
    assert_eq!(record.status, ChangeStatus::Applied);
    assert_eq!(record.indexes.len(), 2);
    let created = &record.indexes[0];
    assert_eq!(created.action, IndexAction::Create);
    assert!(
        created.name.starts_with("dbtuner_t_k_v_"),
        "{}",
        created.name
    );
    assert!(created
        .apply_statement
        .starts_with("CREATE INDEX CONCURRENTLY"));
    assert!(created
        .rollback_statement
        .starts_with("DROP INDEX CONCURRENTLY"));
    assert!(record.indexes[1]
        .rollback_statement
        .starts_with("CREATE INDEX CONCURRENTLY t_v ON"));
    let now = pg_indexes(&url).await;
    assert!(now.contains(&(created.name.clone(), true)), "{now:?}");
    assert!(!now.iter().any(|(n, _)| n == "t_v"), "{now:?}");
    let events: Vec<String> = store
        .audit_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        [
            "apply-start",
            "index-start",
            "index-done",
            "index-start",
            "index-done",
            "applied"
        ]
    );

    let back = apply::rollback(&url, &record.id, false, None, &store)
        .await
        .unwrap();
    assert_eq!(back.status, ChangeStatus::RolledBack);
    assert_eq!(
        pg_indexes(&url).await,
        [("t_pkey".to_string(), true), ("t_v".to_string(), true)]
    );

    // A build that fails midway (the predicate divides by zero on some row): the invalid
    // index CONCURRENTLY leaves is dropped, and the first index of the change is undone.
    let failing = Plan::parse(
        r#"{"indexes": [{"create": {"table": "t", "columns": ["v"], "include": ["k"]}},
                        {"create": {"table": "t", "columns": ["k"], "predicate": "1 / (k - 5) > 0"}}]}"#,
        false,
    )
    .unwrap();
    let err = apply::apply(&url, &failing, &options, None, &store)
        .await
        .unwrap_err();
    let ApplyError::RolledBack { id, reason } = &err else {
        panic!("{err}");
    };
    assert!(reason.contains("division by zero"), "{reason}");
    assert_eq!(
        pg_indexes(&url).await,
        [("t_pkey".to_string(), true), ("t_v".to_string(), true)],
        "an invalid or half-applied index was left behind"
    );
    let stored = store.load(id).await.unwrap();
    assert!(matches!(stored.status, ChangeStatus::Failed { .. }));
    let outcome = stored.indexes[1].outcome.as_deref().unwrap_or_default();
    assert!(
        outcome.contains("the invalid index it left was dropped"),
        "{outcome}"
    );

    // A primary key is never dropped: refused before anything changes.
    let pk = Plan::parse(r#"{"indexes": [{"drop": "t_pkey"}]}"#, false).unwrap();
    let err = apply::apply(&url, &pk, &options, None, &store)
        .await
        .unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    assert!(err.to_string().contains("constraint"), "{err}");
    let bad = Plan::parse(
        r#"{"indexes": [{"create": {"table": "t", "columns": ["k"], "predicate": "k = 1; DROP TABLE t"}}]}"#,
        false,
    )
    .unwrap();
    assert!(apply::apply(&url, &bad, &options, None, &store)
        .await
        .unwrap_err()
        .is_bad_input());
    assert_eq!(pg_indexes(&url).await.len(), 2);
}

async fn names(conn: &mut mysql_async::Conn) -> Vec<String> {
    conn.query("SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'd' ORDER BY 1")
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_indexes_are_built_online_and_undone() {
    let sandbox = start(Engine::Mariadb).await;
    let admin: TargetUrl = sandbox.url().parse().unwrap();
    workloads::target::connect_mysql(&admin)
        .await
        .unwrap()
        .query_drop("CREATE DATABASE d")
        .await
        .unwrap();
    let url: TargetUrl = sandbox.url_for_database("d").parse().unwrap();
    let mut conn = workloads::target::connect_mysql(&url).await.unwrap();
    conn.query_drop(
        "CREATE TABLE t (id int PRIMARY KEY, k int NOT NULL); INSERT INTO t SELECT seq, seq % 7 FROM seq_1_to_5000",
    )
    .await
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let store = Store::open_dir(state.path()).await.unwrap();
    let plan = Plan::parse(
        r#"{"indexes": [{"create": {"table": "t", "columns": ["k"]}}]}"#,
        false,
    )
    .unwrap();
    let outcome = apply::apply(&url, &plan, &ApplyOptions::default(), None, &store)
        .await
        .unwrap();
    let built = names(&mut conn).await;
    assert_eq!(built.len(), 2, "{built:?}");
    assert!(
        built.iter().any(|n| n.starts_with("dbtuner_t_k_")),
        "{built:?}"
    );
    assert!(outcome.record.indexes[0]
        .apply_statement
        .ends_with("ALGORITHM=INPLACE, LOCK=NONE"));
    apply::rollback(&url, &outcome.record.id, false, None, &store)
        .await
        .unwrap();
    assert_eq!(names(&mut conn).await, ["PRIMARY"]);
    let pk = Plan::parse(r#"{"indexes": [{"drop": "PRIMARY"}]}"#, false).unwrap();
    assert!(
        apply::apply(&url, &pk, &ApplyOptions::default(), None, &store)
            .await
            .unwrap_err()
            .is_bad_input()
    );
}
