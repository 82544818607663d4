"""Every channel of a network as a player: the top-k bandit (tmab) on planted and exact games, the removal curves
against physically pruned models, the criteria across layers, the curves' records, and the config's checks."""

import numpy as np
import pandas as pd
import pytest
import torch

from svprune import shapley as sh
from svprune.games import ModuleGame, UnanimitySumGame
from svprune.models import SmallCNN
from svprune.records import RecordError, read_removal
from svprune.shapley.permutation import TopKBandit
from svprune.removal import criterion_scores, negative_removal, ranking, removal_curves

pytestmark = pytest.mark.timeout(300)


class _Additive:
    """v(S) = sum of the weights in S: every marginal contribution is the player's weight, so every sample is exact."""

    def __init__(self, weights):
        self.weights, self.n_players = np.asarray(weights, float), len(weights)

    def value(self, coalitions):
        return coalitions.astype(float) @ self.weights


def test_tmab_measures_only_undecided_players_and_stops_once_the_top_k_are_separated():
    weights = np.r_[np.full(5, 0.5), np.full(5, 0.45), np.full(190, 0.01)]  # 5 and 5 close: several rounds
    game = _Additive(weights)
    found = sh.top_k(game, 5, 200_000, seed=0)
    assert sorted(found.players.tolist()) == [0, 1, 2, 3, 4] and found.separated
    # each measured contribution is exact here, so every estimate is the weight itself
    np.testing.assert_allclose(found.estimate.values, weights, atol=1e-12)
    # the first round measures everyone (n - 1 = 199 evaluations per permutation); the far players are decided
    # then, and later rounds measure only the 10 undecided ones: at most 2 evaluations each per permutation
    first, later = TopKBandit.batch, found.estimate.n_units - TopKBandit.batch
    assert later > 0 and found.estimate.n_evaluations - 2 - first * 199 <= later * 2 * 10
    assert found.estimate.extra["undecided"] == 0 and found.estimate.n_evaluations < 200_000 / 10
    again = sh.top_k(game, 5, 200_000, seed=0)
    np.testing.assert_array_equal(found.estimate.values, again.estimate.values)


def test_tmab_finds_the_exact_top_k_of_a_unanimity_game_with_fewer_evaluations_than_permutation_sampling():
    game = UnanimitySumGame(200, n_terms=300, max_size=4, seed=3)
    phi = game.exact_values()
    truth = set(np.argsort(-phi)[:10].tolist())
    bandit = sh.top_k(game, 10, 400_000, seed=0)
    assert set(bandit.players.tolist()) == truth and bandit.separated
    plain = sh.top_k(game, 10, 400_000, seed=0, estimator="permutation")  # pooled rounds until separated
    assert bandit.estimate.n_evaluations * 5 <= plain.estimate.n_evaluations, (
        bandit.estimate.n_evaluations, plain.estimate.n_evaluations)
    # the bounds hold the exact values of the top players (z = 2 on 10 players)
    top = bandit.players
    assert ((bandit.lower[top] <= phi[top]) & (phi[top] <= bandit.upper[top])).mean() >= 0.8


def test_tmab_and_tmc_stay_within_the_budget_and_report_finite_errors_for_sampled_players():
    game = UnanimitySumGame(60, n_terms=80, max_size=5, seed=1)
    for name in ("tmab", "tmc"):
        for budget in (61, 200, 3_000):
            est = sh.shapley_values(game, name, budget, seed=2)
            assert est.n_evaluations <= budget and not np.isnan(est.stderr).any()
            if budget >= 3_000:
                assert np.isfinite(est.stderr).all()
    with pytest.raises(ValueError, match="at least 61"):
        sh.shapley_values(game, "tmab", 60)


@pytest.fixture(scope="module")
def network(digits):
    from svprune.train import as_tensors, train

    model = SmallCNN((1, 8, 8), [6, 8], 10, seed=0)
    x, y = as_tensors(digits.x_train, digits.y_train)
    train(model, x, y, 3, seed=0)
    model.eval()
    xt, yt = as_tensors(digits.x_test, digits.y_test)
    return model, (x, y), (xt, yt)


def test_removal_curves_equal_the_accuracy_of_physically_pruned_networks(network):
    from svprune.channels import prune_layers

    model, train, (xt, yt) = network
    game = ModuleGame(model, "all", xt, yt)
    assert game.layers == ["conv1", "conv2"] and game.n_players == 14
    scores = np.random.default_rng(0).random(14)
    curves = removal_curves(game, [ranking(scores, "mine")], 6, "test")
    assert curves["k"].tolist() == list(range(7)) and (curves["criterion"] == "mine").all()
    order = np.argsort(-scores)
    for k in (0, 3, 6):
        removed = order[:k]
        per_layer = {"conv1": [p for p in removed if p < 6], "conv2": [p - 6 for p in removed if p >= 6]}
        pruned = prune_layers(model, per_layer, example_inputs=xt[:1]).eval()
        with torch.no_grad():
            expected = float((pruned(xt).argmax(1) == yt).double().mean())
        assert curves.loc[curves["k"] == k, "measure"].item() == pytest.approx(expected, abs=1e-12)
    values = scores - 0.5
    negative = negative_removal(game, values, values + 0.1, "test").set_index("criterion")
    assert negative.loc["negative", "k"] == (values < 0).sum()
    assert negative.loc["negative (upper bound < 0)", "k"] == (values + 0.1 < 0).sum()


