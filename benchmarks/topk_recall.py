"""Top-k identification on a network game: how many coalition evaluations do the bandit (tmab), truncated Monte
Carlo (tmc) and plain permutation sampling need to find the k channels of largest Shapley value?

The game: every channel of the network experiment's CNN (config/config.yaml's network section: svprune's SmallCNN
[16, 32, 32] trained 20 epochs on digits; 80 channels in 3 layers), accuracy on the 288 validation images. The
reference: antithetic permutations with 10x the largest budget tried. For k = 10 and 30 and each budget, the recall
of each estimator's top k against the reference's (mean over seeds), the evaluations it spent (the bandit stops once
the top k are separated) and its wall time; then the fewest evaluations at which each reaches a mean recall of
0.9, and their ratio to permutation sampling's.

Permutation sampling also runs at --baseline-budgets (default 50,000 and 100,000), where it needs more than the
largest budget to reach the target; the reference is 10x the largest of --budgets, not of these.

    python benchmarks/topk_recall.py [--threads 2] [--seeds 3] [--budgets 1000 2000 5000 10000 20000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from svprune import shapley as sh
from svprune.data import load_splits
from svprune.games import ModuleGame
from svprune.models import SmallCNN
from svprune.settings import TrainConfig
from svprune.train import as_tensors, train

ESTIMATORS = ["tmab", "tmc", "permutation"]


def network_game():
    splits = load_splits("digits", validation_fraction=0.2)
    model = SmallCNN((1, 8, 8), [16, 32, 32], splits.n_classes, seed=0)
    train(model, *as_tensors(*splits.split("train")), 20, seed=0, config=TrainConfig(batch_size=16))
    return ModuleGame(model.eval(), "all", *as_tensors(*splits.split("validation")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budgets", type=int, nargs="+", default=[1000, 2000, 5000, 10000, 20000])
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--baseline-budgets", type=int, nargs="*", default=[50000, 100000],
                        help="further budgets for permutation sampling alone, where it needs more to reach the target "
                        "(the reference stays 10x the largest of --budgets)")
    parser.add_argument("--target", type=float, default=0.9)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    game = network_game()
    start = time.perf_counter()
    reference = sh.shapley_values(game, "antithetic", 10 * max(args.budgets), seed=12345)
    print(f"{game.n_players} channels ({', '.join(game.layers)}), {game.n_samples} samples; reference: antithetic, "
          f"{reference.n_evaluations:,} evaluations in {time.perf_counter() - start:.0f} s, largest standard error "
          f"{reference.stderr.max():.4f} (values up to {reference.values.max():.3f})")
    rows = []
    for k in args.ks:
        truth = set(np.argsort(-reference.values)[:k].tolist())
        for name in ESTIMATORS:
            for budget in args.budgets + (args.baseline_budgets if name == "permutation" else []):
                for seed in range(args.seeds):
                    start = time.perf_counter()
                    found = sh.top_k(game, k, budget, seed=seed, estimator=name) if name == "tmab" else None
                    est = found.estimate if found else sh.shapley_values(game, name, budget, seed=seed)
                    players = found.players if found else np.argsort(-est.values)[:k]
                    rows.append({"k": k, "estimator": name, "budget": budget, "seed": seed,
                                 "evaluations": est.n_evaluations, "seconds": time.perf_counter() - start,
                                 "recall": len(truth & set(players.tolist())) / k})
    runs = pd.DataFrame(rows)
    summary = runs.groupby(["k", "estimator", "budget"], sort=False)[["evaluations", "seconds", "recall"]].mean()
    print(summary.round(3).to_string())
    print(f"\nfewest evaluations (mean over {args.seeds} seeds) at a mean recall >= {args.target}:")
    for k in args.ks:
        reached = {}
        for name in ESTIMATORS:
            part = summary.loc[(k, name)]
            ok = part[part["recall"] >= args.target]
            reached[name] = (ok["evaluations"].iloc[0], ok["seconds"].iloc[0]) if len(ok) else (np.nan, np.nan)
        base = reached["permutation"][0]
        most = max(args.budgets + args.baseline_budgets)
        for name, (evals, secs) in reached.items():
            if np.isnan(evals):
                print(f"  k = {k:3d}  {name:12s} not reached within {max(args.budgets) if name != 'permutation' else most:,}")
                continue
            ratio = (f"{base / evals:5.1f}x fewer than permutation" if not np.isnan(base)
                     else f">= {most / evals:.1f}x fewer than permutation (which did not reach it)")
            print(f"  k = {k:3d}  {name:12s} {evals:9,.0f} evaluations, {secs:6.2f} s  {ratio}")


if __name__ == "__main__":
    main()
