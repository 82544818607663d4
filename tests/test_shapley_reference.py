"""Estimators against games with known Shapley values, and the invariants every game satisfies."""

import numpy as np
import pytest

from svprune import shapley as sh
from svprune.games import (
    PerturbedUniformGame,
    SecurityCouncilGame,
    TableGame,
    UnanimityGame,
    paper_example,
)


def test_paper_example_exact():
    est = sh.exact(paper_example())
    np.testing.assert_allclose(est.values, [1.5, 2.0, 1.5], atol=1e-12)
    assert est.grand_value == 5
    normalized, ok = est.normalized()
    assert ok
    np.testing.assert_allclose(normalized, [0.3, 0.4, 0.3])  # the paper's scaled values


def test_security_council_exact():
    est = sh.exact(SecurityCouncilGame())
    np.testing.assert_allclose(est.values[:5], 421 / 2145, rtol=1e-12)
    np.testing.assert_allclose(est.values[5:], 4 / 2145, rtol=1e-12)
    assert abs(est.values.sum() - 1.0) < 1e-9
    assert est.n_evaluations == 2**15


def test_security_council_permutation_within_three_stderr_and_binomial_errors():
    est = sh.permutation(SecurityCouncilGame(), n_permutations=10_000, seed=7)
    truth = 421 / 2145
    assert np.all(np.abs(est.values[:5] - truth) <= 0.06 * truth)
    assert np.all(np.abs(est.values[:5] - truth) <= 3 * est.stderr[:5])
    # a permanent member's marginal is 0 or 1: the standard error is the binomial one
    p = est.values[:5]
    np.testing.assert_allclose(est.stderr[:5], np.sqrt(p * (1 - p) / 10_000), rtol=1e-3)
    # the ten small members share the remaining value: each within 3 standard errors of 4/2145
    assert np.all(np.abs(est.values[5:] - 4 / 2145) <= 3 * est.stderr[5:])
    assert est.n_evaluations == 10_000 * 14 + 2


@pytest.mark.parametrize("method", ["permutation", "antithetic", "subset", "stratified"])
def test_same_seed_same_numbers(method):
    game = PerturbedUniformGame(8, noise=0.05, seed=3)
    a = sh.shapley_values(game, method, 64, seed=11)
    b = sh.shapley_values(game, method, 64, seed=11)
    c = sh.shapley_values(game, method, 64, seed=12)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.stderr, b.stderr)
    assert not np.array_equal(a.values, c.values)


def test_perturbed_uniform_exact_efficiency_and_closeness():
    game = PerturbedUniformGame(12, noise=0.01, seed=0)
    est = sh.exact(game)
    assert abs(est.values.sum() - game.table[-1]) < 1e-9
    np.testing.assert_allclose(est.values, 1 / 12, atol=0.01)


def test_exact_refuses_large_games():
    with pytest.raises(ValueError, match="sampling estimator"):
        sh.exact(SecurityCouncilGame(n_permanent=5, n_other=20))


def test_dummy_and_symmetry():
    game = UnanimityGame(6, carrier=[1, 3, 4])
    est = sh.exact(game)
    np.testing.assert_allclose(est.values, [0, 1 / 3, 0, 1 / 3, 1 / 3, 0], atol=1e-12)
    for method in ("permutation", "antithetic", "stratified"):
        approx = sh.shapley_values(game, method, 200, seed=0)
        np.testing.assert_allclose(approx.values[[0, 2, 5]], 0, atol=1e-12)  # dummies: every marginal is 0


@pytest.mark.parametrize("method", ["permutation", "antithetic", "subset", "stratified"])
def test_estimators_converge_on_paper_example(method):
    est = sh.shapley_values(paper_example(), method, 4000, seed=1)
    np.testing.assert_allclose(est.values, [1.5, 2.0, 1.5], atol=0.1)


def test_stratified_is_exact_for_three_players():
    # sizes 0 and n-1 are enumerated; for n = 3 size 1 has two coalitions, sampled with replacement
    est = sh.stratified(paper_example(), n_samples=3000, seed=0)
    np.testing.assert_allclose(est.values, [1.5, 2.0, 1.5], atol=0.05)


