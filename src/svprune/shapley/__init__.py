"""Shapley value estimators (docs/definitions.md, "Estimators"), one class each, by family: permutation
(:mod:`.permutation`), regression (:mod:`.regression`) and stratified sampling (:mod:`.stratified`), registered by
name in :data:`svprune.registry.ESTIMATORS`.

Every estimator takes a game (a :class:`~svprune.games.Game`, any object with ``n_players`` and
``value(coalitions)``, or a function of a boolean coalition matrix), a budget in coalition evaluations, a seed
and an optional tolerance, and returns a :class:`ShapleyEstimate`: values, standard errors, and the number of
evaluations spent (never more than the budget). Same seed, same numbers.
"""

from __future__ import annotations

from svprune.games.base import as_game
from svprune.registry import DEFAULT_BUDGET, ESTIMATORS
from svprune.shapley.base import (
    PERMUTATION_BATCH,
    BudgetExceeded,
    Estimator,
    Exact,
    Oracle,
    Run,
    ShapleyEstimate,
    get_estimator,
    shapley_from_table,
)
from svprune.shapley.topk import TopK, top_k

DEFAULT_ESTIMATOR = ESTIMATORS.default
"""The default estimator (svprune.registry.ESTIMATORS.default)."""


def shapley_values(
    game,
    estimator: str = DEFAULT_ESTIMATOR,
    budget: int | None = None,
    seed: int = 0,
    tolerance: float | None = None,
    n_players: int | None = None,
) -> ShapleyEstimate:
    """Estimate Shapley values by estimator name. ``budget``: coalition evaluations, v(empty) and v(U) included
    (None: the estimator's default, svprune.registry.DEFAULT_BUDGET = 20,000, or 2^n for ``exact``; every estimator
    returns exact values by enumeration where 2^n is within the budget); ``tolerance``: spend the budget only until
    every standard error is at most this; ``n_players``: for a game given as a function."""
    return get_estimator(estimator).estimate(as_game(game, n_players), budget, seed=seed, tolerance=tolerance)


def exact(game) -> ShapleyEstimate:
    """Exact Shapley values by enumeration of all 2^n coalitions (n <= 20)."""
    return Exact().estimate(as_game(game), None)


__all__ = [
    "DEFAULT_BUDGET", "DEFAULT_ESTIMATOR", "ESTIMATORS", "PERMUTATION_BATCH", "BudgetExceeded", "Estimator", "Oracle",
    "Run", "ShapleyEstimate", "TopK", "exact", "get_estimator", "shapley_from_table", "shapley_values", "top_k",
]
