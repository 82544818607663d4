"""Masking equals removal, proven pattern by pattern: for every hand-written model below, ModuleGame either
refuses the layer with an error naming the operation, or its payoffs equal the accuracy of the model that
Torch-Pruning physically prunes (svprune.channels.prune_channels), on random coalitions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from svprune.channels import ChannelError, prune_channels
from svprune.games import ModuleGame


def randomize_norms(model):
    """Norms with non-trivial statistics and shifts: a zeroed input then does not stay zero after them."""
    gen = torch.Generator().manual_seed(5)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) and m.weight is not None:
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(m.bias.shape, generator=gen) - 0.5)
    return model.eval()


def labelled(model, x, noise=0.3):
    """Labels the model mostly predicts, some flipped: accuracies far from 0 and 1."""
    with torch.no_grad():
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out["logits"] if isinstance(out, dict) else out
        y = out.argmax(1)
    flip = torch.rand(len(y), generator=torch.Generator().manual_seed(3)) < noise
    return torch.where(flip, (y + 1) % out.shape[1], y)


def assert_payoffs_equal_pruned_accuracy(model, layer, x, y, removal="mask", coalitions=6):
    game = ModuleGame(model, layer, x, y, removal=removal)
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(coalitions):
        keep = rng.random(game.n_players) < 0.5
        if keep.all() or not keep.any():
            continue
        pruned = prune_channels(model, layer, np.flatnonzero(~keep), example_inputs=x[:1]).eval()
        with torch.no_grad():
            out = pruned(x)
        out = out[0] if isinstance(out, tuple) else out["logits"] if isinstance(out, dict) else out
        accuracy = float((out.argmax(1) == y).double().mean())
        assert game.value(keep[None])[0] + game.empty_measure == pytest.approx(accuracy, abs=1e-12)
        checked += 1
    assert checked >= 3
    return game


IMAGES = torch.randn(96, 3, 8, 8, generator=torch.Generator().manual_seed(1))


class ConvActNormConv(nn.Module):
    """conv -> activation -> batch norm -> conv (DenseNet's order): the norm maps a zeroed channel to its shift."""

    def __init__(self, act=None):
        super().__init__()
        self.c1, self.act, self.bn, self.c2 = nn.Conv2d(3, 6, 3, padding=1), act or nn.ReLU(), nn.BatchNorm2d(6), nn.Conv2d(6, 5, 3)
        self.fc = nn.Linear(5, 4)

    def forward(self, x):
        return self.fc(self.c2(self.bn(self.act(self.c1(x)))).mean((2, 3)))


@pytest.mark.parametrize("act", [nn.ReLU(), nn.ReLU6(), nn.Hardtanh(), nn.Mish(), nn.CELU(), nn.Softsign(), nn.SiLU(),
                                 nn.GELU(), nn.Sigmoid(), nn.Tanh()], ids=lambda a: type(a).__name__)
def test_an_activation_then_a_batch_norm_after_the_layer(act):
    model = randomize_norms(ConvActNormConv(act))
    game = assert_payoffs_equal_pruned_accuracy(model, "c1", IMAGES, labelled(model, IMAGES))
    assert game.mask_points == ["c2"]  # masked where the next convolution reads the channels


class Tokens(nn.Module):
    """A transformer-style MLP over tokens: Linear layers applied to (batch, tokens, features)."""

    def __init__(self, tokens, features=8):
        super().__init__()
        self.tokens = tokens
        self.embed, self.fc1, self.fc2 = nn.Linear(5, features), nn.Linear(features, 12), nn.Linear(12, features)
        self.head = nn.Linear(features, 4)

    def forward(self, x):
        h = self.embed(x.reshape(x.shape[0], self.tokens, 5))
        h = h + self.fc2(F.gelu(self.fc1(h)))
        return self.head(h.mean(1))


@pytest.mark.parametrize("tokens", [7, 12], ids=["tokens!=features", "tokens==features"])
@pytest.mark.parametrize("layer", ["fc1", "embed"])
def test_a_linear_over_tokens_is_masked_on_its_features(tokens, layer):
    torch.manual_seed(0)
    model = Tokens(tokens).eval()
    x = torch.randn(96, tokens * 5, generator=torch.Generator().manual_seed(2))
    assert_payoffs_equal_pruned_accuracy(model, layer, x, labelled(model, x))


class Dense(nn.Module):
    """DenseNet's pattern: the layer's channels are concatenated with earlier ones, then read through batch norms."""

    def __init__(self):
        super().__init__()
        self.stem, self.c1 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 3, 3, padding=1)
        self.bn2, self.c2 = nn.BatchNorm2d(7), nn.Conv2d(7, 3, 3, padding=1)
        self.bn3, self.fc = nn.BatchNorm2d(10), nn.Linear(10, 4)

    def forward(self, x):
        a = self.stem(x)
        b = torch.cat([a, self.c1(a)], 1)
        c = torch.cat([b, self.c2(F.relu(self.bn2(b)))], 1)
        return self.fc(F.relu(self.bn3(c)).mean((2, 3)))


