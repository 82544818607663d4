"""The grid-search run: one training run serves every epoch budget, because the model after E epochs of it is
the model trained from scratch for E epochs."""

from svprune.gridsearch import cell_seed, grid_runs
from svprune.models import MLP
from svprune.records import check_grid
from svprune.settings import TrainConfig
from svprune.train import accuracy, as_tensors, train


def test_each_budget_equals_training_from_scratch_for_that_many_epochs(digits):
    cfg = TrainConfig(learning_rate=0.01, batch_size=32)
    rows = grid_runs(digits, hidden=5, epochs=[3, 1], repetition=2, seed=7, config=cfg)
    check_grid(rows, "grid run", budgets=[1, 3])
    assert rows["epochs"].tolist() == [1, 3]
    run_seed = cell_seed(7, 5, 2)
    assert (rows["seed"] == run_seed).all()
    for epochs in (1, 3):
        model = MLP(digits.n_features, [5], digits.n_classes, seed=run_seed)
        train(model, *as_tensors(digits.x_train, digits.y_train), epochs, seed=run_seed, config=cfg)
        row = rows[rows["epochs"] == epochs].iloc[0]
        assert row["accuracy"] == accuracy(model, *as_tensors(*digits.split("validation")))
        assert row["test_accuracy"] == accuracy(model, *as_tensors(*digits.split("test")))


def test_cells_get_distinct_seeds():
    seeds = {cell_seed(0, h, r) for h in range(3, 11) for r in range(20)}
    assert len(seeds) == 8 * 20
