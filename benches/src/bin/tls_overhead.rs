//! The benchmark driver's throughput over TLS beside plain TCP, on one server, in interleaved
//! rounds (ratios, since this machine is noisy): PostgreSQL through the lean client
//! (`select-only`, every connection `sslmode=require` vs `sslmode=disable`) and MariaDB
//! through mysql_async (a point select, `ssl-mode=REQUIRED` vs `DISABLED`). The server gets a
//! self-signed certificate made here; `require` checks no certificate, so this measures the
//! cost of encryption, not of verification (which happens once per connection).
//!
//! `cargo run --release -p benches --bin tls_overhead -- [rounds] [seconds] [clients]`

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use knobs::Engine;
use models::stats::Summary;
use mysql_async::prelude::Queryable;
use workloads::builtin::Builtin;
use workloads::driver::DriverOptions;
use workloads::replay::Replay;
use workloads::spec::WorkloadSpec;
use workloads::{Sandbox, TargetUrl};

/// A self-signed certificate for 127.0.0.1, written into `dir` and owned like `dir`.
fn install_certificate(dir: &Path) -> Result<(String, String)> {
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])?.self_signed(&key)?;
    let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))?;
    let meta = std::fs::metadata(dir)?;
    for file in [&cert_path, &key_path] {
        std::os::unix::fs::chown(file, Some(meta.uid()), Some(meta.gid()))?;
    }
    Ok((
        cert_path.display().to_string(),
        key_path.display().to_string(),
    ))
}

fn with(url: &str, params: &str) -> Result<TargetUrl> {
    Ok(format!("{url}?{params}").parse()?)
}

async fn compare(
    name: &str,
    replay: &Replay,
    plain: &TargetUrl,
    tls: &TargetUrl,
    rounds: usize,
    seconds: u64,
    clients: usize,
) -> Result<()> {
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let options = DriverOptions::closed(
            clients,
            Duration::from_secs(2),
            Duration::from_secs(seconds),
            round as u64,
        );
        // Alternate which arm goes first, so drift does not favour one.
        let (first, second) = if round % 2 == 0 {
            (plain, tls)
        } else {
            (tls, plain)
        };
        let a = replay.run(&options, first).await?.throughput();
        let b = replay.run(&options, second).await?.throughput();
        let (plain_tps, tls_tps) = if round % 2 == 0 { (a, b) } else { (b, a) };
        println!(
            "{name} round {}: plain {plain_tps:.0} tx/s, TLS {tls_tps:.0} tx/s",
            round + 1
        );
        ratios.push(tls_tps / plain_tps);
    }
    let s = Summary::of(&ratios).context("no rounds")?;
    println!(
        "{name}: TLS / plain throughput mean {:.3}, sd {:.3}, min {:.3}, max {:.3} over {} rounds, {clients} clients",
        s.mean, s.stdev, s.min, s.max, s.n
    );
    Ok(())
}

async fn postgres(rounds: usize, seconds: u64, clients: usize) -> Result<()> {
    let sandbox = Sandbox::start(Engine::Postgres)?;
    let base = sandbox.url();
    install_certificate(&sandbox.data_dir())?;
    let admin = workloads::target::connect_postgres(&base.parse()?).await?;
    for sql in [
        "ALTER SYSTEM SET ssl = on",
        "ALTER SYSTEM SET ssl_cert_file = 'server.crt'",
        "ALTER SYSTEM SET ssl_key_file = 'server.key'",
        "SELECT pg_reload_conf()",
    ] {
        admin.batch_execute(sql).await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let plain = with(&base, "sslmode=disable")?;
    let tls = with(&base, "sslmode=require")?;
    let bench = Builtin::new("select-only", 10)?;
    Builtin::new("tpcb", 10)?.load(&plain).await?;
    let replay = Replay::new(&bench.spec()?, &plain).await?;
    compare(
        "PostgreSQL select-only (lean client)",
        &replay,
        &plain,
        &tls,
        rounds,
        seconds,
        clients,
    )
    .await
}

async fn mariadb(rounds: usize, seconds: u64, clients: usize) -> Result<()> {
    let mut sandbox = Sandbox::start(Engine::Mariadb)?;
    let (cert, key) = install_certificate(sandbox.dir())?;
    sandbox.set_setting("ssl_cert", &cert);
    sandbox.set_setting("ssl_key", &key);
    sandbox.restart()?;
    let admin: TargetUrl = sandbox.url().parse()?;
    let mut conn = workloads::target::connect_mysql(&admin).await?;
    conn.query_drop("CREATE DATABASE bench").await?;
    conn.query_drop("CREATE TABLE bench.t (id INT PRIMARY KEY, c CHAR(120))")
        .await?;
    conn.query_drop("INSERT INTO bench.t SELECT seq, REPEAT('x', 120) FROM seq_1_to_100000")
        .await?;
    drop(conn);
    let base = sandbox.url_for_database("bench");
    let plain = with(&base, "ssl-mode=DISABLED")?;
    let tls = with(&base, "ssl-mode=REQUIRED")?;
    let spec = WorkloadSpec::parse(
        "version = 1\nname = \"point-select\"\n[params.id]\nkind = \"uniform\"\nmin = 1\nmax = 100000\n[[transactions]]\nname = \"point_select\"\nweight = 1\nstatements = [\"SELECT c FROM t WHERE id = :id\"]\n",
        true,
        "point-select",
    )?;
    let replay = Replay::new(&spec, &plain).await?;
    compare(
        "MariaDB point select (mysql_async)",
        &replay,
        &plain,
        &tls,
        rounds,
        seconds,
        clients,
    )
    .await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| -> Result<u64> {
        args.get(i)
            .map(|a| {
                a.parse()
                    .with_context(|| format!("argument {} '{a}'", i + 1))
            })
            .unwrap_or(Ok(default))
    };
    let (rounds, seconds, clients) = (arg(0, 5)? as usize, arg(1, 10)?, arg(2, 4)? as usize);
    postgres(rounds, seconds, clients).await?;
    mariadb(rounds, seconds, clients).await
}
