"""Records and inputs that cannot be silently wrong: every expected walk and grid run present, accuracies in [0, 1]
and finite, outputs readable under the user's umask, and library inputs refused where they would give wrong
numbers (coalitions that are not memberships, repeated players in a permutation, NaN payoffs, impossible
parameters)."""

import os
import stat

import numpy as np
import pandas as pd
import pytest

from svprune.files import atomic_path
from svprune.games import paper_example
from svprune.records import RecordError, read_grid, read_walks
from svprune.shapley import shapley_values
from tests.test_records import walk, write


def test_every_expected_walk_must_be_there_once(tmp_path):
    both = write(pd.concat([walk([0.9, 0.8, 0.1], [4, 2, 0], "random(2)", 0),
                            walk([0.9, 0.7, 0.2], [4, 2, 0], "random(2)", 1)]), tmp_path / "seeds0-1.csv")
    assert len(read_walks([both], strategies=["random(2)"], seeds=[0, 1])) == 6
    lost = write(walk([0.9, 0.8, 0.1], [4, 2, 0], "random(2)", 0), tmp_path / "lost.csv")  # cut at a line boundary
    with pytest.raises(RecordError, match=r"the walk of random\(2\) seed 1 is missing.*lost\.csv.*--forcerun"):
        read_walks([lost], strategies=["random(2)"], seeds=[0, 1])
    with pytest.raises(RecordError, match=r"holds a walk of random\(2\) seed 1, which this configuration does not run"):
        read_walks([both], strategies=["random(2)"], seeds=[0])
    with pytest.raises(RecordError, match=r"holds the walk of random\(2\) seed 0, which .*seeds0-1\.csv holds too"):
        read_walks([both, lost])


@pytest.mark.parametrize("column,value", [("accuracy", 1.7), ("test_accuracy", np.nan), ("accuracy", -0.1),
                                          ("accuracy_before_retrain", np.inf)])
def test_accuracies_outside_zero_one_or_not_finite_are_named(tmp_path, column, value):
    frame = walk([0.9, 0.8, 0.1], [4, 2, 0])
    frame.loc[1, column] = value
    path = write(frame, tmp_path / "bad.csv")
    with pytest.raises(RecordError, match=rf"bad\.csv: {column} at step 1 is {value}, not an accuracy in \[0, 1\]"):
        read_walks([path])


def test_pruned_players_must_account_for_each_step(tmp_path):
    frame = walk([0.9, 0.8, 0.1], [4, 2, 0])
    frame.loc[1, "pruned"] = "3"
    with pytest.raises(RecordError, match="do not account for its change in players"):
        read_walks([write(frame, tmp_path / "edited.csv")])


