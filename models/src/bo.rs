//! Bayesian optimization, ask/tell: a Latin-hypercube start, then a surrogate (GP or random
//! forest) with log expected improvement times the probability of feasibility, maximized by
//! random sampling plus a local search that moves integer dimensions by levels and
//! categorical dimensions by choices. Points suggested and not yet observed are "pending":
//! the next suggestion fantasizes their outcomes (kriging believer or constant liar), so
//! several trials can run in parallel without proposing the same point.
//!
//! Warm start (e.g. from the most similar past workload, see [`crate::metrics`]): observe
//! its points before the first suggestion; once `initial_points` successes are known the
//! initial design is skipped.
//!
//! The whole state (settings, observations, pending points, the design, the last GP
//! hyperparameters, counters) is serde-serializable; a session resumed from it continues with
//! exactly the suggestions it would have made. Each suggestion uses its own RNG seeded from
//! `(seed, suggestion number)`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::acquisition::{log_expected_improvement, upper_confidence_bound};
use crate::design::latin_hypercube;
use crate::error::{ModelError, Result};
use crate::feasibility::Feasibility;
use crate::forest::{Forest, ForestSettings};
use crate::gp::{Gp, GpHyper, GpSettings};
use crate::space::{DimKind, SearchSpace};
use crate::warp::OutputTransform;
use crate::{Observation, Optimizer, Outcome};

/// Which surrogate models the objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SurrogateKind {
    /// Gaussian process: the better surrogate in all our benchmarks, up to 30 mixed
    /// dimensions.
    Gp,
    /// Random forest (SMAC-like): robust with many, categorical or mixed dimensions.
    Forest,
    /// [`SurrogateKind::Gp`] when the space has at most [`AUTO_GP_MAX_DIMS`] dimensions
    /// (of any kind) and at most [`AUTO_GP_MAX_OBSERVATIONS`] observations,
    /// [`SurrogateKind::Forest`] otherwise. In our benchmarks (`models/RESULTS.md`, up to 30
    /// dimensions, mixed ones included) the GP beat the forest everywhere once categorical
    /// dimensions got their own length-scale prior; the forest takes over beyond what we
    /// measured, where the 2022 evaluation of knob tuners found GPs losing (many knobs), and
    /// where a GP's cubic cost would make suggestions slow.
    Auto,
}

/// [`BoSettings::min_separation`] of sessions saved before the setting existed (their
/// suggestions stay the same when resumed), and a sensible value for slow, noisy trials.
pub const COARSE_SEPARATION: f64 = 2e-3;

/// Largest space [`SurrogateKind::Auto`] gives to the GP.
pub const AUTO_GP_MAX_DIMS: usize = 30;

/// Most observations [`SurrogateKind::Auto`] gives to the GP. A suggestion then takes at
/// most a few seconds even at 30 dimensions (the latency table in `models/RESULTS.md`),
/// against trials that take minutes.
pub const AUTO_GP_MAX_OBSERVATIONS: usize = 300;

/// What to pretend pending (suggested, not yet observed) points gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchStrategy {
    /// The surrogate's mean at the point.
    KrigingBeliever,
    /// The worst value observed so far (pessimistic: spreads a batch out more).
    ConstantLiar,
}

/// Acquisition function.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Acquisition {
    /// Log expected improvement over the best posterior mean at an observed point, plus the
    /// log probability of feasibility (EI × P(feasible)).
    LogEi,
    /// Upper confidence bound `μ + β σ` (standardized units) plus the log probability of
    /// feasibility as a penalty (OtterTune's public code uses a confidence bound).
    Ucb { beta: f64 },
}

