//! The MariaDB catalog agrees with the live server on type and how each knob applies, and its
//! tuning ranges lie inside the server's bounds. (PostgreSQL, every major, on everything the
//! catalog states: pg_versions.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agent::discovery::{self, Aspect};
use knobs::{catalog, Engine, Version};
use workloads::{Sandbox, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_catalog_agrees_with_the_live_server() {
    let engine = Engine::Mariadb;
    let sandbox = tokio::task::spawn_blocking(move || Sandbox::start(engine))
        .await
        .unwrap()
        .unwrap();
    let mut target = Target::connect(&sandbox.url().parse().unwrap())
        .await
        .unwrap();
    let version = Version::parse(target.version()).unwrap();
    let live = discovery::live_knobs(&mut target).await.unwrap();
    let cat = catalog::for_version(engine, version).unwrap();
    let mut problems = Vec::new();
    let mut present = 0;
    for knob in &cat {
        let Some(l) = live.get(&knob.name) else {
            problems.push(format!("{}: not on MariaDB {version}", knob.name));
            continue;
        };
        present += 1;
        // MariaDB's reported bounds and defaults often differ from a manual's round numbers
        // (and by build); discovery takes the server's. What must agree is what the catalog
        // decides with: the type, how a change applies, and that the search stays in bounds.
        problems.extend(
            discovery::disagreements(knob, l)
                .into_iter()
                .filter(|d| {
                    matches!(
                        d.aspect,
                        Aspect::Type | Aspect::Apply | Aspect::Unit | Aspect::Range
                    )
                })
                .map(|d| d.to_string()),
        );
    }
    assert!(
        problems.is_empty(),
        "{} disagreements:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(present >= 30, "only {present} catalog knobs found live");

    let reconciled = discovery::discover(&mut target).await.unwrap();
    assert_eq!(reconciled.catalog.len(), present);
    for w in &reconciled.warnings {
        eprintln!("warning: {w}");
    }
}