def test_concatenated_channels_read_through_batch_norms():
    model = randomize_norms(Dense())
    game = assert_payoffs_equal_pruned_accuracy(model, "c1", IMAGES, labelled(model, IMAGES))
    assert set(game.mask_points) == {"c2", "fc"}


class SqueezeExcite(nn.Module):
    """EfficientNet's pattern: depthwise conv, then a sigmoid gate computed from all channels."""

    def __init__(self):
        super().__init__()
        self.c1, self.bn1 = nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8)
        self.dw, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8)
        self.se1, self.se2 = nn.Conv2d(8, 2, 1), nn.Conv2d(2, 8, 1)
        self.project, self.fc = nn.Conv2d(8, 4, 1), nn.Linear(4, 4)

    def forward(self, x):
        h = F.silu(self.bn2(self.dw(F.silu(self.bn1(self.c1(x))))))
        gate = torch.sigmoid(self.se2(F.silu(self.se1(h.mean((2, 3), keepdim=True)))))
        return self.fc(self.project(h * gate).mean((2, 3)))


@pytest.mark.parametrize("layer", ["dw", "c1"])
def test_depthwise_channels_under_a_squeeze_excitation_gate(layer):
    model = randomize_norms(SqueezeExcite())
    game = assert_payoffs_equal_pruned_accuracy(model, layer, IMAGES, labelled(model, IMAGES))
    assert "dw" in game.coupled_layers or layer == "dw"


class Normed(nn.Module):
    def __init__(self, norm):
        super().__init__()
        self.c1, self.norm, self.c2, self.fc = nn.Conv2d(3, 6, 3, padding=1), norm, nn.Conv2d(6, 5, 3), nn.Linear(5, 4)

    def forward(self, x):
        return self.fc(F.relu(self.c2(F.relu(self.norm(self.c1(x))))).mean((2, 3)))


def test_a_group_norm_that_mixes_the_channels_needs_the_pruned_model():
    model = randomize_norms(Normed(nn.GroupNorm(1, 6)))
    y = labelled(model, IMAGES)
    with pytest.raises(ChannelError, match=r"'norm' \(GroupNorm\(1, 6\).*removal='prune'"):
        ModuleGame(model, "c1", IMAGES, y)
    game = assert_payoffs_equal_pruned_accuracy(model, "c1", IMAGES, y, removal="prune")
    assert game.mode == "pruned"


def test_per_channel_group_norm_is_masked_and_pruned_validly():
    model = randomize_norms(Normed(nn.GroupNorm(6, 6)))
    assert_payoffs_equal_pruned_accuracy(model, "c1", IMAGES, labelled(model, IMAGES))
    pruned = prune_channels(model, "c1", [0, 4], example_inputs=IMAGES[:1])
    assert pruned.norm.num_groups == pruned.norm.num_channels == 4
    pruned(IMAGES[:2])  # runs


def test_a_group_norm_of_uneven_groups_and_grouped_convolutions_are_refused():
    model = randomize_norms(Normed(nn.GroupNorm(2, 6)))
    y = labelled(model, IMAGES)
    for removal in ("mask", "prune"):
        with pytest.raises(ChannelError, match=r"'norm', a GroupNorm\(2, 6\)"):
            ModuleGame(model, "c1", IMAGES, y, removal=removal)
    with pytest.raises(ChannelError, match=r"GroupNorm\(2, 6\)"):
        prune_channels(model, "c1", [0], example_inputs=IMAGES[:1])
    grouped = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=2), nn.ReLU(),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()
    y = labelled(grouped, IMAGES)
    with pytest.raises(ChannelError, match=r"'2', a grouped convolution \(groups=2\)"):
        ModuleGame(grouped, "0", IMAGES, y)
    with pytest.raises(ChannelError, match=r"its own grouped convolution \(groups=2\)"):
        ModuleGame(grouped, "2", IMAGES, y)
    with pytest.raises(ChannelError, match="grouped convolution"):
        prune_channels(grouped, "0", [1], example_inputs=IMAGES[:1])


