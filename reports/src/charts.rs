//! The report's charts as SVG, drawn with plotters' SVG backend.
//!
//! Text is written as SVG `<text>` elements: the viewer's own fonts draw it, and plotters is
//! built without its font features (it then estimates text extents itself), so neither a font
//! file nor a system font library is needed to draw or to view a chart.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{Report, SearchComparison, TrialStatus};

/// One chart of the report; `svg` is `None` when the session has no data for it, and `absent`
/// then says why (every format shows that sentence instead of the chart).
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File stem: `charts/{name}.svg` beside the Markdown.
    pub name: &'static str,
    pub title: String,
    pub svg: Option<String>,
    pub absent: String,
}

/// A chart could not be drawn (plotters reports an error in the backend or the layout).
#[derive(Debug, thiserror::Error)]
#[error("chart '{chart}': {reason}")]
pub struct ChartError {
    pub chart: &'static str,
    pub reason: String,
}

const SIZE: (u32, u32) = (760, 380);
const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(230, 120, 20);
const RED: RGBColor = RGBColor(200, 30, 30);
const GREEN: RGBColor = RGBColor(30, 140, 60);
const GRAY: RGBColor = RGBColor(110, 110, 110);
const FONT: &str = "sans-serif";
// plotters' SVG backend writes font sizes divided by 1.24 (its em estimate): 17 here is
// about 13.7 px in the file, readable at the chart's own size.

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;
type Draw<'r> = &'r dyn Fn(&Area<'_>, &str) -> DrawResult;

/// Every chart of the report, in the order the formats show them.
pub fn render_charts(r: &Report) -> Result<Vec<Chart>, ChartError> {
    let mut out = Vec::new();
    let mut add = |name: &'static str, title: &str, absent: &str, draw: Option<Draw<'_>>| {
        let svg = match draw {
            Some(draw) => Some(svg(|area| draw(area, title)).map_err(|reason| ChartError {
                chart: name,
                reason,
            })?),
            None => None,
        };
        out.push(Chart {
            name,
            title: title.to_string(),
            svg,
            absent: absent.to_string(),
        });
        Ok::<(), ChartError>(())
    };
    let scored = r.default.iter().chain(&r.trials).any(|t| t.score.is_some());
    add(
        "convergence",
        "Convergence: best score so far per trial",
        "No trial was measured, so there is no convergence to show.",
        scored.then_some(&|a: &Area<'_>, t: &str| convergence(r, a, t)),
    )?;
    let compared = r
        .compared_search
        .as_ref()
        .filter(|c| !c.best_vs_default.is_empty() && !r.own_best_vs_default().is_empty());
    let compare_title = match compared {
        Some(c) => format!(
            "Convergence against {} (session {}): best so far / own default",
            c.optimizer, c.session_id
        ),
        None => "Convergence against the other kind of search".to_string(),
    };
    add(
        "convergence_compared",
        &compare_title,
        "No other session on this engine, workload and objective searched the other way (random search against a model); run the same `dbtuner tune` with `--optimizer random` (or without it) to compare.",
        compared
            .is_some()
            .then_some(&|a: &Area<'_>, t: &str| match compared {
                Some(c) => convergence_compared(r, c, a, t),
                None => Ok(()),
            }),
    )?;
    let measured = r
        .default
        .iter()
        .chain(&r.trials)
        .any(|t| t.throughput.is_some());
    add(
        "throughput",
        "Throughput per trial (mean ± stdev of per-second samples)",
        "No trial was measured, so there is no throughput to show.",
        measured.then_some(&|a: &Area<'_>, t: &str| throughput(r, a, t)),
    )?;
    let gated = r.validation.is_some() && !r.gate_rounds.is_empty();
    add(
        "gate_rounds",
        "Gate: candidate / default per round, with the interval",
        "The gate did not run, so there are no rounds to show.",
        gated.then_some(&|a: &Area<'_>, t: &str| gate_rounds(r, a, t)),
    )?;
    let seconds = r
        .gate_rounds
        .iter()
        .any(|g| !g.default_per_second.is_empty());
    add(
        "gate_seconds",
        "Gate: throughput per second in the rounds",
        "The gate's per-second samples were not recorded.",
        seconds.then_some(&|a: &Area<'_>, t: &str| gate_seconds(r, a, t)),
    )?;
    let p99_seconds = r
        .gate_rounds
        .iter()
        .any(|g| g.default_p99_per_second.iter().flatten().next().is_some());
    add(
        "gate_p99_seconds",
        "Gate: p99 latency per second in the rounds",
        "The gate's per-second latencies were not recorded.",
        p99_seconds.then_some(&|a: &Area<'_>, t: &str| gate_p99_seconds(r, a, t)),
    )?;
    add(
        "latency",
        "Latency percentiles in the gate, default vs candidate",
        "The gate did not run, so there is no latency comparison.",
        r.latency
            .is_some()
            .then_some(&|a: &Area<'_>, t: &str| latency(r, a, t)),
    )?;
    add(
        "importance",
        "Knob importance for this workload",
        "Knob importance was not computed: the space was not narrowed (use --knobs top:N).",
        (!r.importance.is_empty()).then_some(&|a: &Area<'_>, t: &str| importance(r, a, t)),
    )?;
    add(
        "statements",
        "Mean latency per statement in the gate, default vs candidate",
        "No per-statement latency was measured in the gate.",
        (!r.statements.is_empty()).then_some(&|a: &Area<'_>, t: &str| statements(r, a, t)),
    )?;
    Ok(out)
}

fn svg(draw: impl FnOnce(&Area<'_>) -> DrawResult) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// A range that contains every value with some room, and is never empty.
fn span(values: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
    }
    let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.02).max(1e-9);
    if !from_zero || lo < 0.0 {
        lo -= pad;
    }
    hi += pad;
    (lo, hi)
}

/// The top of an axis with a band above the data for the legend, which would hide points
/// otherwise.
fn headroom(top: f64) -> f64 {
    top * 1.45
}

/// Tick labels without trailing zeros ("3500", "1.05").
fn tick(v: &f64) -> String {
    let text = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Whole numbers only: trials and rounds have no halves.
fn whole(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

fn score_axis(r: &Report) -> String {
    match r.objective.as_str() {
        "" | "throughput" => "throughput (tx/s)".to_string(),
        other => format!("1000 / {other} in ms (higher is better)"),
    }
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 17))
        .draw()
}

/// Both sessions' best-so-far curves, each relative to its own default.
fn convergence_compared(
    r: &Report,
    other: &SearchComparison,
    area: &Area<'_>,
    title: &str,
) -> DrawResult {
    let ours = r.own_best_vs_default();
    let theirs = &other.best_vs_default;
    let max_x = ours.iter().chain(theirs).map(|p| p.0).max().unwrap_or(0) as f64;
    // span() pads already; the default's 1.0 stays in view.
    let (lo, hi) = span(ours.iter().chain(theirs).map(|p| p.1), false);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(88)
        .build_cartesian_2d(-0.5..max_x + 0.5, lo.min(0.98)..hi.max(1.02))?;
    chart
        .configure_mesh()
        .x_desc("trial (0 = default)")
        .x_label_formatter(&whole)
        .y_desc("best so far / default")
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 18))
        .draw()?;
    let as_f = |v: &[(usize, f64)]| v.iter().map(|&(x, y)| (x as f64, y)).collect::<Vec<_>>();
    let name = if r.optimizer.is_empty() {
        "this session".to_string()
    } else {
        format!("this session ({})", r.optimizer)
    };
    chart
        .draw_series(LineSeries::new(as_f(&ours), BLUE.stroke_width(2)))?
        .label(name)
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(as_f(theirs), GRAY.stroke_width(2)))?
        .label(format!(
            "session {} ({})",
            other.session_id, other.optimizer
        ))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GRAY.stroke_width(2)));
    legend(&mut chart)?;
    Ok(())
}

fn convergence(r: &Report, area: &Area<'_>, title: &str) -> DrawResult {
    let all: Vec<_> = r.default.iter().chain(&r.trials).collect();
    let points: Vec<(f64, f64)> = all
        .iter()
        .filter_map(|t| t.score.map(|s| (t.id as f64, s)))
        .collect();
    let mut best = f64::NEG_INFINITY;
    let best_line: Vec<(f64, f64)> = points
        .iter()
        .map(|&(x, s)| {
            best = best.max(s);
            (x, best)
        })
        .collect();
    let max_x = all.iter().map(|t| t.id).max().unwrap_or(0) as f64;
    let hi = headroom(span(points.iter().map(|p| p.1), true).1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 24))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(88)
        .build_cartesian_2d(-0.5..max_x + 0.5, 0.0..hi)?;
    chart
        .configure_mesh()
        .x_desc("trial (0 = default)")
        .x_label_formatter(&whole)
        .y_label_formatter(&tick)
        .y_desc(score_axis(r))
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 18))
        .draw()?;
    chart
        .draw_series(LineSeries::new(best_line, BLUE.stroke_width(2)))?
        .label("best so far")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(points.iter().map(|&p| Circle::new(p, 4, ORANGE.filled())))?
        .label("trial")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, ORANGE.filled()));
    failed_marks(&mut chart, r)?;
    legend(&mut chart)?;
    Ok(())
}

