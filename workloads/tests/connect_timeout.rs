//! A server that accepts the TCP connection and never answers: every client (tokio-postgres,
//! the lean wire client, mysql_async) gives up within the URL's `connect_timeout` with an
//! error naming the target (without its password) and the timeout, instead of hanging.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use workloads::wire::pg::PgWire;
use workloads::{Target, TargetError, TargetUrl};

/// A port whose listener is never read: the kernel completes the handshake, no one answers.
fn silent_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

fn check(err: TargetError, started: Instant, port: u16) {
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(6),
        "gave up after {elapsed:?}"
    );
    let text = err.to_string();
    assert!(matches!(err, TargetError::Unreachable { .. }), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("connect timeout of 2 s"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn a_silent_server_times_out_on_every_client() {
    let listener = silent_listener();
    let port = listener.local_addr().unwrap().port();
    for scheme in ["postgres", "mysql"] {
        let url: TargetUrl = format!("{scheme}://u:hunter2@127.0.0.1:{port}/db?connect_timeout=2")
            .parse()
            .unwrap();
        let started = Instant::now();
        let err = Target::connect(&url).await.unwrap_err();
        check(err, started, port);
    }
    let url: TargetUrl =
        format!("postgres://u@127.0.0.1:{port}/db?password=hunter2&connect_timeout=2")
            .parse()
            .unwrap();
    let started = Instant::now();
    let err = PgWire::connect(&url).await.unwrap_err();
    check(err, started, port);
    drop(listener);
}