def test_every_grid_run_must_be_there(tmp_path):
    rows = [{"hidden": h, "epochs": e, "repetition": r, "seed": 0, "order_seed": 0, "accuracy": 0.5,
             "test_accuracy": 0.5} for h in (3, 6) for r in (0, 1) for e in (2, 4)]
    full = write(pd.DataFrame(rows), tmp_path / "grid.csv")
    assert len(read_grid([full], budgets=[2, 4], sizes=[3, 6], repetitions=2)) == 8
    cut = write(pd.DataFrame(rows[:-2]), tmp_path / "cut.csv")
    with pytest.raises(RecordError, match=r"hidden 6 repetition 1 is missing.*cut\.csv"):
        read_grid([cut], budgets=[2, 4], sizes=[3, 6], repetitions=2)


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_outputs_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "table.csv") as tmp:
            open(tmp, "w").write("a\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "table.csv").stat().st_mode) == mode


def test_coalitions_must_be_memberships():
    game = paper_example()
    n = game.n_players
    np.testing.assert_array_equal(game.value(np.ones((1, n), dtype=int)), game.value(np.ones((1, n), dtype=bool)))
    for bad, message in ((np.full((1, n), 0.5), "0/1 integers"), (np.full((1, n), 2), r"values such as \[2"),
                         (np.full((1, n), -1), r"values such as \[-1"), (np.ones((1, n)), "got floats")):
        with pytest.raises(ValueError, match=message):
            game.value(bad)


def test_permutations_on_the_plain_path_are_checked():
    game = paper_example()
    with pytest.raises(ValueError, match="every row must be a permutation"):
        game.prefix_values(np.array([[0, 0, 1]]))

    def f(c):
        return c.sum(1).astype(float)

    with pytest.raises(ValueError, match="n_players must be a whole number >= 0"):
        shapley_values(f, "permutation", 100, n_players=-3)
    with pytest.raises(ValueError, match="NaN or infinite payoffs"):
        shapley_values(lambda c: np.where(c[:, 0], np.nan, 1.0), "permutation", 100, n_players=3)


def test_impossible_walk_parameters_are_refused(digits, trained_mlp):
    from svprune.settings import WalkConfig
    from svprune.walk import prune_walk

    with pytest.raises(ValueError, match=r"theta is an accuracy threshold in \[0, 1\]; got 1.5"):
        WalkConfig(theta=1.5)
    with pytest.raises(ValueError, match="not a finite number"):
        prune_walk(trained_mlp, digits, "SVbottom(inf)", seed=0)


def test_a_root_made_for_another_seed_or_training_is_refused(tmp_path, digits, caplog):
    from svprune.cli import main

    data = tmp_path / "splits.npz"
    digits.save(data)
    roots = {}
    for seed, epochs in ((0, 1), (1, 1), (2, 2)):
        roots[seed] = tmp_path / f"seed{seed}-{epochs}.pt"
        assert main(["train-root", "--data", str(data), "--model", '{"hidden": 4}', "--training",
                     f'{{"root_epochs": {epochs}}}', "--seed", str(seed), "--out", str(roots[seed])]) == 0
    walk_args = ["walk", "--data", str(data), "--strategy", "random(2)", "--model", '{"hidden": 4}', "--pruning",
                 '{"retrain_epochs": 1, "shapley": {"estimator": "exact"}}', "--out", str(tmp_path / "w.csv")]
    assert main([*walk_args, "--root", str(roots[1]), "--seed", "0", "--training", '{"root_epochs": 1}']) == 1
    assert "was made with seed 1 where this walk's is 0" in caplog.text
    assert main([*walk_args, "--root", str(roots[2]), "--seed", "2", "--training", '{"root_epochs": 1}']) == 1
    assert "training {'root_epochs': 2} where this run's is {'root_epochs': 1}" in caplog.text
    assert main([*walk_args, "--root", str(roots[0]), "--seed", "0", "--training", '{"root_epochs": 1}']) == 0


def test_a_budget_below_the_estimators_minimum_stops_the_model_check(tmp_path, digits, caplog):
    from svprune.cli import main

    data = tmp_path / "splits.npz"
    digits.save(data)
    pruning = '{"shapley": {"estimator": "stratified", "budget": 100}}'
    assert main(["check-model", "--data", str(data), "--model", '{"hidden": 40}', "--pruning", pruning,
                 "--out", str(tmp_path / "c.json")]) == 1
    assert "config pruning.shapley.budget: the stratified estimator needs at least" in caplog.text


@pytest.mark.parametrize("foreign", ["residual", "two-layer"])
def test_roots_of_another_architecture_are_refused_naming_the_file(tmp_path, digits, caplog, foreign):
    from svprune.cli import main
    from svprune.models import MLP, ResidualMLP, save_checkpoint

    data, root = tmp_path / "splits.npz", tmp_path / "roots" / "seed0.pt"
    digits.save(data)
    model = ResidualMLP(64, 16, 4, 10, seed=0) if foreign == "residual" else MLP(64, [12, 12], 10, seed=0)
    save_checkpoint(model, root, seed=0)
    assert main(["walk", "--data", str(data), "--root", str(root), "--seed", "0", "--strategy", "random(3)",
                 "--model", '{"hidden": 12}', "--out", str(tmp_path / "w.csv")]) == 1
    assert f"{root} holds a {'residual' if foreign == 'residual' else 'mlp'} model" in caplog.text
    assert "this run's config describes {'kind': 'mlp', 'n_in': 64, 'hidden': [12], 'n_out': 10}" in caplog.text


def test_a_duck_typed_games_own_permutation_walk_is_used_and_checked():
    from svprune.games import UnanimitySumGame
    from svprune.shapley import shapley_values

    reference = UnanimitySumGame(12, n_terms=6, max_size=3, seed=1)
    calls = {"value": 0, "prefix_values": 0}

    class Duck:  # no base class: n_players, value and the optional prefix_values
        n_players = 12

        def value(self, coalitions):
            calls["value"] += len(coalitions)
            return reference.value(coalitions)

        def prefix_values(self, perms):
            calls["prefix_values"] += len(perms)
            return reference.prefix_values(perms)

    est = shapley_values(Duck(), "permutation", 2_000, seed=0)
    assert calls["prefix_values"] > 0 and calls["value"] <= 2  # only v(empty) and v(U) through value()
    np.testing.assert_allclose(est.values, shapley_values(reference, "permutation", 2_000, seed=0).values)

    class Liar(Duck):
        def prefix_values(self, perms):
            return np.zeros((len(perms), 3))

    with pytest.raises(ValueError, match=r"prefix_values\(\) returned shape"):
        shapley_values(Liar(), "permutation", 2_000, seed=0)

    class Slow(Duck):
        fast_prefixes = False  # it says its walk is not faster than value(): not used

    calls.update(value=0, prefix_values=0)
    shapley_values(Slow(), "permutation", 2_000, seed=0)
    assert calls["prefix_values"] == 0 and calls["value"] > 0
