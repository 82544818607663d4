"""The CUDA paths against the CPU ones (skipped where no GPU is present; run on the device machine)."""

import copy

import numpy as np
import pytest
import torch

from svprune import shapley as sh
from svprune.games import ModuleGame, NeuronGame
from svprune.models import MLP, SmallCNN
from svprune.train import as_tensors, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("measure", ["accuracy", "balanced_accuracy", "neg_cross_entropy"])
def test_neuron_game_on_cuda_equals_cpu(digits, measure):
    model = MLP(digits.n_features, [20], digits.n_classes, seed=0)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=3, seed=0)
    cpu = NeuronGame(model, digits.x_val, digits.y_val, measure=measure)
    gpu = NeuronGame(copy.deepcopy(model).to("cuda"), *as_tensors(digits.x_val, digits.y_val, device="cuda"),
                     measure=measure)
    assert gpu.fast_prefixes and gpu.device.type == "cuda"
    perms = np.random.default_rng(0).permuted(np.tile(np.arange(20), (40, 1)), axis=1)
    tol = 1e-5 if measure == "neg_cross_entropy" else 3 / len(digits.y_val)
    assert np.abs(gpu.prefix_values(perms) - cpu.prefix_values(perms)).max() <= tol


def test_module_game_on_cuda_equals_cpu(digits):
    model = SmallCNN((1, 8, 8), (4, 6), digits.n_classes, seed=0)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=2, seed=0)
    cpu = ModuleGame(model, "conv2", *as_tensors(digits.x_val, digits.y_val))
    a = sh.exact(cpu).values
    gpu = ModuleGame(copy.deepcopy(model).to("cuda"), "conv2", *as_tensors(digits.x_val, digits.y_val, device="cuda"))
    assert gpu.mode == "cached" and gpu.fast
    np.testing.assert_allclose(sh.exact(gpu).values, a, atol=3 / len(digits.y_val))
    b = sh.shapley_values(gpu, "antithetic", 200, seed=0).values
    c = sh.shapley_values(cpu, "antithetic", 200, seed=0).values
    np.testing.assert_allclose(b, c, atol=3 / len(digits.y_val))
