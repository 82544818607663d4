"""How estimators scale with the number of players: wall time and relative L2 error of one estimate at a fixed
budget, on sums of unanimity games (closed-form values) of 10 to 2,000 players.

    python benchmarks/estimator_scaling.py --estimators regression svarm antithetic --budget 20000

One thread; the game of n players is a sum of max(10, n/2) unanimity games of up to 4 players (seed 0). An
estimator that needs more than the budget at some n says so and is skipped there.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from svprune import shapley as sh
from svprune.games import UnanimitySumGame

PLAYERS = [10, 40, 60, 100, 200, 500, 1000, 2000]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimators", nargs="+", default=["regression", "svarm", "antithetic"])
    parser.add_argument("--budget", type=int, default=20_000)
    parser.add_argument("--players", type=int, nargs="+", default=PLAYERS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"players  estimator  seconds  relative error   ({args.budget:,} coalition evaluations, one thread)")
    for n in args.players:
        game = UnanimitySumGame(n, n_terms=max(10, n // 2), max_size=4, seed=0)
        truth = game.exact_values()
        for name in args.estimators:
            start = time.perf_counter()
            try:
                est = sh.shapley_values(game, name, args.budget, seed=0)
            except ValueError as err:
                print(f"{n:7d}  {name:9s}  needs more: {err}")
                continue
            seconds = time.perf_counter() - start
            error = np.linalg.norm(est.values - truth) / np.linalg.norm(truth)
            print(f"{n:7d}  {name:9s}  {seconds:7.2f}  {error:.3f}", flush=True)


if __name__ == "__main__":
    main()
