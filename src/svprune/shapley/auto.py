"""The ``auto`` estimator: per game, the family with the lowest measured error at equal wall time (README,
"Choosing the default estimator, and auto")."""

from __future__ import annotations

from svprune.shapley.base import Estimator, Oracle, Run, get_estimator

WITH_FAST_WALK = "antithetic"
"""Where the game walks permutations fast (``fast_prefixes``: a prefix costs a rank-one update, not a forward pass),
a permutation's n - 1 evaluations cost about as much as one plain evaluation, and antithetic permutations have the
lowest error at equal time (benchmarks/default_estimator.py)."""
WITHOUT = ("regression", "svarm")
"""Where every coalition costs a forward pass, time is evaluations: regression-adjusted Monte Carlo has the lowest
error per evaluation on the many-layer channel game of the study (channels40, 5,000 evaluations), SVARM from
MANY_PLAYERS players on (benchmarks/estimator_scaling.py: the regression's error passes SVARM's there)."""
MANY_PLAYERS = 200


class Auto(Estimator):
    """Chooses per game: :data:`WITH_FAST_WALK` where the game has a fast permutation walk, else one of
    :data:`WITHOUT` (regression below MANY_PLAYERS players, SVARM from there) where the budget covers its minimum,
    else :data:`WITH_FAST_WALK` (whose minimum is one antithetic pair), else regression (whose minimum is smaller
    still). The choice is recorded in the estimate's ``extra["chose"]``."""

    name = "auto"

    def choose(self, game, budget: int) -> Estimator:
        first = WITH_FAST_WALK if getattr(game, "fast_prefixes", False) else WITHOUT[game.n_players >= MANY_PLAYERS]
        for name in (first, WITH_FAST_WALK, WITHOUT[0]):
            chosen = get_estimator(name)
            if budget >= chosen.min_budget(game.n_players):
                return chosen
        return chosen  # below every minimum: the base refuses the budget before it gets here

    def min_budget(self, n: int) -> int:
        return min(get_estimator(name).min_budget(n) for name in (WITH_FAST_WALK, *WITHOUT))

    def _run(self, oracle: Oracle, rng) -> Run:
        chosen = self.choose(oracle.game, oracle.budget)
        run = chosen._run(oracle, rng)
        return Run(run.values, run.stderr, run.n_units, {**run.extra, "chose": chosen.name})
