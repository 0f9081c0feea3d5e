//! The report's formats on fixed models: a seeded session with every section's data, an
//! empty one, and one with a failed trial, an inconclusive verdict and a durability-risk knob.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reports::{
    render, ApplyKind, Environment, Figure, Format, GateRound, KnobChange, KnobImportance,
    KnobSetting, LatencyComparison, MemoryUse, OutputFile, Percentiles, Report, Snippet,
    StatementLatency, TrialRecord, TrialStatus, TrialTelemetry, Validation, Verdict,
};

/// A small deterministic generator, so the fixture is the same on every run and machine.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn figure(mean: f64, stdev: f64) -> Figure {
    Figure {
        mean,
        stdev,
        min: mean - 2.0 * stdev,
        max: mean + 2.0 * stdev,
        samples: 10,
    }
}

fn trial(id: usize, label: &str, knobs: &[(&str, &str, bool)], tps: Option<f64>) -> TrialRecord {
    TrialRecord {
        id,
        label: label.into(),
        knobs: knobs
            .iter()
            .map(|(n, v, risk)| KnobSetting {
                name: n.to_string(),
                value: v.to_string(),
                applied: Some(v.to_string()),
                durability_risk: *risk,
            })
            .collect(),
        status: match tps {
            Some(_) => TrialStatus::Measured,
            None => TrialStatus::Failed {
                reason: "the server did not start: shared_buffers exceeds the shared memory limit"
                    .into(),
            },
        },
        throughput: tps.map(|t| figure(t, t * 0.04)),
        p50_ms: tps.map(|t| 2000.0 / t),
        p95_ms: tps.map(|t| 5000.0 / t),
        p99_ms: tps.map(|t| 9000.0 / t),
        errors: 0,
        restarted: true,
        telemetry: tps.map(|_| TrialTelemetry {
            buffer_hit_ratio: Some(0.991),
            checkpoints_timed: Some(0.0),
            checkpoints_requested: Some(1.0),
            wal_bytes_per_xact: Some(612.0),
            temp_bytes: None,
        }),
        score: tps,
    }
}

