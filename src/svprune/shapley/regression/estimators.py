"""Regression estimators: KernelSHAP with paired sampling and the efficiency constraint (Lundberg and Lee 2017;
Covert and Lee 2021), Leverage SHAP (Musco and Witter, ICLR 2025), and regression-adjusted Monte Carlo (Witter,
Liu and Musco, NeurIPS 2025). All three draw their coalitions from a :mod:`~svprune.shapley.design`: sizes
enumerated where the budget covers them, the rest sampled in complementary pairs.
"""

from __future__ import annotations

import numpy as np

from svprune.shapley.base import Estimator, Oracle, Run, fold_stderr, log_weights, student_stderr
from svprune.shapley.design import (
    build,
    kernel_size_weights,
    log_shapley_kernel,
    min_budget,
    uniform_size_weights,
)
from svprune.shapley.regression.surrogate import AdditiveSurrogate
from svprune.shapley.regression.weighted import KernelRegression


def _pair_sums(terms: np.ndarray) -> np.ndarray:
    """Per sampled pair, the sum of its two rows' terms (each row's terms carry the design weight 1/(2 m q));
    ``terms``: the rows of whole pairs, in the design's order (a pair's two rows are consecutive)."""
    return terms.reshape(-1, 2, terms.shape[1]).sum(1)


MAX_GROUPS = 256
"""Standard errors of the kernel estimators from at most this many group means of the sampled pairs: the influence
of a pair costs a solve with the n x n Gram matrix, so 10,000 pairs of 2,000 players would cost 10,000 of them."""


def group_means(units: np.ndarray, groups: int = MAX_GROUPS) -> tuple[np.ndarray, np.ndarray]:
    """Means of consecutive groups of i.i.d. units (rows), at most ``groups`` of them, and their sizes."""
    parts = np.array_split(units, min(groups, len(units)))
    return np.stack([p.mean(0) for p in parts]), np.array([len(p) for p in parts])


