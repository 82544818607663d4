"""The pruning walk on digits: every strategy, step counts, epoch rule, determinism, records; residual walks, a
player layer other than the last, payoffs on the test split."""

import numpy as np
import pytest
import torch

from svprune.games import NeuronGame
from svprune.models import MLP, ResidualMLP
from svprune.records import WALK_COLUMNS, check_walk, summarize_walk
from svprune.train import accuracy, as_tensors, train
from svprune.walk import ShapleyConfig, WalkConfig, prune_walk, prune_walks

CFG = WalkConfig(root_epochs=20, retrain_epochs=2, theta=0.9, shapley=ShapleyConfig(budget=800))


@pytest.mark.parametrize("name,steps", [("random(1)", 40), ("random(3)", 14), ("Wbottom(3)", 14), ("SVbottom(5)", 8)])
def test_fixed_size_strategies_take_n_over_k_steps(trained_mlp, digits, name, steps):
    records = prune_walk(trained_mlp, digits, name, seed=0, config=CFG)
    summary = summarize_walk(records, 0.9, 20, 2)
    assert summary["steps"] == steps
    assert summary["epochs"] == 20 + 2 * steps
    assert records["players_after"].iloc[-1] == 0
    assert list(records.columns) == WALK_COLUMNS


@pytest.mark.parametrize("name", ["SVbucket(0.2)", "SVbottomP(0.5)", "SVbottom(2)", "Wbottom(1)", "random(2)"])
def test_every_strategy_walks_to_zero_with_consistent_records(trained_mlp, digits, name):
    records = prune_walk(trained_mlp, digits, name, seed=1, config=CFG)
    check_walk(records, "walk")  # steps 0.., players falling step by step, ends with none left
    assert (records["epochs"] == 20 + 2 * records["step"]).all()
    pruned = [int(u) for s in records["pruned"].iloc[1:] for u in s.split()]
    assert sorted(pruned) == list(range(40))  # every unit pruned exactly once
    assert records.loc[1:, "shapley_evaluations"].gt(0).all()
    x, y = as_tensors(*digits.split("validation"))
    assert records["accuracy"].iloc[0] == accuracy(trained_mlp, x, y)  # step 0 is the root model
    with torch.no_grad():
        never_active = int((trained_mlp.hidden(x, 0).max(0).values <= 0).sum())
    assert records["dead_units"].iloc[0] == never_active
    assert (records["dead_units"] <= records["players_after"]).all()


def test_svbucket_removes_at_most_p_unless_forced(trained_mlp, digits):
    records = prune_walk(trained_mlp, digits, "SVbucket(0.2)", seed=2, config=CFG)
    steps = records.iloc[1:]
    multi = steps[steps["players_before"] - steps["players_after"] > 1]
    assert len(multi), "the walk should prune several players in some step"
    assert (multi.loc[multi["shapley_normalized"].astype(bool), "removed_shapley"] < 0.2).all()


def test_same_seed_same_walk_other_seed_other_walk(trained_mlp, digits):
    a = prune_walk(trained_mlp, digits, "SVbucket(0.3)", seed=5, config=CFG)
    b = prune_walk(trained_mlp, digits, "SVbucket(0.3)", seed=5, config=CFG)
    c = prune_walk(trained_mlp, digits, "SVbucket(0.3)", seed=6, config=CFG)
    cols = [col for col in WALK_COLUMNS if col != "wall_time"]
    assert a[cols].equals(b[cols])
    assert not a[cols].equals(c[cols])


def test_stop_below_theta(trained_mlp, digits):
    cfg = WalkConfig(theta=0.9, stop_below_theta=True, shapley=ShapleyConfig(budget=800))
    records = prune_walk(trained_mlp, digits, "random(3)", seed=0, config=cfg)
    assert (records["accuracy"].iloc[:-1] >= 0.9).all()
    assert records["accuracy"].iloc[-1] < 0.9
    assert records["players_after"].iloc[-1] > 0  # it stopped early: this root model falls below 0.9 before 0


def test_root_model_is_not_modified(trained_mlp, digits):
    before = [p.detach().clone() for p in trained_mlp.parameters()]
    prune_walk(trained_mlp, digits, "SVbottom(10)", seed=0, config=CFG)
    for a, b in zip(before, trained_mlp.parameters()):
        assert np.array_equal(a.numpy(), b.detach().numpy())


def test_the_subset_estimator_warns_when_it_values_many_players_in_a_walk(trained_mlp, digits, caplog):
    cfg = WalkConfig(retrain_epochs=0, theta=0.9, stop_below_theta=True, shapley=ShapleyConfig(estimator="subset",
                                                                                              budget=200))
    with caplog.at_level("WARNING", logger="svprune.shapley"):
        prune_walk(trained_mlp, digits, "SVbottom(40)", seed=0, config=cfg)
    assert any("subset estimator" in r.message and "40 players" in r.message for r in caplog.records)