/// Failed and refused trials as red crosses on the x axis: they have no score, and leaving
/// them out would hide them.
fn failed_marks<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    r: &Report,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let failed: Vec<f64> = r
        .default
        .iter()
        .chain(&r.trials)
        .filter(|t| t.status != TrialStatus::Measured)
        .map(|t| t.id as f64)
        .collect();
    if !failed.is_empty() {
        chart
            .draw_series(
                failed
                    .into_iter()
                    .map(|x| Cross::new((x, 0.0), 7, RED.stroke_width(3))),
            )?
            .label("failed or refused")
            .legend(|(x, y)| Cross::new((x + 10, y), 6, RED.stroke_width(3)));
    }
    Ok(())
}

fn throughput(r: &Report, area: &Area<'_>, title: &str) -> DrawResult {
    let all: Vec<_> = r.default.iter().chain(&r.trials).collect();
    let bars: Vec<(f64, f64, f64)> = all
        .iter()
        .filter_map(|t| t.throughput.map(|f| (t.id as f64, f.mean, f.stdev)))
        .collect();
    let max_x = all.iter().map(|t| t.id).max().unwrap_or(0) as f64;
    let hi = headroom(span(bars.iter().map(|b| b.1 + b.2), true).1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 24))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(88)
        .build_cartesian_2d(-0.5..max_x + 0.5, 0.0..hi)?;
    chart
        .configure_mesh()
        .x_desc("trial (0 = default)")
        .x_label_formatter(&whole)
        .y_label_formatter(&tick)
        .y_desc("throughput (tx/s)")
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 18))
        .draw()?;
    chart
        .draw_series(bars.iter().map(|&(x, m, s)| {
            ErrorBar::new_vertical(x, (m - s).max(0.0), m, m + s, BLUE.filled(), 8)
        }))?
        .label("mean ± stdev")
        .legend(|(x, y)| {
            PathElement::new(vec![(x + 10, y - 6), (x + 10, y + 6)], BLUE.stroke_width(2))
        });
    failed_marks(&mut chart, r)?;
    legend(&mut chart)?;
    Ok(())
}

