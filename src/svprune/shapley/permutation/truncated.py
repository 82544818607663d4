"""Truncated Monte Carlo permutation sampling (Ghorbani and Zou, "Data Shapley: equitable valuation of data for
machine learning", ICML 2019, and "Neuron Shapley: discovering the responsible neurons", NeurIPS 2020), and the
truncated walk it shares with the top-k bandit (:mod:`.bandit`)."""

from __future__ import annotations

import numpy as np

import logging

from svprune.progress import Progress
from svprune.shapley.base import Estimator, Oracle, Run
from svprune.shapley.permutation.sampler import Moments, random_permutations

log = logging.getLogger(__name__)


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

    def sampled(self, moments: Moments) -> np.ndarray | None:
        """The players whose marginal contributions the next permutations measure (None: all)."""
        return None

    def _run(self, oracle: Oracle, rng) -> Run:
        n = oracle.n
        if n == 1:
            return Run(np.array([oracle.grand - oracle.empty]), np.zeros(1), 0)
        moments = Moments(n)
        tol = self.truncation * abs(oracle.grand - oracle.empty)
        walked = 0
        start = oracle.left
        progress, logged = Progress(start), oracle.spent
        while True:
            active = self.sampled(moments)
            if active is not None and not active.any():
                break
            perms = random_permutations(rng, self.batch, n, antithetic=False)
            need = needed_positions(perms, active)
            # as many as fit the budget in the worst case (no truncation)
            count = int(np.searchsorted(np.cumsum(need.sum(1)), oracle.left, side="right"))
            if count == 0:
                break
            perms, need = perms[:count], need[:count]
            contrib = self._walk(oracle, perms, need, tol)
            moments.add(contrib, None if active is None else np.broadcast_to(active, contrib.shape))
            walked += count
            if oracle.spent - logged >= start / 10:  # long estimates (a network's channels) say where they stand
                logged = oracle.spent
                log.info("%s: %s evaluations of %s, %s permutations; %s", self.name, f"{oracle.spent:,}",
                         f"{oracle.budget:,}", f"{walked:,}", self._state(moments, progress(start - oracle.left)))
        return Run(moments.mean, moments.stderr, walked, self._extra(moments))

    def _extra(self, moments: Moments) -> dict:
        return {"truncation": self.truncation}

    def _state(self, moments: Moments, progress: str) -> str:
        """A progress line's state of the estimate."""
        return progress

    def _walk(self, oracle: Oracle, perms: np.ndarray, need: np.ndarray, tol: float) -> np.ndarray:
        """Walk each permutation (removing its players in order from U), evaluating v(U without the first t
        players) at the positions t in ``need`` (block by block, all permutations together), until the payoff is
        within ``tol`` of v(empty); later positions are v(empty). Returns each permutation's marginal contributions
        (count x n); those of players whose positions were not measured are meaningless."""
        count, n = perms.shape
        rank = np.empty_like(perms)
        rank[np.arange(count)[:, None], perms] = np.arange(n)
        values = np.full((count, n + 1), oracle.empty)
        values[:, 0] = oracle.grand
        lists = [np.flatnonzero(row) for row in need]
        width = max((len(p) for p in lists), default=0)
        order = np.full((count, width), -1)
        for p, positions in enumerate(lists):
            order[p, : len(positions)] = positions
        walking = np.ones(count, dtype=bool)
        for start in range(0, width, self.block):
            cols = order[:, start : start + self.block]
            rows = np.flatnonzero(walking & (cols[:, 0] >= 0))
            if not len(rows):
                break
            cols = cols[rows]
            valid = cols >= 0
            r, c = np.nonzero(valid)
            coalitions = rank[rows[r]] >= cols[r, c][:, None]  # the players not among the first t removed
            payoffs = oracle.value(coalitions)
            values[rows[r], cols[r, c]] = payoffs
            # truncated once within the tolerance of v(empty): the block's payoffs (paid for) are kept, the rest of
            # the walk is v(empty), so each permutation's contributions still sum to v(U) - v(empty)
            close = np.zeros(len(rows), dtype=bool)
            np.logical_or.at(close, r, np.abs(payoffs - oracle.empty) <= tol)
            walking[rows[close]] = False
        contrib = np.zeros((count, n))
        contrib[np.arange(count)[:, None], perms] = values[:, :-1] - values[:, 1:]
        return contrib


def needed_positions(perms: np.ndarray, active: np.ndarray | None) -> np.ndarray:
    """need[p, t]: whether a walk of perms[p] must evaluate v(U without its first t players), t = 0..n, to measure
    the marginal contribution of every active player (all where ``active`` is None): t and t + 1 for an active
    player at position t. v(U) (t = 0) and v(empty) (t = n) are known. Inactive players between two measured
    positions are removed together, at the cost of no evaluation."""
    count, n = perms.shape
    at = np.ones((count, n), dtype=bool) if active is None else active[perms]
    need = np.zeros((count, n + 1), dtype=bool)
    need[:, :n] |= at
    need[:, 1:] |= at
    need[:, 0] = need[:, n] = False
    return need