def test_adaptive_budget_from_the_walk_config(trained_mlp, digits):
    cfg = WalkConfig(theta=0.9, shapley=ShapleyConfig(budget=100_000, tolerance=0.01))
    records = prune_walk(trained_mlp, digits, "SVbucket(0.3)", seed=0, config=cfg).iloc[1:]
    sampled = records[records["players_before"] > 16]  # smaller games are enumerated within the budget
    assert (sampled["shapley_stderr_max"] <= 0.01).all()
    assert (sampled["shapley_evaluations"] < 100_000).any()  # stopped early where the tolerance was reached


def test_residual_walk_prunes_blocks_and_records_accuracy_before_retraining(digits):
    model = ResidualMLP(digits.n_features, 16, 4, digits.n_classes, seed=0)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=3, seed=0)
    cfg = WalkConfig(retrain_epochs=1, shapley=ShapleyConfig(estimator="exact"))
    records = prune_walk(model, digits, "SVbottom(1)", seed=0, config=cfg)
    check_walk(records, "residual walk")
    assert records["players_before"].tolist() == [4, 4, 3, 2, 1]
    assert (records.loc[1:, "shapley_evaluations"] == [16, 8, 4, 2]).all()  # exact: 2^n coalitions
    # step 1 removed the block of smallest exact value: accuracy before retraining is that of the bypassed model
    x, y = as_tensors(*digits.split("validation"))
    removed = int(records["pruned"].iloc[1])
    active = [i != removed for i in range(4)]
    with torch.no_grad():
        bypassed = float((model(x, active).argmax(1) == y).double().mean())
    assert records["accuracy_before_retrain"].iloc[1] == pytest.approx(bypassed, abs=1e-12)


def test_walk_on_a_player_layer_before_the_last(deep_mlp, digits):
    cfg = WalkConfig(retrain_epochs=1, layer=0, shapley=ShapleyConfig(estimator="permutation", budget=400))
    records = prune_walk(deep_mlp, digits, "SVbottom(6)", seed=0, config=cfg)
    check_walk(records, "layer-0 walk")
    assert records["players_before"].tolist() == [24, 24, 18, 12, 6]  # layer 0 has 24 units; layer 1 stays 16
    # the values of step 1 come from layer 0's game of 24 players: a budget of 400 buys 17 permutations (17 x 23 + 2)
    assert records["shapley_evaluations"].iloc[1] == 17 * 23 + 2
    pruned = [int(u) for u in records["pruned"].iloc[1].split()]
    x, y = as_tensors(*digits.split("validation"))
    game = NeuronGame(deep_mlp, x, y, layer=0)
    keep = np.ones((1, 24), dtype=bool)
    keep[0, pruned] = False
    expected = game.value(keep)[0] + game.empty_measure  # masking layer 0 = the physically pruned model
    assert records["accuracy_before_retrain"].iloc[1] == pytest.approx(expected, abs=1e-12)


def test_eval_split_test_uses_the_test_split(trained_mlp, digits):
    cfg = WalkConfig(retrain_epochs=1, eval_split="test", shapley=ShapleyConfig(budget=400))
    records = prune_walk(trained_mlp, digits, "random(10)", seed=0, config=cfg)
    x, y = as_tensors(*digits.split("test"))
    assert records["accuracy"].iloc[0] == accuracy(trained_mlp, x, y)
    assert (records["accuracy"] == records["test_accuracy"]).all()


def test_shapley_for_all_false_values_nothing_for_random(trained_mlp, digits):
    cfg = WalkConfig(retrain_epochs=1, shapley_for_all=False, shapley=ShapleyConfig(budget=400))
    records = prune_walk(trained_mlp, digits, "random(10)", seed=0, config=cfg)
    assert (records["shapley_evaluations"] == 0).all()
    assert records["removed_shapley"].isna().all()
    sv = prune_walk(trained_mlp, digits, "SVbottom(10)", seed=0, config=cfg)
    assert (sv.loc[1:, "shapley_evaluations"] > 0).all()  # Shapley strategies still value their players


@pytest.mark.parametrize("name", ["SVbucket(0.2)", "random(3)", "Wbottom(4)"])
def test_walks_retrained_together_equal_the_reference_walk(trained_mlp, digits, name):
    """A group's first walk retrains on its own minibatch orders, so it is prune_walk up to float32 rounding;
    the others differ only in their retraining order, and every walk is complete."""
    cfg = WalkConfig(retrain_epochs=1, shapley=ShapleyConfig(budget=800))
    other = MLP(digits.n_features, [40], digits.n_classes, seed=9)
    train(other, *as_tensors(digits.x_train, digits.y_train), epochs=5, seed=9)
    together = prune_walks([trained_mlp, other], digits, name, seeds=[0, 1], config=cfg)
    alone = prune_walk(trained_mlp, digits, name, seed=0, config=cfg, walk_id=f"{name}/seed0")
    first = together[0]
    assert first["players_after"].tolist() == alone["players_after"].tolist()
    assert first["pruned"].tolist() == alone["pruned"].tolist()
    n = len(digits.y_val)
    assert np.abs(first["accuracy"] - alone["accuracy"]).max() <= 2 / n
    for records, seed in zip(together, [0, 1]):
        check_walk(records, f"walk {seed}")
        assert (records["seed"] == seed).all() and (records["epochs"] == 20 + records["step"]).all()
