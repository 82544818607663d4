"""The ``auto`` estimator: per game, the family with the lowest measured error at equal wall time (README,
"Choosing the default estimator, and auto")."""

from __future__ import annotations

from svprune.shapley.base import Estimator, Oracle, Run, get_estimator

WITH_FAST_WALK = "antithetic"
"""Where the game walks permutations fast (``fast_prefixes``: a prefix costs a rank-one update, not a forward pass)
but has no sample units, a permutation's n - 1 evaluations cost about as much as one plain evaluation, and
antithetic permutations have the lowest error at equal time of the estimators that share their coalitions across
samples (benchmarks/default_estimator.py)."""
WITH_SAMPLE_UNITS = "antithetic_samples"
"""Where the game splits its payoff over units of samples (``sample_units``: a network game's accuracy, balanced
accuracy or cross-entropy), every unit walks permutations of its own: 2.4-3.4 times lower error than the shared
walk at equal time on the fast walk (benchmarks/default_estimator.py), and below the regression estimators' per
evaluation on the many-layer channel game, whose walk follows the network's chain incrementally (README, "Choosing
the default estimator, and auto")."""
WITHOUT = "regression"
"""Where a game has neither sample units nor a fast walk, every coalition costs an evaluation: regression-adjusted
Monte Carlo has the lowest error per evaluation of the estimators that see only v(S) on the many-layer channel game
of the study (channels40), with KernelSHAP and Leverage SHAP, and stays below SVARM's from 40 to 2,000 players on
sums of unanimity games (benchmarks/estimator_scaling.py)."""


class Auto(Estimator):
    """Chooses per game: :data:`WITH_SAMPLE_UNITS` where the game has sample units, else :data:`WITH_FAST_WALK`
    where it has a fast permutation walk, else :data:`WITHOUT`, each where the budget covers its minimum, else
    the other.
    The choice is recorded in the estimate's ``extra["chose"]``."""

    name = "auto"

    def choose(self, game, budget: int) -> Estimator:
        if getattr(game, "sample_units", 0):
            first, second = WITH_SAMPLE_UNITS, WITHOUT
        elif getattr(game, "fast_prefixes", False):
            first, second = WITH_FAST_WALK, WITHOUT
        else:
            first, second = WITHOUT, WITH_FAST_WALK
        for name in (first, second):
            chosen = get_estimator(name)
            if budget >= chosen.min_budget(game.n_players):
                return chosen
        return chosen  # below every minimum: the base refuses the budget before it gets here

    def min_budget(self, n: int) -> int:
        return min(get_estimator(name).min_budget(n) for name in (WITH_FAST_WALK, WITH_SAMPLE_UNITS, WITHOUT))

    def _run(self, oracle: Oracle, rng) -> Run:
        chosen = self.choose(oracle.game, oracle.budget)
        run = chosen._run(oracle, rng)
        return Run(run.values, run.stderr, run.n_units, {**run.extra, "chose": chosen.name})
