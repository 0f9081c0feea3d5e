//! Optimizer benchmark: simple regret of GP-BO, RF-BO and random search on standard test
//! functions (with and without 5% multiplicative noise), and suggestion latency.
//!
//! Regret is measured at the point each method would recommend (its best *observed* value,
//! noisy or not) on the true, noiseless function: f(recommended) − f*. Every method sees the
//! same noise stream for a given seed. `benches/optimizers/peers.py` runs Optuna's TPE on the
//! same functions with the same protocol.
//!
//! ```text
//! cargo run --release -p benches --bin optimizers -- regret [--seeds 20] [--evals 50] [--methods gp,rf,random] [--only NAME] [--transform yeo-johnson|none] [--raw FILE]
//! cargo run --release -p benches --bin optimizers -- latency
//! ```

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use models::forest::ForestSettings;
use models::{
    BayesOpt, BoSettings, DimKind, Optimizer, Outcome, OutputTransform, RandomSearch, SearchSpace,
    SurrogateKind,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A test function to minimize, over the unit hypercube (scaled inside).
struct Problem {
    name: &'static str,
    kinds: Vec<DimKind>,
    f: fn(&[f64]) -> f64,
    optimum: f64,
}

fn branin(u: &[f64]) -> f64 {
    let x1 = -5.0 + 15.0 * u[0];
    let x2 = 15.0 * u[1];
    let pi = std::f64::consts::PI;
    let b = 5.1 / (4.0 * pi * pi);
    let c = 5.0 / pi;
    let t = 1.0 / (8.0 * pi);
    (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - t) * x1.cos() + 10.0
}

fn hartmann6(x: &[f64]) -> f64 {
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    -(0..4)
        .map(|i| {
            let s: f64 = (0..6).map(|j| A[i][j] * (x[j] - P[i][j]).powi(2)).sum();
            ALPHA[i] * (-s).exp()
        })
        .sum::<f64>()
}

fn rosenbrock10(u: &[f64]) -> f64 {
    let x: Vec<f64> = u.iter().map(|v| -5.0 + 15.0 * v).collect();
    (0..9)
        .map(|i| 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2))
        .sum()
}

const MIXED_K0: [f64; 4] = [0.0, 0.5, 1.0, 0.2];
const MIXED_K1: [f64; 3] = [0.3, 0.0, 0.6];

/// 2 continuous, 2 integer (11 levels), 2 categorical (4 and 3 choices) dimensions, with an
/// interaction between a continuous and a categorical dimension. Minimum 0.
fn mixed(u: &[f64]) -> f64 {
    let i0 = DimKind::Integer { levels: 11 }.level(u[2]) as f64;
    let i1 = DimKind::Integer { levels: 11 }.level(u[3]) as f64;
    let k0 = DimKind::Categorical { choices: 4 }.category(u[4]);
    let k1 = DimKind::Categorical { choices: 3 }.category(u[5]);
    let c0 = u[0];
    let c1 = u[1];
    5.0 * (c0 - 0.25).powi(2)
        + 5.0 * (c1 - 0.6).powi(2)
        + 0.05 * (i0 - 7.0).powi(2)
        + 0.03 * (i1 - 2.0).powi(2)
        + MIXED_K0[k0]
        + MIXED_K1[k1]
        + if k1 == 2 { 0.5 * c0 } else { 0.0 }
}

/// 30 dimensions as a knob space looks: 20 continuous, 5 integer (11 levels), 5 categorical
/// (3 choices); a few dimensions matter a lot, most hardly at all. Minimum 0.
fn mixed30(u: &[f64]) -> f64 {
    let mut f = 0.0;
    for (i, x) in u[..20].iter().enumerate() {
        let weight = if i < 4 { 4.0 } else { 0.05 };
        let target = 0.1 + 0.04 * i as f64;
        f += weight * (x - target).powi(2);
    }
    for (i, x) in u[20..25].iter().enumerate() {
        let level = DimKind::Integer { levels: 11 }.level(*x) as f64;
        let weight = if i == 0 { 0.05 } else { 0.002 };
        f += weight * (level - 3.0).powi(2);
    }
    for (i, x) in u[25..30].iter().enumerate() {
        let c = DimKind::Categorical { choices: 3 }.category(*x);
        let weight = if i == 0 { 1.0 } else { 0.05 };
        f += weight * [0.5, 0.0, 1.0][c];
    }
    f
}

/// Styblinski–Tang in 8 dimensions over [-5, 5]^8. Added after the GP priors were chosen
/// (on the other functions), as a held-out check.
fn styblinski8(u: &[f64]) -> f64 {
    u.iter()
        .map(|v| {
            let x = -5.0 + 10.0 * v;
            0.5 * (x.powi(4) - 16.0 * x * x + 5.0 * x)
        })
        .sum()
}

