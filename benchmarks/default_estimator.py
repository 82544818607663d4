"""Which estimator should a pruning walk use? Error at equal wall time on the games of a walk's steps.

    python benchmarks/default_estimator.py --out benchmarks/results/default_estimator.csv

The games are those the default study's walks value: the hidden units of its root model (config/config.yaml:
digits, 40 units, its training settings, seed 0), with the accuracy payoff on the validation split; and the same
model after a walk has pruned it to 20 and to 10 units (the units of smallest incoming-weight norm removed, then
one retraining epoch, as a walk step does). Reference values: exact for 20 units, else one long run of
antithetic permutations per unit of samples (``antithetic_samples``, the most precise per evaluation on these
games; its standard errors are printed). Every estimator runs at budgets doubling from 500 coalition evaluations until
an estimate takes longer than SLOWEST seconds (or 2,048,000 evaluations), over several seeds; its wall time and
relative L2 error are recorded, and the error at equal time is read off each estimator's error-time curve
(log-log interpolation between budgets; beyond its largest budget, that budget's error). The printed table is
the error at each time, and its geometric mean relative to the best estimator at that time; the estimator with
the lowest geometric mean is the one a walk should use (svprune.registry.ESTIMATORS.default).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from svprune import shapley as sh
from svprune.data import load_splits
from svprune.games import NeuronGame
from svprune.models import MLP, incoming_weight_norms, remove_units
from svprune.registry import ESTIMATORS
from svprune.settings import train_config
from svprune.train import as_tensors, train

REPO = Path(__file__).resolve().parents[1]
BUDGETS = [500 * 2**k for k in range(13)]  # 500 to 2,048,000 coalition evaluations
TIMES = [0.01, 0.03, 0.1, 0.3]  # seconds per estimate: a walk step's share of a 5-minute run, and more
SLOWEST = 0.6  # an estimator's budgets stop growing once an estimate takes longer than this (seconds)


def walk_games(seed: int = 0) -> dict[int, NeuronGame]:
    """The games of a default walk's steps at 40 and 20 units (below 16, every budget here enumerates exactly)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    splits = load_splits(**config["dataset"])
    x, y = as_tensors(splits.x_train, splits.y_train)
    settings = train_config(config["training"])
    model = MLP(splits.n_features, [config["model"]["hidden"]], splits.n_classes, seed=seed)
    train(model, x, y, config["training"]["root_epochs"], seed=seed, config=settings)
    games = {40: NeuronGame(model, splits.x_val, splits.y_val)}
    for width in (20,):
        norms = incoming_weight_norms(model, 0).numpy()
        model = remove_units(model, 0, np.argsort(norms)[: model.hidden_sizes[0] - width])
        train(model, x, y, 1, seed=seed, config=settings)
        games[width] = NeuronGame(model, splits.x_val, splits.y_val)
    return games


def reference(game) -> tuple[np.ndarray, float]:
    if game.n_players <= 20:
        return sh.exact(game).values, 0.0
    est = sh.shapley_values(game, "antithetic_samples", 16_000_000, seed=10**6)
    return est.values, float(np.linalg.norm(est.stderr) / np.linalg.norm(est.values))


def measure(games, estimators, seeds) -> pd.DataFrame:
    rows = []
    for n, game in games.items():
        truth, ref_error = reference(game)
        print(f"{n} units: reference {'exact' if not ref_error else f'antithetic_samples, relative SE norm {ref_error:.4f}'}",
              flush=True)
        for name in estimators:
            for budget in BUDGETS:
                if budget >= 2**n:
                    break  # enumerated exactly: nothing left to compare
                times = []
                for seed in seeds:
                    start = time.perf_counter()
                    try:
                        est = sh.shapley_values(game, name, budget, seed=seed)
                    except ValueError:
                        break  # needs more than this budget
                    seconds = time.perf_counter() - start
                    times.append(seconds)
                    error = np.linalg.norm(est.values - truth) / np.linalg.norm(truth)
                    rows.append({"players": n, "estimator": name, "budget": budget, "seed": seed,
                                 "seconds": seconds, "relative_error": error})
                if times and np.mean(times) > SLOWEST:
                    break
    return pd.DataFrame(rows)


def at_equal_time(results: pd.DataFrame) -> pd.DataFrame:
    """Error of each estimator at each time of TIMES, per game (NaN where its curve does not reach that time)."""
    rows = []
    for (n, name), group in results.groupby(["players", "estimator"]):
        curve = group.groupby("budget")[["seconds", "relative_error"]].mean().sort_values("seconds")
        t, e = np.log(curve["seconds"].to_numpy()), np.log(curve["relative_error"].to_numpy())
        for target in TIMES:  # np.interp holds the last error beyond the largest budget
            reached = np.log(target) >= t[0]
            rows.append({"players": n, "estimator": name, "seconds": target,
                         "relative_error": float(np.exp(np.interp(np.log(target), t, e))) if reached else np.nan})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--estimators", nargs="+", default=[e for e in ESTIMATORS if e not in ("exact", "subset")])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = measure(walk_games(), args.estimators, range(args.seeds))
    if args.out:
        results.to_csv(args.out, index=False)
    timed = at_equal_time(results)
    table = timed.pivot_table(index="estimator", columns=["players", "seconds"], values="relative_error")
    best = table.min(axis=0)
    ratio = np.exp(np.log(table / best).mean(axis=1, skipna=True))
    table[("all", "vs best (geo. mean)")] = ratio
    pd.set_option("display.width", 200)
    print("relative L2 error at equal wall time (columns: units, seconds per estimate); 1 thread")
    print(table.sort_values(("all", "vs best (geo. mean)")).round(4).to_string())
    print(f"lowest error at equal time: {ratio.idxmin()} (the registry's default: {ESTIMATORS.default})")


if __name__ == "__main__":
    main()
