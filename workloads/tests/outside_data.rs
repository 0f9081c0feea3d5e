//! Values a server sends that are not what a type expects: a sampled column whose bytes are
//! not UTF-8 (a VARBINARY, a latin1 column) is read, not a panic in the MySQL row decoder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use knobs::Engine;
use mysql_async::prelude::Queryable;
use workloads::replay::Replay;
use workloads::spec::WorkloadSpec;
use workloads::target::connect_mysql;
use workloads::{Sandbox, TargetUrl};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_mariadb_column_that_is_not_utf8_is_read() {
    let sandbox = tokio::task::spawn_blocking(|| Sandbox::start(Engine::Mariadb))
        .await
        .unwrap()
        .unwrap();
    let admin: TargetUrl = sandbox.url().parse().unwrap();
    let mut conn = connect_mysql(&admin).await.unwrap();
    conn.query_drop("CREATE DATABASE IF NOT EXISTS test")
        .await
        .unwrap();
    conn.query_drop("CREATE TABLE test.odd (b VARBINARY(8), l VARCHAR(8) CHARACTER SET latin1)")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO test.odd VALUES (x'FFFE41', x'E9'), (NULL, NULL)")
        .await
        .unwrap();
    // A server whose results are not converted (SET NAMES binary, here set for
    // an ordinary user by init_connect) sends the column's own bytes, whatever the cast.
    conn.query_drop("CREATE USER sampler@'%'").await.unwrap();
    conn.query_drop("GRANT SELECT ON test.* TO sampler@'%'")
        .await
        .unwrap();
    conn.query_drop("SET GLOBAL init_connect = 'SET NAMES binary'")
        .await
        .unwrap();
    let url: TargetUrl = format!("mysql://sampler@127.0.0.1:{}/test", sandbox.port())
        .parse()
        .unwrap();
    let mut conn = connect_mysql(&url).await.unwrap();
    // The server does send bytes that are not UTF-8 for the cast: the case the row decoder
    // panicked on when asked for a String.
    let raw: Vec<mysql_async::Row> = conn
        .query("SELECT CAST(b AS CHAR) FROM test.odd WHERE b IS NOT NULL")
        .await
        .unwrap();
    let bytes = match raw[0].as_ref(0).unwrap() {
        mysql_async::Value::Bytes(b) => b.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        String::from_utf8(bytes.clone()).is_err(),
        "the server sanitized it: {bytes:?}"
    );

    for column in ["b", "l"] {
        let spec = WorkloadSpec::parse(
            &format!("version = 1\nname = \"odd\"\n[params.v]\nkind = \"sample\"\ntable = \"odd\"\ncolumn = \"{column}\"\n[[transactions]]\nname = \"t\"\nweight = 1\nstatements = [\"SELECT :v\"]\n"),
            true,
            "odd.toml",
        )
        .unwrap();
        Replay::new(&spec, &url).await.unwrap();
    }
}
