"""Antithetic permutations with a regression adjustment: control variates fitted by regression on where each
player stood, riding the games' fast permutation walk."""

from __future__ import annotations

import numpy as np

from svprune.games.base import positions
from svprune.shapley.base import Estimator, Oracle, Run, fold_stderr, rare_event_floor, unvaried
from svprune.shapley.empirical_bayes import rare_jump_stderr
from svprune.shapley.permutation.sampler import PermutationSampler


class AntitheticRegression(Estimator):
    """Antithetic permutations with a regression adjustment (control variates fitted by regression, in the
    spirit of Witter, Liu and Musco, "Regression-adjusted Monte Carlo estimators for Shapley values and
    probabilistic values", NeurIPS 2025), fed by permutation prefixes so that it rides the games' fast walk.

    A pair's mean marginal contribution of player i is regressed on where i stood in the pair: the features
    w, w^2, w^3 of w = (2 pos / (n-1) - 1)^2 (the same for a permutation and its reverse), whose expectation
    under uniform positions is known exactly; phi_i = mean(unit - beta (features - E[features])). An additive
    surrogate (linear or pairwise) would not help here: its pair-mean marginal is the same constant for every
    pair, which antithetic pairing already cancels. The coefficients are cross-fitted (K folds of pairs; the
    coefficients that adjust a fold are fitted on the others), so each fold's estimate is unbiased; standard
    errors from the per-fold variances of the adjusted units. Fewer regressors when few pairs train them.
    With a tolerance, the base's pooled rounds."""

    name = "antithetic_regression"
    sampler = PermutationSampler(antithetic=True)
    folds = 5
    degree = 3
    pairs_per_regressor = 10

    def min_budget(self, n: int) -> int:
        return 2 + 2 * self.sampler.per_unit(n)  # two pairs: two folds

    def _run(self, oracle: Oracle, rng) -> Run:
        n = oracle.n
        pairs = oracle.left // self.sampler.per_unit(n)
        units, perms = self.sampler.units(oracle, rng, pairs)
        pos = positions(perms[0::2])
        k = min(self.folds, pairs)
        degree = int(min(self.degree, pairs * (k - 1) // k // self.pairs_per_regressor))
        w = (2 * pos / max(n - 1, 1) - 1) ** 2
        every = (2 * np.arange(n) / max(n - 1, 1) - 1) ** 2
        powers = np.arange(1, degree + 1)
        features = w[..., None] ** powers - (every[:, None] ** powers).mean(0)  # centred at the exact mean
        fold = rng.permutation(np.arange(pairs) % k)
        estimates, folds = [], []
        for f in range(k):
            train, test = fold != f, fold == f
            beta = np.zeros((n, degree))
            for i in range(n) if degree else ():
                x = features[train, i] - features[train, i].mean(0)
                beta[i] = np.linalg.lstsq(x, units[train, i] - units[train, i].mean(), rcond=None)[0]
            adjusted = units[test] - np.einsum("pid,id->pi", features[test], beta)
            estimates.append(adjusted.mean(0))
            folds.append(adjusted)
        values = np.mean(estimates, axis=0)
        spread = float(units.max() - units.min()) if units.size else 0.0
        # a player whose units all agree gets the floor of the whole sample: a rare contribution unseen in all of it;
        # where they are all exactly zero (never seen jumping), the posterior of its rate given the other players'
        # (the permutation family's empirical Bayes standard error, as a variance of one unit)
        agree = unvaried(np.ptp(units, axis=0), spread)
        floor = np.where(agree, rare_event_floor(spread, pairs), 0.0)
        zeros = (units == 0).sum(0)
        if np.any(agree & (zeros == pairs)):
            rare = rare_jump_stderr(np.full(n, pairs), zeros, units.sum(0), (units**2).sum(0))
            floor = np.where(agree & (zeros == pairs), rare**2 * pairs, floor)
        stderr = fold_stderr(folds, n, floor=lambda m: floor)  # never NaN, never 0 by chance
        return Run(values, stderr, len(perms), {"folds": k, "regressors": degree})
