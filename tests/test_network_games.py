"""Games on trained networks: payoffs equal plain masked forward passes; the fast paths equal the plain one;
physical pruning equals masking."""

import numpy as np
import pytest
import torch

from svprune import shapley as sh
from svprune.games import LayerGame, NeuronGame
from svprune.models import MLP, ResidualMLP, remove_blocks, remove_units
from svprune.train import accuracy, as_tensors, train


def masked_accuracy(model, x, y, layer, mask):
    masks = {layer: torch.as_tensor(mask, dtype=torch.float32)}
    with torch.no_grad():
        return float((model(x, masks).argmax(1) == y).double().mean())


@pytest.mark.parametrize("layer", [0, 1])
def test_neuron_game_equals_masked_forward(deep_mlp, digits, rng, layer):
    x, y = as_tensors(digits.x_val, digits.y_val)
    game = NeuronGame(deep_mlp, x, y, layer=layer, max_batch_bytes=1 << 16)  # many small chunks
    coalitions = rng.random((50, game.n_players)) < 0.5
    empty = masked_accuracy(deep_mlp, x, y, layer, np.zeros(game.n_players))
    expected = [masked_accuracy(deep_mlp, x, y, layer, c) - empty for c in coalitions]
    np.testing.assert_allclose(game.value(coalitions), expected, atol=1e-12)
    assert game.value(np.zeros((1, game.n_players), dtype=bool))[0] == 0


def test_pruned_model_accuracy_equals_payoff_of_kept_coalition(trained_mlp, digits, rng):
    x, y = as_tensors(digits.x_val, digits.y_val)
    game = NeuronGame(trained_mlp, x, y)
    remove = rng.choice(40, size=15, replace=False)
    keep = np.ones((1, 40), dtype=bool)
    keep[0, remove] = False
    pruned = remove_units(trained_mlp, 0, remove)
    assert pruned.hidden_sizes == [25]
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in trained_mlp.parameters())
    assert accuracy(pruned, x, y) == pytest.approx(game.value(keep)[0] + game.empty_measure, abs=1e-12)
    with torch.no_grad():
        masked = trained_mlp(x, {0: torch.as_tensor(keep[0], dtype=torch.float32)})
        torch.testing.assert_close(pruned(x), masked, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_permutation_path_equals_plain(digits, seed):
    model = MLP(digits.n_features, [30], digits.n_classes, seed=seed)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=3, seed=seed)
    x, y = digits.x_val, digits.y_val
    fast = NeuronGame(model, x, y)
    plain = NeuronGame(model, x, y, fast=False)
    assert fast.fast and not plain.fast
    a = sh.permutation(fast, 64, seed=seed)
    b = sh.permutation(plain, 64, seed=seed)
    # identical coalitions; values may differ only where float rounding flips an arg-max tie
    assert np.abs(a.values - b.values).max() <= 2 / len(y)
    assert a.n_evaluations == b.n_evaluations


def test_torch_incremental_path_equals_numba(trained_mlp, digits, rng):
    game = NeuronGame(trained_mlp, digits.x_val, digits.y_val)
    perms = rng.permuted(np.tile(np.arange(40), (20, 1)), axis=1)
    counts_numba = np.round((game.prefix_values(perms) + game.empty_measure) * len(digits.y_val))
    counts_torch = game._prefix_correct_torch(perms)
    assert np.abs(counts_numba - counts_torch).max() <= 1


def test_fast_exact_gray_code_equals_plain(digits):
    model = MLP(digits.n_features, [12], digits.n_classes, seed=3)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=3, seed=3)
    fast = NeuronGame(model, digits.x_val, digits.y_val)
    plain = NeuronGame(model, digits.x_val, digits.y_val, fast=False)
    tf, tp = fast.all_values(), plain.all_values()
    assert np.abs(tf - tp).max() <= 1 / len(digits.y_val) + 1e-12
    exact = sh.exact(fast)
    assert abs(exact.values.sum() - exact.grand_value) < 1e-9