def batch_stderr(means: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Standard error of the mean of all units from group means of ``sizes`` units each (batch means): the units'
    variance is sum_g size_g (mean_g - mean)^2 / (groups - 1), unbiased for equal sizes (here they differ by at
    most one unit); with one unit per group, the plain sample variance. Widened for its groups - 1 degrees of
    freedom (:func:`~svprune.shapley.base.student_stderr`)."""
    total = sizes.sum()
    overall = (sizes[:, None] * means).sum(0) / total
    variance = (sizes[:, None] * (means - overall) ** 2).sum(0) / (len(sizes) - 1)
    return student_stderr(np.sqrt(variance / total), len(sizes) - 1)


class KernelSHAP(Estimator):
    """KernelSHAP: the Shapley values as the solution of a weighted least-squares problem over coalitions
    (weights mu(S) = (n-1)/(C(n,|S|)|S|(n-|S|))), with the efficiency constraint sum phi = v(U) - v(empty)
    imposed exactly, coalitions sampled in complementary pairs with probability proportional to their kernel
    weight, and complete sizes enumerated where the budget allows. Standard errors by the delta method of the
    constrained solution (the per-pair influence M z (v(S) - v(empty) - z.phi), as in Covert and Lee 2021)."""

    name = "kernel"

    def size_weights(self, n: int) -> np.ndarray:
        return kernel_size_weights(n)

    def min_budget(self, n: int) -> int:
        return min_budget(n)

    def _run(self, oracle: Oracle, rng):
        n = oracle.n
        d = build(oracle, rng, self.size_weights(n))
        w = np.exp(d.log_weights + log_shapley_kernel(n, d.coalitions.sum(1)))
        regression = KernelRegression(d.coalitions, w)
        target = d.payoffs - oracle.empty
        coefficients = regression.fit(target, oracle.grand - oracle.empty)
        if d.n_pairs > 1:
            # each pair's own estimate of the sum: M [z, q] w r summed over its two rows (M: the constrained
            # solution's matrix), applied to group means of the pairs (M is linear; see batch_stderr)
            residual = (w * (target - regression.predict(coefficients)))[d.sampled]
            rows = np.concatenate([d.coalitions[d.sampled], regression.terms[d.sampled]], axis=1)
            means, sizes = group_means(_pair_sums(rows * residual[:, None]) * d.n_pairs)
            influence = regression.shapley(regression.constrained(means.T, refine=False).T)
            stderr = batch_stderr(influence, sizes)
        else:
            stderr = np.zeros(n) if not d.sampled.any() else np.full(n, np.inf)  # one pair: no variance to estimate
        return Run(regression.shapley(coefficients), stderr, len(d.coalitions),
                   {"complete_sizes": d.complete_sizes, "pairs": d.n_pairs, "size_terms": regression.terms.shape[1]})


class LeverageSHAP(KernelSHAP):
    """Leverage SHAP (Musco and Witter, ICLR 2025): the KernelSHAP regression with coalitions sampled by their
    leverage scores, which makes every coalition size equally likely, in complementary pairs, with the
    efficiency constraint exact. Same regression and standard errors as :class:`KernelSHAP`."""

    name = "leverage"

    def size_weights(self, n: int) -> np.ndarray:
        return uniform_size_weights(n)


def shapley_coefficients(n: int, coalitions: np.ndarray, log_scale: np.ndarray | None = None) -> np.ndarray:
    """a[S, i] with phi_i(v) = sum_S a[S, i] v(S): +w(|S|-1) for i in S, -w(|S|) for i not in S, where
    w(s) = s!(n-s-1)!/n!; each row multiplied by exp(log_scale) (computed in logs: w is tiny where the design
    weight is huge)."""
    sizes = coalitions.sum(1)
    log_w = log_weights(n)
    scale = np.zeros(len(coalitions)) if log_scale is None else log_scale
    plus = np.exp(log_w[np.clip(sizes - 1, 0, n - 1)] + scale)[:, None]
    minus = np.exp(log_w[np.clip(sizes, 0, n - 1)] + scale)[:, None]
    return np.where(coalitions, plus, -minus)


class RegressionMC(Estimator):
    """Regression-adjusted Monte Carlo (Witter, Liu and Musco, NeurIPS 2025): phi(v) = phi(f) + phi(v - f) for
    a surrogate f fitted to the sampled payoffs whose Shapley values are exact (an additive model, with pairwise
    terms when the budget can fit them); phi(v - f) by the unbiased importance-sampling sum over coalitions
    (maximum sample reuse: every sample informs every player), over the design's enumerated sizes exactly and
    its paired uniform-size samples. Cross-fitted over K folds of pairs (the surrogate correcting a fold never
    saw it), so each fold's estimate is unbiased; standard errors from the per-fold variances of the pair
    terms."""

    name = "regression"
    folds = 5

    def min_budget(self, n: int) -> int:
        return min_budget(n)

    def _run(self, oracle: Oracle, rng):
        n = oracle.n
        d = build(oracle, rng, uniform_size_weights(n))
        k = max(1, min(self.folds, d.n_pairs))
        pair_fold = rng.permutation(np.arange(d.n_pairs) % k)
        row_fold = np.where(d.sampled, pair_fold[np.maximum(d.pair, 0)], -1)
        surrogate = AdditiveSurrogate(n, len(d.coalitions) * (k - 1) // k if k > 1 else len(d.coalitions))
        x = surrogate.features(d.coalitions)
        gram, rhs = surrogate.end_moments(oracle.empty, oracle.grand)
        by_fold = []  # each fold's rows' Gram matrix and right-hand side; the enumerated rows are in every fit
        for f in range(-1, k):
            rows = row_fold == f
            by_fold.append((surrogate.gram(x[rows]), x[rows].T @ d.payoffs[rows]))
        gram = gram + sum(g for g, _ in by_fold)
        rhs = rhs + sum(r for _, r in by_fold)
        ends = np.stack([np.zeros(n, dtype=bool), np.ones(n, dtype=bool)])
        enumerated = ~d.sampled
        coef_rows = shapley_coefficients(n, d.coalitions[enumerated])  # design weight 1
        coef_ends = shapley_coefficients(n, ends)
        estimates, folds = [], []
        for f in range(k):
            mine = row_fold == f  # sampled rows only: whole pairs, in order
            fit = surrogate.solve(gram - by_fold[f + 1][0], rhs - by_fold[f + 1][1]) if k > 1 \
                else surrogate.solve(gram, rhs)
            end_residual = np.array([oracle.empty, oracle.grand]) - fit.predict(ends)
            exact_part = coef_ends.T @ end_residual + coef_rows.T @ (d.payoffs[enumerated] - x[enumerated] @ fit.coef)
            if mine.any():
                residual = d.payoffs[mine] - x[mine] @ fit.coef
                weighted = shapley_coefficients(n, d.coalitions[mine], d.log_weights[mine])  # a(S) c(S)
                per_pair = _pair_sums(weighted * residual[:, None]) * d.n_pairs  # one pair's estimate of the sum
                sampled_part = per_pair.mean(0)
            else:  # every coalition of this fold's share was enumerated: no sampling error
                per_pair, sampled_part = np.zeros((0, n)), np.zeros(n)
            estimates.append(fit.shapley() + exact_part + sampled_part)
            folds.append(per_pair)
        values = np.mean(estimates, axis=0)
        stderr = fold_stderr(folds, n) if any(len(f) for f in folds) else np.zeros(n)
        return Run(values, stderr, len(d.coalitions), {"complete_sizes": d.complete_sizes, "pairs": d.n_pairs,
                                                   "folds": k, "surrogate": surrogate.kind})