fn gate_rounds(r: &Report, area: &Area<'_>, title: &str) -> DrawResult {
    let Some(v) = &r.validation else {
        return Ok(());
    };
    let n = r.gate_rounds.len() as f64;
    let ratios: Vec<(f64, f64)> = r
        .gate_rounds
        .iter()
        .map(|g| (g.round as f64, g.ratio))
        .collect();
    let marks = [v.ci_low, v.ci_high, 1.0, v.accept_above.unwrap_or(1.0)];
    let (lo, hi) = span(ratios.iter().map(|p| p.1).chain(marks), false);
    let hi = lo + headroom(hi - lo);
    let x = (0.5, n + 0.5);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 24))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(88)
        .build_cartesian_2d(x.0..x.1, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("round")
        .x_label_formatter(&whole)
        .y_label_formatter(&tick)
        .x_labels(r.gate_rounds.len().clamp(2, 12))
        .y_desc(format!(
            "{} ratio, candidate / default",
            if v.objective.is_empty() {
                "throughput"
            } else {
                &v.objective
            }
        ))
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 18))
        .draw()?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(x.0, v.ci_low), (x.1, v.ci_high)],
            BLUE.mix(0.18).filled(),
        )))?
        .label(format!("{:.0}% interval of the mean", v.confidence * 100.0))
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], BLUE.mix(0.3).filled()));
    chart
        .draw_series(LineSeries::new(
            vec![(x.0, v.ratio), (x.1, v.ratio)],
            BLUE.stroke_width(2),
        ))?
        .label("mean ratio")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            vec![(x.0, 1.0), (x.1, 1.0)],
            GRAY.stroke_width(1),
        ))?
        .label("no change (1.0)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GRAY));
    if let Some(a) = v.accept_above {
        chart
            .draw_series(LineSeries::new(
                vec![(x.0, a), (x.1, a)],
                GREEN.stroke_width(2),
            ))?
            .label(format!("accept if the interval is above {a:.2}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN.stroke_width(2)));
    }
    chart
        .draw_series(ratios.iter().map(|&p| Circle::new(p, 5, ORANGE.filled())))?
        .label("round")
        .legend(|(x, y)| Circle::new((x + 10, y), 5, ORANGE.filled()));
    legend(&mut chart)?;
    Ok(())
}

fn gate_seconds(r: &Report, area: &Area<'_>, title: &str) -> DrawResult {
    let series = |pick: fn(&crate::GateRound) -> &Vec<f64>| -> Vec<(f64, f64)> {
        r.gate_rounds
            .iter()
            .flat_map(pick)
            .enumerate()
            .map(|(i, v)| (i as f64 + 1.0, *v))
            .collect()
    };
    let default = series(|g| &g.default_per_second);
    let candidate = series(|g| &g.candidate_per_second);
    let max_x = default.len().max(candidate.len()) as f64;
    let hi = headroom(span(default.iter().chain(&candidate).map(|p| p.1), true).1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 24))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(88)
        .build_cartesian_2d(0.0..max_x + 1.0, 0.0..hi)?;
    chart
        .configure_mesh()
        .x_desc("measured second (rounds back to back, s)")
        .x_label_formatter(&whole)
        .y_label_formatter(&tick)
        .y_desc("throughput (tx/s)")
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 18))
        .draw()?;
    chart
        .draw_series(LineSeries::new(default, GRAY.stroke_width(2)))?
        .label("default")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GRAY.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(candidate, ORANGE.stroke_width(2)))?
        .label("candidate")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ORANGE.stroke_width(2)));
    legend(&mut chart)?;
    Ok(())
}