/// A session with data for every section (seeded: the same numbers on every run).
fn seeded() -> Report {
    let mut rng = Lcg(42);
    let mut r = Report::empty("tune on PostgreSQL (tpcb, scale 2)");
    r.generated_at = "2026-12-02T12:00:00Z".into();
    r.engine = "PostgreSQL".into();
    r.server_version = "15.8".into();
    r.workload = "tpcb, scale 2: 200000 rows loaded in 1.5 s".into();
    r.clients = 4;
    r.hardware = "2 CPUs, 7.8 GiB RAM, ssd".into();
    r.search_space = vec!["shared_buffers".into(), "random_page_cost".into()];
    r.optimizer = "Bayesian optimization with a Gaussian process".into();
    r.seed = 7;
    r.elapsed_secs = 300.0;
    r.measure_secs = 10.0;
    r.objective = "throughput".into();
    r.session_id = Some(3);
    r.default = Some(trial(0, "default", &[], Some(1000.0)));
    r.trials.push(trial(
        1,
        "heuristic",
        &[("shared_buffers", "2GB", false)],
        Some(1100.0),
    ));
    for id in 2..7 {
        let tps = 1000.0 + 200.0 * rng.next();
        let sb = format!("{}MB", 128 + (rng.next() * 1900.0) as u64);
        r.trials.push(trial(
            id,
            &id.to_string(),
            &[
                ("shared_buffers", &sb, false),
                ("random_page_cost", "1.1", false),
            ],
            Some(tps),
        ));
    }
    let rounds: Vec<GateRound> = (1..=4)
        .map(|i| {
            let d = 1000.0 + 20.0 * rng.next();
            let c = 1150.0 + 20.0 * rng.next();
            GateRound {
                round: i,
                default_tps: d,
                candidate_tps: c,
                ratio: c / d,
                default_p99_ms: 9.0,
                candidate_p99_ms: 8.0,
                default_per_second: (0..5).map(|_| d + 30.0 * rng.next()).collect(),
                candidate_per_second: (0..5).map(|_| c + 30.0 * rng.next()).collect(),
            }
        })
        .collect();
    r.validation = Some(Validation {
        best_trial: 4,
        rounds: 4,
        default_throughput: figure(1010.0, 8.0),
        best_throughput: figure(1160.0, 9.0),
        ratio: 1.148,
        ci_low: 1.12,
        ci_high: 1.17,
        confidence: 0.95,
        round_ratios: rounds.iter().map(|g| g.ratio).collect(),
        default_p99_ms: 9.0,
        best_p99_ms: 8.0,
        verdict: Verdict::Accept,
        reason: "the interval's lower bound is above +2%".into(),
        objective: "throughput".into(),
        method: "Student-t interval over the rounds' log ratios".into(),
        p99_ratio: Some([0.89, 0.85, 0.93]),
        query_regressions: Vec::new(),
        accept_above: Some(1.02),
    });
    r.gate_rounds = rounds;
    r.latency = Some(LatencyComparison {
        default: Percentiles {
            mean_ms: 3.0,
            p50_ms: 2.0,
            p95_ms: 5.0,
            p99_ms: 9.0,
            p999_ms: 20.0,
            max_ms: 40.0,
        },
        candidate: Percentiles {
            mean_ms: 2.6,
            p50_ms: 1.8,
            p95_ms: 4.4,
            p99_ms: 8.0,
            p999_ms: 15.0,
            max_ms: 30.0,
        },
    });
    r.statements = vec![StatementLatency {
        statement: "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2".into(),
        calls: 10000.0,
        default_mean_ms: 0.8,
        candidate_mean_ms: 0.6,
        default_p99_ms: 3.0,
        candidate_p99_ms: 2.5,
    }];
    r.importance = vec![
        KnobImportance {
            name: "shared_buffers".into(),
            score: 1.0,
        },
        KnobImportance {
            name: "random_page_cost".into(),
            score: 0.3,
        },
    ];
    r.changes = vec![KnobChange {
        name: "shared_buffers".into(),
        default: "128MB".into(),
        current: Some("128MB".into()),
        heuristic: Some("2GB".into()),
        candidate: "1GB".into(),
        apply: ApplyKind::Restart,
        durability_risk: false,
        description: "Memory for the shared buffer cache.".into(),
        evidence: "trial 4; gate +14.8%".into(),
    }];
    r.recommended = true;
    r.snippets = vec![Snippet {
        title: "ALTER SYSTEM".into(),
        file_name: "change.sql".into(),
        apply: "ALTER SYSTEM SET shared_buffers = '1GB';  -- needs a restart".into(),
        rollback: "ALTER SYSTEM RESET shared_buffers;".into(),
    }];
    r.apply_command =
        Some("dbtuner apply --target \"$DBTUNER_TARGET\" --plan plan.json --allow-restart".into());
    r.memory = Some(MemoryUse {
        worst_case_bytes: 1 << 30,
        budget_bytes: 7 << 30,
        ram_bytes: 8 << 30,
    });
    r.environment = Environment {
        dbtuner_version: "0.1.0".into(),
        target: "postgres://postgres@127.0.0.1:40001/dbtuner".into(),
        session_status: "accepted".into(),
        started_at: "2026-12-02T11:55:00Z".into(),
        reproduce: vec!["dbtuner tune --sandbox postgres --workload tpcb --seed 7".into()],
    };
    r.notes = vec!["A sandbox on this machine.".into()];
    r
}

/// A failed trial, an inconclusive verdict and a durability-risk knob.
fn risky() -> Report {
    let mut r = seeded();
    r.allow_durability_risk = true;
    r.trials
        .push(trial(7, "7", &[("shared_buffers", "6GB", false)], None));
    r.trials.push(trial(
        8,
        "8",
        &[("synchronous_commit", "off", true)],
        Some(1500.0),
    ));
    if let Some(v) = r.validation.as_mut() {
        v.best_trial = 8;
        v.verdict = Verdict::Inconclusive;
        v.ci_low = 0.97;
        v.reason = "the interval's lower bound is below +2%".into();
    }
    r.changes = vec![KnobChange {
        name: "synchronous_commit".into(),
        default: "on".into(),
        current: None,
        heuristic: None,
        candidate: "off".into(),
        apply: ApplyKind::Reload,
        durability_risk: true,
        description: "Whether a commit waits for its WAL to reach disk.".into(),
        evidence: "trial 8".into(),
    }];
    r.recommended = false;
    r.snippets.clear();
    r.apply_command = None;
    r
}

