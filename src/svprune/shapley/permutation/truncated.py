"""Truncated Monte Carlo permutation sampling (Ghorbani and Zou, "Data Shapley: equitable valuation of data for
machine learning", ICML 2019, and "Neuron Shapley: discovering the responsible neurons", NeurIPS 2020)."""

from __future__ import annotations

import numpy as np

from svprune.shapley.base import Estimator, Oracle, Run
from svprune.shapley.permutation.sampler import Moments, random_permutations


class TruncatedMC(Estimator):
    """Each permutation removes the players from the grand coalition one by one, and is truncated once the payoff
    is within ``truncation`` x |v(U) - v(empty)| of v(empty): the remaining players' marginal contributions are
    taken as 0 and cost no evaluations. Where most of a network's value goes with its first few players (Neuron
    Shapley's setting), a walk ends early and the budget buys more permutations; where it does not, this is
    permutation sampling. Walks advance together, ``block`` removals at a time, so the game evaluates batches.
    Truncation biases the values by at most the tolerance per permutation; standard errors from the spread over
    permutations (with the permutation family's rare-event floor)."""

    name = "tmc"
    truncation = 0.01
    block = 8
    batch = 64

    def min_budget(self, n: int) -> int:
        return 2 + max(n - 1, 0)  # one permutation walked to its end

    def _run(self, oracle: Oracle, rng) -> Run:
        n = oracle.n
        moments = Moments(n)
        tol = self.truncation * abs(oracle.grand - oracle.empty)
        walked = 0
        while n > 1 and oracle.left >= n - 1:
            count = min(self.batch, oracle.left // (n - 1))  # the worst case (no truncation) fits the budget
            perms = random_permutations(rng, count, n, antithetic=False)
            values = self._walk(oracle, perms, tol)
            contrib = np.zeros((count, n))
            contrib[np.arange(count)[:, None], perms] = values[:, :-1] - values[:, 1:]
            moments.add(contrib)
            walked += count
        if n == 1:
            return Run(np.array([oracle.grand - oracle.empty]), np.zeros(1), 0)
        return Run(moments.mean, moments.stderr, walked, {"truncation": self.truncation})

    def _walk(self, oracle: Oracle, perms: np.ndarray, tol: float) -> np.ndarray:
        """values[p, t] = v(U without the first t players of perms[p]), t = 0..n; after the block in which a walk
        came within the tolerance of v(empty), v(empty)."""
        count, n = perms.shape
        values = np.full((count, n + 1), oracle.empty)
        values[:, 0] = oracle.grand
        active = np.ones(count, dtype=bool)
        t = 0
        present = np.ones((count, n), dtype=bool)
        while active.any() and t < n - 1:
            steps = range(t + 1, min(t + self.block, n - 1) + 1)
            rows, coalitions = np.flatnonzero(active), []
            state = present[rows].copy()
            for s in steps:
                state[np.arange(len(rows)), perms[rows, s - 1]] = False
                coalitions.append(state.copy())
            payoffs = oracle.value(np.stack(coalitions, 1).reshape(-1, n)).reshape(len(rows), len(steps))
            for j, s in enumerate(steps):
                values[rows, s] = payoffs[:, j]
            present[rows] = state
            # truncated once within the tolerance of v(empty): the block's payoffs (paid for) are kept, the rest of
            # the walk is v(empty), so each permutation's contributions still sum to v(U) - v(empty)
            active[rows[(np.abs(payoffs - oracle.empty) <= tol).any(1)]] = False
            t = steps[-1]
        return values
