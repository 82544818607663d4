"""What 2-SE coverage a voting game allows: permutation sampling's intervals on weighted voting games, against
intervals that know more than the sample does.

A simple game's marginal contributions are 0 or 1, so permutation sampling's estimate of player i is k_i / m, the
share of m random orders in which i pivots, a binomial proportion whose true value is i's Shapley value p_i. Per
game and budget (random orders of ``--runs`` seeds), this prints the share of players and runs whose value lies in

- svprune: +-2 of the standard errors that ``permutation`` reports (svprune.shapley): the rate posterior of a prior
  pooled over the game's players (svprune.shapley.empirical_bayes);
- true SE: +-2 true standard errors, sqrt(p_i (1 - p_i) / m): what no sample can know, since it needs the value;
- Clopper-Pearson: the exact binomial 95% interval of k_i of m, which covers at least 95% at every p_i;
- Jeffreys: the equal-tailed 95% interval of the Beta(k + 1/2, m - k + 1/2) posterior, near 95% on average over p;
- Jeffreys' length: +-2 standard errors of a quarter of the Jeffreys interval's length, symmetric around k_i / m.

svprune's, the true SE's and the last are symmetric around k_i / m, the binomial intervals are not. Where most
players pivot in a few orders of a thousand, an interval from a player's own k_i of m that covers each player at
least 95% of the time covers about every value at once; a symmetric one cannot exclude the small values that a
player seen pivotal once may still have. The game's other players can: they show how small most values are.

    python benchmarks/coverage_limits.py [--runs 200]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import beta

import svprune.shapley as sh
from svprune.games import WeightedVotingGame

GAMES = {
    "voting30": lambda: WeightedVotingGame.random(30, seed=3),
    "voting60": lambda: WeightedVotingGame.random(60, seed=0),
    "voting100": lambda: WeightedVotingGame.random(100, seed=4),
}


def intervals(k: np.ndarray, m: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The two binomial 95% intervals of k successes of m (per player)."""
    with np.errstate(invalid="ignore"):
        return {
            "Clopper-Pearson": (np.where(k > 0, beta.ppf(0.025, k, m - k + 1), 0.0),
                                np.where(k < m, beta.ppf(0.975, k + 1, m - k), 1.0)),
            "Jeffreys": (np.where(k > 0, beta.ppf(0.025, k + 0.5, m - k + 0.5), 0.0),
                         np.where(k < m, beta.ppf(0.975, k + 0.5, m - k + 0.5), 1.0)),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    print("game       evaluations  orders  svprune  true SE  Clopper-Pearson  Jeffreys  Jeffreys' length")
    for name, make in GAMES.items():
        game = make()
        n, truth = game.n_players, game.exact_values()
        for budget in (1_000, 5_000, 20_000):
            covered: dict[str, list[float]] = {label: [] for label in
                                               ("svprune", "true SE", "Clopper-Pearson", "Jeffreys", "Jeffreys' length")}
            for seed in range(args.runs):
                est = sh.shapley_values(game, "permutation", budget, seed=seed)
                m = est.n_units
                k = np.rint(est.values * m)
                if not np.allclose(k, est.values * m, atol=1e-6):
                    raise RuntimeError(f"{name}: a permutation estimate is not a share of {m} orders")
                true_se = np.sqrt(truth * (1 - truth) / m)
                covered["svprune"].append(np.mean(np.abs(est.values - truth) <= 2 * est.stderr))
                covered["true SE"].append(np.mean(np.abs(est.values - truth) <= 2 * true_se))
                for label, (low, high) in intervals(k, m).items():
                    covered[label].append(np.mean((low <= truth) & (truth <= high)))
                low, high = intervals(k, m)["Jeffreys"]
                covered["Jeffreys' length"].append(np.mean(np.abs(est.values - truth) <= (high - low) / 2))
            print(f"{name:10s} {budget:11,d} {m:7d}  " + "  ".join(
                f"{np.mean(covered[label]):{len(label)}.3f}" for label in covered), flush=True)


if __name__ == "__main__":
    main()
