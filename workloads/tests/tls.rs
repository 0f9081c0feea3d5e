//! TLS against servers that accept nothing else, with a CA the test makes: `require` and
//! `prefer` connect encrypted, `verify-full` connects with the right CA and the right host,
//! and fails clearly with another CA or another host name; `verify-ca` ignores the name;
//! `disable` is turned away; `require` against a server without TLS fails instead of going
//! on in the clear. PostgreSQL through both clients (tokio-postgres and the lean one),
//! MariaDB through mysql_async.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use knobs::Engine;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use workloads::wire::pg::PgWire;
use workloads::{Sandbox, Target, TargetError, TargetUrl};

/// A CA, a server certificate it signed for 127.0.0.1 only, and an unrelated CA.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    other_ca: PathBuf,
    cert_pem: String,
    key_pem: String,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let (ca_params, ca_key, ca_pem) = ca("dbtuner test CA");
        let (_, _, other_pem) = ca("some other CA");
        let mut server = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        server
            .distinguished_name
            .push(DnType::CommonName, "dbtuner test server");
        let server_key = KeyPair::generate().unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let cert = server.signed_by(&server_key, &issuer).unwrap();
        let ca = dir.path().join("ca.pem");
        let other_ca = dir.path().join("other-ca.pem");
        std::fs::write(&ca, ca_pem).unwrap();
        std::fs::write(&other_ca, other_pem).unwrap();
        Pki {
            _dir: dir,
            ca,
            other_ca,
            cert_pem: cert.pem(),
            key_pem: server_key.serialize_pem(),
        }
    }

    /// Write the server's certificate and key into `dir`, owned by the server's OS user.
    fn install(&self, dir: &Path, owner_of: &Path) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::MetadataExt;
        let cert = dir.join("server.crt");
        let key = dir.join("server.key");
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let meta = std::fs::metadata(owner_of).unwrap();
        for file in [&cert, &key] {
            nix::unistd::chown(
                file,
                Some(nix::unistd::Uid::from_raw(meta.uid())),
                Some(nix::unistd::Gid::from_raw(meta.gid())),
            )
            .unwrap();
        }
        (cert, key)
    }
}

fn with(url: &str, params: &str) -> TargetUrl {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}").parse().unwrap()
}

fn on_localhost(url: &str) -> String {
    url.replacen("@127.0.0.1:", "@localhost:", 1)
}