def test_criteria_score_every_layer_in_the_games_player_order(network):
    model, train, (xt, yt) = network
    game = ModuleGame(model, "all", xt[:64], yt[:64])
    norms = criterion_scores(model, game, "weight_norm", train)
    expected = np.concatenate([model.conv1.weight.detach().flatten(1).norm(dim=1).numpy(),
                               model.conv2.weight.detach().flatten(1).norm(dim=1).numpy()])
    np.testing.assert_allclose(norms, expected, rtol=1e-6)
    taylor = criterion_scores(model, game, "taylor", train)
    assert taylor.shape == (14,) and np.isfinite(taylor).all() and (taylor >= 0).all()
    with pytest.raises(ValueError, match="ranks by them already"):
        criterion_scores(model, game, "shapley", train)


def _curves(criteria=("weight_norm",), draws=2, max_removed=3):
    rows = [(s, c, 0, k) for s in ("test",) for c in ("shapley", *criteria) for k in range(max_removed + 1)]
    rows += [("test", "random", d, k) for d in range(draws) for k in range(max_removed + 1)]
    rows += [("valuation", "shapley", 0, k) for k in range(max_removed + 1)]
    rows += [(s, c, 0, 2) for s in ("test", "valuation") for c in ("negative", "negative (upper bound < 0)")]
    frame = pd.DataFrame(rows, columns=["split", "criterion", "draw", "k"])
    frame["measure"] = 0.5
    return frame


def test_removal_records_are_checked_against_every_criterion_draw_and_k(tmp_path):
    path = tmp_path / "removal.csv"
    _curves().to_csv(path, index=False)
    assert len(read_removal(path, ["weight_norm"], 2, 3)) == 4 * 4 + 4 + 4
    with pytest.raises(RecordError, match="no row for test random 2 0"):
        read_removal(path, ["weight_norm"], 3, 3)
    with pytest.raises(RecordError, match="unexpected row test weight_norm"):
        read_removal(path, [], 2, 3)
    _curves().iloc[:-3].to_csv(path, index=False)  # cut short
    with pytest.raises(RecordError, match=f"{path}: no row for"):
        read_removal(path, ["weight_norm"], 2, 3)
    doubled = _curves()
    pd.concat([doubled, doubled.iloc[:1]]).to_csv(path, index=False)
    with pytest.raises(RecordError, match="twice"):
        read_removal(path, ["weight_norm"], 2, 3)


def test_the_tables_say_where_shapley_does_and_does_not_lower_accuracy_most():
    from svprune.tables import lowest_by, removal_table

    curves = _curves()
    measure = {("shapley", 1): 0.3, ("shapley", 2): 0.4, ("weight_norm", 1): 0.6, ("weight_norm", 2): 0.2}
    curves["measure"] = [measure.get((c, k), 0.9) if s == "test" else 0.5
                         for s, c, k in zip(curves["split"], curves["criterion"], curves["k"])]
    table = removal_table(curves, [1, 2, 50])
    assert list(table.columns) == ["k = 0", "k = 1", "k = 2"]  # 50 is beyond the curves
    assert list(table.index) == ["shapley", "weight_norm", "random", "random (s.d. of draws)"]
    assert lowest_by(table) == [1]


@pytest.mark.parametrize("change,message", [
    ({"criteria": ["shapley"]}, "network.criteria: remove 'shapley'"),
    ({"model": {"kind": "mlp", "hidden": 10}}, "network.model.kind: the network experiment values channels"),
    ({"model": {"kind": "cnn"}}, "config network.model.image_shape"),
])
def test_the_config_check_names_the_network_field(change, message):
    from svprune.config import ConfigError, check_network

    section = {"enabled": True, "model": {"kind": "cnn", "image_shape": [1, 8, 8]}, "criteria": ["weight_norm"],
               **change}
    with pytest.raises(ConfigError, match=message):
        check_network(section)


def test_auto_takes_the_fast_walks_family_where_the_game_has_one_and_regression_where_not(trained_mlp, digits):
    from svprune.games import NeuronGame

    fast = NeuronGame(trained_mlp, digits.x_val, digits.y_val)
    assert fast.fast_prefixes
    chosen = sh.shapley_values(fast, "auto", 5_000, seed=0)
    plain = sh.shapley_values(fast, "antithetic_samples", 5_000, seed=0)  # its accuracy splits over samples
    assert chosen.extra["chose"] == "antithetic_samples" and chosen.estimator == "auto"
    np.testing.assert_array_equal(chosen.values, plain.values)  # the same estimate, same seed
    for n in (60, 300):  # every player count: the size terms keep the regression ahead of SVARM
        game = UnanimitySumGame(n, n_terms=n, max_size=4, seed=1)
        assert not getattr(game, "fast_prefixes", False)
        est = sh.shapley_values(game, "auto", 20_000, seed=0)
        assert est.extra["chose"] == "regression"
        svarm = sh.shapley_values(game, "svarm", 20_000, seed=0)
        truth = game.exact_values()
        assert np.linalg.norm(est.values - truth) < np.linalg.norm(svarm.values - truth)
    # below antithetic permutations' minimum (one pair: 80 evaluations of 40 players), the regression
    assert sh.shapley_values(fast, "auto", 60, seed=0).extra["chose"] == "regression"
