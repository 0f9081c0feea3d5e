//! The catalog agrees with live servers on type, unit and how each knob applies, and its
//! tuning ranges lie inside the server's bounds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agent::discovery::{self, unit_class};
use knobs::{catalog, Engine, Version};
use workloads::{Sandbox, Target};

async fn agrees_with(engine: Engine) {
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
            problems.push(format!(
                "{}: not on {} {version}",
                knob.name,
                engine.display_name()
            ));
            continue;
        };
        present += 1;
        let kind = match knob.kind {
            knobs::KnobKind::Bool => "bool",
            knobs::KnobKind::Integer { .. } => "integer",
            knobs::KnobKind::Real { .. } => "real",
            knobs::KnobKind::Enum { .. } => "enum",
        };
        if l.kind != kind {
            problems.push(format!("{}: type {kind} vs server {}", knob.name, l.kind));
        }
        if l.apply != Some(knob.apply) {
            problems.push(format!(
                "{}: applies by {:?} vs server {:?}",
                knob.name, knob.apply, l.apply
            ));
        }
        if engine == Engine::Postgres
            && l.unit_class != unit_class(knob.unit())
            && !(l.unit_class.is_none() && knob.unit() == knobs::Unit::Micros)
        {
            problems.push(format!(
                "{}: unit {:?} vs server {:?}",
                knob.name,
                knob.unit(),
                l.unit_class
            ));
        }
        if let (Some(range), Some(lo), Some(hi)) = (knob.range, l.min, l.max) {
            let scale = if knob.unit() == knobs::Unit::Seconds {
                1000.0
            } else {
                1.0
            };
            if range.low * scale < lo - 1e-9 || range.high * scale > hi + 1e-9 {
                problems.push(format!(
                    "{}: tuning range {}..{} outside server bounds {lo}..{hi}",
                    knob.name, range.low, range.high
                ));
            }
        }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_catalog_agrees_with_the_live_server() {
    agrees_with(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_catalog_agrees_with_the_live_server() {
    agrees_with(Engine::Mariadb).await;
}
