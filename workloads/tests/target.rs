//! Engine detection and the distinct errors of a bad password, a closed port and a bad URL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use knobs::Engine;
use workloads::{Sandbox, Target, TargetError, TargetUrl};

fn closed_port() -> u16 {
    // Bound then released: nothing listens there now.
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn postgres_wrong_password_and_closed_port_are_distinct() {
    let sandbox = Sandbox::start(Engine::Postgres).unwrap();
    let admin = Target::connect(&sandbox.url().parse().unwrap())
        .await
        .unwrap();
    let Target::Postgres { client, .. } = &admin else {
        panic!("not postgres")
    };
    client
        .batch_execute("CREATE ROLE alice LOGIN PASSWORD 'right'")
        .await
        .unwrap();
    let hba = "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
    std::fs::write(sandbox.data_dir().join("pg_hba.conf"), hba).unwrap();
    client
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();

    let good: TargetUrl = format!(
        "postgres://alice:right@127.0.0.1:{}/postgres",
        sandbox.port()
    )
    .parse()
    .unwrap();
    assert_eq!(
        Target::connect(&good).await.unwrap().engine(),
        Engine::Postgres
    );

    // SCRAM with the password as a query parameter, in both clients; a wrong one is an
    // authentication error that does not quote it.
    let query: TargetUrl = format!(
        "postgres://alice@127.0.0.1:{}/postgres?password=right&connect_timeout=5",
        sandbox.port()
    )
    .parse()
    .unwrap();
    assert_eq!(
        Target::connect(&query).await.unwrap().engine(),
        Engine::Postgres
    );
    workloads::wire::pg::PgWire::connect(&query).await.unwrap();
    let wrong_query: TargetUrl = format!(
        "postgres://alice@127.0.0.1:{}/postgres?password=wrong-Zq",
        sandbox.port()
    )
    .parse()
    .unwrap();
    let err = Target::connect(&wrong_query).await.unwrap_err();
    assert!(matches!(err, TargetError::Auth { .. }), "{err}");
    assert!(
        !err.to_string().contains("wrong-Zq"),
        "password leaked: {err}"
    );

    let wrong: TargetUrl = format!(
        "postgres://alice:wrong@127.0.0.1:{}/postgres",
        sandbox.port()
    )
    .parse()
    .unwrap();
    let err = Target::connect(&wrong).await.unwrap_err();
    assert!(matches!(err, TargetError::Auth { .. }), "{err}");
    assert!(!err.to_string().contains("wrong"), "password leaked: {err}");

    let closed: TargetUrl = format!(
        "postgres://alice:right@127.0.0.1:{}/postgres",
        closed_port()
    )
    .parse()
    .unwrap();
    let err = Target::connect(&closed).await.unwrap_err();
    assert!(matches!(err, TargetError::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn mariadb_wrong_password_and_closed_port_are_distinct() {
    use mysql_async::prelude::Queryable;
    let sandbox = Sandbox::start(Engine::Mariadb).unwrap();
    let admin = Target::connect(&sandbox.url().parse().unwrap())
        .await
        .unwrap();
    assert_eq!(admin.engine(), Engine::Mariadb);
    let Target::Mysql { mut conn, .. } = admin else {
        panic!("not mysql")
    };
    conn.query_drop("CREATE USER 'alice'@'%' IDENTIFIED BY 'right'")
        .await
        .unwrap();

    let good: TargetUrl = format!("mysql://alice:right@127.0.0.1:{}/", sandbox.port())
        .parse()
        .unwrap();
    assert_eq!(
        Target::connect(&good).await.unwrap().engine(),
        Engine::Mariadb
    );

    // The password as a query parameter, beside connect_timeout (mysql_async knows neither).
    let query: TargetUrl = format!(
        "mysql://alice@127.0.0.1:{}/?password=right&connect_timeout=5",
        sandbox.port()
    )
    .parse()
    .unwrap();
    assert_eq!(
        Target::connect(&query).await.unwrap().engine(),
        Engine::Mariadb
    );
    assert!(!query.to_string().contains("right"), "{query}");

    let wrong: TargetUrl = format!("mysql://alice:wrong@127.0.0.1:{}/", sandbox.port())
        .parse()
        .unwrap();
    let err = Target::connect(&wrong).await.unwrap_err();
    assert!(matches!(err, TargetError::Auth { .. }), "{err}");

    let closed: TargetUrl = format!("mysql://alice:right@127.0.0.1:{}/", closed_port())
        .parse()
        .unwrap();
    let err = Target::connect(&closed).await.unwrap_err();
    assert!(matches!(err, TargetError::Unreachable { .. }), "{err}");
}

#[test]
fn malformed_urls_are_bad_input() {
    for text in [
        "",
        "127.0.0.1:5432",
        "postgres://",
        "http://host/db",
        "postgres://u:p@:5432/db",
    ] {
        let err = text.parse::<TargetUrl>().unwrap_err();
        assert!(err.is_bad_input(), "{text}: {err}");
        assert!(
            err.to_string().starts_with("bad target URL"),
            "{text}: {err}"
        );
    }
}