/// With REPORT_DUMP=DIR, the rendered fixtures are written there to look at.
fn dump(name: &str, files: &[OutputFile]) {
    if let Some(dir) = std::env::var_os("REPORT_DUMP") {
        for f in files {
            let path = std::path::Path::new(&dir).join(name).join(&f.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &f.contents).unwrap();
        }
    }
}

fn file<'a>(files: &'a [OutputFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| {
            panic!(
                "no {path} among {:?}",
                files.iter().map(|f| &f.path).collect::<Vec<_>>()
            )
        })
        .contents
}

const ALL: [Format; 3] = [Format::Html, Format::Markdown, Format::Json];

const MD_SECTIONS: [&str; 11] = [
    "## Summary",
    "## Recommended change",
    "## Apply it",
    "## Gate verdict",
    "## Per-statement latency",
    "## Index advice",
    "## Knob importance",
    "## Trials",
    "## Environment",
    "**What to change:**",
    "**What it costs:**",
];

const HTML_SECTIONS: [&str; 10] = [
    "id=\"summary\"",
    "id=\"changes\"",
    "id=\"apply\"",
    "id=\"gate\"",
    "id=\"statements\"",
    "id=\"indexes\"",
    "id=\"importance\"",
    "id=\"trials\"",
    "id=\"environment\"",
    "How sure we are",
];

const CHARTS: [&str; 7] = [
    "convergence",
    "throughput",
    "gate_rounds",
    "gate_seconds",
    "latency",
    "importance",
    "statements",
];

/// The start of each chart's title.
const CHART_TITLES: [(&str, &str); 7] = [
    ("convergence", "Convergence"),
    ("throughput", "Throughput per trial"),
    ("gate_rounds", "Gate: candidate / default"),
    ("gate_seconds", "Gate: throughput per second"),
    ("latency", "Latency percentiles"),
    ("importance", "Knob importance"),
    ("statements", "Mean latency per statement"),
];

/// The text content of an SVG's `<text>` elements, trimmed.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

#[test]
fn markdown_snapshot_of_a_seeded_session() {
    let files = render(&seeded(), &ALL).unwrap();
    dump("seeded", &files);
    dump("risky", &render(&risky(), &ALL).unwrap());
    let md = file(&files, "report.md");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/seeded.md");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots")).unwrap();
        std::fs::write(path, md).unwrap();
    }
    let expected = std::fs::read_to_string(path)
        .expect("snapshot missing: run with UPDATE_SNAPSHOTS=1 and review it");
    assert_eq!(
        md, expected,
        "report.md changed; if intended, rerun with UPDATE_SNAPSHOTS=1 and review the diff"
    );
    // Stable: rendering twice gives the same bytes (charts included).
    assert_eq!(render(&seeded(), &ALL).unwrap(), files);
}

#[test]
fn every_section_and_chart_is_present_for_a_full_session() {
    let r = seeded();
    let files = render(&r, &ALL).unwrap();
    let md = file(&files, "report.md");
    let html = file(&files, "report.html");
    for s in MD_SECTIONS {
        assert!(md.contains(s), "{s} missing from the Markdown");
    }
    for s in HTML_SECTIONS {
        assert!(html.contains(s), "{s} missing from the HTML");
    }
    for name in CHARTS {
        let svg = file(&files, &format!("charts/{name}.svg"));
        assert!(
            md.contains(&format!("](charts/{name}.svg)")),
            "{name} not linked"
        );
        assert!(
            html.contains(&format!("<figure id=\"chart-{name}\"><svg")),
            "{name} not inline"
        );
        // Real text (not paths or an embedded font): the title, axis descriptions, legend.
        let texts = texts(svg);
        let title = CHART_TITLES.iter().find(|t| t.0 == name).unwrap().1;
        assert!(
            texts.iter().any(|t| t.starts_with(title)),
            "{name}: no title in {texts:?}"
        );
        assert!(texts.len() >= 6, "{name}: only {texts:?}");
        assert!(
            !svg.contains("<image") && !svg.contains("@font-face"),
            "{name}"
        );
    }
    let has = |chart: &str, text: &str| texts(file(&files, chart)).iter().any(|t| t == text);
    assert!(has("charts/throughput.svg", "throughput (tx/s)"));
    assert!(has("charts/latency.svg", "latency (ms, log scale)"));
    assert!(
        has("charts/gate_rounds.svg", "95% interval of the mean"),
        "legend"
    );
    assert!(md.contains("ALTER SYSTEM SET shared_buffers = '1GB'"));
    assert!(md.contains("ALTER SYSTEM RESET shared_buffers;"));
    assert_eq!(
        file(&files, "change.rollback.sql"),
        "ALTER SYSTEM RESET shared_buffers;\n"
    );
    assert!(html.contains("dbtuner apply --target"));
    let json: Report = serde_json::from_str(file(&files, "report.json")).unwrap();
    assert_eq!(json, r);
    assert_eq!(json.format_version, reports::FORMAT_VERSION);
}