/// Settings of [`BayesOpt`], checked by [`BayesOpt::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoSettings {
    pub surrogate: SurrogateKind,
    pub acquisition: Acquisition,
    /// Size of the initial design (known-good points count towards it).
    pub initial_points: usize,
    pub gp: GpSettings,
    pub forest: ForestSettings,
    /// Uniform random candidates scored per suggestion.
    pub random_candidates: usize,
    /// Best candidates refined by local search.
    pub local_starts: usize,
    pub batch: BatchStrategy,
    /// Give failed trials the worst successful value in the surrogate (besides the
    /// feasibility model).
    pub impute_failures: bool,
    /// Transform of the observed values before a GP is fitted (see [`crate::warp`]).
    /// Sessions saved before this setting existed resume without a transform, so they keep
    /// making the suggestions they would have made.
    #[serde(default = "no_transform")]
    pub output_transform: OutputTransform,
    /// Continuous coordinates closer than this (in every continuous dimension, with equal
    /// discrete ones) count as the same point: it is not suggested again, and the GP's
    /// local search of the acquisition stops refining below it. The default (1e-6 of a
    /// dimension's range) lets the optimizer polish a continuous optimum; a tuner whose
    /// trials take minutes and measure with a few percent of noise sets it coarser
    /// ([`COARSE_SEPARATION`], what `dbtuner` uses for knobs), so it never spends a trial on
    /// a configuration that decodes to nearly the same knob values.
    #[serde(default = "coarse_separation")]
    pub min_separation: f64,
}

fn no_transform() -> OutputTransform {
    OutputTransform::None
}

fn coarse_separation() -> f64 {
    COARSE_SEPARATION
}

impl Default for BoSettings {
    fn default() -> Self {
        BoSettings {
            surrogate: SurrogateKind::Auto,
            acquisition: Acquisition::LogEi,
            initial_points: 10,
            gp: GpSettings::default(),
            forest: ForestSettings::default(),
            random_candidates: 1000,
            local_starts: 5,
            batch: BatchStrategy::KrigingBeliever,
            impute_failures: true,
            output_transform: OutputTransform::YeoJohnson,
            min_separation: 1e-6,
        }
    }
}

/// Bayesian optimization over a [`SearchSpace`]; maximizes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BayesOpt {
    space: SearchSpace,
    settings: BoSettings,
    seed: u64,
    design: Vec<Vec<f64>>,
    next_design: usize,
    suggested: u64,
    observations: Vec<Observation>,
    pending: Vec<Vec<f64>>,
    gp_hyper: Option<GpHyper>,
}

/// A fitted surrogate over standardized outputs.
enum Model {
    Gp(Gp),
    Forest { forest: Forest, mean: f64, std: f64 },
}

impl Model {
    /// Mean and standard deviation in standardized units.
    fn predict(&self, p: &[f64]) -> (f64, f64) {
        match self {
            Model::Gp(gp) => gp.predict_standardized(p),
            Model::Forest { forest, .. } => {
                let (m, v) = forest.predict(p);
                (m, v.sqrt())
            }
        }
    }

    /// Mean in the units of the objective.
    fn mean(&self, p: &[f64]) -> f64 {
        match self {
            Model::Gp(gp) => gp.predict(p).0,
            Model::Forest { forest, mean, std } => mean + std * forest.predict(p).0,
        }
    }
}

impl BayesOpt {
    /// A new optimizer. The initial design is drawn here, from `seed`.
    pub fn new(space: SearchSpace, settings: BoSettings, seed: u64) -> Result<BayesOpt> {
        BayesOpt::with_known_points(space, settings, seed, Vec::new())
    }

