"""Top-k identification by a multi-armed bandit on truncated permutation walks: Neuron Shapley's TMAB (Ghorbani
and Zou, "Neuron Shapley: discovering the responsible neurons", NeurIPS 2020, section 3)."""

from __future__ import annotations

import numpy as np

from svprune.shapley.permutation.sampler import Moments
from svprune.shapley.permutation.truncated import TruncatedMC


class TopKBandit(TruncatedMC):
    """Estimates every player's value only as precisely as needed to tell whether it is among the ``k`` largest.
    Permutation walks as in truncated Monte Carlo, but a player's marginal contribution is measured only while its
    confidence interval (estimate +/- ``z`` standard errors) still contains the boundary between the k-th and
    (k+1)-th estimates: the arms of the bandit. The other players are removed in bulk between two measured
    positions, at no cost, so a permutation costs about as many evaluations as there are undecided players (twice
    that at most) instead of n - 1. Every measured contribution is an unbiased sample of the player's marginal
    contribution (the permutation is uniform whichever players are measured), so each player's estimate is its own
    sample mean, with its own count and standard error (with the permutation family's rare-event floor). Stops
    when no player is undecided (the top k separated at ``z``), or when the budget is spent.

    Values sum to v(U) - v(empty) only in expectation (players leave the bandit with different counts); the
    values of players far from the top-k boundary are rough by design."""

    name = "tmab"
    k = 10
    """Players sought (at most n - 1): :func:`svprune.shapley.top_k` sets it."""
    z = 2.0
    min_seen = 3
    """Contributions a player needs before it can leave the bandit."""
    batch = 16
    """Permutations walked between two updates of the undecided players."""

    def sampled(self, moments: Moments) -> np.ndarray | None:
        n = len(moments.seen)
        if moments.count == 0:
            return np.ones(n, dtype=bool)
        k = min(int(self.k), n - 1)
        values, stderr = moments.mean, moments.stderr
        order = np.argsort(-values, kind="stable")
        boundary = 0.5 * (values[order[k - 1]] + values[order[k]])
        top = np.zeros(n, dtype=bool)
        top[order[:k]] = True
        decided = np.where(top, values - self.z * stderr > boundary, values + self.z * stderr < boundary)
        return ~(decided & (moments.seen >= self.min_seen))

    def _extra(self, moments: Moments) -> dict:
        undecided = self.sampled(moments)
        return {"truncation": self.truncation, "top_k": min(int(self.k), len(moments.seen) - 1),
                "undecided": int(undecided.sum()), "contributions": int(moments.seen.sum())}

    def _state(self, moments: Moments, progress: str) -> str:
        undecided = self.sampled(moments)
        return (f"{int(undecided.sum())} of {len(undecided)} players undecided; {progress} (at most; "
                "the bandit stops once none is undecided)")
