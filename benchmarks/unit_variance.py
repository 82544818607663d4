"""How much sharing permutations between samples costs: the variance of permutation sampling's contributions on a
network game whose payoff is a sum over samples (a count of correct samples, or their mean log-likelihood), when
every sample walks the same permutations, against groups of samples walking permutations of their own.

The payoff is the sum of the samples' own payoffs, so the Shapley values are the sum of the samples' own, and each
sample's (or group's) estimate may come from permutations of its own. One permutation's contributions of player i
summed over samples have variance sum_s Var_s + sum_{s != t} Cov_st; independent groups keep only the covariances
within a group. This script computes every sample's correctness along random permutations in float64 (numpy, not
svprune's kernels) and prints, for each grouping, the sum over players of the variance of one permutation's
contributions, and its ratio to the shared walk's: at equal evaluations, the factor by which independent groups
cut the estimate's variance.

    python benchmarks/unit_variance.py [--game neuron40 | channels32 | neuron40_ce] [--permutations 2000]
"""

from __future__ import annotations

import argparse

import numpy as np

from svprune.kernels import UNIT
from svprune.study import make_game


def per_sample_contributions(data, permutations: int, seed: int, log_likelihood: bool = False) -> np.ndarray:
    """contrib[p, i, s]: player i's contribution to sample s's correctness (or its label's log-likelihood) in
    permutation p (float64 margins)."""
    rng = np.random.default_rng(seed)
    n, y = data.n_players, data.y
    if data.rank_one:
        terms = np.einsum("sjc,js->jcs", data.d[y].astype(float), data.h.astype(float))  # margins, (n, C, N)
        base = data.m0[y].T.astype(float)
    else:
        terms, base = data.d.astype(float), data.m0.astype(float)
    classes = np.arange(base.shape[0])[:, None]
    below, above = classes < y[None], classes > y[None]
    out = np.zeros((permutations, n, len(y)))
    for p in range(permutations):
        perm = rng.permutation(n)
        margins = base[None] + np.concatenate([np.zeros((1, *base.shape)), np.cumsum(terms[perm], 0)])
        if log_likelihood:  # margins: 0 on the label's row
            value = -np.log(np.exp(margins).sum(1))  # (n + 1, N)
        else:
            lo = np.where(below, margins, -np.inf).max(1)
            hi = np.where(above, margins, -np.inf).max(1)
            value = ((lo < 0) & (hi <= 0)).astype(float)
        out[p, perm] = np.diff(value, axis=0)
    return out


def grouped_variance(contrib: np.ndarray, groups: np.ndarray) -> float:
    """Sum over players of the variance of one permutation's contributions when each group walks its own."""
    total = 0.0
    for g in np.unique(groups):
        total += contrib[:, :, groups == g].sum(2).var(0).sum()
    return float(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="neuron40")
    parser.add_argument("--permutations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    game = make_game(args.game)
    data = game._kernel_data
    contrib = per_sample_contributions(data, args.permutations, args.seed, game.measure == "neg_cross_entropy")
    y, samples = data.y, len(data.y)
    shared = grouped_variance(contrib, np.zeros(samples, int))
    within = np.concatenate([np.arange(c) // UNIT + 10_000 * label for label, c in zip(*np.unique(y, return_counts=True))])
    svprune_units = np.empty(samples, int)
    for k, unit in enumerate(data.unit_lanes):
        svprune_units[unit[unit >= 0]] = k
    rows = [("shared (every sample on the same permutations)", shared),
            ("one group per label", grouped_variance(contrib, y)),
            (f"units of {UNIT} samples of one label", grouped_variance(contrib, within)),
            (f"units of {UNIT} samples, labels mixed (svprune's)", grouped_variance(contrib, svprune_units)),
            ("every sample on its own", grouped_variance(contrib, np.arange(samples)))]
    print(f"{args.game} ({game.measure}): {game.n_players} players, {samples} samples, {args.permutations} permutations")
    print("| grouping | sum of variances | shared / this |")
    print("| --- | --- | --- |")
    for name, var in rows:
        print(f"| {name} | {var:.5f} | {shared / var:.1f} |")


if __name__ == "__main__":
    main()