fn problems() -> Vec<Problem> {
    vec![
        Problem {
            name: "branin",
            kinds: vec![DimKind::Continuous; 2],
            f: branin,
            optimum: 0.397_887_357_729_738,
        },
        Problem {
            name: "hartmann6",
            kinds: vec![DimKind::Continuous; 6],
            f: hartmann6,
            optimum: -3.322_368_011_415_51,
        },
        Problem {
            name: "rosenbrock10",
            kinds: vec![DimKind::Continuous; 10],
            f: rosenbrock10,
            optimum: 0.0,
        },
        Problem {
            name: "styblinski8",
            kinds: vec![DimKind::Continuous; 8],
            f: styblinski8,
            optimum: -39.166_165_703_771_41 * 8.0,
        },
        Problem {
            name: "mixed6",
            kinds: vec![
                DimKind::Continuous,
                DimKind::Continuous,
                DimKind::Integer { levels: 11 },
                DimKind::Integer { levels: 11 },
                DimKind::Categorical { choices: 4 },
                DimKind::Categorical { choices: 3 },
            ],
            f: mixed,
            optimum: 0.0,
        },
        Problem {
            name: "mixed30",
            kinds: [
                vec![DimKind::Continuous; 20],
                vec![DimKind::Integer { levels: 11 }; 5],
                vec![DimKind::Categorical { choices: 3 }; 5],
            ]
            .concat(),
            f: mixed30,
            optimum: 0.0,
        },
    ]
}

/// Settings other than the defaults, for ablations.
struct Tweaks {
    forest: ForestSettings,
    transform: OutputTransform,
}

impl Tweaks {
    /// The method's name, marked when the GP runs with other than the default transform.
    fn label(&self, method: Method) -> String {
        let default = BoSettings::default().output_transform;
        if method == Method::Gp && self.transform != default {
            format!("{}, transform {:?}", method.name(), self.transform)
        } else {
            method.name().to_string()
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Gp,
    Forest,
    Random,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Gp => "GP-BO (ours)",
            Method::Forest => "RF-BO (ours)",
            Method::Random => "random search",
        }
    }
}

/// Regret after each evaluation of one run.
fn run(
    problem: &Problem,
    method: Method,
    noise: f64,
    seed: u64,
    evals: usize,
    tweaks: &Tweaks,
) -> Result<Vec<f64>> {
    let space = SearchSpace::new(problem.kinds.clone())?;
    let mut opt: Box<dyn Optimizer> = match method {
        Method::Random => Box::new(RandomSearch::new(space.dims(), seed)),
        Method::Gp | Method::Forest => {
            let settings = BoSettings {
                surrogate: if method == Method::Gp {
                    SurrogateKind::Gp
                } else {
                    SurrogateKind::Forest
                },
                forest: tweaks.forest,
                output_transform: tweaks.transform,
                ..BoSettings::default()
            };
            Box::new(BayesOpt::new(space.clone(), settings, seed)?)
        }
    };
    // The same noise stream for every method with this seed.
    let mut noise_rng = StdRng::seed_from_u64(seed.wrapping_mul(7919) ^ 0xA5A5);
    let mut best_observed = f64::INFINITY;
    let mut best_true = f64::INFINITY;
    let mut regrets = Vec::with_capacity(evals);
    for _ in 0..evals {
        let p = space.snap(&opt.suggest())?;
        let truth = (problem.f)(&p);
        let z: f64 = {
            let u1: f64 = noise_rng.gen::<f64>().max(1e-12);
            let u2: f64 = noise_rng.gen();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        };
        let observed = truth * (1.0 + noise * z);
        if observed < best_observed {
            best_observed = observed;
            best_true = truth;
        }
        // Optimizers maximize.
        opt.observe(p, Outcome::Value(-observed));
        regrets.push((best_true - problem.optimum).max(0.0));
    }
    Ok(regrets)
}

fn quartiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let pos = q * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    (at(0.25), at(0.5), at(0.75))
}

fn fmt(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.1e}")
    }
}