/// Connect with both PostgreSQL clients; `Ok(true)` when the session is encrypted.
async fn pg_connect(url: &TargetUrl) -> Result<bool, TargetError> {
    let Target::Postgres { client, .. } = Target::connect(url).await? else {
        panic!("not PostgreSQL")
    };
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mut lean = PgWire::connect(url).await?;
    let (_, rows) = lean
        .simple("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .await
        .unwrap();
    let lean_ssl = rows[0][0].as_deref() == Some("true");
    assert_eq!(ssl, lean_ssl, "{url}: the two clients disagree on TLS");
    Ok(ssl)
}

async fn mysql_connect(url: &TargetUrl) -> Result<bool, TargetError> {
    use mysql_async::prelude::Queryable;
    let Target::Mysql { mut conn, .. } = Target::connect(url).await? else {
        panic!("not MySQL")
    };
    let cipher: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap();
    Ok(cipher.is_some_and(|(_, c)| !c.is_empty()))
}

fn assert_tls_error(result: Result<bool, TargetError>, url: &TargetUrl, mentions: &str) {
    match result {
        Err(e @ TargetError::Tls { .. }) => {
            let text = e.to_string();
            assert!(text.contains(mentions), "{url}: {text}");
        }
        other => panic!("{url}: expected a TLS error mentioning '{mentions}', got {other:?}"),
    }
}

/// The checks every engine must pass once its server takes TLS connections only.
/// `verify_ca_ignores_name` is false for MySQL: mysql_async 0.37 recognizes a name mismatch
/// by a text rustls no longer prints, so its verify-ca checks the name too (stricter, never
/// weaker; the README says so).
async fn tls_only_matrix<F, Fut>(base: &str, pki: &Pki, verify_ca_ignores_name: bool, connect: F)
where
    F: Fn(TargetUrl) -> Fut,
    Fut: std::future::Future<Output = Result<bool, TargetError>>,
{
    let ca = pki.ca.display();
    let other = pki.other_ca.display();
    for params in [
        "sslmode=require".to_string(),
        "connect_timeout=10".to_string(),
        format!("sslmode=verify-full&sslrootcert={ca}"),
        format!("sslmode=verify-ca&sslrootcert={ca}"),
    ] {
        let url = with(base, &params);
        assert!(connect(url.clone()).await.unwrap(), "{url}: not encrypted");
    }
    // The name is checked by verify-full only.
    let local = on_localhost(base);
    let url = with(&local, &format!("sslmode=verify-ca&sslrootcert={ca}"));
    if verify_ca_ignores_name {
        assert!(connect(url.clone()).await.unwrap(), "{url}");
    } else {
        assert_tls_error(connect(url.clone()).await, &url, "not valid for name");
    }
    let url = with(&local, &format!("sslmode=verify-full&sslrootcert={ca}"));
    assert_tls_error(connect(url.clone()).await, &url, "certificate");
    // Another CA: refused by every mode that checks, and by require with a root (libpq).
    for mode in ["verify-full", "verify-ca", "require"] {
        let url = with(base, &format!("sslmode={mode}&sslrootcert={other}"));
        assert_tls_error(connect(url.clone()).await, &url, "certificate");
    }
    // In the clear: the server turns it away.
    let url = with(base, "sslmode=disable");
    assert!(
        connect(url.clone()).await.is_err(),
        "{url}: a TLS-only server let a plain connection in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_only() {
    let pki = Pki::new();
    let sandbox = tokio::task::spawn_blocking(|| Sandbox::start(Engine::Postgres))
        .await
        .unwrap()
        .unwrap();
    let base = sandbox.url();
    // No TLS on the server yet: require fails instead of going on in the clear; prefer
    // goes on in the clear.
    let url = with(&base, "sslmode=require");
    assert_tls_error(pg_connect(&url).await, &url, "TLS");
    assert!(!pg_connect(&with(&base, "sslmode=prefer")).await.unwrap());

    pki.install(&sandbox.data_dir(), &sandbox.data_dir());
    let admin = workloads::target::connect_postgres(&base.parse().unwrap())
        .await
        .unwrap();
    for sql in [
        "ALTER SYSTEM SET ssl = on",
        "ALTER SYSTEM SET ssl_cert_file = 'server.crt'",
        "ALTER SYSTEM SET ssl_key_file = 'server.key'",
    ] {
        admin.batch_execute(sql).await.unwrap();
    }
    std::fs::write(
        sandbox.data_dir().join("pg_hba.conf"),
        "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 scram-sha-256\n",
    )
    .unwrap();
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    tls_only_matrix(
        &base,
        &pki,
        true,
        |url| async move { pg_connect(&url).await },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_over_tls_only() {
    let pki = Pki::new();
    let mut sandbox = tokio::task::spawn_blocking(|| Sandbox::start(Engine::Mariadb))
        .await
        .unwrap()
        .unwrap();
    let base = sandbox.url();
    let url = with(&base, "ssl-mode=REQUIRED");
    assert_tls_error(mysql_connect(&url).await, &url, "SSL");
    assert!(!mysql_connect(&with(&base, "sslmode=prefer")).await.unwrap());

    let (cert, key) = pki.install(sandbox.dir(), sandbox.dir());
    sandbox.set_setting("ssl_cert", cert.to_str().unwrap());
    sandbox.set_setting("ssl_key", key.to_str().unwrap());
    sandbox.set_setting("require_secure_transport", "ON");
    let sandbox = tokio::task::spawn_blocking(move || {
        sandbox.restart().unwrap();
        sandbox
    })
    .await
    .unwrap();
    tls_only_matrix(&base, &pki, false, |url| async move {
        mysql_connect(&url).await
    })
    .await;
    drop(sandbox);
}

#[test]
fn bad_tls_parameters_are_bad_urls() {
    for url in [
        "postgres://u@h/db?sslmode=allow-ish",
        "postgres://u@h/db?sslrootcert=",
        "mysql://u@h/db?ssl-mode=MAYBE",
    ] {
        let err = url.parse::<TargetUrl>().unwrap_err();
        assert!(err.is_bad_input(), "{url}: {err}");
    }
}
