"""Permutation estimators: the paper's permutation sampling (eq. 4), antithetic permutations, and antithetic
permutations with a regression adjustment, all fed by permutation prefixes (the games' fast walk).

A permutation costs n-1 coalition evaluations (its prefixes of 1..n-1 players; v(empty) and v(U) are known).
"""

from __future__ import annotations

import numpy as np

from svprune.shapley.base import PERMUTATION_BATCH, Estimator, Oracle


def random_permutations(rng: np.random.Generator, count: int, n: int, antithetic: bool) -> np.ndarray:
    """``count`` random permutations of 0..n-1; antithetic: each followed by its reverse (count even)."""
    if not antithetic:
        return rng.permuted(np.tile(np.arange(n), (count, 1)), axis=1)
    half = rng.permuted(np.tile(np.arange(n), ((count + 1) // 2, 1)), axis=1)
    both = np.empty((2 * len(half), n), dtype=half.dtype)
    both[0::2] = half
    both[1::2] = half[:, ::-1]
    return both[:count]


def marginals(perms: np.ndarray, prefix_values: np.ndarray) -> np.ndarray:
    """contrib[p, i]: player i's marginal contribution in permutation p, from the payoffs of its prefixes."""
    contrib = np.empty(perms.shape)
    contrib[np.arange(len(perms))[:, None], perms] = np.diff(prefix_values, axis=1)
    return contrib


class _Moments:
    """Running mean and standard error of i.i.d. sampling units (permutations, or antithetic pairs)."""

    def __init__(self, n: int):
        self.sum, self.sq, self.count = np.zeros(n), np.zeros(n), 0

    def add(self, units: np.ndarray) -> None:
        self.sum += units.sum(0)
        self.sq += (units**2).sum(0)
        self.count += len(units)

    @property
    def mean(self) -> np.ndarray:
        return self.sum / max(self.count, 1)

    @property
    def stderr(self) -> np.ndarray:
        if self.count < 2:
            return np.full(len(self.sum), np.nan)
        var = np.maximum(self.sq - self.count * self.mean**2, 0.0) / (self.count - 1)
        return np.sqrt(var / self.count)


class Permutation(Estimator):
    """Permutation sampling (the paper's eq. 4): the mean marginal contribution over random orders, with the
    standard error of that mean. Efficiency holds by construction."""

    name = "permutation"
    antithetic = False

    def min_budget(self, n: int) -> int:
        return 2 + self.per_unit(n)

    def per_unit(self, n: int) -> int:
        """Evaluations of one sampling unit: a permutation, or an antithetic pair."""
        return (2 if self.antithetic else 1) * max(n - 1, 0)

    def _units(self, perms: np.ndarray, prefix_values: np.ndarray) -> np.ndarray:
        contrib = marginals(perms, prefix_values)
        return 0.5 * (contrib[0::2] + contrib[1::2]) if self.antithetic else contrib

    def _run(self, oracle: Oracle, rng, tolerance: float | None = None, min_units: int = 16):
        n = oracle.n
        moments = _Moments(n)
        per_unit = self.per_unit(n)
        units_left = oracle.left // per_unit if per_unit else 1
        per_batch = PERMUTATION_BATCH // (2 if self.antithetic else 1)
        while units_left > 0:
            count = min(per_batch, units_left)
            perms = random_permutations(rng, count * (2 if self.antithetic else 1), n, self.antithetic)
            moments.add(self._units(perms, oracle.prefixes(perms)))
            units_left -= count
            if tolerance is not None and moments.count >= min_units and moments.stderr.max() <= tolerance:
                break
        n_perms = moments.count * (2 if self.antithetic else 1)
        return moments.mean, moments.stderr, n_perms, {}

    def _adaptive(self, game, budget, rng, tolerance):
        """Sample in batches until every standard error is at most ``tolerance`` (after 16 units)."""
        oracle = Oracle(game, budget)
        values, stderr, n_perms, extra = self._run(oracle, rng, tolerance)
        return self._record(oracle, values, stderr, n_perms, {**extra, "tolerance": tolerance})


class Antithetic(Permutation):
    """Antithetic permutations: every permutation paired with its reverse (a player early in one is late in
    the other); standard errors from the pair means."""

    name = "antithetic"
    antithetic = True


class AntitheticRegression(Antithetic):
    """Antithetic permutations with a regression adjustment (control variates fitted by regression, in the
    spirit of Witter, Liu and Musco, NeurIPS 2025), fed by permutation prefixes so that it rides the games' fast
    permutation walk.

    A pair's mean marginal contribution of player i is regressed on where i stood in the pair: the features
    w, w^2, w^3 of w = (2 pos / (n-1) - 1)^2 (the same for a permutation and its reverse), whose expectation
    under uniform positions is known exactly; phi_i = mean(unit - beta (features - E[features])). An additive
    surrogate (linear or pairwise) would not help here: its pair-mean marginal is the same constant for every
    pair, which antithetic pairing already cancels. The coefficients are cross-fitted (K folds of pairs; the
    coefficients that adjust a fold are fitted on the others), so each fold's estimate is unbiased; standard
    errors from the per-fold variances of the adjusted units. Fewer regressors when few pairs train them."""

    name = "antithetic_regression"
    folds = 5
    degree = 3
    pairs_per_regressor = 10

    def min_budget(self, n: int) -> int:
        return 2 + 2 * self.per_unit(n)  # two pairs: two folds

    def _run(self, oracle: Oracle, rng, tolerance: float | None = None, min_units: int = 16):
        n = oracle.n
        pairs = oracle.left // self.per_unit(n)
        perms = random_permutations(rng, 2 * pairs, n, antithetic=True)
        units = np.concatenate([self._units(batch, oracle.prefixes(batch))
                                for batch in np.split(perms, range(PERMUTATION_BATCH, len(perms), PERMUTATION_BATCH))])
        pos = np.empty_like(perms[0::2])
        np.put_along_axis(pos, perms[0::2], np.arange(n)[None, :].repeat(pairs, 0), axis=1)
        k = min(self.folds, pairs)
        degree = int(min(self.degree, pairs * (k - 1) // k // self.pairs_per_regressor))
        w = (2 * pos / max(n - 1, 1) - 1) ** 2
        every = (2 * np.arange(n) / max(n - 1, 1) - 1) ** 2
        powers = np.arange(1, degree + 1)
        features = w[..., None] ** powers - (every[:, None] ** powers).mean(0)  # centred at the exact mean
        fold = rng.permutation(np.arange(pairs) % k)
        estimates, variances = [], []
        for f in range(k):
            train, test = fold != f, fold == f
            beta = np.zeros((n, degree))
            for i in range(n) if degree else ():
                x = features[train, i] - features[train, i].mean(0)
                beta[i] = np.linalg.lstsq(x, units[train, i] - units[train, i].mean(), rcond=None)[0]
            adjusted = units[test] - np.einsum("pid,id->pi", features[test], beta)
            estimates.append(adjusted.mean(0))
            variances.append(adjusted.var(0, ddof=1) / len(adjusted) if len(adjusted) > 1 else np.full(n, np.nan))
        values = np.mean(estimates, axis=0)
        stderr = np.sqrt(np.sum(variances, axis=0)) / k
        return values, stderr, len(perms), {"folds": k, "regressors": degree}

    def _adaptive(self, game, budget, rng, tolerance):
        return Estimator._adaptive(self, game, budget, rng, tolerance)
