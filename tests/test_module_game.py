"""Channels of any layer of any model as players: ModuleGame against Torch-Pruning's physical removal and a
textbook enumeration, coupled residual layers, bad layers, the incremental path, walks and checkpoints."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from svprune import shapley as sh
from svprune.games import ModuleGame
from svprune.models import ImageModel, SmallCNN, load_checkpoint, prune_channels, save_checkpoint
from tests.test_masking_patterns import randomize_norms


@pytest.fixture(scope="module")
def cnn_data():
    torch.manual_seed(0)
    model = randomize_norms(nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 5)))
    x = torch.randn(200, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:50] = torch.randint(0, 5, (50,), generator=torch.Generator().manual_seed(2))
    return model, x, y


def pruned_accuracy(model, layer, keep, x, y):
    pruned = prune_channels(model, layer, np.flatnonzero(~keep), example_inputs=x[:1])
    with torch.no_grad():
        return float((pruned(x).argmax(1) == y).double().mean())


@pytest.mark.parametrize("mode", ["cached", "hooks"])
def test_payoffs_equal_the_accuracy_of_the_pruned_model(cnn_data, mode):
    model, x, y = cnn_data
    game = ModuleGame(model, "4", x, y, fast=False)
    assert game.mask_points == ["9"] and game.mode == "cached"  # zeroed where the read-out reads them
    if mode == "hooks":  # the fallback for models torch.fx cannot trace
        game._suffix, game.mode, game._cache = None, "hooks", {"x": game._samples(x, game._order)}
        game._ndims, game._per_sample = game._inspect()
    rng = np.random.default_rng(0)
    coalitions = rng.random((12, 8)) < 0.5
    coalitions[0] = True
    coalitions[1] = [True] + [False] * 7
    payoffs = game.value(coalitions) + game.empty_measure
    for keep, payoff in zip(coalitions, payoffs):
        if keep.any():
            assert payoff == pytest.approx(pruned_accuracy(model, "4", keep, x, y), abs=1e-12)
    assert prune_channels(model, "4", [0, 3], example_inputs=x[:1])[4].out_channels == 6
    # the per-sample walk's rows (one coalition per sample) are the batched path's logits of those samples
    picked = np.tile([0, 5, game.n_samples - 1], len(coalitions))
    with torch.no_grad():
        rows = game._row_logits(torch.as_tensor(np.repeat(coalitions, 3, 0)), torch.as_tensor(picked))
        batched = game._logits(torch.as_tensor(coalitions), slice(0, game.n_samples))
    np.testing.assert_allclose(rows.numpy(), batched[np.repeat(np.arange(len(coalitions)), 3), picked].numpy(),
                               rtol=1e-5, atol=1e-5)


def test_exact_values_equal_an_independent_enumeration(cnn_data):
    """All 256 coalitions of the 8 channels by a hand-written masked forward pass, then the Shapley formula."""
    model, x, y = cnn_data

    def accuracy_of(keep):
        with torch.no_grad():
            h = x
            for i, layer in enumerate(model):
                h = layer(h)
                if i == 5:  # after conv -> batch norm: zero the channels outside the coalition (ReLU and pooling
                    h = h * torch.as_tensor(keep, dtype=h.dtype)[None, :, None, None]  # keep them zero)
            return float((h.argmax(1) == y).double().mean())

    table = np.empty(256)
    for mask in range(256):
        table[mask] = accuracy_of([(mask >> i) & 1 for i in range(8)])
    table -= table[0]
    expected = np.zeros(8)
    for i in range(8):
        for mask in range(256):
            if not (mask >> i) & 1:
                s = bin(mask).count("1")
                weight = math.factorial(s) * math.factorial(8 - s - 1) / math.factorial(8)
                expected[i] += weight * (table[mask | 1 << i] - table[mask])
    for fast in (False, None):
        np.testing.assert_allclose(sh.exact(ModuleGame(model, "4", x, y, fast=fast)).values, expected, atol=1e-12)


def test_incremental_path_equals_the_plain_one(cnn_data):
    model, x, y = cnn_data
    for measure in ("accuracy", "balanced_accuracy", "neg_cross_entropy"):
        fast = ModuleGame(model, "4", x, y, measure=measure)
        plain = ModuleGame(model, "4", x, y, measure=measure, fast=False)
        assert fast.fast and fast.fast_prefixes and not plain.fast_prefixes
        perms = np.random.default_rng(1).permuted(np.tile(np.arange(8), (30, 1)), axis=1)
        tol = 1e-5 if measure == "neg_cross_entropy" else 2.5 / len(y)
        assert np.abs(fast.prefix_values(perms) - plain.prefix_values(perms)).max() <= tol
        coalitions = np.random.default_rng(2).random((20, 8)) < 0.5
        assert np.abs(fast.value(coalitions) - plain.value(coalitions)).max() <= tol
        # on the CPU the walk is the compiled kernels' (svprune.kernels.TermData, reading the game's own margin
        # terms in place); the batched tensor walk (the CUDA path) agrees too
        assert fast._kernel_data is not None and np.shares_memory(fast._terms.numpy(), fast._kernel_data.d)
        torch_walk = fast._prefix_measure_torch(perms) - fast.empty_measure
        assert np.abs(torch_walk - plain.prefix_values(perms)).max() <= tol


def test_kernel_terms_must_be_margins_of_the_label():
    """The kernels leave out each sample's label row (its margin is 0 by construction); terms that are not margins
    are refused, as are inconsistent shapes."""
    from svprune.kernels import TermData

    rng = np.random.default_rng(0)
    y = np.array([0, 0, 1, 2])
    terms = rng.normal(size=(3, 3, 4)).astype(np.float32)
    base = rng.normal(size=(3, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="margins relative to each sample's label"):
        TermData(terms, base, y)
    terms -= terms[:, y, np.arange(4)][:, None, :]
    base -= base[y, np.arange(4)][None, :]
    data = TermData(terms, base, y)
    assert data.n_players == 3 and data.log_likelihood_dtype is np.float32
    with pytest.raises(ValueError, match="inconsistent shapes"):
        TermData(terms, base[:, :3], y)
    with pytest.raises(ValueError, match="sorted by label"):
        TermData(terms, base, y[::-1].copy())


@pytest.fixture(scope="module")
def resnet():
    model = randomize_norms(ImageModel("resnet18", (3, 32, 32), 10, seed=0))
    x = torch.rand(24, 3 * 32 * 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:6] = (y[:6] + 1) % 10
    return model, x, y


def test_resnet_channels_inside_a_block_and_coupled_by_residual_additions(resnet):
    model, x, y = resnet
    rng = np.random.default_rng(2)
    inner = ModuleGame(model, "net.layer4.1.conv1", x, y)
    assert inner.n_players == 512 and inner.coupled_layers == [] and inner.mode == "cached"
    tied = ModuleGame(model, "net.layer4.1.conv2", x, y)
    assert set(tied.coupled_layers) == {"net.layer4.0.conv2", "net.layer4.0.downsample.0"}
    # masked where they are read: the next block's first convolutions and the read-out
    assert set(tied.mask_points) == {"net.layer4.1.conv1", "net.fc"}
    for game, layer in ((inner, "net.layer4.1.conv1"), (tied, "net.layer4.1.conv2")):
        for _ in range(2):
            keep = rng.random(512) < 0.6
            assert game.value(keep[None])[0] + game.empty_measure == pytest.approx(
                pruned_accuracy(model, layer, keep, x, y), abs=1e-12)
    est = sh.shapley_values(inner, "leverage", 1000, seed=0)
    assert est.n_evaluations <= 1000 and np.isfinite(est.values).all()


def test_bad_layers_are_refused_with_the_valid_names(cnn_data):
    model, x, y = cnn_data
    with pytest.raises(ValueError, match=r"no module 'conv9'.*'0', '4', '9'"):
        ModuleGame(model, "conv9", x, y)
    with pytest.raises(ValueError, match=r"'5' is a BatchNorm2d, not a Linear or Conv1d/Conv2d layer"):
        ModuleGame(model, "5", x, y)
    with pytest.raises(ValueError, match=r"'9' are the model's output.*choose a layer before the head"):
        ModuleGame(model, "9", x, y)
    with pytest.raises(ValueError, match="keep at least one"):
        prune_channels(model, "4", range(8), example_inputs=x[:1])
    with pytest.raises(ValueError, match=r"must lie in 0..7"):
        prune_channels(model, "4", [8], example_inputs=x[:1])


def test_a_walk_over_channels_with_torch_pruning_criteria(digits):
    from svprune.records import check_walk
    from svprune.train import as_tensors, train
    from svprune.walk import ShapleyConfig, WalkConfig, prune_walk

    model = SmallCNN((1, 8, 8), (4, 6), digits.n_classes, seed=0)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=2, seed=0)
    cfg = WalkConfig(retrain_epochs=1, shapley=ShapleyConfig(estimator="antithetic", budget=300))
    for strategy in ("SVbottom(2)", "Wbottom(4)", "TPmagnitude(4)", "TPtaylor(4)", "TPbnscale(4)"):
        records = prune_walk(model, digits, strategy, seed=0, config=cfg)
        check_walk(records, strategy)
        assert records["players_before"].iloc[0] == 6 and records["players_after"].iloc[-1] == 0
    # Wbottom's criterion is the filter norm; the TP criteria score every channel
    from svprune.perspectives import perspective_for
    from svprune.registry import SCORERS
    from svprune.scorers import ScoreContext

    context = ScoreContext(model, perspective_for(model), as_tensors(digits.x_train, digits.y_train),
                           np.random.default_rng(0), 6)
    norms = SCORERS.get("weight_norm")().score(context)
    np.testing.assert_allclose(norms, model.conv2.weight.detach().flatten(1).norm(dim=1).numpy(), rtol=1e-6)
    for criterion in ("magnitude", "taylor", "bn_scale"):
        assert SCORERS.get(criterion)().score(context).shape == (6,)


def test_checkpoints_keep_the_architecture(tmp_path):
    for model in (SmallCNN((1, 8, 8), (3, 5), 4, seed=1), ImageModel("resnet18", (1, 16, 16), 4, seed=1)):
        path = tmp_path / "m.pt"
        save_checkpoint(model, path)
        loaded, _ = load_checkpoint(path)
        x = torch.rand(3, model.example_input_shape[0])
        with torch.no_grad():
            torch.testing.assert_close(loaded.eval()(x), model.eval()(x))
    pruned = prune_channels(SmallCNN((1, 8, 8), (3, 5), 4, seed=1), "conv2", [1, 2])
    save_checkpoint(pruned, tmp_path / "p.pt")
    assert load_checkpoint(tmp_path / "p.pt")[0].channels == [3, 3]


def test_values_command_on_a_cnn_checkpoint(tmp_path):
    import pandas as pd

    from svprune.cli import main

    data, root, out = tmp_path / "splits.npz", tmp_path / "root.pt", tmp_path / "values.csv"
    assert main(["prepare", "--dataset", '{"name": "digits"}', "--out", str(data)]) == 0
    model = '{"kind": "cnn", "channels": [3, 5], "image_shape": [1, 8, 8]}'
    assert main(["train-root", "--data", str(data), "--model", model, "--training", '{"root_epochs": 1}',
                 "--seed", "0", "--out", str(root)]) == 0
    assert main(["values", "--data", str(data), "--model", str(root), "--layer", "conv2", "--estimator", "exact",
                 "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == 5
    assert main(["values", "--data", str(data), "--model", str(root), "--layer", "bn2", "--out", str(out)]) == 1
    bad = '{"kind": "cnn", "channels": [3], "image_shape": [1, 8, 9]}'
    assert main(["train-root", "--data", str(data), "--model", bad, "--seed", "0", "--out", str(root)]) == 1


class _ThreeConvs(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 5, 3, padding=1)
        self.bn = nn.BatchNorm2d(5)
        self.c3 = nn.Conv2d(5, 6, 3, padding=1)
        self.fc = nn.Linear(6, 10)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = torch.relu(self.bn(self.c2(x)))
        x = torch.relu(self.c3(x))
        return self.fc(x.mean((2, 3)))


def test_a_game_over_several_layers_equals_a_hand_masked_forward_pass(digits):
    from svprune.train import as_tensors, train

    torch.manual_seed(0)
    model = _ThreeConvs()
    x, y = as_tensors(digits.x_train.reshape(-1, 1, 8, 8), digits.y_train)
    train(model, x, y, 2, seed=0)
    model.eval()
    xv, yv = as_tensors(digits.x_val.reshape(-1, 1, 8, 8), digits.y_val)
    game = ModuleGame(model, ["c1", "c2", "c3"], xv, yv, measure="neg_cross_entropy")
    assert game.n_players == 4 + 5 + 6 and game.player_names[4] == "c2:0" and game.player_names[-1] == "c3:5"
    assert game.max_diff < 1e-4  # the self-check: masking equals pruning the three layers physically
    rng = np.random.default_rng(1)
    coalitions = rng.random((6, 15)) < 0.6

    def by_hand(keep):  # zero the absent channels where the network computes them (ReLU(0) = 0; BN after c2:
        masks = {"c1": keep[:4], "c2": keep[4:9], "c3": keep[9:]}  # zero its output after BN and ReLU instead)
        hooks = [model.c1.register_forward_hook(lambda m, i, o: o * torch.as_tensor(masks["c1"], dtype=o.dtype)[:, None, None]),
                 model.bn.register_forward_hook(lambda m, i, o: torch.where(
                     torch.as_tensor(masks["c2"])[:, None, None], o, -1e9 * torch.ones_like(o))),
                 model.c3.register_forward_hook(lambda m, i, o: o * torch.as_tensor(masks["c3"], dtype=o.dtype)[:, None, None])]
        try:
            with torch.no_grad():
                logp = torch.log_softmax(model(xv).double(), 1)
        finally:
            for h in hooks:
                h.remove()
        return float(logp.gather(1, yv[:, None]).mean())

    expected = np.array([by_hand(c) for c in coalitions]) - by_hand(np.zeros(15, dtype=bool))
    np.testing.assert_allclose(game.value(coalitions), expected, atol=1e-5)
    # "all": every layer whose channels can be players, the output layer aside
    assert ModuleGame(model, "all", xv[:64], yv[:64]).layers == ["c1", "c2", "c3"]
    with pytest.raises(ValueError, match="listed twice"):
        ModuleGame(model, ["c1", "c1"], xv[:64], yv[:64])
    with pytest.raises(ValueError, match="one layer at a time"):
        ModuleGame(model, ["c1", "c2"], xv[:64], yv[:64], removal="prune")


def test_cross_entropy_of_label_margins_equals_that_of_the_logits():
    """Channel games with an additive read-out hand the measure margins (each sample's label logit subtracted) and a
    bound on them: within exp's range it sums exponentials without taking out the maximum and adds nothing for the
    labels; beyond it, the log-sum-exp. Both equal the measure of the logits themselves."""
    from svprune.measures import NegCrossEntropy

    rng = np.random.default_rng(3)
    y = torch.as_tensor(np.sort(rng.integers(0, 5, 40)))
    measure = NegCrossEntropy(y, 5)
    for scale in (3.0, 60.0):  # margins within exp's float32 range, and beyond it
        logits = torch.as_tensor(rng.normal(size=(6, 40, 5)) * scale, dtype=torch.float32)
        margins = logits - logits.gather(2, y.view(1, -1, 1).expand(6, -1, 1))
        bound = float(margins.abs().max())
        expected = measure.partial(logits.double(), slice(0, 40))
        got = measure.statistics(margins, slice(0, 40), bound)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-4)
    assert bound + np.log(5) > 80  # the second case took the log-sum-exp


def test_a_measure_that_reads_the_logits_themselves_gets_them(cnn_data):
    """Only a shift-invariant measure is handed margins: one of the label's raw logit (which a constant per sample
    changes) gets the logits on the additive path too, and equals the plain path."""
    from svprune.measures import Measure
    from svprune.registry import MEASURES

    class LabelLogit(Measure):
        def partial(self, logits, sl):
            z = logits.transpose(-1, -2)
            total = torch.zeros(logits.shape[0], dtype=torch.float64)
            for label, loc in self.groups(sl):
                total += z[:, label, loc].sum(-1, dtype=torch.float64)
            return total

    model, x, y = cnn_data
    MEASURES.register("label_logit_test", LabelLogit, "the label's logit")
    try:
        fast = ModuleGame(model, "4", x, y, measure="label_logit_test")
        plain = ModuleGame(model, "4", x, y, measure="label_logit_test", fast=False)
    finally:
        MEASURES.unregister("label_logit_test")
    assert fast.fast and fast._kernel_data is None
    coalitions = np.random.default_rng(4).random((12, 8)) < 0.5
    np.testing.assert_allclose(fast.value(coalitions), plain.value(coalitions), rtol=1e-5, atol=1e-5)
    assert np.abs(fast.value(coalitions)).max() > 1e-3  # not trivially 0