#[test]
fn sections_without_data_say_so() {
    let files = render(&Report::empty("empty"), &ALL).unwrap();
    let md = file(&files, "report.md");
    let html = file(&files, "report.html");
    for s in MD_SECTIONS {
        assert!(md.contains(s), "{s} missing from an empty report");
    }
    for s in HTML_SECTIONS {
        assert!(html.contains(s), "{s} missing from an empty report");
    }
    for text in [
        "No configuration was measured against the default.",
        "Nothing to apply: no change is recommended.",
        "No index advice in this session",
        "Not computed for this session",
        "No trial was recorded.",
        "No per-statement latency was measured",
    ] {
        assert!(md.contains(text), "Markdown lacks: {text}");
        assert!(html.contains(text), "HTML lacks: {text}");
    }
    assert!(
        !files.iter().any(|f| f.path.starts_with("charts/")),
        "a chart without data"
    );
    assert!(!html.contains("<figure"), "a chart without data");
}

#[test]
fn failed_trial_inconclusive_verdict_and_durability_risk_are_plain() {
    let files = render(&risky(), &ALL).unwrap();
    let md = file(&files, "report.md");
    let html = file(&files, "report.html");
    // The first lines say it, before any table.
    let summary = &md[..md.find("## Recommended change").unwrap()];
    assert!(summary.contains("INCONCLUSIVE"), "{summary}");
    assert!(
        summary.contains("Keep the current configuration"),
        "{summary}"
    );
    assert!(
        summary.contains("DURABILITY RISK: synchronous_commit = off"),
        "{summary}"
    );
    assert!(summary.contains("1 trial(s) failed"), "{summary}");
    assert!(
        md.contains("> **⚠ DURABILITY RISK: synchronous_commit = off"),
        "the banner: {summary}"
    );
    assert!(md.contains("> **⚠ INCONCLUSIVE"), "the banner: {summary}");
    assert!(md.contains("**Not recommended**"));
    assert!(md.contains("**failed: the server did not start"));
    assert!(md.contains("synchronous_commit=off ⚠ durability"));
    let first_screen = &html[..html.find("id=\"changes\"").unwrap()];
    assert!(
        first_screen.contains("class=\"verdict inconclusive\">INCONCLUSIVE"),
        "{first_screen}"
    );
    assert!(
        first_screen.contains("class=\"risk\">DURABILITY RISK"),
        "{first_screen}"
    );
    assert!(
        first_screen.contains("failed or were refused"),
        "{first_screen}"
    );
    assert!(html.contains("<span class=\"failed\">failed: the server did not start"));
    // The failed trial is on the charts too, not left out.
    assert!(texts(file(&files, "charts/throughput.svg")).contains(&"failed or refused".to_string()));
    assert!(
        !files.iter().any(|f| f.path.ends_with(".sql")),
        "snippets for a change not recommended"
    );
}

#[test]
fn html_is_self_contained() {
    let files = render(&seeded(), &[Format::Html]).unwrap();
    assert_eq!(files.len(), 3, "report.html and the snippet's two files");
    let html = file(&files, "report.html");
    for forbidden in [
        "<script",
        "<link",
        "<img",
        "@import",
        "url(",
        "src=",
        "href=\"http",
    ] {
        assert!(!html.contains(forbidden), "{forbidden} in the HTML");
    }
    // The only URLs are SVG namespaces and the target in the environment table.
    let urls: Vec<&str> = html
        .match_indices("http")
        .map(|(i, _)| &html[i..(i + 30).min(html.len())])
        .collect();
    assert!(
        urls.iter().all(|u| u.starts_with("http://www.w3.org/")),
        "{urls:?}"
    );
    assert!(html.contains("<meta name=\"viewport\""), "phones");
    assert!(html.contains("@media print"), "print");
}
