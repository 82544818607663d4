"""The estimator study: honest standard errors, and the better estimators' advantage where the study finds it."""

import numpy as np
import pytest

from svprune import shapley as sh
from svprune.games import PerturbedUniformGame, SecurityCouncilGame
from svprune.study import budget_for, run_study, score, summarize_study


@pytest.mark.parametrize(
    "game,permutations",
    # the Security Council's small members pivot in 0.2% of orders: the normal approximation behind the
    # standard errors needs enough of those events, hence more permutations there
    [(SecurityCouncilGame(), 10_000), (PerturbedUniformGame(10, noise=0.02, seed=1), 400)],
)
def test_permutation_standard_errors_are_honest(game, permutations):
    exact = sh.exact(game).values
    covered = []
    for seed in range(40):
        est = sh.permutation(game, permutations, seed=seed)
        covered.append(np.abs(est.values - exact) <= 2 * est.stderr)
    rate = np.mean(covered)
    assert 0.88 <= rate <= 0.995, rate


def test_stratified_beats_permutation_on_security_council_per_evaluation():
    # errors fall as 1/sqrt(evaluations): compare error x sqrt(evaluations) (lower = more accurate per cost)
    results = run_study("security_council", ["permutation", "stratified"], [20_000], range(12))
    by = results.groupby("estimator")[["relative_error", "evaluations"]].mean()
    cost_error = by["relative_error"] * np.sqrt(by["evaluations"])
    assert by.loc["stratified", "evaluations"] <= by.loc["permutation", "evaluations"]
    assert cost_error["stratified"] < 0.9 * cost_error["permutation"]
    summary = summarize_study(results).set_index("estimator")
    assert summary.loc["permutation", "efficiency vs permutation"] == pytest.approx(1)
    assert summary.loc["stratified", "efficiency vs permutation"] > 1.2


def test_summary_answers_the_papers_claim():
    results = run_study("perturbed_uniform", ["permutation", "subset"], [200, 2000], range(6))
    summary = summarize_study(results).set_index("estimator")
    assert summary.loc["permutation", "budget for mean error < 5%"] == budget_for("permutation", 200, 12)
    assert {"2-SE coverage there", "spearman there", "relative error there"} <= set(summary.columns)


def test_score_of_exact_estimate_is_perfect():
    exact = np.array([0.5, 0.3, 0.2])
    s = score(exact, np.zeros(3), exact)
    assert s["mean_abs_error"] == 0 and s["relative_error"] == 0 and s["spearman"] == pytest.approx(1)
    assert s["coverage_2se"] == 1
