"""Peer optimizers on the same functions and protocol as `benches/src/bin/optimizers.rs`.

Peers: Optuna's TPE sampler (`tpe`), scikit-optimize's `gp_minimize` (`skopt`) and SMAC3
(`smac`), each with its documented defaults for a small budget. Same definitions: functions
over the unit hypercube, 5% multiplicative Gaussian noise on the observed value, regret =
f(best observed point) - f*, at 20 and N evaluations, median and quartiles over seeds. The
noise stream differs from the Rust one (a different RNG), the distribution is the same.

Each peer lives in its own venv with its own pinned requirements (their numpy/scikit-learn
pins differ); a peer whose package is missing is reported and skipped, not an error:

    python3 -m venv /tmp/dbtuner-peers-venv        # Optuna TPE
    /tmp/dbtuner-peers-venv/bin/pip install -r benches/optimizers/requirements.txt
    /tmp/dbtuner-peers-venv/bin/python benches/optimizers/peers.py --peers tpe
    python3 -m venv /tmp/dbtuner-skopt-venv        # scikit-optimize
    /tmp/dbtuner-skopt-venv/bin/pip install -r benches/optimizers/requirements-skopt.txt
    /tmp/dbtuner-skopt-venv/bin/python benches/optimizers/peers.py --peers skopt --functions branin
    python3 -m venv /tmp/dbtuner-smac-venv         # SMAC3
    /tmp/dbtuner-smac-venv/bin/pip install -r benches/optimizers/requirements-smac.txt
    /tmp/dbtuner-smac-venv/bin/python benches/optimizers/peers.py --peers smac --functions branin

`--functions`, `--noise` and `--seed-range` select a part of the table, so slow peers can run
one function, noise level and a few seeds at a time; `--raw FILE` appends each run's regrets
to FILE and `--summarize FILE...` prints the table from such files.
"""

import argparse
import importlib.metadata
import json
import math
import sys
import time

import numpy as np


def branin(u):
    x1 = -5.0 + 15.0 * u[0]
    x2 = 15.0 * u[1]
    b = 5.1 / (4.0 * math.pi ** 2)
    c = 5.0 / math.pi
    t = 1.0 / (8.0 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6.0) ** 2 + 10.0 * (1.0 - t) * math.cos(x1) + 10.0


A = [[10.0, 3.0, 17.0, 3.5, 1.7, 8.0], [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
     [3.0, 3.5, 1.7, 10.0, 17.0, 8.0], [17.0, 8.0, 0.05, 10.0, 0.1, 14.0]]
P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
     [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]
ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(x):
    return -sum(ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6))) for i in range(4))


def rosenbrock10(u):
    x = [-5.0 + 15.0 * v for v in u]
    return sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2 for i in range(9))


def styblinski8(u):
    return sum(0.5 * (x ** 4 - 16.0 * x * x + 5.0 * x) for x in (-5.0 + 10.0 * v for v in u))


K0 = [0.0, 0.5, 1.0, 0.2]
K1 = [0.3, 0.0, 0.6]


def mixed(v):
    c0, c1, i0, i1, k0, k1 = v
    return (5.0 * (c0 - 0.25) ** 2 + 5.0 * (c1 - 0.6) ** 2 + 0.05 * (i0 - 7) ** 2 + 0.03 * (i1 - 2) ** 2
            + K0[k0] + K1[k1] + (0.5 * c0 if k1 == 2 else 0.0))


def mixed30(v):
    f = 0.0
    for i in range(20):
        weight = 4.0 if i < 4 else 0.05
        f += weight * (v[i] - (0.1 + 0.04 * i)) ** 2
    for i in range(5):
        f += (0.05 if i == 0 else 0.002) * (v[20 + i] - 3) ** 2
    for i in range(5):
        f += (1.0 if i == 0 else 0.05) * [0.5, 0.0, 1.0][v[25 + i]]
    return f


# A dimension: ("float", 0, 1), ("int", 0, 10) or ("cat", n_choices); values are passed to
# the function as float, int and int (choice index).
def floats(d):
    return [("float", 0.0, 1.0)] * d


MIXED6 = floats(2) + [("int", 0, 10)] * 2 + [("cat", 4), ("cat", 3)]
MIXED30 = floats(20) + [("int", 0, 10)] * 5 + [("cat", 3)] * 5

PROBLEMS = [
    ("branin", floats(2), branin, 0.397887357729738),
    ("hartmann6", floats(6), hartmann6, -3.32236801141551),
    ("rosenbrock10", floats(10), rosenbrock10, 0.0),
    ("styblinski8", floats(8), styblinski8, -39.16616570377141 * 8),
    ("mixed6", MIXED6, mixed, 0.0),
    ("mixed30", MIXED30, mixed30, 0.0),
]


