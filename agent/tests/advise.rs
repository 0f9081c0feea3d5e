//! The index advisor against real sandboxes: it finds again the indexes a schema lost, never
//! re-suggests what an existing index serves, proposes duplicates and redundant prefixes for
//! dropping but never a primary key, prices write overhead, lists what it skipped, costs
//! MariaDB through a staging copy it leaves clean; bad arguments are exit 2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use agent::advise::{self, Advice, AdviseSettings, Budget, Mechanism, Source};
use knobs::Engine;
use mysql_async::prelude::Queryable;
use workloads::spec::WorkloadSpec;
use workloads::{Sandbox, TargetUrl};

async fn start(engine: Engine) -> (Sandbox, TargetUrl) {
    let sandbox = tokio::task::spawn_blocking(move || Sandbox::start(engine))
        .await
        .unwrap()
        .unwrap();
    let url = sandbox.url().parse().unwrap();
    (sandbox, url)
}

async fn pg(url: &TargetUrl, sql: &str) {
    workloads::target::connect_postgres(url)
        .await
        .unwrap()
        .batch_execute(sql)
        .await
        .unwrap();
}

const SCHEMA: &str = "
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, status text NOT NULL, created int NOT NULL, total numeric(10,2) NOT NULL, doc json);
INSERT INTO orders SELECT g, g % 5000, CASE WHEN g % 20 = 0 THEN 'open' ELSE 'done' END, g / 10, g % 997, NULL FROM generate_series(1, 200000) g;
CREATE TABLE items (order_id bigint NOT NULL, line int NOT NULL, sku int NOT NULL, qty int NOT NULL, PRIMARY KEY (order_id, line));
INSERT INTO items SELECT g / 3, g % 3, g % 7919, 1 + g % 5 FROM generate_series(3, 300000) g;
CREATE TABLE events (id int PRIMARY KEY, kind int NOT NULL, at int NOT NULL);
INSERT INTO events SELECT g, g % 50, g FROM generate_series(1, 20000) g;
CREATE INDEX events_kind ON events (kind);
CREATE INDEX events_kind_copy ON events (kind);
CREATE INDEX events_kind_at ON events (kind, at);
";

/// What the lost indexes served.
const ORIGINAL: &str = "
CREATE INDEX orders_customer ON orders (customer);
CREATE INDEX orders_created ON orders (created);
CREATE INDEX items_sku ON items (sku);
";

const QUERIES: &str = "
-- the application's statements
SELECT * FROM orders WHERE customer = $1;
SELECT count(*) FROM orders WHERE created BETWEEN $1 AND $1 + 50;
SELECT * FROM items i WHERE i.sku = $1;
SELECT * FROM orders WHERE id = $1;
SELECT kind, count(*) FROM events WHERE kind = $1 GROUP BY kind;
";

fn settings() -> AdviseSettings {
    AdviseSettings {
        budget: Some(Budget::Bytes(200 << 20)),
        min_unused_window: std::time::Duration::ZERO,
        ..AdviseSettings::default()
    }
}

