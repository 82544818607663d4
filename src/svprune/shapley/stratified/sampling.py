"""Per-player sampling estimators: the paper's subset sampling (eq. 3) and stratified sampling by coalition
size (Maleki et al. 2013). Each sample of player i costs two evaluations, v(S) and v(S + i); coalitions that
recur are evaluated once."""

from __future__ import annotations

import logging

import numpy as np

from svprune.shapley.base import Estimator, Oracle, Run, log_weights, rare_event_variance
from svprune.shapley.empirical_bayes import rare_jump_stderr


def _pairs(oracle: Oracle, without: np.ndarray) -> np.ndarray:
    """Marginals v(S + i) - v(S) for coalitions ``without`` of shape (n, samples, n) (player i not in S)."""
    n = oracle.n
    idx = np.arange(n)
    with_i = without.copy()
    with_i[idx, :, idx] = True
    payoffs = oracle.value(np.concatenate([without, with_i]).reshape(-1, n)).reshape(2, n, -1)
    return payoffs[1] - payoffs[0]

log = logging.getLogger("svprune.shapley")


class Subset(Estimator):
    """Subset sampling (the paper's eq. 3): for each player i, coalitions S drawn uniformly from the subsets of
    U without i, marginals v(S+i) - v(S) weighted by |S|!(n-|S|-1)! and self-normalised. Standard errors by the
    delta method for self-normalised importance sampling.

    Biased, kept because it is the paper's: self-normalisation does not preserve efficiency (on the Security
    Council game its values sum to about 0.7 of v(U)), and uniform subsets of many players almost never have
    the small or large sizes that carry much of the Shapley weight (at n = 40, sizes <= 7 and >= 32 hold 40% of
    it), so its error stops falling and its standard errors under-cover beyond about 20 players."""

    name = "subset"

    def min_budget(self, n: int) -> int:
        return 2 + 2 * n

    def _run(self, oracle: Oracle, rng):
        n = oracle.n
        if n > 20:
            log.warning("the subset estimator (the paper's eq. 3) is biased for more than 20 players: uniform subsets "
                        "almost never have the small and large sizes that carry much of the Shapley weight, and its "
                        "values do not sum to v(U); with %d players prefer 'regression' or 'antithetic'", n)
        m = oracle.left // (2 * n)
        without = rng.random((n, m, n)) < 0.5
        idx = np.arange(n)
        without[idx, :, idx] = False
        diffs = _pairs(oracle, without)
        log_w = log_weights(n)[without.sum(-1)]  # (n, samples)
        w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        wsum = w.sum(1)
        values = (w * diffs).sum(1) / wsum
        stderr = np.sqrt((w**2 * (diffs - values[:, None]) ** 2).sum(1)) / wsum
        return Run(values, stderr, m)


def stratum_allocation(n: int, n_samples: int) -> np.ndarray:
    """Samples per coalition size 0..n-1 for one player: sizes 0 and n-1 have one coalition each (sampled
    once, exactly); the rest is spread evenly over the other sizes, at least 2 each (for a variance)."""
    alloc = np.ones(n, dtype=np.int64)
    inner = np.arange(1, n - 1)
    if len(inner):
        rest = max(n_samples - min(n, 2), 2 * len(inner))
        alloc[inner] = rest // len(inner)
        alloc[inner[: rest % len(inner)]] += 1
    return alloc


def _stratum_variance(diffs: np.ndarray) -> np.ndarray:
    """Per player (row), the variance of its contributions in one stratum (rare_event_variance over the stratum's
    own count and spread)."""
    deviations = diffs - diffs.mean(1, keepdims=True)
    return rare_event_variance((deviations**2).sum(1), diffs.shape[1], np.ptp(diffs, axis=1), float(np.ptp(diffs)))


class Stratified(Estimator):
    """Stratified sampling by coalition size (Maleki et al. 2013): phi(i) is the average over sizes k of the
    mean marginal contribution to a uniformly drawn coalition of size k; each size gets an equal share of the
    budget, and the one-coalition sizes (0 and n-1) are computed exactly."""

    name = "stratified"

    def min_budget(self, n: int) -> int:
        return 2 + 2 * n * int(stratum_allocation(n, 0).sum())

    def _run(self, oracle: Oracle, rng):
        n = oracle.n
        alloc = stratum_allocation(n, oracle.left // (2 * n))
        total = int(alloc.sum())
        sizes = np.repeat(np.arange(n), alloc)  # (total,): the coalition size of each sample
        without = np.zeros((n, total, n), dtype=bool)
        for i in range(n):
            others = np.delete(np.arange(n), i)
            ranks = rng.random((total, n - 1)).argsort(axis=1).argsort(axis=1)
            without[i][:, others] = ranks < sizes[:, None]
        diffs = _pairs(oracle, without)
        bounds = np.concatenate([[0], np.cumsum(alloc)])
        strata = list(zip(bounds[:-1], bounds[1:]))
        means = np.stack([diffs[:, a:b].mean(1) for a, b in strata], 1)
        # each size's stratum is its own sample. A player whose contributions in it are mostly exactly zero (pivots
        # rare at that size) gets the rate posterior of that size's players (empirical Bayes per stratum; root mean
        # squares, as strata add up): with the rule-of-three floor of the stratum's own count, an unseen pivot's
        # interval covered 0.99-1.0 of a voting game's values, and with the floor of the whole sample's count
        # only 0.80 of the Security Council's at 20,000 evaluations (its small members pivot at one size only).
        # The others have their variance (the floor where all their contributions agree on a value not zero).
        variances = np.stack([_stratum_variance(diffs[:, a:b]) if b - a > 1 else np.zeros(n)
                              for a, b in strata], 1)  # sizes 0 and n-1: one coalition, exact
        cells = [diffs[:, a:b] for a, b in strata]
        rare = np.stack([rare_jump_stderr(np.full(n, cell.shape[1]), (cell == 0).sum(1), cell.sum(1),
                                          (cell**2).sum(1), summed=True) for cell in cells], 1)
        rare[:, alloc < 2] = np.nan  # sizes 0 and n-1: one coalition, exact
        stratum_var = np.where(np.isnan(rare), variances / alloc[None, :], rare**2)
        stderr = np.sqrt(stratum_var.sum(1)) / n
        return Run(means.mean(1), stderr, total)