def test_table_game_validates():
    with pytest.raises(ValueError, match="missing"):
        TableGame({"": 0, "A": 1, "B": 1})  # v(AB) missing
    with pytest.raises(ValueError, match="v\\(empty\\) must be 0"):
        TableGame([1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        paper_example().value(np.ones((2, 4), dtype=bool))


def test_evaluations_are_counted_once_per_distinct_coalition():
    est = sh.subset(paper_example(), n_samples=200, seed=0)
    assert est.n_evaluations <= 8  # only 8 coalitions exist


def test_adaptive_permutation_stops_at_tolerance():
    game = SecurityCouncilGame()
    est = sh.permutation(game, n_permutations=100_000, seed=0, tolerance=0.01)
    assert est.stderr.max() <= 0.01
    assert est.n_samples < 100_000
    full = sh.permutation(game, n_permutations=est.n_samples, seed=0)
    np.testing.assert_array_equal(full.values, est.values)  # same seed: the same stream of permutations


def test_unknown_estimator():
    with pytest.raises(ValueError, match="exact, permutation"):
        sh.shapley_values(paper_example(), "kernelshap")


@pytest.mark.parametrize("method", ["permutation", "antithetic", "subset", "stratified", "exact"])
def test_bad_budgets_and_tolerances_are_refused(method):
    game = paper_example()
    with pytest.raises(TypeError, match="budget must be an integer"):
        sh.shapley_values(game, method, 100.0)
    with pytest.raises(ValueError, match="budget must be >= 1"):
        sh.shapley_values(game, method, 0)
    for bad in (-0.1, float("nan"), 0.0):
        with pytest.raises(ValueError, match="tolerance must be a finite number > 0"):
            sh.shapley_values(game, method, 10, tolerance=bad)


@pytest.mark.parametrize("method", ["permutation", "antithetic", "subset", "stratified", "exact"])
def test_a_game_without_players(method):
    est = sh.shapley_values(TableGame([0.0]), method, 10)
    assert est.values.shape == (0,) and est.grand_value == 0


class PlainGame:
    """A game without the base class, with v(empty) = 0.1: v(S) = 0.1 + |S|/6 + 0.3 [0 and 1 in S].
    Exact values by hand: 1/6 + 0.15 for players 0 and 1, 1/6 for the others; they share v(U) - v(empty) = 1.3."""

    n_players = 6

    def value(self, coalitions):
        c = np.asarray(coalitions, dtype=bool)
        return 0.1 + c.sum(1) / 6 + 0.3 * (c[:, 0] & c[:, 1])


HAND = np.array([1 / 6 + 0.15, 1 / 6 + 0.15, 1 / 6, 1 / 6, 1 / 6, 1 / 6])


@pytest.mark.parametrize("method", ["exact", "permutation", "antithetic", "subset", "stratified"])
def test_duck_typed_game_with_nonzero_empty_value(method):
    errors = [sh.shapley_values(PlainGame(), method, 400, seed=s).values - HAND for s in range(8)]
    assert np.abs(np.mean(errors, axis=0)).max() < 0.01  # unbiased: the mean over seeds is on the hand values
    est = sh.shapley_values(PlainGame(), method, 400, seed=0)
    assert est.empty_value == pytest.approx(0.1) and est.total == pytest.approx(1.3)
    normalized, ok = est.normalized()
    assert ok and np.abs(normalized - HAND / 1.3).max() < 0.05


def test_game_as_a_function_and_what_is_not_a_game():
    def f(c):
        return 0.1 + np.asarray(c).sum(1) / 6

    np.testing.assert_allclose(sh.shapley_values(f, "exact", n_players=4).values, [1 / 6] * 4, atol=1e-12)
    np.testing.assert_allclose(sh.shapley_values(f, "permutation", 10, n_players=4).values, [1 / 6] * 4, atol=1e-12)
    with pytest.raises(TypeError, match="needs n_players"):
        sh.shapley_values(f, "permutation", 10)
    with pytest.raises(TypeError, match="not a game"):
        sh.shapley_values(42, "permutation", 10)

    class Wrong:
        n_players = 3

        def value(self, c):
            return np.zeros(1)  # one payoff for any number of coalitions

    with pytest.raises(ValueError, match="returned 1 payoffs for 8 coalitions"):
        sh.exact(Wrong())