class Tracker:
    """The objective as every peer sees it: adds the noise, remembers the regret of the best
    observed point after each evaluation."""

    def __init__(self, f, optimum, noise, seed):
        self.f, self.optimum, self.noise = f, optimum, noise
        self.rng = np.random.default_rng(seed * 7919 + 0xA5A5)
        self.best_obs, self.best_true, self.regrets = math.inf, math.inf, []

    def __call__(self, x):
        truth = self.f(x)
        observed = truth * (1.0 + self.noise * self.rng.standard_normal())
        if observed < self.best_obs:
            self.best_obs, self.best_true = observed, truth
        self.regrets.append(max(self.best_true - self.optimum, 0.0))
        return observed


def run_tpe(space, track, seed, evals):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def params(trial):
        out = []
        for i, dim in enumerate(space):
            if dim[0] == "float":
                out.append(trial.suggest_float(f"x{i}", dim[1], dim[2]))
            elif dim[0] == "int":
                out.append(trial.suggest_int(f"x{i}", dim[1], dim[2]))
            else:
                out.append(trial.suggest_categorical(f"x{i}", list(range(dim[1]))))
        return out

    # Optuna's defaults: 10 random startup trials, then TPE.
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    for _ in range(evals):
        trial = study.ask()
        study.tell(trial, track(params(trial)))


def run_skopt(space, track, seed, evals):
    from skopt import gp_minimize
    from skopt.space import Categorical, Integer, Real

    dims = []
    for dim in space:
        if dim[0] == "float":
            dims.append(Real(dim[1], dim[2]))
        elif dim[0] == "int":
            dims.append(Integer(dim[1], dim[2]))
        else:
            dims.append(Categorical(list(range(dim[1]))))
    # Documented defaults (gp_hedge acquisition, Matérn GP with a fitted noise term,
    # acq_optimizer="auto"), with 10 random initial points as for the other methods.
    gp_minimize(lambda x: track([int(v) if d[0] != "float" else float(v) for v, d in zip(x, space)]),
                dims, n_calls=evals, n_initial_points=10, random_state=seed)


def run_smac(space, track, seed, evals):
    import tempfile

    from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer
    from smac import BlackBoxFacade, HyperparameterOptimizationFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    cs = ConfigurationSpace(seed=seed)
    names = [f"x{i}" for i in range(len(space))]
    hps = []
    for name, dim in zip(names, space):
        if dim[0] == "float":
            hps.append(Float(name, (dim[1], dim[2])))
        elif dim[0] == "int":
            hps.append(Integer(name, (dim[1], dim[2])))
        else:
            hps.append(Categorical(name, list(range(dim[1]))))
    cs.add(hps)
    # SMAC's docs: the black-box facade (GP) for low-dimensional continuous problems, the
    # hyperparameter-optimization facade (random forest) for mixed or larger spaces.
    # deterministic=True: like every other method here, SMAC is not told about the noise
    # (otherwise its intensifier spends budget re-evaluating configurations).
    continuous = all(d[0] == "float" for d in space)
    facade = BlackBoxFacade if continuous else HyperparameterOptimizationFacade
    with tempfile.TemporaryDirectory() as out:
        scenario = Scenario(cs, deterministic=True, n_trials=evals, seed=seed, output_directory=out)
        smac = facade(scenario, target_function=lambda config, seed=0: 0.0, overwrite=True,
                      logging_level=40)
        for _ in range(evals):
            info = smac.ask()
            x = [info.config[n] for n in names]
            x = [float(v) if d[0] == "float" else int(v) for v, d in zip(x, space)]
            smac.tell(info, TrialValue(cost=track(x)))
    return facade.__name__


def version(module, distribution):
    """The installed version, or None when the peer cannot be imported here."""
    try:
        __import__(module)
        return importlib.metadata.version(distribution)
    except Exception:  # noqa: BLE001 - any import failure means "not installed here"
        return None


PEERS = {
    "tpe": ("optuna", "optuna", "Optuna TPE", run_tpe),
    "skopt": ("skopt", "scikit-optimize", "skopt gp_minimize", run_skopt),
    "smac": ("smac", "smac", "SMAC3", run_smac),
}


def fmt(v):
    """Numbers as `optimizers.rs` prints them."""
    if v == 0.0:
        return "0"
    if abs(v) >= 100.0:
        return f"{v:.0f}"
    if abs(v) >= 0.01:
        return f"{v:.3f}"
    mantissa, exponent = f"{v:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def row(name, noise, label, at20, at_n, per_run):
    q20 = np.percentile(at20, [25, 50, 75])
    qn = np.percentile(at_n, [25, 50, 75])
    return (f"| {name} | {noise * 100:g}% | {label} | {fmt(q20[1])} [{fmt(q20[0])}, {fmt(q20[2])}] "
            f"| {fmt(qn[1])} [{fmt(qn[0])}, {fmt(qn[2])}] | {per_run:.2f} |")


def exact(v):
    """Three significant digits: the verdict compares medians that can be close."""
    return f"{v:.3g}"


