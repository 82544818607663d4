"""The incremental per-sample walk through a chain network (svprune.games.chain)."""

import numpy as np
import pytest
import torch
from torch import nn

from svprune import shapley as sh
from svprune.games import ModuleGame
from svprune.games.chain import LANES, POOL
from svprune.games.network import _NetworkGame
from svprune.models import SmallCNN
from tests.test_masking_patterns import randomize_norms


class Strided(nn.Sequential):
    """A stride-2 convolution, a padded 3x3 max pooling with stride 2, then a batch norm after the activation."""

    def __init__(self):
        torch.manual_seed(3)
        super().__init__(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 5, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(5, 6, 3, stride=2, padding=1), nn.ReLU(), nn.BatchNorm2d(6),
                         nn.MaxPool2d(3, stride=2, padding=1), nn.Flatten(), nn.Linear(24, 4))


def _models():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(64, 12), nn.ReLU(), nn.BatchNorm1d(12), nn.Linear(12, 9), nn.ReLU(),
                        nn.Linear(9, 4))  # a batch norm after the activation
    return {"cnn": randomize_norms(SmallCNN((1, 8, 8), [4, 6, 6], 4, seed=1)),
            "mlp_bn_after_relu": randomize_norms(mlp), "strided": randomize_norms(Strided())}


def _data(seed: int = 0, samples: int = 40):
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(rng.normal(size=(samples, 64)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, 4, samples))
    return x, y


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["cnn", "mlp_bn_after_relu", "strided"])
def test_the_chain_walk_gives_the_masked_forward_passes_logits(kind):
    """Every prefix of every unit's permutations: the chain's incremental logits against the plain masked forward
    pass of that coalition on that sample (float32 rounding apart), over every player of every layer."""
    x, y = _data()
    game = ModuleGame(_models()[kind], "all", x, y, measure="neg_cross_entropy")
    chain = game._chain
    assert chain is not None and game.n_players >= 10 and len(game.layers) >= 2
    rng = np.random.default_rng(1)
    lanes, weights = game._lane_rows(game._sample_weights)  # a padding lane: sample 0, weight 0
    units, n = len(lanes), game.n_players
    perms = np.stack([np.stack([rng.permutation(n) for _ in range(3)]) for _ in range(units)])
    logits = chain.walk(perms, lanes)  # (K, P, n - 1, V, C)
    position = np.argsort(perms, axis=2)
    t = np.arange(1, n)
    masks = position[:, :, None, None, :] < t[None, None, :, None, None]  # (K, P, n - 1, 1, n)
    masks = np.broadcast_to(masks, (*logits.shape[:4], n)).reshape(-1, n)
    samples = np.broadcast_to(lanes[:, None, None, :], logits.shape[:4]).reshape(-1)
    plain = game._row_logits(torch.as_tensor(masks), torch.as_tensor(samples)).numpy()
    scale = np.abs(plain).max()
    np.testing.assert_allclose(logits.reshape(plain.shape), plain, atol=2e-5 * scale, rtol=0)
    # and the measure's per-unit sums equal the plain row path's
    np.testing.assert_allclose(game._unit_prefix_parts(perms, lanes, weights),
                               _NetworkGame._unit_prefix_parts(game, perms, lanes, weights), atol=1e-5)


@pytest.mark.timeout(300)
def test_antithetic_samples_on_the_chain_gives_the_row_paths_estimate():
    """The same seeds give the same estimate (accuracy: equal up to a near-tie flipped by rounding, which never
    happened here) as the plain rows, and the estimate is checked against the plain evaluation once."""
    x, y = _data(samples=64)
    game = ModuleGame(_models()["cnn"], "all", x, y)
    rows = ModuleGame(_models()["cnn"], "all", x, y)
    rows.__dict__["_chain"] = None  # the plain row path
    assert game._chain is not None and game.sample_units == rows.sample_units > 0
    a = sh.shapley_values(game, "antithetic_samples", 4_000, seed=5)
    b = sh.shapley_values(rows, "antithetic_samples", 4_000, seed=5)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    assert game._units_checked


def test_a_network_that_is_not_a_chain_walks_rows():
    """A skip connection reads a value twice: no chain, and the per-sample walk evaluates a coalition per sample."""

    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(4)
            self.a, self.b, self.out = nn.Linear(64, 8), nn.Linear(8, 8), nn.Linear(8, 4)

        def forward(self, x):
            h = torch.relu(self.a(x))
            return self.out(h + torch.relu(self.b(h)))

    x, y = _data()
    game = ModuleGame(Skip().eval(), "all", x, y)
    assert game._chain is None and game.sample_units > 0
    est = sh.shapley_values(game, "antithetic_samples", 2_000, seed=0)
    assert np.isfinite(est.values).all()