/// Per-second p99 of both arms, rounds back to back, on a log axis so that a stall of a
/// second and the usual few milliseconds are both readable. Seconds without a completed unit
/// break the line instead of being drawn as zero.
fn gate_p99_seconds(r: &Report, area: &Area<'_>, title: &str) -> DrawResult {
    let segments = |pick: fn(&crate::GateRound) -> &Vec<Option<f64>>| -> Vec<Vec<(f64, f64)>> {
        let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (i, v) in r.gate_rounds.iter().flat_map(pick).enumerate() {
            match v {
                Some(ms) if *ms > 0.0 => {
                    if let Some(last) = out.last_mut() {
                        last.push((i as f64 + 1.0, *ms));
                    }
                }
                _ => out.push(Vec::new()),
            }
        }
        out.retain(|s| !s.is_empty());
        out
    };
    let default = segments(|g| &g.default_p99_per_second);
    let candidate = segments(|g| &g.candidate_p99_per_second);
    let values = || default.iter().chain(&candidate).flatten().map(|p| p.1);
    let max_x = default
        .iter()
        .chain(&candidate)
        .flatten()
        .map(|p| p.0)
        .fold(1.0, f64::max);
    let lo = values().fold(f64::INFINITY, f64::min) / 2.0;
    // Room above for the legend, and at least a factor of ten so the axis has labels.
    let hi = (values().fold(0.0, f64::max) * 3.0).max(lo * 10.0);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 24))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(88)
        .build_cartesian_2d(0.0..max_x + 1.0, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("measured second (rounds back to back, s)")
        .x_label_formatter(&whole)
        .y_label_formatter(&tick)
        .y_desc("p99 latency (ms, log scale)")
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 18))
        .draw()?;
    for (series, color, name) in [(default, GRAY, "default"), (candidate, ORANGE, "candidate")] {
        let mut labelled = false;
        for segment in series {
            let drawn = chart.draw_series(LineSeries::new(segment, color.stroke_width(2)))?;
            if !labelled {
                drawn.label(name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
                labelled = true;
            }
        }
    }
    legend(&mut chart)?;
    Ok(())
}

