"""2-SE coverage and error of every estimator with standard errors on games of other sizes than the study's.

The estimator study's games are what the estimators were tuned on; these are not: weighted voting games of 30 and
100 players, sums of unanimity games of 20 and 100, the hidden units of MLPs of 24 (accuracy) and 64
(cross-entropy) units and the 24 channels of a CNN's last convolution, trained on digits with other seeds. Exact
values where they exist, else one antithetic run of ``--reference-evaluations`` (its standard errors counted, as
in the study). Budgets 1,000, 5,000 and 20,000, 10 seeds, one thread.

    python benchmarks/coverage_sizes.py [--games voting30 voting100 ...] [--out benchmarks/results/coverage_sizes.csv]
"""

from __future__ import annotations

import argparse
import logging

import numba
import pandas as pd
import torch

from svprune.games import UnanimitySumGame, WeightedVotingGame
from svprune.study import channel_game, neuron_game, run_study, with_reference

ESTIMATORS = ["kernel", "leverage", "regression", "svarm", "svarm_kernel", "svarm_adaptive", "antithetic_regression", "permutation",
              "antithetic", "antithetic_samples", "tmc", "stratified", "auto"]


GAMES = {
    "voting30": lambda: WeightedVotingGame.random(30, seed=3),
    "voting100": lambda: WeightedVotingGame.random(100, seed=4),
    "unanimity20": lambda: UnanimitySumGame(20, n_terms=30, max_size=5, seed=5),
    "unanimity100": lambda: UnanimitySumGame(100, n_terms=120, max_size=12, seed=6),
    "neuron24": lambda: neuron_game(24, 7),
    "neuron64_ce": lambda: neuron_game(64, 8, "neg_cross_entropy"),
    "cnn24": lambda: channel_game([8, 24], "conv2", 9),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", default=list(GAMES), choices=list(GAMES))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--reference-evaluations", type=int, default=4_000_000)
    parser.add_argument("--out", default="benchmarks/results/coverage_sizes.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    frames = []
    for name in args.games:
        study = with_reference(name, GAMES[name](), args.reference_evaluations)
        frame = run_study(name, ESTIMATORS, [1000, 5000, 20000], range(args.seeds), study=study)
        frames.append(frame)
        table = frame.groupby(["estimator", "target_evaluations"], sort=False).agg(
            error=("relative_error", "mean"), coverage=("coverage_2se", "mean")).unstack()
        print(f"{name} ({study.game.n_players} players; reference: {study.reference_kind})")
        print(table.round(3).to_string(), flush=True)
    pd.concat(frames).to_csv(args.out, index=False)
    every = pd.concat(frames).dropna(subset=["coverage_2se"])
    cov = every.groupby(["game", "estimator", "target_evaluations"])["coverage_2se"].mean()
    print(f"coverage over every game, estimator and budget: {cov.min():.3f}-{cov.max():.3f}; below 0.90 at "
          f"{(cov < 0.9).sum()} of {len(cov)}: " + ", ".join(f"{g}/{e}/{b} {c:.3f}" for (g, e, b), c in cov[cov < 0.9].items()))


if __name__ == "__main__":
    main()