def test_a_wrong_chain_is_refused_before_use():
    """The walk is checked once against the plain evaluation: a chain whose matrices were wrong is refused with an
    error that names the walk, never used."""
    x, y = _data()
    game = ModuleGame(_models()["cnn"], "all", x, y, measure="neg_cross_entropy")
    chain = game._chain
    chain.a_t[: chain.a_off[1]] *= 1.5  # the first stage's matrix, wrong
    with pytest.raises(RuntimeError, match="per-sample walk .* disagrees with its plain evaluation"):
        sh.shapley_values(game, "antithetic_samples", 2_000, seed=0)


def test_the_walk_refuses_samples_of_the_wrong_shape():
    x, y = _data()
    chain = ModuleGame(_models()["cnn"], "all", x, y)._chain
    with pytest.raises(ValueError, match=f"samples must be \\(2, {LANES}\\)"):
        chain.walk(np.zeros((2, 1, 3), np.int64), np.zeros((2, 3), np.int64))
    n = len(chain.p_stage)
    with pytest.raises(ValueError, match=f"orders of the {n} players"):
        chain.walk(np.full((2, 1, n), n, np.int64), np.zeros((2, LANES), np.int64))
    with pytest.raises(ValueError, match="samples must index the 40 samples"):
        chain.walk(np.tile(np.arange(n), (2, 1, 1)), np.full((2, LANES), 40, np.int64))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("measure", ["accuracy", "balanced_accuracy", "neg_cross_entropy"])
def test_permutation_walks_follow_the_chain(measure):
    """Shared permutations (the permutation family's walk) through the chain equal the plain evaluation of every
    prefix; fast=False keeps the plain path."""
    x, y = _data(samples=50)
    game = ModuleGame(_models()["cnn"], "all", x, y, measure=measure)
    plain = ModuleGame(_models()["cnn"], "all", x, y, measure=measure, fast=False)
    assert game.fast_prefixes and not plain.fast_prefixes and plain._chain is None
    perms = np.random.default_rng(2).permuted(np.tile(np.arange(game.n_players), (12, 1)), axis=1)
    walked, evaluated = game.prefix_values(perms), plain.prefix_values(perms)
    tol = 1e-5 if measure == "neg_cross_entropy" else 1e-12  # accuracy: the same counts
    np.testing.assert_allclose(walked, evaluated, atol=tol)
    a = sh.shapley_values(game, "antithetic", 3_000, seed=1)
    b = sh.shapley_values(plain, "antithetic", 3_000, seed=1)
    np.testing.assert_allclose(a.values, b.values, atol=1e-4 if measure == "neg_cross_entropy" else 1e-12)


def test_a_network_too_large_for_dense_matrices_walks_rows(monkeypatch):
    """The dense matrices are bounded (MAX_DENSE entries), checked before any is built: beyond it, the plain rows."""
    import svprune.games.chain as chain_module

    x, y = _data()
    monkeypatch.setattr(chain_module, "MAX_DENSE", 1000)
    game = ModuleGame(_models()["cnn"], "all", x, y)
    assert game._chain is None and not game.fast_prefixes and game.sample_units > 0


def test_a_one_dimensional_pooling_is_read_with_its_padding():
    """MaxPool1d with padding and stride: its windows reproduce the module (and the walk the forward pass)."""
    torch.manual_seed(5)
    model = nn.Sequential(nn.Unflatten(1, (4, 16)), nn.Conv1d(4, 6, 3, padding=1), nn.ReLU(),
                          nn.Conv1d(6, 5, 3, padding=1), nn.ReLU(), nn.MaxPool1d(3, stride=2, padding=1),
                          nn.Flatten(), nn.Linear(40, 4)).eval()
    x, y = _data()
    game = ModuleGame(model, "all", x, y, measure="neg_cross_entropy")
    chain = game._chain
    assert chain is not None and (chain.ops[:, 1] == POOL).sum() == 1  # the pooling is in the chain
    perms = np.random.default_rng(0).permuted(np.tile(np.arange(game.n_players), (6, 1)), axis=1)
    plain = ModuleGame(model, "all", x, y, measure="neg_cross_entropy", fast=False)
    np.testing.assert_allclose(game.prefix_values(perms), plain.prefix_values(perms), atol=1e-5)
