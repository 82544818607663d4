"""Shapley value estimators (SPEC section 2), one class each behind one registry.

Every estimator takes a game (a :class:`~svprune.games.Game`, any object with ``n_players`` and
``value(coalitions)``, or a function of a boolean coalition matrix), a budget in coalition evaluations, a seed
and an optional tolerance, and returns a :class:`ShapleyEstimate`: values, standard errors, and the number of
evaluations spent (never more than the budget). Same seed, same numbers.
"""

from __future__ import annotations

from svprune.games.base import as_game
from svprune.shapley.base import (
    PERMUTATION_BATCH,
    BudgetExceeded,
    Estimator,
    Exact,
    Oracle,
    ShapleyEstimate,
    shapley_from_table,
)
from svprune.shapley.permutation import Antithetic, AntitheticRegression, Permutation
from svprune.shapley.regression import KernelSHAP, LeverageSHAP, RegressionMC
from svprune.shapley.sampling import Stratified, Subset
from svprune.shapley.svarm import StratifiedSVARM

REGISTRY: dict[str, type[Estimator]] = {
    cls.name: cls
    for cls in (Exact, Permutation, Antithetic, Subset, Stratified, KernelSHAP, LeverageSHAP, StratifiedSVARM,
                RegressionMC, AntitheticRegression)
}
ESTIMATORS = tuple(REGISTRY)
DEFAULT_ESTIMATOR = "antithetic_regression"
"""The workflow's default: the estimator with the lowest error per evaluation in the study on the neuron games
(README, "Estimators")."""


def get_estimator(method: str) -> Estimator:
    if method not in REGISTRY:
        raise ValueError(f"unknown Shapley estimator {method!r}; choose one of {', '.join(ESTIMATORS)}")
    return REGISTRY[method]()


def shapley_values(
    game,
    method: str = DEFAULT_ESTIMATOR,
    budget: int | None = None,
    seed: int = 0,
    tolerance: float | None = None,
    n_players: int | None = None,
) -> ShapleyEstimate:
    """Estimate Shapley values by estimator name. ``budget``: coalition evaluations, v(empty) and v(U)
    included (None only for ``exact``, which needs 2^n); ``tolerance``: spend the budget only until every
    standard error is at most this; ``n_players``: for a game given as a function."""
    estimator = get_estimator(method)
    return estimator.estimate(as_game(game, n_players), budget, seed=seed, tolerance=tolerance)


def exact(game) -> ShapleyEstimate:
    """Exact Shapley values by enumeration of all 2^n coalitions (n <= 20)."""
    return Exact().estimate(as_game(game), None)


__all__ = [
    "DEFAULT_ESTIMATOR", "ESTIMATORS", "PERMUTATION_BATCH", "REGISTRY", "BudgetExceeded", "Estimator", "Oracle",
    "ShapleyEstimate", "exact", "get_estimator", "shapley_from_table", "shapley_values",
]