async fn advise_queries(url: &TargetUrl, text: &str, settings: &AdviseSettings) -> Advice {
    advise::advise(
        url,
        None,
        Source::Queries {
            text: text.into(),
            file: "app.sql".into(),
        },
        settings,
        &|_| {},
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_advice_recovers_lost_indexes_and_proposes_drops() {
    let (_sandbox, url) = start(Engine::Postgres).await;
    pg(&url, SCHEMA).await;
    pg(&url, ORIGINAL).await;
    pg(&url, "ANALYZE").await;

    // With the original indexes, every statement is served: nothing to add.
    let served = advise_queries(&url, QUERIES, &settings()).await;
    assert_eq!(served.mechanism, Mechanism::Hypopg);
    assert_eq!(served.statements, 5, "{:?}", served.skipped);
    assert!(
        served.recommendations.is_empty(),
        "re-suggested what exists: {:?}",
        served
            .recommendations
            .iter()
            .map(|r| &r.ddl)
            .collect::<Vec<_>>()
    );
    let with_originals = served.cost_before;

    // Duplicates and redundant prefixes are proposed for dropping; a primary key never.
    let drops: Vec<(&str, &str)> = served
        .drops
        .iter()
        .map(|d| (d.index.as_str(), d.reason.as_str()))
        .collect();
    assert!(
        drops
            .iter()
            .any(|(i, r)| *i == "events_kind_copy" && r.starts_with("duplicate of events_kind")),
        "{drops:?}"
    );
    assert!(
        drops
            .iter()
            .any(|(i, r)| *i == "events_kind" && r.starts_with("redundant")),
        "{drops:?}"
    );
    assert!(
        !drops.iter().any(|(i, _)| i.ends_with("_pkey")),
        "{drops:?}"
    );
    let copy = served
        .drops
        .iter()
        .find(|d| d.index == "events_kind_copy")
        .unwrap();
    assert_eq!(
        copy.ddl,
        "DROP INDEX CONCURRENTLY IF EXISTS events_kind_copy"
    );
    assert!(copy
        .rollback
        .starts_with("CREATE INDEX CONCURRENTLY events_kind_copy ON"));

    // Lose them: the advisor's set brings the estimated cost back to within 5%.
    pg(
        &url,
        "DROP INDEX orders_customer, orders_created, items_sku; ANALYZE",
    )
    .await;
    let advice = advise_queries(&url, QUERIES, &settings()).await;
    assert!(
        advice.cost_before > 3.0 * with_originals,
        "the lost indexes mattered: {} vs {with_originals}",
        advice.cost_before
    );
    assert!(
        advice.cost_after <= 1.05 * with_originals,
        "advised {:.1}, with the original indexes {with_originals:.1}: {:?}",
        advice.cost_after,
        advice
            .recommendations
            .iter()
            .map(|r| &r.ddl)
            .collect::<Vec<_>>()
    );
    let leading: Vec<(String, String)> = advice
        .recommendations
        .iter()
        .map(|r| (r.index.table.clone(), r.index.columns[0].clone()))
        .collect();
    for want in [
        ("orders", "customer"),
        ("orders", "created"),
        ("items", "sku"),
    ] {
        assert!(
            leading.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} missing from {leading:?}"
        );
    }
    for r in &advice.recommendations {
        assert!(
            r.ddl.starts_with("CREATE INDEX CONCURRENTLY dbtuner_"),
            "{}",
            r.ddl
        );
        assert!(r.bytes > 0 && !r.statements.is_empty(), "{r:?}");
    }
    assert!(advice.recommendations.iter().map(|r| r.bytes).sum::<u64>() <= 200 << 20);

    // Built for real and replayed without and with them, interleaved: the speedup is
    // measured, not only estimated, and staging is left without them.
    let indexes: Vec<_> = advice
        .recommendations
        .iter()
        .map(|r| r.index.clone())
        .collect();
    let options = advise::validate::ValidateOptions {
        rounds: 2,
        clients: 2,
        warmup: std::time::Duration::from_secs(1),
        measure: std::time::Duration::from_secs(3),
        seed: 1,
    };
    let v = advise::validate::validate(
        &url,
        Engine::Postgres,
        advice.workload.as_ref().unwrap(),
        &indexes,
        &options,
        &|_| {},
    )
    .await
    .unwrap();
    assert!(
        v.rounds.iter().all(|(without, with)| *with > 1.5 * without),
        "throughput per round without/with: {:?}",
        v.rounds
    );
    let customer = v
        .templates
        .iter()
        .find(|t| t.template == "app.sql:3")
        .unwrap_or_else(|| panic!("{:?}", v.templates));
    assert!(customer.with_ms * 3.0 < customer.without_ms, "{customer:?}");
    let client = workloads::target::connect_postgres(&url).await.unwrap();
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'dbtuner_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "validation left its indexes on staging");

    // A budget that fits nothing recommends nothing.
    let tight = AdviseSettings {
        budget: Some(Budget::Bytes(64 << 10)),
        ..settings()
    };
    let none = advise_queries(&url, QUERIES, &tight).await;
    assert!(
        none.recommendations.is_empty(),
        "{:?}",
        none.recommendations
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_statements_are_skipped_with_reasons_and_writes_are_priced() {
    let (_sandbox, url) = start(Engine::Postgres).await;
    pg(
        &url,
        "CREATE EXTENSION hypopg;
         CREATE TABLE log (id bigint PRIMARY KEY, k int NOT NULL, v int NOT NULL, shape box);
         INSERT INTO log SELECT g, g % 100, g, box(point(g, g), point(g + 1, g + 1)) FROM generate_series(1, 3000) g;
         ANALYZE",
    )
    .await;
    let text = "SELEC k FROM log;\nSELECT * FROM no_such_table WHERE a = 1;\nSELECT v FROM log WHERE k = $1;\nSELECT id FROM log WHERE shape = $1;";
    let advice = advise_queries(&url, text, &settings()).await;
    let skipped: Vec<(&str, &str)> = advice
        .skipped
        .iter()
        .map(|s| (s.id.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(advice.statements, 2, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .any(|(id, r)| *id == "app.sql:1" && r.starts_with("does not parse")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|(id, r)| *id == "app.sql:2" && r.contains("unknown table no_such_table")),
        "{skipped:?}"
    );
    assert!(
        advice
            .unindexable
            .iter()
            .any(|u| u.starts_with("log.shape (box)")),
        "{:?}",
        advice.unindexable
    );
    assert!(
        advice
            .recommendations
            .iter()
            .any(|r| r.index.table == "log" && r.index.columns[0] == "k"),
        "a read-only workload wants log(k): {:?}",
        advice.recommendations
    );

    // The same read, now beside a stream of inserts into the same table: the index would
    // cost the writes more than it saves the read.
    let workload = |insert_weight: f64| -> WorkloadSpec {
        WorkloadSpec::parse(
            &format!(
                "version = 1\nname = \"mix\"\n[params.key]\nkind = \"uniform\"\nmin = 0\nmax = 99\n[params.new]\nkind = \"sequence\"\nstart = 1000000\n\
                 [[transactions]]\nname = \"read\"\nweight = 1\nstatements = [\"SELECT v FROM log WHERE k = :key\"]\n\
                 [[transactions]]\nname = \"write\"\nweight = {insert_weight}\nstatements = [\"INSERT INTO log (id, k, v) VALUES (:new, :key, 1)\"]\n"
            ),
            true,
            "mix.toml",
        )
        .unwrap()
    };
    let run = |spec: WorkloadSpec| {
        let url = url.clone();
        async move {
            advise::advise(
                &url,
                None,
                Source::Workload(Box::new(spec)),
                &settings(),
                &|_| {},
            )
            .await
            .unwrap()
        }
    };
    let read_mostly = run(workload(0.01)).await;
    assert!(
        read_mostly
            .recommendations
            .iter()
            .any(|r| r.index.table == "log"),
        "{:?}",
        read_mostly.per_statement
    );
    let write_heavy = run(workload(200.0)).await;
    assert!(
        !write_heavy
            .recommendations
            .iter()
            .any(|r| r.index.table == "log"),
        "the index costs the inserts more than it saves: {:?}",
        write_heavy.recommendations
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_hypopg_a_staging_copy_is_used_and_left_as_it_was() {
    let (_sandbox, url) = start(Engine::Postgres).await;
    pg(
        &url,
        "CREATE TABLE t (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL);
         INSERT INTO t SELECT g, g % 1000, g FROM generate_series(1, 100000) g; ANALYZE",
    )
    .await;
    // No HypoPG in the target's database and no staging: refused, saying what to do.
    let err = advise::advise(
        &url,
        None,
        Source::Queries {
            text: "SELECT b FROM t WHERE a = $1".into(),
            file: "q.sql".into(),
        },
        &settings(),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    assert!(err.to_string().contains("CREATE EXTENSION hypopg"), "{err}");
    // Forced onto the staging path (the sandbox is its own copy): real indexes in a
    // transaction that is rolled back.
    let forced = AdviseSettings {
        mechanism: Some(Mechanism::StagingTransaction),
        ..settings()
    };
    let advice = advise::advise(
        &url,
        Some(&url),
        Source::Queries {
            text: "SELECT b FROM t WHERE a = $1".into(),
            file: "q.sql".into(),
        },
        &forced,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(advice.mechanism, Mechanism::StagingTransaction);
    assert!(
        advice.notes.iter().any(|n| n.contains("rolled back")),
        "{:?}",
        advice.notes
    );
    assert!(
        advice
            .recommendations
            .iter()
            .any(|r| r.index.columns[0] == "a"),
        "{:?}",
        advice.recommendations
    );
    let client = workloads::target::connect_postgres(&url).await.unwrap();
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 't' AND indexname <> 't_pkey'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "costing left an index behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_is_advised_through_ignored_indexes_on_staging() {
    let (sandbox, _) = start(Engine::Mariadb).await;
    let admin: TargetUrl = sandbox.url().parse().unwrap();
    let mut conn = workloads::target::connect_mysql(&admin).await.unwrap();
    conn.query_drop("CREATE DATABASE shop").await.unwrap();
    drop(conn);
    let url: TargetUrl = sandbox.url_for_database("shop").parse().unwrap();
    let mut conn = workloads::target::connect_mysql(&url).await.unwrap();
    conn.query_drop(
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, created int NOT NULL, total decimal(10,2) NOT NULL, note text);
         INSERT INTO orders SELECT seq, seq % 2000, seq DIV 10, seq % 997, CONCAT('n', seq % 50) FROM seq_1_to_100000;
         CREATE TABLE tags (id int PRIMARY KEY, label int NOT NULL);
         INSERT INTO tags SELECT seq, seq % 10 FROM seq_1_to_1000;
         CREATE INDEX tags_label ON tags (label);
         CREATE INDEX tags_label_id ON tags (label, id);
         ANALYZE TABLE orders, tags",
    )
    .await
    .unwrap();
    let source = || {
        Source::Queries {
        text: "SELECT id, total FROM orders WHERE customer = ?; SELECT note FROM orders WHERE note = ?; SELECT count(*) FROM tags WHERE label = ?".into(),
        file: "app.sql".into(),
    }
    };
    let refused = advise::advise(&url, None, source(), &settings(), &|_| {})
        .await
        .unwrap_err();
    assert!(
        refused.is_bad_input() && refused.to_string().contains("--staging"),
        "{refused}"
    );
    let advice = advise::advise(&url, Some(&url), source(), &settings(), &|_| {})
        .await
        .unwrap();
    assert_eq!(advice.mechanism, Mechanism::StagingIgnored);
    let r = advice
        .recommendations
        .iter()
        .find(|r| r.index.table == "orders" && r.index.columns[0] == "customer")
        .unwrap_or_else(|| panic!("{:?} {:?}", advice.recommendations, advice.per_statement));
    assert!(
        r.ddl
            .starts_with("ALTER TABLE orders ADD INDEX dbtuner_orders_customer"),
        "{}",
        r.ddl
    );
    assert!(r.ddl.ends_with("ALGORITHM=INPLACE, LOCK=NONE"), "{}", r.ddl);
    assert!(advice
        .unindexable
        .iter()
        .any(|u| u.starts_with("orders.note (text)")));
    assert!(
        advice
            .drops
            .iter()
            .any(|d| d.index == "tags_label" && d.reason.starts_with("redundant")),
        "{:?}",
        advice.drops
    );
    // Every costing index is gone, and the existing ones are visible again.
    let left: Vec<(String, String)> = conn
        .query("SELECT INDEX_NAME, IGNORED FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'shop'")
        .await
        .unwrap();
    assert!(
        left.iter().all(|(n, _)| !n.starts_with("dbtuner_")),
        "{left:?}"
    );
    assert!(left.iter().all(|(_, ignored)| ignored == "NO"), "{left:?}");
}

fn dbtuner(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(args)
        .env_remove("DBTUNER_TARGET")
        .output()
        .unwrap()
}

#[test]
fn bad_advise_arguments_exit_2_before_connecting() {
    // The port is closed: any attempt to connect would fail with exit 1, not 2.
    let target = "postgres://postgres@127.0.0.1:9/x";
    for (args, says) in [
        (vec!["--budget", "0"], "zero"),
        (vec!["--budget=-5MB"], "negative"),
        (vec!["--budget", "lots"], "--budget"),
        (vec!["--min-gain", "abc"], "--min-gain"),
        (vec!["--min-unused-window", "soon"], "--min-unused-window"),
    ] {
        let mut all = vec![
            "advise",
            "indexes",
            "--target",
            target,
            "--workload",
            "olap",
        ];
        all.extend(args.iter());
        let out = dbtuner(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let out = dbtuner(&["advise", "indexes", "--target", target]);
    assert_eq!(out.status.code(), Some(2), "no statements given");
    let out = dbtuner(&[
        "advise",
        "indexes",
        "--target",
        target,
        "--queries",
        "/no/such/file.sql",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/file.sql"));
}
