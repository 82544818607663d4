"""How estimators scale with the number of players: wall time and relative L2 error of one estimate at a fixed
budget, on sums of unanimity games (closed-form values) of 10 to 2,000 players; and, on a network game of as many
players, the estimator's own time (the estimate's time less the time spent in the game's ``value``).

    python benchmarks/estimator_scaling.py --estimators regression kernel leverage svarm antithetic --budget 20000

numpy's BLAS on all cores (2 on this project's machine), torch on one thread. The unanimity game of n players is a
sum of max(10, n/2) unanimity games of up to 4 players (seed 0). The network game is a ModuleGame over every unit
of an untrained MLP with two hidden layers of n/2 units on 32 random samples (a many-layer game without a fast
walk, so every coalition is a forward pass). An estimator that needs more than the budget at some n says so and is
skipped there.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from svprune import shapley as sh
from svprune.games import ModuleGame, UnanimitySumGame
from svprune.models import MLP

PLAYERS = [10, 40, 60, 100, 200, 500, 1000, 2000]


class Timed:
    """A game whose ``value`` calls are timed (a plain object: the estimators take any game with n_players and
    value)."""

    def __init__(self, game):
        self.game, self.n_players, self.seconds = game, game.n_players, 0.0

    def value(self, coalitions):
        start = time.perf_counter()
        out = self.game.value(coalitions)
        self.seconds += time.perf_counter() - start
        return out


def network_game(n: int) -> ModuleGame:
    model = MLP(16, [n // 2, n - n // 2], 10, seed=0).eval()
    x = torch.randn(32, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(1)
    return ModuleGame(model, "all", x, y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimators", nargs="+", default=["regression", "kernel", "leverage", "svarm", "antithetic"])
    parser.add_argument("--budget", type=int, default=20_000)
    parser.add_argument("--players", type=int, nargs="+", default=PLAYERS)
    parser.add_argument("--no-network", action="store_true", help="the unanimity games only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"players  estimator              seconds  relative error | network game: seconds, of which the estimator"
          f"   ({args.budget:,} coalition evaluations)")
    for n in args.players:
        game = UnanimitySumGame(n, n_terms=max(10, n // 2), max_size=4, seed=0)
        truth = game.exact_values()
        network = None if args.no_network else network_game(n)
        for name in args.estimators:
            start = time.perf_counter()
            try:
                est = sh.shapley_values(game, name, args.budget, seed=0)
            except ValueError as err:
                print(f"{n:7d}  {name:21s}  needs more: {err}")
                continue
            seconds = time.perf_counter() - start
            error = np.linalg.norm(est.values - truth) / np.linalg.norm(truth)
            line = f"{n:7d}  {name:21s}  {seconds:7.2f}  {error:14.3f}"
            if network is not None:
                timed = Timed(network)
                start = time.perf_counter()
                sh.shapley_values(timed, name, args.budget, seed=0)
                total = time.perf_counter() - start
                line += f" | {total:7.2f}  {total - timed.seconds:7.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
