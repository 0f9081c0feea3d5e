//! The lean PostgreSQL client the driver runs on: every password method PostgreSQL offers
//! without TLS, server errors that leave the session usable, and parameters of built-in,
//! cast-only and user-defined types bound the way the replay binds them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use knobs::Engine;
use workloads::driver::DriverOptions;
use workloads::replay::Replay;
use workloads::spec::WorkloadSpec;
use workloads::target::connect_postgres;
use workloads::wire::pg::PgWire;
use workloads::{Sandbox, TargetError, TargetUrl, WorkloadError};

fn url(sandbox: &Sandbox, user: &str, password: &str) -> TargetUrl {
    format!(
        "postgres://{user}:{password}@127.0.0.1:{}/postgres",
        sandbox.port()
    )
    .parse()
    .unwrap()
}

#[tokio::test]
async fn authenticates_with_scram_md5_and_cleartext_and_names_a_wrong_password() {
    let sandbox = Sandbox::start(Engine::Postgres).unwrap();
    let admin = connect_postgres(&sandbox.url().parse().unwrap())
        .await
        .unwrap();
    admin
        .batch_execute(
            "SET password_encryption = 'scram-sha-256';
             CREATE ROLE scram_user LOGIN PASSWORD 's3cret';
             CREATE ROLE plain_user LOGIN PASSWORD 'pl41n';
             SET password_encryption = 'md5';
             CREATE ROLE md5_user LOGIN PASSWORD 'md5pw';",
        )
        .await
        .unwrap();
    let hba = "local all all trust\n\
               host all postgres 127.0.0.1/32 trust\n\
               host all scram_user 127.0.0.1/32 scram-sha-256\n\
               host all md5_user 127.0.0.1/32 md5\n\
               host all plain_user 127.0.0.1/32 password\n";
    std::fs::write(sandbox.data_dir().join("pg_hba.conf"), hba).unwrap();
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();

    for (user, password) in [
        ("scram_user", "s3cret"),
        ("md5_user", "md5pw"),
        ("plain_user", "pl41n"),
    ] {
        let mut wire = PgWire::connect(&url(&sandbox, user, password))
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        let (_, rows) = wire.simple("SELECT current_user").await.unwrap();
        assert_eq!(rows, vec![vec![Some(user.to_string())]]);

        let err = PgWire::connect(&url(&sandbox, user, "wrong"))
            .await
            .unwrap_err();
        assert!(matches!(err, TargetError::Auth { .. }), "{user}: {err}");
        assert!(!err.to_string().contains("wrong"), "password leaked: {err}");
    }

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = PgWire::connect(
        &format!("postgres://postgres@127.0.0.1:{closed}/postgres")
            .parse()
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, TargetError::Unreachable { .. }), "{err}");

    // The driver fails with the connection error, before measuring anything.
    let closed_url: TargetUrl = format!("postgres://postgres@127.0.0.1:{closed}/postgres")
        .parse()
        .unwrap();
    let spec = WorkloadSpec::parse(
        "version = 1\nname = \"one\"\n[[transactions]]\nname = \"one\"\nweight = 1\nstatements = [\"SELECT 1\"]\n",
        true,
        "one",
    )
    .unwrap();
    let replay = Replay::new(&spec, &closed_url).await.unwrap();
    let options = DriverOptions::closed(3, Duration::ZERO, Duration::from_secs(1), 1);
    let err = replay.run(&options, &closed_url).await.unwrap_err();
    assert!(
        matches!(err, WorkloadError::Target(TargetError::Unreachable { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn server_errors_keep_the_session_usable_and_name_their_sqlstate() {
    let sandbox = Sandbox::start(Engine::Postgres).unwrap();
    let mut wire = PgWire::connect(&sandbox.url().parse().unwrap())
        .await
        .unwrap();
    let divide = wire.prepare("SELECT 1 / $1::int").await.unwrap();
    assert_eq!(wire.execute(&divide, &[&2i32]).await.unwrap(), 1);
    let err = wire.execute(&divide, &[&0i32]).await.unwrap_err();
    assert!(
        matches!(&err, WorkloadError::PgServer { code, .. } if code == "22012"),
        "{err}"
    );
    assert_eq!(err.kind(), "sqlstate 22012");
    assert!(!err.is_retryable());

    // Inside a transaction block: the error aborts it, a rollback ends it, the session goes on.
    wire.simple("BEGIN").await.unwrap();
    assert!(wire.execute(&divide, &[&0i32]).await.is_err());
    let err = wire.execute(&divide, &[&1i32]).await.unwrap_err();
    assert!(
        matches!(&err, WorkloadError::PgServer { code, .. } if code == "25P02"),
        "in an aborted transaction: {err}"
    );
    wire.simple("ROLLBACK").await.unwrap();
    assert_eq!(wire.execute(&divide, &[&1i32]).await.unwrap(), 1);

    // A bad statement fails at prepare, naming the server's reason.
    let err = wire
        .prepare("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
    // Too few arguments: the server refuses the Bind, and the session goes on.
    let two = wire.prepare("SELECT $1::int + $2::int").await.unwrap();
    assert!(wire.execute(&two, &[&1i32]).await.is_err());
    assert_eq!(wire.execute(&two, &[&1i32, &2i32]).await.unwrap(), 1);

    // Serialization failures are retried by the driver, not counted as errors.
    let conflict = WorkloadError::PgServer {
        code: "40001".into(),
        message: "could not serialize access".into(),
    };
    assert!(conflict.is_retryable());
}

#[tokio::test]
async fn replay_binds_builtin_cast_and_user_defined_types() {
    let sandbox = Sandbox::start(Engine::Postgres).unwrap();
    let url: TargetUrl = sandbox.url().parse().unwrap();
    let admin = connect_postgres(&url).await.unwrap();
    admin
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
             CREATE TABLE events (id bigint, amount numeric(10,2), day date, feeling mood,
                                  note text, score real, flag boolean);",
        )
        .await
        .unwrap();
    let spec = WorkloadSpec::parse(
        r#"
version = 1
name = "types"
[params.id]
kind = "uniform"
min = 1
max = 1000000
[params.amount]
kind = "real"
min = 0
max = 100
[params.score]
kind = "real"
min = -1
max = 1
[params.day]
kind = "list"
values = ["2024-01-31", "2025-06-01"]
[params.feeling]
kind = "list"
values = ["sad", "ok", "happy"]
[params.note]
kind = "string"
length = 12
[params.flag]
kind = "list"
values = ["true", "false"]
[[transactions]]
name = "insert"
weight = 1
statements = [
  "INSERT INTO events VALUES (:id, :amount, :day, :feeling, :note, :score, :flag)",
  "SELECT count(*) FROM events WHERE feeling = :feeling AND day <= :day",
]
"#,
        true,
        "types",
    )
    .unwrap();
    let replay = Replay::new(&spec, &url).await.unwrap();
    let options = DriverOptions::closed(2, Duration::ZERO, Duration::from_secs(1), 3);
    let m = replay.run(&options, &url).await.unwrap();
    assert_eq!(m.error_count(), 0, "{:?}", m.errors);
    assert!(m.committed > 10, "{} transactions", m.committed);
    let row = admin
        .query_one(
            "SELECT count(*), count(DISTINCT feeling), min(day)::text, bool_or(flag)
             FROM events",
            &[],
        )
        .await
        .unwrap();
    let (count, feelings): (i64, i64) = (row.get(0), row.get(1));
    assert!(count >= m.committed as i64, "{count} rows");
    assert_eq!(feelings, 3);
    assert_eq!(row.get::<_, String>(2), "2024-01-31");
}
