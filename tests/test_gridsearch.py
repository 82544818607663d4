"""The grid search: each group of repetitions is trained as one fused program; each repetition equals the model
trained alone from its own initialisation on the group's minibatch order, and one run serves every epoch
budget (the model after E epochs of it is the model trained from scratch for E epochs)."""

import numpy as np

from svprune.gridsearch import cell_seed, grid_runs, order_seed
from svprune.models import MLP
from svprune.records import check_grid
from svprune.settings import TrainConfig, repetition_groups
from svprune.train import accuracy, as_tensors, train


def test_each_repetition_and_budget_equals_training_alone_from_scratch(digits):
    cfg = TrainConfig(learning_rate=0.01, batch_size=32)
    rows = grid_runs(digits, hidden=5, epochs=[3, 1], repetitions=[2, 3, 4], seed=7, config=cfg)
    check_grid(rows, "grid run", budgets=[1, 3])
    assert sorted(set(rows["repetition"])) == [2, 3, 4] and len(rows) == 6
    shuffle = order_seed(7, 5, 2)
    assert (rows["order_seed"] == shuffle).all()
    x_eval, y_eval = as_tensors(*digits.split("validation"))
    x_test, y_test = as_tensors(*digits.split("test"))
    for rep in (2, 4):
        for epochs in (1, 3):
            model = MLP(digits.n_features, [5], digits.n_classes, seed=cell_seed(7, 5, rep))
            train(model, *as_tensors(digits.x_train, digits.y_train), epochs, seed=shuffle, config=cfg)
            row = rows[(rows["epochs"] == epochs) & (rows["repetition"] == rep)].iloc[0]
            assert row["seed"] == cell_seed(7, 5, rep)
            # float32 rounding of the batched products may flip a near-tie of one sample, no more
            assert abs(row["accuracy"] - accuracy(model, x_eval, y_eval)) <= 1 / len(y_eval)
            assert abs(row["test_accuracy"] - accuracy(model, x_test, y_test)) <= 1 / len(y_test)


def test_repetitions_do_not_depend_on_their_group_size(digits):
    """Adding repetitions adds groups; a repetition's numbers stay those of its group."""
    cfg = TrainConfig(learning_rate=0.01, batch_size=32)
    small = grid_runs(digits, hidden=4, epochs=[2], repetitions=[0, 1], seed=0, config=cfg)
    large = grid_runs(digits, hidden=4, epochs=[2], repetitions=[0, 1, 2, 3], seed=0, config=cfg)
    np.testing.assert_allclose(large["accuracy"][:2], small["accuracy"], atol=1 / len(digits.y_val))
    assert repetition_groups(5, 2) == [(0, 1), (2, 3), (4, 4)]
    assert repetition_groups(6, 2)[:2] == repetition_groups(5, 2)[:2]


def test_cells_get_distinct_seeds():
    seeds = {cell_seed(0, h, r) for h in range(3, 11) for r in range(20)}
    assert len(seeds) == 8 * 20
    assert order_seed(0, 3, 0) != cell_seed(0, 3, 0)
