"""Which k players are worth most? Top-k identification with confidence bounds that stops as soon as they are
separated from the rest: by default Neuron Shapley's multi-armed bandit (TMAB: Ghorbani and Zou, NeurIPS 2020;
the ``tmab`` estimator), which measures only the players still in doubt; or any registered estimator that reports
standard errors, in pooled rounds until the top k are separated."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svprune.games.base import as_game
from svprune.registry import DEFAULT_BUDGET
from svprune.shapley.base import ShapleyEstimate, get_estimator
from svprune.shapley.permutation.bandit import TopKBandit


@dataclass(frozen=True)
class TopK:
    """``players``: the k players of largest estimated value, largest first; ``lower``/``upper``: every player's
    confidence bounds (estimate -/+ ``z`` standard errors); ``separated``: whether every top player's lower bound
    lies above the boundary between the k-th and (k+1)-th estimates and every other player's upper bound below it
    (else the budget ran out first); ``estimate``: the pooled Shapley estimate (its ``n_evaluations`` is what was
    spent)."""

    players: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    separated: bool
    estimate: ShapleyEstimate


def separated(values: np.ndarray, stderr: np.ndarray, k: int, z: float) -> bool:
    """Whether the top k of ``values`` are apart from the rest at ``z`` standard errors."""
    order = np.argsort(-values, kind="stable")
    boundary = 0.5 * (values[order[k - 1]] + values[order[k]])
    top, rest = order[:k], order[k:]
    return bool((values[top] - z * stderr[top] > boundary).all() and (values[rest] + z * stderr[rest] < boundary).all())


def top_k(game, k: int, budget: int = DEFAULT_BUDGET, seed: int = 0, estimator: str = "tmab",
          z: float = 2.0, first_round: int | None = None) -> TopK:
    """The k players of largest Shapley value, with confidence bounds, within ``budget`` coalition evaluations.
    ``tmab`` (the default): the bandit, which stops once every player is decided at ``z`` standard errors. Any other
    estimator with standard errors: its pooled rounds (Estimator.pooled_rounds; the first of ``first_round``
    evaluations, default budget/16) until the top k are separated at ``z`` or the budget is spent."""
    game = as_game(game)
    n = game.n_players
    if not 1 <= int(k) < n:
        raise ValueError(f"k must lie in 1..{n - 1} (the game has {n} players); got {k}")
    est = get_estimator(estimator, "estimator")
    if not est.has_stderr:
        raise ValueError(f"top_k needs standard errors, which the {estimator!r} estimator does not give")
    k = int(k)
    if isinstance(est, TopKBandit):
        est.k, est.z = k, float(z)
        estimate = est.estimate(game, budget, seed=seed)
    else:
        estimate = est.pooled_rounds(game, budget, np.random.default_rng(seed), first_round or budget // 16,
                                     lambda values, stderr: separated(values, stderr, k, z))
    estimate.extra.update(top_k=k)
    values, stderr = estimate.values, estimate.stderr
    order = np.argsort(-values, kind="stable")
    return TopK(order[:k], values - z * stderr, values + z * stderr, separated(values, stderr, k, z), estimate)
