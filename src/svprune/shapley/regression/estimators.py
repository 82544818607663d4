"""Regression estimators: KernelSHAP with paired sampling and the efficiency constraint (Lundberg and Lee 2017;
Covert and Lee 2021), Leverage SHAP (Musco and Witter, ICLR 2025), and regression-adjusted Monte Carlo (Witter,
Liu and Musco, NeurIPS 2025). All three draw their coalitions from a :mod:`~svprune.shapley.design`: sizes
enumerated where the budget covers them, the rest sampled in complementary pairs.
"""

from __future__ import annotations

import numpy as np

from svprune.shapley.base import Estimator, Oracle, Run, fold_stderr, log_weights
from svprune.shapley.design import (
    Design,
    build,
    kernel_size_weights,
    log_shapley_kernel,
    min_budget,
    uniform_size_weights,
)
from svprune.shapley.regression.surrogate import AdditiveSurrogate


def _pair_means(design: Design, terms: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per sampled pair (among ``rows``), the sum of its two rows' terms (each row's terms carry the design
    weight 1/(2 m q))."""
    pairs = design.pair[rows]
    out = np.zeros((design.n_pairs, terms.shape[1]))
    np.add.at(out, pairs, terms[rows])
    return out[np.unique(pairs)]


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
        z = d.coalitions.astype(float)
        w = np.exp(d.log_weights + log_shapley_kernel(n, d.coalitions.sum(1)))
        target = d.payoffs - oracle.empty
        a = (z * w[:, None]).T @ z
        b = (z * w[:, None]).T @ target
        a_inv = np.linalg.pinv(a)
        ones = np.ones(n)
        denom = ones @ a_inv @ ones
        total = oracle.grand - oracle.empty
        phi = a_inv @ b - a_inv @ ones * ((ones @ a_inv @ b - total) / denom)
        if d.n_pairs > 1:
            m_mat = a_inv - np.outer(a_inv @ ones, ones @ a_inv) / denom
            influence = (z * (w * (target - z @ phi))[:, None]) @ m_mat.T  # rows: M z w r
            per_pair = _pair_means(d, influence, d.sampled) * d.n_pairs  # each pair's own estimate of the sum
            stderr = per_pair.std(0, ddof=1) / np.sqrt(d.n_pairs)
        else:
            stderr = np.zeros(n) if not d.sampled.any() else np.full(n, np.inf)  # one pair: no variance to estimate
        return Run(phi, stderr, len(d.coalitions), {"complete_sizes": d.complete_sizes, "pairs": d.n_pairs})


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
        gram, rhs = surrogate.moments(x, d.payoffs, oracle.empty, oracle.grand)
        ends = np.stack([np.zeros(n, dtype=bool), np.ones(n, dtype=bool)])
        coef_rows = shapley_coefficients(n, d.coalitions)  # for the enumerated rows (design weight 1)
        weighted = shapley_coefficients(n, d.coalitions, d.log_weights)  # a(S) c(S), for the sampled rows
        coef_ends = shapley_coefficients(n, ends)
        estimates, folds = [], []
        for f in range(k):
            rows = row_fold == f
            fit = surrogate.solve(gram - surrogate.gram(x[rows]), rhs - x[rows].T @ d.payoffs[rows]) if k > 1 \
                else surrogate.solve(gram, rhs)
            residual = d.payoffs - x @ fit.coef
            end_residual = np.array([oracle.empty, oracle.grand]) - fit.predict(ends)
            exact_part = coef_ends.T @ end_residual + coef_rows[~d.sampled].T @ residual[~d.sampled]
            terms = weighted * residual[:, None]
            mine = rows & d.sampled
            m_fold = len(np.unique(d.pair[mine])) if mine.any() else 0
            if m_fold:
                per_pair = _pair_means(d, terms, mine) * d.n_pairs  # one pair's estimate of the sampled sum
                sampled_part = per_pair.mean(0)
            else:  # every coalition of this fold's share was enumerated: no sampling error
                per_pair, sampled_part = np.zeros((0, n)), np.zeros(n)
            estimates.append(fit.shapley() + exact_part + sampled_part)
            folds.append(per_pair)
        values = np.mean(estimates, axis=0)
        stderr = fold_stderr(folds, n) if any(len(f) for f in folds) else np.zeros(n)
        return Run(values, stderr, len(d.coalitions), {"complete_sizes": d.complete_sizes, "pairs": d.n_pairs,
                                                   "folds": k, "surrogate": surrogate.kind})
