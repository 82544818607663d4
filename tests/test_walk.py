"""The pruning walk on digits: every strategy, step counts, epoch rule, determinism, records."""

import numpy as np
import pytest

from svprune.strategies import FORMS
from svprune.walk import RECORD_COLUMNS, ShapleyConfig, WalkConfig, prune_walk, summarize_walk

CFG = WalkConfig(root_epochs=20, retrain_epochs=2, theta=0.9, shapley=ShapleyConfig(budget=20))


@pytest.mark.parametrize("name,steps", [("random(1)", 40), ("random(3)", 14), ("Wbottom(3)", 14), ("SVbottom(5)", 8)])
def test_fixed_size_strategies_take_n_over_k_steps(trained_mlp, digits, name, steps):
    records = prune_walk(trained_mlp, digits, name, seed=0, config=CFG)
    summary = summarize_walk(records, 0.9, 20, 2)
    assert summary["steps"] == steps
    assert summary["epochs"] == 20 + 2 * steps
    assert records["players_after"].iloc[-1] == 0
    assert list(records.columns) == RECORD_COLUMNS


@pytest.mark.parametrize("name", ["SVbucket(0.2)", "SVbottomP(0.5)", "SVbottom(2)", "Wbottom(1)", "random(2)"])
def test_every_strategy_walks_to_zero_with_consistent_records(trained_mlp, digits, name):
    records = prune_walk(trained_mlp, digits, name, seed=1, config=CFG)
    assert FORMS[name.split("(")[0]]
    assert records["step"].tolist() == list(range(len(records)))
    assert (records["players_after"].iloc[1:] < records["players_before"].iloc[1:]).all()
    assert (records["players_before"].iloc[1:].to_numpy() == records["players_after"].iloc[:-1].to_numpy()).all()
    assert (records["epochs"] == 20 + 2 * records["step"]).all()
    pruned = [int(u) for s in records["pruned"] for u in s.split()]
    assert sorted(pruned) == list(range(40))  # every unit pruned exactly once
    assert records.loc[1:, "shapley_evaluations"].gt(0).all()
    summary = summarize_walk(records, 0.9, 20, 2)
    above = records[records["accuracy"] >= 0.9]
    assert summary["found"] == above["players_after"].min()


def test_svbucket_removes_at_most_p_unless_forced(trained_mlp, digits):
    records = prune_walk(trained_mlp, digits, "SVbucket(0.2)", seed=2, config=CFG)
    steps = records.iloc[1:]
    multi = steps[steps["players_before"] - steps["players_after"] > 1]
    assert (multi.loc[multi["shapley_normalized"].astype(bool), "removed_shapley"] < 0.2).all()


def test_same_seed_same_walk(trained_mlp, digits):
    a = prune_walk(trained_mlp, digits, "SVbucket(0.3)", seed=5, config=CFG)
    b = prune_walk(trained_mlp, digits, "SVbucket(0.3)", seed=5, config=CFG)
    cols = [c for c in RECORD_COLUMNS if c != "wall_time"]
    assert a[cols].equals(b[cols])


def test_stop_below_theta(trained_mlp, digits):
    cfg = WalkConfig(theta=0.9, stop_below_theta=True, shapley=ShapleyConfig(budget=20))
    records = prune_walk(trained_mlp, digits, "random(3)", seed=0, config=cfg)
    assert (records["accuracy"].iloc[:-1] >= 0.9).all()
    assert records["accuracy"].iloc[-1] < 0.9 or records["players_after"].iloc[-1] == 0


def test_root_model_is_not_modified(trained_mlp, digits):
    before = [p.detach().clone() for p in trained_mlp.parameters()]
    prune_walk(trained_mlp, digits, "SVbottom(10)", seed=0, config=CFG)
    for a, b in zip(before, trained_mlp.parameters()):
        assert np.array_equal(a.numpy(), b.detach().numpy())


def test_adaptive_budget_from_the_walk_config(trained_mlp, digits):
    cfg = WalkConfig(theta=0.9, shapley=ShapleyConfig(budget=5000, tolerance=0.01))
    records = prune_walk(trained_mlp, digits, "SVbucket(0.3)", seed=0, config=cfg).iloc[1:]
    assert (records["shapley_stderr_max"] <= 0.01).all()
    assert (records["shapley_samples"] < 5000).any()  # stopped early where the tolerance was reached
