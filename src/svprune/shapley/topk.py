"""Which k players are worth most? Top-k identification with confidence bounds that stops as soon as they are
separated from the rest (the stopping rule of Neuron Shapley's multi-armed bandit, TMAB: Ghorbani and Zou,
NeurIPS 2020), on any registered estimator that reports standard errors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svprune.games.base import as_game
from svprune.registry import DEFAULT_BUDGET, ESTIMATORS
from svprune.shapley.base import Oracle, ShapleyEstimate


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


def top_k(game, k: int, budget: int = DEFAULT_BUDGET, seed: int = 0, estimator: str = ESTIMATORS.default,
          z: float = 2.0, first_round: int | None = None) -> TopK:
    """The k players of largest Shapley value. Independent estimates in rounds of doubling budgets (the first
    ``first_round`` evaluations, default budget/16), pooled with weights proportional to their evaluations (the
    pool stays unbiased and its standard errors shrink), until the top k are separated at ``z`` standard errors or
    the budget is spent. v(empty) and v(U) are evaluated once."""
    game = as_game(game)
    n = game.n_players
    if not 1 <= int(k) < n:
        raise ValueError(f"k must lie in 1..{n - 1} (the game has {n} players); got {k}")
    est = ESTIMATORS.get(estimator, "estimator")()
    est.name = estimator
    if not est.has_stderr:
        raise ValueError(f"top_k needs standard errors, which the {estimator!r} estimator does not give")
    oracle = Oracle(game, budget)
    ends, spent = (oracle.empty, oracle.grand), oracle.spent
    step = max(first_round or budget // 16, est.min_budget(n) - 2)
    rng = np.random.default_rng(seed)
    rounds = []
    while budget - spent >= est.min_budget(n) - 2:
        step = min(step, budget - spent)
        round_oracle = Oracle(game, spent + step, spent, ends)
        run = est._run(round_oracle, rng)
        rounds.append((round_oracle.spent - spent, run))
        spent = round_oracle.spent
        weights = np.array([w for w, _ in rounds], dtype=float)
        weights /= weights.sum()
        values = sum(w * r.values for w, (_, r) in zip(weights, rounds))
        stderr = np.sqrt(sum(w**2 * r.stderr**2 for w, (_, r) in zip(weights, rounds)))
        if separated(values, stderr, int(k), z):
            break
        step *= 2
    if not rounds:
        raise ValueError(f"the budget ({budget:,}) is below the {estimator} estimator's minimum for {n} players "
                         f"({est.min_budget(n):,})")
    estimate = ShapleyEstimate(values, stderr, spent, estimator, sum(r.n_units for _, r in rounds), ends[1],
                               {"rounds": len(rounds), "top_k": int(k)}, ends[0])
    order = np.argsort(-values, kind="stable")
    return TopK(order[: int(k)], values - z * stderr, values + z * stderr, separated(values, stderr, int(k), z),
                estimate)
