"""Permutation sampling, the part its estimators share: random orders (plain or antithetic pairs), the payoffs of
their prefixes (the games' fast walk), each player's marginal contributions, and running moments of the sampling
units. A permutation costs n-1 coalition evaluations (its prefixes of 1..n-1 players; v(empty) and v(U) are
known)."""

from __future__ import annotations

import numpy as np

from svprune.games.base import random_permutations
from svprune.shapley.base import PERMUTATION_BATCH, Oracle, rare_event_variance, student_stderr
from svprune.shapley.empirical_bayes import rare_jump_stderr


def marginals(perms: np.ndarray, prefix_values: np.ndarray) -> np.ndarray:
    """contrib[p, i]: player i's marginal contribution in permutation p, from the payoffs of its prefixes."""
    contrib = np.empty(perms.shape)
    contrib[np.arange(len(perms))[:, None], perms] = np.diff(prefix_values, axis=1)
    return contrib


class Moments:
    """Running mean and standard error of i.i.d. sampling units (permutations, or antithetic pairs), per player;
    a unit may sample only some players (``present``), so each player has its own count (``seen``).

    The standard error of a player with units that are exactly zero, a point mass with jumps (a voting game's
    pivots, a unit that matters only in a few coalitions), is
    :func:`~svprune.shapley.empirical_bayes.rare_jump_stderr`: the rate of its jumps has the posterior of a prior
    fitted to all players' rates, as its own few jumps cannot say how rare they are (with many jumps, its own
    binomial error). Every other player has the unbiased sample variance (:func:`~svprune.shapley.base.rare_event_variance`, the
    rare-event floor where all its units agree) and Student's t for count - 1 degrees of freedom."""

    def __init__(self, n: int):
        self.sum, self.sq, self.count = np.zeros(n), np.zeros(n), 0
        self.seen = np.zeros(n, dtype=np.int64)
        self.zeros = np.zeros(n, dtype=np.int64)  # units exactly 0 (rare_jump_stderr's point mass)
        self.low, self.high = np.inf, -np.inf
        self.own_low, self.own_high = np.full(n, np.inf), np.full(n, -np.inf)

    def add(self, units: np.ndarray, present: np.ndarray | None = None) -> None:
        """Add units (count x n); ``present`` (count x n, boolean): the players each unit sampled (default all)."""
        if not len(units):
            return
        if present is not None:
            self.own_low = np.minimum(self.own_low, np.where(present, units, np.inf).min(0))
            self.own_high = np.maximum(self.own_high, np.where(present, units, -np.inf).max(0))
            units = np.where(present, units, 0.0)
            self.seen += present.sum(0)
            self.zeros += (present & (units == 0)).sum(0)
            sampled = units[present]
        else:
            self.own_low, self.own_high = np.minimum(self.own_low, units.min(0)), np.maximum(self.own_high, units.max(0))
            self.seen += len(units)
            self.zeros += (units == 0).sum(0)
            sampled = units
        self.sum += units.sum(0)
        self.sq += (units**2).sum(0)
        self.count += len(units)
        if sampled.size:
            self.low, self.high = min(self.low, float(sampled.min())), max(self.high, float(sampled.max()))

    @property
    def mean(self) -> np.ndarray:
        return self.sum / np.maximum(self.seen, 1)

    @property
    def stderr(self) -> np.ndarray:
        seen = self.seen.astype(float)
        mean = self.mean
        with np.errstate(divide="ignore", invalid="ignore"):
            squares = np.maximum(self.sq - seen * mean**2, 0.0)
            var = rare_event_variance(squares, seen, self.own_high - self.own_low, self.high - self.low)
            se = np.sqrt(var / seen)
        # under one degree of freedom (one unit) the spread is unknown: an infinite standard error
        se = student_stderr(se, seen - 1)
        rare = rare_jump_stderr(self.seen, self.zeros, self.sum, self.sq)
        return np.where(np.isnan(rare), se, rare)


class PermutationSampler:
    """Sampling units of permutation sampling: one permutation's marginal contributions, or (antithetic) the
    mean of a permutation's and its reverse's."""

    def __init__(self, antithetic: bool):
        self.antithetic = antithetic
        self.width = 2 if antithetic else 1  # permutations per unit

    def per_unit(self, n: int) -> int:
        """Evaluations of one sampling unit."""
        return self.width * max(n - 1, 0)

    def units(self, oracle: Oracle, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` units (count x n) and their permutations (antithetic: pairs in consecutive rows)."""
        perms = random_permutations(rng, count * self.width, oracle.n, self.antithetic)
        return self.of(perms, oracle), perms

    def of(self, perms: np.ndarray, oracle: Oracle) -> np.ndarray:
        """The units of given permutations, evaluated in batches of PERMUTATION_BATCH."""
        parts = []
        for start in range(0, len(perms), PERMUTATION_BATCH):
            batch = perms[start : start + PERMUTATION_BATCH]
            contrib = marginals(batch, oracle.prefixes(batch))
            parts.append(0.5 * (contrib[0::2] + contrib[1::2]) if self.antithetic else contrib)
        return np.concatenate(parts) if parts else np.zeros((0, oracle.n))


class UnitSampler(PermutationSampler):
    """Sampling units of the per-sample walk: every unit of the game's samples (``sample_units``) walks antithetic
    pairs of its own; one sampling unit is the sum over the game's units of their pair means. Units draw
    independently, so these sums are i.i.d. and their mean and standard error are those of the Shapley values."""

    def __init__(self):
        super().__init__(antithetic=True)

    def units(self, oracle: Oracle, rng: np.random.Generator, count: int) -> tuple[np.ndarray, None]:
        seeds = rng.integers(0, 2**63, size=oracle.game.sample_units, dtype=np.uint64)
        contrib = oracle.unit_marginals(seeds, 2 * count)
        return 0.5 * (contrib[0::2] + contrib[1::2]), None