    /// Like [`BayesOpt::new`], with known-good points (snapped into the space) tried first.
    pub fn with_known_points(
        space: SearchSpace,
        settings: BoSettings,
        seed: u64,
        known: Vec<Vec<f64>>,
    ) -> Result<BayesOpt> {
        if settings.random_candidates == 0 {
            return Err(ModelError::Invalid(
                "random_candidates must be at least 1".into(),
            ));
        }
        if let Acquisition::Ucb { beta } = settings.acquisition {
            if !(beta.is_finite() && beta >= 0.0) {
                return Err(ModelError::Invalid(format!(
                    "UCB beta must be a finite number ≥ 0, got {beta}"
                )));
            }
        }
        let offset = settings.gp.categorical_length_scale_offset;
        if !(offset.is_finite() && offset.abs() <= 5.0) {
            return Err(ModelError::Invalid(format!(
                "gp.categorical_length_scale_offset must be in [-5, 5], got {offset}"
            )));
        }
        if !(settings.min_separation > 0.0 && settings.min_separation <= 0.1) {
            return Err(ModelError::Invalid(format!(
                "min_separation must be in (0, 0.1], got {}",
                settings.min_separation
            )));
        }
        if settings.forest.trees == 0 {
            return Err(ModelError::Invalid(
                "forest.trees must be at least 1".into(),
            ));
        }
        if !(settings.forest.feature_fraction > 0.0 && settings.forest.feature_fraction <= 1.0) {
            return Err(ModelError::Invalid(format!(
                "forest.feature_fraction must be in (0, 1], got {}",
                settings.forest.feature_fraction
            )));
        }
        let mut design = Vec::new();
        for p in &known {
            design.push(space.snap(p)?);
        }
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED_DE51_6E00_0000);
        let extra = settings.initial_points.saturating_sub(design.len());
        design.extend(latin_hypercube(&space, extra, &mut rng));
        Ok(BayesOpt {
            space,
            settings,
            seed,
            design,
            next_design: 0,
            suggested: 0,
            observations: Vec::new(),
            pending: Vec::new(),
            gp_hyper: None,
        })
    }

    /// A GP/forest optimizer over `dims` continuous dimensions with default settings (a
    /// drop-in for `RandomSearch::new(dims, seed)`).
    pub fn continuous(dims: usize, seed: u64) -> BayesOpt {
        let space = SearchSpace::continuous(dims);
        let design = latin_hypercube(
            &space,
            BoSettings::default().initial_points,
            &mut StdRng::seed_from_u64(seed ^ 0x5EED_DE51_6E00_0000),
        );
        BayesOpt {
            space,
            settings: BoSettings::default(),
            seed,
            design,
            next_design: 0,
            suggested: 0,
            observations: Vec::new(),
            pending: Vec::new(),
            gp_hyper: None,
        }
    }

    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    pub fn settings(&self) -> &BoSettings {
        &self.settings
    }

    /// The surrogate used for this space.
    pub fn surrogate(&self) -> SurrogateKind {
        match self.settings.surrogate {
            SurrogateKind::Auto => {
                if self.space.dims() <= AUTO_GP_MAX_DIMS
                    && self.observations.len() <= AUTO_GP_MAX_OBSERVATIONS
                {
                    SurrogateKind::Gp
                } else {
                    SurrogateKind::Forest
                }
            }
            other => other,
        }
    }

    /// Points suggested and not yet observed.
    pub fn pending(&self) -> &[Vec<f64>] {
        &self.pending
    }

    /// Forget pending points (trials that were abandoned without an outcome).
    pub fn clear_pending(&mut self) {
        self.pending.clear();
    }

    /// The last fitted GP hyperparameters (length scales say which dimensions matter).
    pub fn gp_hyper(&self) -> Option<&GpHyper> {
        self.gp_hyper.as_ref()
    }

    /// `q` suggestions to run in parallel (all become pending).
    pub fn try_suggest_batch(&mut self, q: usize) -> Result<Vec<Vec<f64>>> {
        (0..q).map(|_| self.try_suggest()).collect()
    }

    /// The next point; an error only if the surrogate could not be fitted and no fallback
    /// worked (never in practice: a failed fit falls back to a feasible random point).
    pub fn try_suggest(&mut self) -> Result<Vec<f64>> {
        let mut rng = StdRng::seed_from_u64(
            self.seed ^ (self.suggested + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        self.suggested += 1;
        let (xs, ys, all, ok) = self.data();
        let point =
            if self.next_design < self.design.len() && ys.len() < self.settings.initial_points {
                self.next_design += 1;
                self.design[self.next_design - 1].clone()
            } else {
                let (rx, ry) = self.regression_data(&xs, &ys, &all, &ok);
                let feasibility = Feasibility::new(&self.space, all, ok);
                match self.model_suggestion(&rx, &ry, ys.len(), &feasibility, &mut rng) {
                    Ok(Some(p)) => p,
                    // Too little data or a numerical failure: explore, avoiding failed regions.
                    Ok(None) | Err(_) => self.random_feasible(&feasibility, &mut rng),
                }
            };
        self.pending.push(point.clone());
        Ok(point)
    }

    /// Successful (x, y) and all (x, succeeded) observations, snapped into the space.
    #[allow(clippy::type_complexity)]
    fn data(&self) -> (Vec<Vec<f64>>, Vec<f64>, Vec<Vec<f64>>, Vec<bool>) {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        let mut all = Vec::new();
        let mut ok = Vec::new();
        for o in &self.observations {
            if o.point.len() != self.space.dims() {
                continue;
            }
            let mut p = o.point.clone();
            self.space.snap_in_place(&mut p);
            match o.outcome {
                Outcome::Value(v) if v.is_finite() => {
                    xs.push(p.clone());
                    ys.push(v);
                    ok.push(true);
                }
                _ => ok.push(false),
            }
            all.push(p);
        }
        (xs, ys, all, ok)
    }

    /// The regression data: successes, plus failures imputed with the worst successful value
    /// (as SMAC does), so the surrogate itself learns that failing regions are bad. The
    /// feasibility model alone is not enough: log-EI can be thousands of times larger in an
    /// unexplored failing region than near the incumbent, more than a probability can offset.
    fn regression_data(
        &self,
        xs: &[Vec<f64>],
        ys: &[f64],
        all: &[Vec<f64>],
        ok: &[bool],
    ) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut rx = xs.to_vec();
        let mut ry = ys.to_vec();
        if self.settings.impute_failures && !ys.is_empty() {
            let worst = ys.iter().copied().fold(f64::INFINITY, f64::min);
            for (p, _) in all.iter().zip(ok).filter(|(_, ok)| !**ok) {
                rx.push(p.clone());
                ry.push(worst);
            }
        }
        (rx, ry)
    }

    fn fit(&mut self, xs: &[Vec<f64>], ys: &[f64], rng: &mut StdRng) -> Result<Model> {
        match self.surrogate() {
            SurrogateKind::Forest | SurrogateKind::Auto => {
                let n = ys.len() as f64;
                let mean = ys.iter().sum::<f64>() / n;
                let var = ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n;
                let std = if var > 1e-24 { var.sqrt() } else { 1.0 };
                let yn: Vec<f64> = ys.iter().map(|y| (y - mean) / std).collect();
                let forest = Forest::fit(&self.space, xs, &yn, &self.settings.forest, rng)?;
                Ok(Model::Forest { forest, mean, std })
            }
            SurrogateKind::Gp => {
                let gp = Gp::fit(
                    &self.space,
                    xs,
                    ys,
                    &self.settings.gp,
                    self.gp_hyper.as_ref(),
                    rng,
                )?;
                self.gp_hyper = Some(gp.hyper().clone());
                Ok(Model::Gp(gp))
            }
        }
    }

    fn model_suggestion(
        &mut self,
        xs: &[Vec<f64>],
        ys: &[f64],
        successes: usize,
        feasibility: &Feasibility,
        rng: &mut StdRng,
    ) -> Result<Option<Vec<f64>>> {
        if successes < 2 {
            return Ok(None);
        }
        // The GP fits (and fantasizes in) transformed units; the transform is monotone, so
        // the best observations stay the best.
        let transformed;
        let ys = if self.surrogate() == SurrogateKind::Gp {
            transformed = self.settings.output_transform.apply(ys).0;
            &transformed[..]
        } else {
            ys
        };
        let mut model = self.fit(xs, ys, rng)?;
        if !self.pending.is_empty() {
            // Fantasize pending outcomes and refit (GP: same hyperparameters).
            let worst = ys.iter().copied().fold(f64::INFINITY, f64::min);
            let mut fx = xs.to_vec();
            let mut fy = ys.to_vec();
            for p in &self.pending {
                fx.push(p.clone());
                fy.push(match self.settings.batch {
                    BatchStrategy::KrigingBeliever => model.mean(p),
                    BatchStrategy::ConstantLiar => worst,
                });
            }
            model = match model {
                Model::Gp(gp) => Model::Gp(Gp::with_hyper(&self.space, &fx, &fy, gp.hyper())?),
                Model::Forest { .. } => self.fit(&fx, &fy, rng)?,
            };
        }
        // Incumbent: the best posterior mean at an observed point (robust to noise: one lucky
        // measurement does not set an unreachable bar).
        let incumbent = xs
            .iter()
            .map(|p| model.predict(p).0)
            .fold(f64::NEG_INFINITY, f64::max);
        let acquisition = self.settings.acquisition;
        let score = |p: &[f64]| {
            let (m, s) = model.predict(p);
            let a = match acquisition {
                Acquisition::LogEi => log_expected_improvement(m, s, incumbent),
                Acquisition::Ucb { beta } => upper_confidence_bound(m, s, beta),
            };
            a + feasibility.probability(p).ln()
        };
        let taken: Vec<&Vec<f64>> = xs.iter().chain(self.pending.iter()).collect();
        // A point within `min_separation` of a measured or pending one would decode to
        // nearly the same configuration: a wasted trial (OtterTune's users saw repeats).
        let is_new = |p: &[f64]| !taken.iter().any(|q| self.too_close(p, q));

        // Candidates: perturbations of the best observed points, then uniform ones. The
        // order matters for a forest, whose acquisition is piecewise constant: among equal
        // scores the (stable) sort keeps the earlier candidate, so ties go to points near
        // the best observations rather than anywhere in a large leaf.
        // A GP's acquisition is smooth, so small steps around the best points are where it
        // polishes an optimum. A forest's is piecewise constant: small steps mostly land in
        // the same leaf, crowding out candidates that could tell something new. With a
        // coarse separation small steps would mostly be refused as repeats. The same reasons
        // bound how finely the local search below refines (1e-3 otherwise, as it always did,
        // so sessions saved with a coarse separation resume with the same suggestions).
        let fine = self.settings.min_separation < COARSE_SEPARATION;
        let (scales, finest_step) = match model {
            Model::Gp(_) if fine => ([0.002, 0.01, 0.05, 0.2], self.settings.min_separation),
            _ => ([0.02, 0.05, 0.1, 0.2], 1e-3),
        };
        let mut candidates: Vec<Vec<f64>> = Vec::new();
        let mut order: Vec<usize> = (0..ys.len()).collect();
        order.sort_by(|&a, &b| ys[b].total_cmp(&ys[a]));
        for &i in order.iter().take(5) {
            for s in 0..20 {
                let scale = scales[s % 4];
                candidates.push(self.perturb(&xs[i], scale, rng));
            }
        }
        candidates.extend((0..self.settings.random_candidates).map(|_| self.space.sample(rng)));
        let mut scored: Vec<(f64, Vec<f64>)> = candidates
            .into_iter()
            .map(|p| (score(&p), p))
            .filter(|(s, _)| !s.is_nan())
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut best: Option<(f64, Vec<f64>)> = None;
        let mut starts = 0;
        for (s, p) in scored.iter() {
            if starts >= self.settings.local_starts {
                break;
            }
            if !is_new(p) {
                continue;
            }
            starts += 1;
            let (s, p) = self.local_search(p.clone(), *s, finest_step, &score, &is_new);
            if best.as_ref().is_none_or(|(b, _)| s > *b) {
                best = Some((s, p));
            }
        }
        Ok(best.map(|(_, p)| p))
    }

    /// Coordinate-wise hill climbing on the acquisition: continuous dims move by a step that
    /// halves when nothing improves (down to `finest_step`), integer dims by levels,
    /// categorical dims try every choice.
    fn local_search(
        &self,
        mut p: Vec<f64>,
        mut value: f64,
        finest_step: f64,
        score: &dyn Fn(&[f64]) -> f64,
        is_new: &dyn Fn(&[f64]) -> bool,
    ) -> (f64, Vec<f64>) {
        let mut step = 0.1;
        for _ in 0..40 {
            let mut best_move: Option<(f64, Vec<f64>)> = None;
            for (i, kind) in self.space.kinds().iter().enumerate() {
                let moves: Vec<f64> = match *kind {
                    DimKind::Continuous => vec![p[i] - step, p[i] + step],
                    DimKind::Integer { levels } => {
                        let unit = 1.0 / f64::from(levels.max(2) - 1);
                        let jump = (step / unit).round().max(1.0) * unit;
                        vec![p[i] - jump, p[i] + jump]
                    }
                    DimKind::Categorical { choices } => (0..choices)
                        .map(|c| kind.value_of(c))
                        .filter(|v| kind.category(*v) != kind.category(p[i]))
                        .collect(),
                };
                for m in moves {
                    let m = kind.snap(m);
                    if (m - p[i]).abs() < 1e-12 {
                        continue;
                    }
                    let mut q = p.clone();
                    q[i] = m;
                    let s = score(&q);
                    if s > value && best_move.as_ref().is_none_or(|(b, _)| s > *b) && is_new(&q) {
                        best_move = Some((s, q));
                    }
                }
            }
            match best_move {
                Some((s, q)) => {
                    value = s;
                    p = q;
                }
                None if step > finest_step => step /= 2.0,
                None => break,
            }
        }
        (value, p)
    }

    fn too_close(&self, a: &[f64], b: &[f64]) -> bool {
        self.space
            .kinds()
            .iter()
            .zip(a.iter().zip(b))
            .all(|(k, (&x, &y))| match k {
                DimKind::Continuous => (x - y).abs() < self.settings.min_separation,
                DimKind::Integer { .. } => k.level(x) == k.level(y),
                DimKind::Categorical { .. } => k.category(x) == k.category(y),
            })
    }

    fn perturb(&self, p: &[f64], scale: f64, rng: &mut StdRng) -> Vec<f64> {
        let d = self.space.dims();
        self.space
            .kinds()
            .iter()
            .zip(p)
            .map(|(kind, &x)| match kind {
                DimKind::Categorical { .. } => {
                    if rng.gen::<f64>() < 1.0 / d as f64 {
                        kind.snap(rng.gen())
                    } else {
                        x
                    }
                }
                _ => {
                    // Box–Muller normal step.
                    let u1: f64 = rng.gen::<f64>().max(1e-12);
                    let u2: f64 = rng.gen();
                    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                    kind.snap(x + scale * z)
                }
            })
            .collect()
    }

    fn random_feasible(&self, feasibility: &Feasibility, rng: &mut StdRng) -> Vec<f64> {
        let mut best = self.space.sample(rng);
        if !feasibility.has_failures() {
            return best;
        }
        let mut best_p = feasibility.probability(&best);
        for _ in 0..100 {
            if best_p > 0.8 {
                break;
            }
            let q = self.space.sample(rng);
            let pq = feasibility.probability(&q);
            if pq > best_p {
                best = q;
                best_p = pq;
            }
        }
        best
    }
}

impl Optimizer for BayesOpt {
    fn dims(&self) -> usize {
        self.space.dims()
    }

    fn suggest(&mut self) -> Vec<f64> {
        match self.try_suggest() {
            Ok(p) => p,
            Err(_) => {
                let mut rng = StdRng::seed_from_u64(self.seed ^ self.suggested);
                self.space.sample(&mut rng)
            }
        }
    }

    fn skip(&mut self, n: u64) {
        // The earlier run took its design points in order, one per suggestion.
        let left = self.design.len() - self.next_design;
        self.next_design += usize::try_from(n).unwrap_or(usize::MAX).min(left);
        self.suggested += n;
    }

    fn observe(&mut self, point: Vec<f64>, outcome: Outcome) {
        if let Some(i) = self
            .pending
            .iter()
            .position(|p| p.len() == point.len() && self.space.same(p, &point))
        {
            self.pending.remove(i);
        }
        self.observations.push(Observation { point, outcome });
    }

    fn observations(&self) -> &[Observation] {
        &self.observations
    }
}