fn regret(
    seeds: u64,
    evals: usize,
    only: Option<&str>,
    methods: &[Method],
    tweaks: &Tweaks,
    raw: Option<&str>,
) -> Result<()> {
    // Per-seed results in the format of `peers.py --raw`, so one `--summarize` prints ours
    // and the peers' side by side from the same files.
    let mut raw = match raw {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {path}"))?,
        ),
        None => None,
    };
    println!("| function | noise | method | regret@20 median [q1, q3] | regret@{evals} median [q1, q3] | s/run |");
    println!("|---|---|---|---|---|---|");
    for problem in problems() {
        if only.is_some_and(|o| o != problem.name) {
            continue;
        }
        for noise in [0.0, 0.05] {
            for method in methods.iter().copied() {
                let started = Instant::now();
                let mut at20 = Vec::new();
                let mut at_end = Vec::new();
                for seed in 0..seeds {
                    let run_started = Instant::now();
                    let r = run(&problem, method, noise, seed, evals, tweaks)
                        .with_context(|| format!("{} seed {seed}", problem.name))?;
                    let (r20, r_end) = (r[19.min(r.len() - 1)], r[r.len() - 1]);
                    at20.push(r20);
                    at_end.push(r_end);
                    if let Some(file) = raw.as_mut() {
                        let line = serde_json::json!({
                            "function": problem.name,
                            "noise": noise,
                            "method": tweaks.label(method),
                            "seed": seed,
                            "at20": r20,
                            "at_n": r_end,
                            "secs": run_started.elapsed().as_secs_f64(),
                        });
                        writeln!(file, "{line}").context("writing the raw results")?;
                    }
                }
                let per_run = started.elapsed().as_secs_f64() / seeds as f64;
                let (a1, a2, a3) = quartiles(at20);
                let (b1, b2, b3) = quartiles(at_end);
                println!(
                    "| {} | {}% | {} | {} [{}, {}] | {} [{}, {}] | {:.2} |",
                    problem.name,
                    noise * 100.0,
                    tweaks.label(method),
                    fmt(a2),
                    fmt(a1),
                    fmt(a3),
                    fmt(b2),
                    fmt(b1),
                    fmt(b3),
                    per_run
                );
            }
        }
    }
    Ok(())
}

/// Time of a suggestion with `n` observations in `d` continuous dimensions: the first one
/// (cold: GP hyperparameters fitted from scratch) and the next one (warm-started from the
/// previous fit, as in a running session).
fn latency() -> Result<()> {
    println!("| observations × dims | surrogate | first suggestion (cold) median [min, max] | next suggestion (warm) median [min, max] |");
    println!("|---|---|---|---|");
    for (n, d) in [
        (25, 10),
        (50, 10),
        (100, 10),
        (100, 20),
        (200, 20),
        (50, 30),
        (200, 30),
        (300, 30),
    ] {
        for surrogate in [SurrogateKind::Gp, SurrogateKind::Forest] {
            let mut cold = Vec::new();
            let mut warm = Vec::new();
            for seed in 0..5u64 {
                let settings = BoSettings {
                    surrogate,
                    ..BoSettings::default()
                };
                let mut opt = BayesOpt::new(SearchSpace::continuous(d), settings, seed)?;
                let mut rng = StdRng::seed_from_u64(seed);
                let f = |p: &[f64]| -rosenbrock10(&p[..10]) - p.iter().sum::<f64>();
                for _ in 0..n {
                    let p: Vec<f64> = (0..d).map(|_| rng.gen()).collect();
                    let v = f(&p);
                    opt.observe(p, Outcome::Value(v));
                }
                let started = Instant::now();
                let p = opt.try_suggest()?;
                cold.push(started.elapsed().as_secs_f64() * 1000.0);
                let v = f(&p);
                opt.observe(p, Outcome::Value(v));
                let started = Instant::now();
                let _ = opt.try_suggest()?;
                warm.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            cold.sort_by(f64::total_cmp);
            warm.sort_by(f64::total_cmp);
            println!(
                "| {n} × {d} | {surrogate:?} | {:.0} ms [{:.0}, {:.0}] | {:.0} ms [{:.0}, {:.0}] |",
                cold[2], cold[0], cold[4], warm[2], warm[0], warm[4]
            );
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seeds: u64 = value("--seeds")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(20);
    let evals: usize = value("--evals")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(50);
    if evals < 20 {
        bail!("--evals must be at least 20, got {evals}");
    }
    match args.first().map(String::as_str) {
        Some("regret") => {
            let methods: Vec<Method> = match value("--methods") {
                None => vec![Method::Gp, Method::Forest, Method::Random],
                Some(list) => list
                    .split(',')
                    .map(|m| match m {
                        "gp" => Ok(Method::Gp),
                        "rf" => Ok(Method::Forest),
                        "random" => Ok(Method::Random),
                        other => bail!("unknown method {other:?}; use gp, rf or random"),
                    })
                    .collect::<Result<_>>()?,
            };
            // Forest settings other than the defaults, for experiments.
            let mut forest = ForestSettings::default();
            if let Some(v) = value("--rf-min-split") {
                forest.min_samples_split = v.parse()?;
            }
            if let Some(v) = value("--rf-features") {
                forest.feature_fraction = v.parse()?;
            }
            let transform = match value("--transform").as_deref() {
                None | Some("yeo-johnson") => OutputTransform::YeoJohnson,
                Some("none") => OutputTransform::None,
                Some(other) => bail!("unknown --transform {other:?}; use yeo-johnson or none"),
            };
            let tweaks = Tweaks { forest, transform };
            regret(
                seeds,
                evals,
                value("--only").as_deref(),
                &methods,
                &tweaks,
                value("--raw").as_deref(),
            )
        }
        Some("latency") => latency(),
        _ => bail!("usage: optimizers regret [--seeds N] [--evals N] [--only NAME] [--methods gp,rf,random] [--transform yeo-johnson|none] [--raw FILE] | latency"),
    }
}