/// Percentiles on a "nines" axis (x = −log10(1 − p)), so that p99 and p99.9 get room.
fn latency(r: &Report, area: &Area<'_>, title: &str) -> DrawResult {
    let Some(l) = r.latency else {
        return Ok(());
    };
    let nines = |p: f64| -(1.0 - p).log10();
    let points = |p: crate::Percentiles| {
        vec![
            (nines(0.5), p.p50_ms),
            (nines(0.95), p.p95_ms),
            (nines(0.99), p.p99_ms),
            (nines(0.999), p.p999_ms),
        ]
    };
    let (default, candidate) = (points(l.default), points(l.candidate));
    let positive = || {
        default
            .iter()
            .chain(&candidate)
            .map(|p| p.1)
            .filter(|v| *v > 0.0)
    };
    let lo = positive().fold(f64::INFINITY, f64::min);
    let hi = positive().fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        // Log scale: a factor of 8 above the data leaves the top band to the legend.
        (lo / 1.5, hi * 8.0)
    } else {
        (0.01, 1.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 24))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(88)
        .build_cartesian_2d(0.0..3.3, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .x_labels(5)
        .x_label_formatter(&|x| {
            let p = 100.0 * (1.0 - 10f64.powf(-x));
            // p0 would be the minimum, which is not on the line.
            if p < 1.0 {
                String::new()
            } else {
                format!("p{}", tick(&p))
            }
        })
        .y_desc("latency (ms, log scale)")
        .y_label_formatter(&tick)
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 18))
        .draw()?;
    let positive_only =
        |v: &Vec<(f64, f64)>| v.iter().copied().filter(|p| p.1 > 0.0).collect::<Vec<_>>();
    for (name, color, pts) in [
        ("default", GRAY, positive_only(&default)),
        ("candidate", ORANGE, positive_only(&candidate)),
    ] {
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
    }
    legend(&mut chart)?;
    Ok(())
}

/// Horizontal bars, the name written above each bar (long knob and statement names fit).
fn bars(
    area: &Area<'_>,
    title: &str,
    x_desc: &str,
    rows: &[(String, Vec<(f64, RGBColor)>)],
    series: &[(&str, RGBColor)],
) -> DrawResult {
    let n = rows.len() as f64;
    let hi = headroom(span(rows.iter().flat_map(|r| r.1.iter().map(|b| b.0)), true).1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 24))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(12)
        .build_cartesian_2d(0.0..hi, -0.6..n - 0.2)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(x_desc)
        .x_label_formatter(&tick)
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 18))
        .draw()?;
    let k = rows.iter().map(|r| r.1.len()).max().unwrap_or(1).max(1) as f64;
    let height = 0.5 / k;
    for (i, (name, values)) in rows.iter().enumerate() {
        // The first row at the top.
        let y = n - 1.0 - i as f64;
        for (j, (value, color)) in values.iter().enumerate() {
            let top = y - j as f64 * height;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, top - height), (*value, top)],
                color.filled(),
            )))?;
        }
        chart.draw_series(std::iter::once(Text::new(
            name.clone(),
            (0.0, y + 0.32),
            (FONT, 17).into_font(),
        )))?;
    }
    for (label, color) in series {
        let color = *color;
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
            .label(*label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.filled()));
    }
    legend(&mut chart)?;
    Ok(())
}

fn importance(r: &Report, area: &Area<'_>, title: &str) -> DrawResult {
    let rows: Vec<(String, Vec<(f64, RGBColor)>)> = r
        .importance
        .iter()
        .take(12)
        .map(|k| (k.name.clone(), vec![(k.score, BLUE)]))
        .collect();
    bars(
        area,
        title,
        "importance (Lasso path; 1 = the first knob to enter)",
        &rows,
        &[("importance", BLUE)],
    )
}

fn short(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        format!("{}…", one_line.chars().take(max - 1).collect::<String>())
    }
}

fn statements(r: &Report, area: &Area<'_>, title: &str) -> DrawResult {
    let rows: Vec<(String, Vec<(f64, RGBColor)>)> = r
        .statements
        .iter()
        .take(10)
        .map(|s| {
            (
                short(&s.statement, 60),
                vec![(s.default_mean_ms, GRAY), (s.candidate_mean_ms, ORANGE)],
            )
        })
        .collect();
    bars(
        area,
        title,
        "mean latency (ms)",
        &rows,
        &[("default", GRAY), ("candidate", ORANGE)],
    )
}
