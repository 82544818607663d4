"""Fused training: M MLPs advanced as one tensor program equal each MLP trained alone with the same
initialisation and minibatch order (float32 rounding aside); masked units equal removed ones."""

import numpy as np
import pytest
import torch

from svprune.fused import StackedMLP, train_fused
from svprune.models import MLP, remove_units
from svprune.settings import TrainConfig
from svprune.train import TrainingDiverged, accuracy, as_tensors, train


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "adamw"])
def test_fused_equals_sequential_on_real_data(digits, optimizer):
    x, y = as_tensors(digits.x_train, digits.y_train)
    xv, yv = as_tensors(digits.x_val, digits.y_val)
    cfg = TrainConfig(optimizer=optimizer, learning_rate=0.01 if optimizer != "sgd" else 0.1, batch_size=32)
    seeds = [11, 12, 13, 14]
    alone = [MLP(digits.n_features, [8], digits.n_classes, seed=s) for s in seeds]
    stacked = StackedMLP([MLP(digits.n_features, [8], digits.n_classes, seed=s) for s in seeds])
    # one epoch: weights equal to float32 rounding
    for model in alone:
        train(model, x, y, 1, seed=5, config=cfg)
    train_fused(stacked, x, y, 1, seed=5, config=cfg)
    for model, fused in zip(alone, stacked.unstack()):
        for a, b in zip(model.parameters(), fused.parameters()):
            torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5)
    # several more epochs: the same accuracy, model by model (a near-tie may flip one sample)
    for model in alone:
        train(model, x, y, 5, seed=6, config=cfg)
    train_fused(stacked, x, y, 5, seed=6, config=cfg)
    fused_acc = stacked.accuracy(xv, yv)
    alone_acc = [accuracy(m, xv, yv) for m in alone]
    assert np.abs(np.array(fused_acc) - alone_acc).max() <= 1 / len(yv)
    assert len(set(alone_acc)) > 1  # the models differ: a mixed-up seed would show


def test_a_mixed_up_order_or_seed_is_caught(digits):
    """The tolerances above are far below what another minibatch order or initialisation gives."""
    x, y = as_tensors(digits.x_train, digits.y_train)
    cfg = TrainConfig(learning_rate=0.01, batch_size=32)
    a, b = MLP(digits.n_features, [8], digits.n_classes, seed=1), MLP(digits.n_features, [8], digits.n_classes, seed=1)
    train(a, x, y, 1, seed=5, config=cfg)
    train(b, x, y, 1, seed=6, config=cfg)
    assert (a.linears[0].weight - b.linears[0].weight).abs().max() > 1e-3


def test_masked_units_train_like_removed_units(digits):
    x, y = as_tensors(digits.x_train, digits.y_train)
    cfg = TrainConfig(learning_rate=0.01, batch_size=32)
    root = MLP(digits.n_features, [10], digits.n_classes, seed=3)
    removed = [1, 4, 5]
    pruned = remove_units(root, 0, removed)
    stacked = StackedMLP([root])
    mask = torch.ones(1, 10)
    mask[0, removed] = 0
    stacked.masks[0] = mask
    train(pruned, x, y, 2, seed=9, config=cfg)
    train_fused(stacked, x, y, 2, seed=9, config=cfg)
    kept = [i for i in range(10) if i not in removed]
    trained = stacked.unstack()[0]
    torch.testing.assert_close(trained.linears[0].weight[kept], pruned.linears[0].weight, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(trained.linears[1].weight[:, kept], pruned.linears[1].weight, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(trained.linears[1].bias, pruned.linears[1].bias, atol=2e-6, rtol=1e-5)
    # the masked units' weights never moved (no gradient reaches them)
    torch.testing.assert_close(trained.linears[0].weight[removed], root.linears[0].weight[removed])


def test_divergence_names_the_models():
    x = torch.randn(64, 4)
    y = torch.randint(0, 3, (64,))
    stacked = StackedMLP([MLP(4, [3], 3, seed=s) for s in range(3)])
    with pytest.raises(TrainingDiverged, match="model\\(s\\) \\[0, 1, 2\\]"):
        train_fused(stacked, x * 1e20, y, 2, seed=0, config=TrainConfig(optimizer="sgd", learning_rate=1e12))


def test_architectures_must_match():
    with pytest.raises(ValueError, match="another architecture"):
        StackedMLP([MLP(4, [3], 3), MLP(4, [5], 3)])
