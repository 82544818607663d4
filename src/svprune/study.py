"""The estimator study (the paper's section 3.4, whose data it does not show): error against budget for each
estimator on games with exact values, over many seeds, at equal numbers of coalition evaluations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from svprune import shapley as sh
from svprune.games import Game, PerturbedUniformGame, SecurityCouncilGame

STUDY_GAMES = ("security_council", "perturbed_uniform", "neuron16")
GAME_TITLES = {
    "security_council": "Security Council voting game (15 players)",
    "perturbed_uniform": "Perturbed uniform game (12 players)",
    "neuron16": "16 hidden units of an MLP on digits",
}
ERROR_TARGET = 0.05


def make_game(name: str, seed: int = 0) -> Game:
    """A study game by name: the Security Council game (15 players), a randomly perturbed uniform game
    (12 players), or the 16 hidden units of an MLP trained on digits (payoffs on its validation split)."""
    if name == "security_council":
        return SecurityCouncilGame()
    if name == "perturbed_uniform":
        return PerturbedUniformGame(12, noise=0.02, seed=seed)
    if name == "neuron16":
        from svprune.data import load_splits
        from svprune.games import NeuronGame
        from svprune.models import MLP
        from svprune.settings import TrainConfig
        from svprune.train import as_tensors, train

        splits = load_splits("digits", seed=seed)
        model = MLP(splits.n_features, [16], splits.n_classes, seed=seed)
        train(model, *as_tensors(splits.x_train, splits.y_train), epochs=20, seed=seed,
              config=TrainConfig(learning_rate=0.01, batch_size=32))
        return NeuronGame(model, splits.x_val, splits.y_val)
    raise ValueError(f"unknown study game {name!r}; choose one of {', '.join(STUDY_GAMES)}")


def budget_for(method: str, evaluations: int, n: int) -> int:
    """The estimator's own budget parameter that spends about ``evaluations`` coalition evaluations:
    permutations cost n-1 evaluations each; subset and stratified samples cost 2 per player."""
    if method in ("permutation", "antithetic"):
        return max(2, int(round(evaluations / max(n - 1, 1))))
    return max(2, int(round(evaluations / (2 * n))))


def score(estimate: np.ndarray, stderr: np.ndarray, exact: np.ndarray) -> dict:
    """Errors of one estimate against exact values: mean absolute error, relative L1 error
    (sum |error| / sum |exact|), maximum relative error over players, Spearman rank correlation,
    and the share of players whose exact value lies within 2 standard errors."""
    err = np.abs(estimate - exact)
    nonzero = np.abs(exact) > 1e-12
    rho = spearmanr(estimate, exact).statistic if np.ptp(exact) > 0 and np.ptp(estimate) > 0 else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        covered = np.where(np.isfinite(stderr), err <= 2 * stderr + 1e-12, False)
    return {
        "mean_abs_error": float(err.mean()),
        "relative_error": float(err.sum() / np.abs(exact).sum()),
        "max_relative_error": float((err[nonzero] / np.abs(exact[nonzero])).max()) if nonzero.any() else np.nan,
        "spearman": float(rho),
        "coverage_2se": float(covered.mean()),
    }


def run_study(
    game_name: str,
    estimators: Sequence[str],
    evaluations: Sequence[int],
    seeds: Sequence[int],
) -> pd.DataFrame:
    """One row per (estimator, evaluation budget, seed) on one game, scored against exact values."""
    game = make_game(game_name)
    exact = sh.exact(game).values
    rows = []
    for method in estimators:
        for target in evaluations:
            budget = budget_for(method, int(target), game.n_players)
            for seed in seeds:
                est = sh.shapley_values(game, method, budget, seed=int(seed))
                rows.append({
                    "game": game_name, "estimator": method, "target_evaluations": int(target), "budget": budget,
                    "evaluations": est.n_evaluations, "seed": int(seed), "n_players": game.n_players,
                    **score(est.values, est.stderr, exact),
                })
    return pd.DataFrame(rows)


def summarize_study(results: pd.DataFrame, target: float = ERROR_TARGET) -> pd.DataFrame:
    """Per game and estimator: the smallest budget (permutations, or samples per player) and evaluations at
    which the mean relative error over seeds is below ``target``; at the largest budget the error, its 90th
    percentile, rank correlation, 2-SE coverage, and the efficiency relative to permutation sampling."""
    rows = []
    for (game, method), group in results.groupby(["game", "estimator"], sort=False):
        by_budget = group.groupby("target_evaluations").agg(
            budget=("budget", "first"), evaluations=("evaluations", "mean"),
            relative_error=("relative_error", "mean"), p90_relative_error=("relative_error", lambda v: np.quantile(v, 0.9)),
            spearman=("spearman", "mean"), coverage=("coverage_2se", "mean"),
        ).sort_index()
        ok = by_budget[by_budget["relative_error"] < target]
        last = by_budget.iloc[-1]
        rows.append({
            "game": game, "estimator": method,
            "budget for mean error < 5%": int(ok["budget"].iloc[0]) if len(ok) else np.nan,
            "evaluations for mean error < 5%": float(ok["evaluations"].iloc[0]) if len(ok) else np.nan,
            "largest budget": int(last["budget"]), "relative error there": float(last["relative_error"]),
            "90th pct error there": float(last["p90_relative_error"]), "spearman there": float(last["spearman"]),
            "2-SE coverage there": float(last["coverage"]),
            "_cost_error": float(last["relative_error"] * np.sqrt(last["evaluations"])),
        })
    out = pd.DataFrame(rows)
    # relative efficiency against permutation sampling at the largest budget: errors fall as
    # 1/sqrt(evaluations), so (error_perm^2 x evals_perm) / (error^2 x evals) > 1 means more accurate per
    # evaluation spent
    reference = out[out["estimator"] == "permutation"].set_index("game")["_cost_error"]
    out["efficiency vs permutation"] = [
        (reference[g] / c) ** 2 if g in reference.index and c > 0 else np.nan
        for g, c in zip(out["game"], out["_cost_error"])
    ]
    return out.drop(columns="_cost_error")