def test_the_output_layer_is_refused_with_the_reason():
    model = randomize_norms(ConvActNormConv())
    with pytest.raises(ChannelError, match=r"'fc' are the model's output.*drops a logit"):
        ModuleGame(model, "fc", IMAGES, labelled(model, IMAGES))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed, self.attn = nn.Linear(3, 8), nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        h = self.embed(x.reshape(x.shape[0], 5, 3))
        return self.head((h + self.attn(h, h, h)[0]).mean(1))


def test_attention_is_refused_naming_the_module():
    torch.manual_seed(0)
    model = Attention().eval()
    x = torch.randn(32, 15)
    y = labelled(model, x)
    with pytest.raises(ChannelError, match=r"'attn.out_proj' is not called as a layer.*MultiheadAttention"):
        ModuleGame(model, "attn.out_proj", x, y)
    with pytest.raises(ChannelError, match=r"'attn' \(MultiheadAttention\)"):
        ModuleGame(model, "embed", x, y)


class HiddenMixing(nn.Module):
    """A channel-mixing step Torch-Pruning does not see as one (a gate from the mean over channels)."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.fc = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 5, 3), nn.Linear(5, 4)

    def forward(self, x):
        h = F.relu(self.c1(x))
        h = h * torch.sigmoid(h.mean(1, keepdim=True))
        return self.fc(self.c2(h).mean((2, 3)))


def test_the_self_check_turns_an_unforeseen_mismatch_into_an_error():
    torch.manual_seed(0)
    model = HiddenMixing().eval()
    with pytest.raises(ChannelError, match=r"does not equal removing them.*differ from the pruned model's by up to"):
        ModuleGame(model, "c1", IMAGES, labelled(model, IMAGES))
    game = assert_payoffs_equal_pruned_accuracy(model, "c1", IMAGES, labelled(model, IMAGES), removal="prune")
    assert game.mode == "pruned"


class TupleOut(ConvActNormConv):
    def forward(self, x):
        logits = super().forward(x)
        return logits, logits.detach() * 0


class DictOut(ConvActNormConv):
    def forward(self, x):
        return {"logits": super().forward(x), "aux": x}


@pytest.mark.parametrize("cls", [TupleOut, DictOut])
def test_tuple_and_dict_outputs_follow_the_logits_rule(cls):
    torch.manual_seed(0)
    model = randomize_norms(cls())
    assert_payoffs_equal_pruned_accuracy(model, "c1", IMAGES, labelled(model, IMAGES))


def test_outputs_without_logits_and_wrong_shapes_get_named_errors():
    class Scalar(ConvActNormConv):
        def forward(self, x):
            return {"score": super().forward(x)}

    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"returned a dict; svprune needs logits of shape \(samples, classes\)"):
        ModuleGame(Scalar().eval(), "c1", IMAGES, torch.zeros(96, dtype=torch.long))
    model = randomize_norms(ConvActNormConv())
    with pytest.raises(ValueError, match=r"cannot run on the data's samples, of shape \(192,\).*model.input_shape"):
        ModuleGame(model, "c1", IMAGES.reshape(96, -1), labelled(model, IMAGES))


def test_a_model_in_train_mode_is_evaluated_in_eval_mode_and_left_in_train_mode():
    model = randomize_norms(ConvActNormConv())
    y = labelled(model, IMAGES)
    reference = ModuleGame(model, "c1", IMAGES, y, fast=False)
    model.train()
    game = ModuleGame(model, "c1", IMAGES, y, fast=False)
    assert model.training and all(m.training for m in model.modules())
    coalitions = np.random.default_rng(0).random((5, 6)) < 0.5
    np.testing.assert_array_equal(game.value(coalitions), reference.value(coalitions))
    assert model.training