def summarize(paths, evals):
    """Table rows from `--raw` files (one run per line), in the order first seen; a slow peer
    can so be run a few seeds at a time and summarized once."""
    groups = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                key = (r["function"], r["noise"], r["method"])
                g = groups.setdefault(key, {})
                g[r["seed"]] = r  # a seed run twice counts once
    # Rows grouped by function (in the order first seen), then noise, then method.
    first = {}
    for name, _, label in groups:
        first.setdefault(("f", name), len(first))
        first.setdefault(("m", label), len(first))
    keys = sorted(groups, key=lambda k: (first[("f", k[0])], k[1], first[("m", k[2])]))
    print(f"| function | noise | method | regret@20 median [q1, q3] | regret@{evals} median [q1, q3] | s/run |")
    print("|---|---|---|---|---|---|")
    for name, noise, label in keys:
        runs = groups[(name, noise, label)]
        runs = [runs[s] for s in sorted(runs)]
        shown = f"{label} ({len(runs)} seeds)" if len(runs) != 20 else label
        print(row(name, noise, shown, [r["at20"] for r in runs], [r["at_n"] for r in runs],
                  sum(r["secs"] for r in runs) / len(runs)))
    # Verdict: our best method against the best peer, by median (random search is neither).
    print()
    print(f"| function | noise | at | ours, best median | best peer median | ours ≤ peer |")
    print("|---|---|---|---|---|---|")
    for fname in dict.fromkeys(k[0] for k in keys):
        for noise in sorted({k[1] for k in keys if k[0] == fname}):
            for at in ("at20", "at_n"):
                ours, peers = [], []
                for (name, nz, label), runs in groups.items():
                    if name != fname or nz != noise or label.startswith("random"):
                        continue
                    med = float(np.median([r[at] for r in runs.values()]))
                    shown = f"{label} ({len(runs)} seeds)" if len(runs) != 20 else label
                    (ours if "(ours)" in label else peers).append((med, shown))
                if ours and peers:
                    o, p = min(ours), min(peers)
                    when = 20 if at == "at20" else evals
                    print(f"| {fname} | {noise * 100:g}% | {when} | {exact(o[0])} {o[1]} | {exact(p[0])} {p[1]} "
                          f"| {'yes' if o[0] <= p[0] else '**no**'} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--seed-range", default=None, help="FIRST:END (end excluded), instead of 0:--seeds")
    ap.add_argument("--evals", type=int, default=50)
    ap.add_argument("--peers", default="tpe", help="comma-separated: tpe, skopt, smac")
    ap.add_argument("--functions", default=None, help="comma-separated function names (default: all)")
    ap.add_argument("--noise", default="0,5", help="comma-separated noise levels in percent")
    ap.add_argument("--raw", default=None, help="append each run's regrets to this file (JSON lines)")
    ap.add_argument("--summarize", nargs="+", default=None, help="print the table from --raw files")
    args = ap.parse_args()
    if args.summarize:
        summarize(args.summarize, args.evals)
        return
    functions = None if args.functions is None else set(args.functions.split(","))
    known = {name for name, *_ in PROBLEMS}
    if functions is not None and not functions <= known:
        ap.error(f"unknown function(s) {sorted(functions - known)}; use {sorted(known)}")
    noises = [float(n) / 100.0 for n in args.noise.split(",")]
    if args.seed_range is None:
        seeds = range(args.seeds)
    else:
        first, end = (int(v) for v in args.seed_range.split(":"))
        seeds = range(first, end)
    peers = []
    for key in args.peers.split(","):
        if key not in PEERS:
            ap.error(f"unknown peer {key!r}; use {', '.join(PEERS)}")
        module, distribution, label, runner = PEERS[key]
        v = version(module, distribution)
        if v is None:
            print(f"skipped {label}: `import {module}` failed in this Python (see the requirements file)",
                  file=sys.stderr)
            continue
        peers.append((f"{label} {v}", runner))
    raw = open(args.raw, "a") if args.raw else None
    print(f"| function | noise | method | regret@20 median [q1, q3] | regret@{args.evals} median [q1, q3] | s/run |")
    print("|---|---|---|---|---|---|")
    for name, space, f, optimum in PROBLEMS:
        if functions is not None and name not in functions:
            continue
        for noise in noises:
            for label, runner in peers:
                at20, at_n, secs, detail = [], [], [], None
                for s in seeds:
                    started = time.time()
                    track = Tracker(f, optimum, noise, s)
                    detail = runner(space, track, s, args.evals) or detail
                    secs.append(time.time() - started)
                    at20.append(track.regrets[19])
                    at_n.append(track.regrets[-1])
                    shown = label if detail is None else f"{label} ({detail})"
                    if raw:
                        raw.write(json.dumps({"function": name, "noise": noise, "method": shown, "seed": s,
                                              "at20": at20[-1], "at_n": at_n[-1], "secs": secs[-1]}) + "\n")
                        raw.flush()
                print(row(name, noise, shown, at20, at_n, sum(secs) / len(secs)), flush=True)


if __name__ == "__main__":
    main()
