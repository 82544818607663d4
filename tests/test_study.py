"""The estimator study: honest standard errors, scores, and the summary table."""

import numpy as np
import pytest

from svprune import shapley as sh
from svprune.games import PerturbedUniformGame, SecurityCouncilGame
from svprune.study import errors, run_study, study_game, summarize_study


@pytest.mark.parametrize(
    "game,permutations",
    # the Security Council's small members pivot in 0.2% of orders: the normal approximation behind the
    # standard errors needs enough of those events, hence more permutations there (2,000 x 14 evaluations
    # stays below the 2^15 that would be enumerated)
    [(SecurityCouncilGame(), 2000), (PerturbedUniformGame(10, noise=0.02, seed=1), 100)],
)
def test_permutation_standard_errors_are_honest(game, permutations):
    exact = sh.exact(game).values
    covered = []
    for seed in range(40):
        est = sh.shapley_values(game, "permutation", permutations * (game.n_players - 1) + 2, seed=seed)
        assert "enumerated" not in est.extra
        covered.append(np.abs(est.values - exact) <= 2 * est.stderr)
    rate = np.mean(covered)
    assert 0.85 <= rate <= 0.995, rate


def test_study_rows_and_summary():
    results = run_study("security_council", ["permutation", "regression", "stratified"], [400, 5000], range(4))
    # stratified needs more than 400 evaluations at 15 players: a row that says so, without errors
    refused = results[(results["estimator"] == "stratified") & (results["target_evaluations"] == 400)]
    assert len(refused) == 1 and "needs at least" in refused["note"].iloc[0]
    scored = results.dropna(subset=["relative_error"])
    assert (scored["evaluations"] <= scored["target_evaluations"]).all()
    summary = summarize_study(results).set_index("estimator")
    assert np.isnan(summary.loc["stratified", "error @ 400"])
    assert summary.loc["regression", "error @ 5,000"] < summary.loc["permutation", "error @ 5,000"]
    assert {"coverage @ 5,000", "ms @ 5,000"} <= set(summary.columns)


def test_reference_values_of_each_kind():
    assert study_game("unanimity40").reference_kind == "closed form"
    council = study_game("security_council")
    assert council.reference_kind == "exact" and council.reference[:5] == pytest.approx([421 / 2145] * 5)


def test_score_of_exact_estimate_is_perfect():
    exact = np.array([0.5, 0.3, 0.2])
    s = errors(exact, np.zeros(3), exact)
    assert s["mean_abs_error"] == 0 and s["relative_error"] == 0 and s["spearman"] == pytest.approx(1)
    assert s["coverage_2se"] == 1
    off = errors(exact + [0.1, 0, 0], np.full(3, 0.01), exact)
    assert off["relative_error"] == pytest.approx(0.1 / np.linalg.norm(exact))
    assert off["coverage_2se"] == pytest.approx(2 / 3)
