"""Permutation estimators: the paper's permutation sampling (eq. 4; Castro, Gómez and Tejada 2009) and antithetic
permutations (each order paired with its reverse; Mitchell, Cooper, Frank and Holmes, JMLR 2022), on the shared
:class:`~svprune.shapley.permutation.sampler.PermutationSampler`."""

from __future__ import annotations

from svprune.shapley.base import PERMUTATION_BATCH, Estimator, Oracle, Run
from svprune.shapley.permutation.sampler import Moments, PermutationSampler, UnitSampler


class Permutation(Estimator):
    """Permutation sampling (the paper's eq. 4; Castro, Gómez and Tejada, Computers & OR 2009): the mean marginal
    contribution over random orders, with the standard error of that mean. Efficiency holds by construction.
    With a tolerance it samples until every standard error is at most the tolerance (after 16 units)."""

    name = "permutation"
    sampler = PermutationSampler(antithetic=False)
    min_units = 16

    def min_budget(self, n: int) -> int:
        return 2 + self.sampler.per_unit(n)

    def _run(self, oracle: Oracle, rng) -> Run:
        return self._sample(oracle, rng, tolerance=None)

    def _sample(self, oracle: Oracle, rng, tolerance: float | None) -> Run:
        n = oracle.n
        moments = Moments(n)
        per_unit = self.sampler.per_unit(n)
        units_left = oracle.left // per_unit if per_unit else 1
        per_batch = PERMUTATION_BATCH // self.sampler.width
        while units_left > 0:
            count = min(per_batch, units_left)
            moments.add(self.sampler.units(oracle, rng, count)[0])
            units_left -= count
            if tolerance is not None and moments.count >= self.min_units and moments.stderr.max() <= tolerance:
                break
        return Run(moments.mean, moments.stderr, moments.count * self.sampler.width)

    def _adaptive(self, game, budget, rng, tolerance):
        """Sequential sampling: one run that stops once every standard error is at most ``tolerance``."""
        oracle = Oracle(game, budget)
        run = self._sample(oracle, rng, tolerance)
        return self._record(oracle, Run(run.values, run.stderr, run.n_units, {"tolerance": tolerance}))


class Antithetic(Permutation):
    """Antithetic permutations (Mitchell, Cooper, Frank and Holmes, "Sampling permutations for Shapley value
    estimation", JMLR 2022): every permutation paired with its reverse (a player early in one is late in the
    other); standard errors from the pair means."""

    name = "antithetic"
    sampler = PermutationSampler(antithetic=True)


class AntitheticSamples(Antithetic):
    """Antithetic permutations drawn per unit of samples, for games whose payoff is a sum over samples (a network
    game's accuracy or balanced accuracy): its Shapley values are the sum of the samples' own, so every unit of 8
    samples (labels mixed) may walk permutations of its own, and the units' estimates add up. Samples that share a
    permutation have correlated contributions (a player early in it helps many at once); independent units remove
    that, at the same count of sample evaluations: a permutation costs n - 1 evaluations, each unit evaluating its
    samples. Where the game has no sample units it is :class:`Antithetic` (``extra["sample_units"]`` is 0)."""

    name = "antithetic_samples"

    def _sample(self, oracle: Oracle, rng, tolerance: float | None) -> Run:
        units = int(getattr(oracle.game, "sample_units", 0))
        self.sampler = UnitSampler() if units else PermutationSampler(antithetic=True)
        run = super()._sample(oracle, rng, tolerance)
        return Run(run.values, run.stderr, run.n_units, {**run.extra, "sample_units": units})
