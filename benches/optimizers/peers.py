"""Peer optimizers on the same functions and protocol as `benches/src/bin/optimizers.rs`.

Runs Optuna's TPE sampler (and skopt's gp_minimize / SMAC3 are not installed here: see
models/RESULTS.md). Same definitions: functions over the unit hypercube, 5% multiplicative
Gaussian noise on the observed value, regret = f(best observed point) - f*, at 20 and N
evaluations, median and quartiles over seeds. The noise stream differs from the Rust one (a
different RNG), the distribution is the same.

    python3 -m venv /tmp/dbtuner-peers-venv
    /tmp/dbtuner-peers-venv/bin/pip install -r benches/optimizers/requirements.txt
    /tmp/dbtuner-peers-venv/bin/python benches/optimizers/peers.py --seeds 20 --evals 50
"""

import argparse
import math
import time

import numpy as np
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


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


def mixed30_params(trial):
    return ([trial.suggest_float(f"c{i}", 0.0, 1.0) for i in range(20)]
            + [trial.suggest_int(f"i{i}", 0, 10) for i in range(5)]
            + [trial.suggest_categorical(f"k{i}", [0, 1, 2]) for i in range(5)])


def continuous(d):
    return lambda trial: [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(d)]


def mixed_params(trial):
    return [trial.suggest_float("c0", 0.0, 1.0), trial.suggest_float("c1", 0.0, 1.0),
            trial.suggest_int("i0", 0, 10), trial.suggest_int("i1", 0, 10),
            trial.suggest_categorical("k0", [0, 1, 2, 3]), trial.suggest_categorical("k1", [0, 1, 2])]


PROBLEMS = [
    ("branin", continuous(2), branin, 0.397887357729738),
    ("hartmann6", continuous(6), hartmann6, -3.32236801141551),
    ("rosenbrock10", continuous(10), rosenbrock10, 0.0),
    ("styblinski8", continuous(8), styblinski8, -39.16616570377141 * 8),
    ("mixed6", mixed_params, mixed, 0.0),
    ("mixed30", mixed30_params, mixed30, 0.0),
]


def run(params, f, optimum, noise, seed, evals):
    rng = np.random.default_rng(seed * 7919 + 0xA5A5)
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    best_obs, best_true, regrets = math.inf, math.inf, []
    for _ in range(evals):
        trial = study.ask()
        x = params(trial)
        truth = f(x)
        observed = truth * (1.0 + noise * rng.standard_normal())
        study.tell(trial, observed)
        if observed < best_obs:
            best_obs, best_true = observed, truth
        regrets.append(max(best_true - optimum, 0.0))
    return regrets


def fmt(v):
    if v == 0.0:
        return "0"
    if abs(v) >= 100.0:
        return f"{v:.0f}"
    if abs(v) >= 0.01:
        return f"{v:.3f}"
    return f"{v:.1e}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--evals", type=int, default=50)
    args = ap.parse_args()
    print(f"| function | noise | method | regret@20 median [q1, q3] | regret@{args.evals} median [q1, q3] | s/run |")
    print("|---|---|---|---|---|---|")
    for name, params, f, optimum in PROBLEMS:
        for noise in (0.0, 0.05):
            started = time.time()
            runs = [run(params, f, optimum, noise, s, args.evals) for s in range(args.seeds)]
            per_run = (time.time() - started) / args.seeds
            q20 = np.percentile([r[19] for r in runs], [25, 50, 75])
            qn = np.percentile([r[-1] for r in runs], [25, 50, 75])
            print(f"| {name} | {noise * 100:g}% | Optuna TPE {optuna.__version__} | {fmt(q20[1])} [{fmt(q20[0])}, {fmt(q20[2])}] "
                  f"| {fmt(qn[1])} [{fmt(qn[0])}, {fmt(qn[2])}] | {per_run:.2f} |", flush=True)


if __name__ == "__main__":
    main()
