//! The report's formats on fixed models: a seeded session with every section's data, an
//! empty one, and one with a failed trial, an inconclusive verdict and a durability-risk knob.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fixture;

use fixture::{risky, seeded};
use reports::{render, Format, OutputFile, Report};

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

const CHARTS: [&str; 8] = [
    "convergence",
    "throughput",
    "gate_rounds",
    "gate_seconds",
    "gate_p99_seconds",
    "latency",
    "importance",
    "statements",
];

/// The start of each chart's title.
const CHART_TITLES: [(&str, &str); 8] = [
    ("convergence", "Convergence"),
    ("throughput", "Throughput per trial"),
    ("gate_rounds", "Gate: candidate / default"),
    ("gate_seconds", "Gate: throughput per second"),
    ("gate_p99_seconds", "Gate: p99 latency per second"),
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
