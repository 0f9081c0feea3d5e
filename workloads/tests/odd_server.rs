//! A fake server that answers a connection with truncated, malformed or hostile bytes and
//! hangs up: every client (tokio-postgres, the lean wire client, mysql_async) returns an error
//! naming the target, quickly, without panicking.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use workloads::wire::pg::PgWire;
use workloads::{Target, TargetUrl};

const REPLIES: &[&[u8]] = &[
    b"",
    b"garbage that is no protocol at all",
    // PostgreSQL: a cleartext password request, then nothing.
    b"R\x00\x00\x00\x08\x00\x00\x00\x03",
    // An error response with no fields, and one whose length is too short.
    b"E\x00\x00\x00\x04",
    b"E\x00\x00\x00\x02",
    // A message that claims 2 GB.
    b"R\x7f\xff\xff\xff\x00\x00",
    // AuthenticationOk then a truncated ParameterStatus.
    b"R\x00\x00\x00\x08\x00\x00\x00\x00S\x00\x00\x00\x10serv",
    // SASL with no mechanisms.
    b"R\x00\x00\x00\x08\x00\x00\x00\x0a",
    // MySQL: a handshake packet header promising more than it sends, and one of protocol 0.
    b"\xff\xff\xff\x00\x0a5.5",
    b"\x05\x00\x00\x00\x00\x00\x00\x00\x00",
];

/// Serve `reply` to one connection, then close it.
async fn fake_server(reply: &'static [u8]) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut first = [0u8; 256];
                // MySQL clients wait for the server to speak first; PostgreSQL's speak first.
                let _ =
                    tokio::time::timeout(Duration::from_millis(100), socket.read(&mut first)).await;
                let _ = socket.write_all(reply).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_replies_are_errors_not_panics() {
    for (i, reply) in REPLIES.iter().enumerate() {
        let port = fake_server(reply).await;
        for scheme in ["postgres", "mysql"] {
            let url: TargetUrl =
                format!("{scheme}://u:Zq-pw@127.0.0.1:{port}/db?connect_timeout=3")
                    .parse()
                    .unwrap();
            let started = Instant::now();
            let err = Target::connect(&url).await.unwrap_err().to_string();
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "reply {i}: {err}"
            );
            assert!(
                err.contains(&format!("127.0.0.1:{port}")),
                "reply {i}: {err}"
            );
            assert!(!err.contains("Zq-pw"), "reply {i}: {err}");
        }
        let url: TargetUrl = format!("postgres://u:Zq-pw@127.0.0.1:{port}/db?connect_timeout=3")
            .parse()
            .unwrap();
        let err = PgWire::connect(&url).await.unwrap_err().to_string();
        assert!(
            err.contains(&format!("127.0.0.1:{port}")),
            "reply {i}: {err}"
        );
        assert!(!err.contains("Zq-pw"), "reply {i}: {err}");
    }
}
