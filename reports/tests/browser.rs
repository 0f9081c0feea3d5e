//! The HTML report in a real headless browser (Debian's `chromium`, which `scripts/test`
//! installs when missing): no console message, no network request, every chart in the DOM as
//! SVG with its text; screenshots (desktop and phone) are left in Cargo's target tmp dir as
//! artifacts. A second test feeds the same harness a page that does fetch and log, so the
//! checks are shown to see what they look for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fixture;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reports::{render, Format};

/// Chromium's own services (clock, component updates, sign-in) that it calls even with
/// background networking off; a request to any other host came from the page.
const BROWSER_OWN_HOSTS: [&str; 9] = [
    "clients2.google.com",
    "update.googleapis.com",
    "accounts.google.com",
    "optimizationguide-pa.googleapis.com",
    "content-autofill.googleapis.com",
    "redirector.gvt1.com",
    "safebrowsingohttpgateway.googleapis.com",
    "clientservices.googleapis.com",
    // Seen on 2026-12-03: CONNECTs to www.google.com:443 beside the time and accounts
    // requests above, in a run whose page was unchanged but for one more inline SVG.
    "www.google.com",
];

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let path = Path::new(dir).join(name);
            if path.is_file() {
                return path;
            }
        }
    }
    panic!("chromium is not installed: scripts/test installs it (apt-get install chromium)");
}

/// What the browser did with a page.
struct Visit {
    console: Vec<String>,
    /// Request lines ("GET http://… HTTP/1.1", "CONNECT host:443 …") sent to the proxy.
    requests: Vec<String>,
    dom: String,
}

/// Every HTTP(S) request goes through a local proxy that records it; nothing is answered.
fn proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            log.lock().unwrap().push(line.trim().to_string());
        }
    });
    (port, seen)
}

fn visit(page: &Path, shots: &[(&str, (u32, u32))]) -> Visit {
    let (port, seen) = proxy();
    let profile = tempfile::tempdir().unwrap();
    let run = |extra: &[String]| {
        let out = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-extensions",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--v=0",
                &format!("--proxy-server=127.0.0.1:{port}"),
                "--proxy-bypass-list=<-loopback>",
                &format!("--user-data-dir={}", profile.path().display()),
            ])
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "chromium: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let mut console = Vec::new();
    let mut keep_console = |stderr: &[u8]| {
        console.extend(
            String::from_utf8_lossy(stderr)
                .lines()
                .filter(|l| l.contains(":CONSOLE"))
                .map(String::from),
        );
    };
    for (name, (w, h)) in shots {
        let shot = page.with_file_name(format!("{name}.png"));
        let out = run(&[
            format!("--window-size={w},{h}"),
            format!("--screenshot={}", shot.display()),
        ]);
        keep_console(&out.stderr);
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{}: {size} bytes", shot.display());
    }
    let out = run(&["--dump-dom".to_string()]);
    keep_console(&out.stderr);
    // Requests still in flight when the browser quit have reached the proxy by now.
    std::thread::sleep(Duration::from_millis(200));
    let requests = seen.lock().unwrap().clone();
    Visit {
        console,
        requests,
        dom: String::from_utf8_lossy(&out.stdout).to_string(),
    }
}

fn from_the_page(requests: &[String]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| {
            let target = r.split_whitespace().nth(1).unwrap_or_default();
            let host = target
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .split(['/', ':'])
                .next()
                .unwrap_or_default();
            !BROWSER_OWN_HOSTS.contains(&host)
        })
        .cloned()
        .collect()
}

fn page(name: &str, html: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report-browser")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.html");
    std::fs::write(&path, html).unwrap();
    path
}

fn html(report: &reports::Report) -> String {
    let files = render(report, &[Format::Html]).unwrap();
    files
        .into_iter()
        .find(|f| f.path == "report.html")
        .unwrap()
        .contents
}

#[test]
fn report_opens_in_a_headless_browser_without_errors_or_requests() {
    let path = page("seeded", &html(&fixture::seeded()));
    let v = visit(&path, &[("desktop", (1100, 1400)), ("phone", (390, 844))]);
    assert!(v.console.is_empty(), "console: {:?}", v.console);
    assert!(
        from_the_page(&v.requests).is_empty(),
        "network: {:?}",
        v.requests
    );
    for chart in [
        "convergence",
        "throughput",
        "gate_rounds",
        "gate_seconds",
        "gate_p99_seconds",
        "latency",
        "importance",
        "statements",
    ] {
        let start = v
            .dom
            .find(&format!("<figure id=\"chart-{chart}\"><svg"))
            .unwrap_or_else(|| panic!("{chart} is not an SVG in the browser's DOM"));
        let figure = &v.dom[start..start + v.dom[start..].find("</figure>").unwrap()];
        // Title, axis descriptions, tick labels and the legend are text elements.
        let texts = figure.matches("<text").count();
        assert!(texts >= 6, "{chart}: {texts} text elements");
    }
    eprintln!("screenshots in {}", path.parent().unwrap().display());
}

#[test]
fn the_browser_harness_sees_requests_and_console_messages() {
    let bad = html(&fixture::risky()).replace(
        "</body>",
        "<img src=\"http://fonts.example.invalid/x.png\"><script>console.error('boom')</script></body>",
    );
    let v = visit(&page("bad", &bad), &[]);
    assert!(
        v.console.iter().any(|l| l.contains("boom")),
        "console: {:?}",
        v.console
    );
    let page_requests = from_the_page(&v.requests);
    assert!(
        page_requests
            .iter()
            .any(|r| r.contains("fonts.example.invalid")),
        "requests: {:?}",
        v.requests
    );
}