def test_exact_agrees_with_permutation_as_permutations_grow(digits):
    model = MLP(digits.n_features, [10], digits.n_classes, seed=4)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=3, seed=4)
    game = NeuronGame(model, digits.x_val, digits.y_val)
    truth = sh.exact(game).values
    errors = [np.abs(sh.permutation(game, m, seed=0).values - truth).mean() for m in (16, 256, 4096)]
    assert errors[2] < errors[0]
    assert errors[2] < 0.002


def test_other_measures(deep_mlp, digits):
    for measure in ("balanced_accuracy", "neg_cross_entropy"):
        game = NeuronGame(deep_mlp, digits.x_val, digits.y_val, measure=measure)
        assert not game.fast
        est = sh.permutation(game, 16, seed=0)
        assert abs(est.values.sum() - est.grand_value) < 1e-9
    with pytest.raises(ValueError, match="unknown measure"):
        NeuronGame(deep_mlp, digits.x_val, digits.y_val, measure="f1")


def test_layer_game_bypasses_blocks(digits, rng):
    model = ResidualMLP(digits.n_features, 32, 5, digits.n_classes, seed=0)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=3, seed=0)
    x, y = as_tensors(digits.x_val, digits.y_val)
    game = LayerGame(model, x, y, max_batch_bytes=1 << 16)
    coalitions = rng.random((12, 5)) < 0.5
    with torch.no_grad():
        def acc(active):
            return float((model(x, active).argmax(1) == y).double().mean())
        expected = [acc(c) - acc([False] * 5) for c in coalitions]
    np.testing.assert_allclose(game.value(coalitions), expected, atol=1e-12)
    keep = coalitions[0]
    pruned = remove_blocks(model, np.flatnonzero(~keep))
    assert pruned.n_blocks == keep.sum()
    assert accuracy(pruned, x, y) == pytest.approx(expected[0] + acc([False] * 5), abs=1e-12)
    est = sh.exact(game)
    assert abs(est.values.sum() - est.grand_value) < 1e-9


def test_memory_is_chunked_for_large_evaluation_sets(trained_mlp):
    # 20,000 samples x 512 coalitions would need ~1 GB unchunked; a 4 MiB budget must still work
    x = torch.rand(20_000, 64)
    y = torch.randint(0, 10, (20_000,))
    game = NeuronGame(trained_mlp, x, y, fast=False, max_batch_bytes=4 << 20)
    assert game._chunk(game._bytes_per_coalition()) < 8
    values = game.value(np.random.default_rng(0).random((64, 40)) < 0.5)
    assert values.shape == (64,)


def test_permutation_memory_is_bounded_by_batches(trained_mlp, digits):
    """The estimator hands the game at most PERMUTATION_BATCH permutations at once, however many are asked."""
    game = NeuronGame(trained_mlp, digits.x_val, digits.y_val)
    seen = []
    original = game.prefix_values

    def spy(perms):
        seen.append(len(perms))
        return original(perms)

    game.prefix_values = spy
    est = sh.permutation(game, 2000, seed=0)
    assert max(seen) <= sh.PERMUTATION_BATCH and sum(seen) == 2000
    assert abs(est.values.sum() - est.grand_value) < 1e-9


def test_fast_path_handles_ties_like_torch_argmax():
    """A read-out with equal biases and zero weights ties every class: the first class wins, as in torch."""
    model = MLP(4, [3], 3, seed=0)
    with torch.no_grad():
        model.linears[-1].weight.zero_()
        model.linears[-1].bias.fill_(0.5)
    x = torch.rand(50, 4)
    y = torch.tensor([0] * 20 + [1] * 20 + [2] * 10)
    fast, plain = NeuronGame(model, x, y), NeuronGame(model, x, y, fast=False)
    assert fast.empty_measure == plain.empty_measure == pytest.approx(0.4)
    np.testing.assert_array_equal(fast.all_values(), plain.all_values())
