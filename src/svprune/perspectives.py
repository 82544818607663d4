"""Perspectives: what the players of a model are and how to remove them, one object per kind, so that the walk
and the criteria never switch on model types.

- :class:`Units`: the neurons of a hidden layer of an :class:`~svprune.models.MLP` (the paper's perspective);
- :class:`Blocks`: the hidden blocks of a :class:`~svprune.models.ResidualMLP` (layers as players);
- :class:`Channels`: the output channels of a Linear/Conv layer of any model, named by module path, removed
  through Torch-Pruning (:mod:`svprune.channels`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from svprune.models import MLP, ResidualMLP, incoming_weight_norms, remove_blocks, remove_units


class Perspective:
    """The players of a model: how many, their game, their removal, their weight norms (Wbottom), how many
    are dead (never active on the evaluation data), and the layer Torch-Pruning's criteria score."""

    fused_retraining = False  # whether several walks' models retrain as one fused program (svprune.fused)

    def n_players(self, model) -> int:
        raise NotImplementedError

    def game(self, model, x, y, measure: str):
        raise NotImplementedError

    def remove(self, model, positions):
        """A new model without the players at ``positions`` (the model itself is not changed)."""
        raise NotImplementedError

    def weight_norms(self, model) -> np.ndarray:
        raise NotImplementedError

    def dead_units(self, model, x) -> float:
        return np.nan

    def scored_layer(self, model) -> tuple[nn.Module, str]:
        """The module whose output channels Torch-Pruning's importance criteria score, and its kind."""
        raise ValueError(f"Torch-Pruning's importance criteria score channels of a layer; {type(self).__name__} "
                         "players are not channels")


class Units(Perspective):
    fused_retraining = True

    def __init__(self, layer: int | None = None):
        self.layer = layer

    def layer_of(self, model: MLP) -> int:
        return len(model.hidden_sizes) - 1 if self.layer is None else int(self.layer)

    def n_players(self, model: MLP) -> int:
        return model.hidden_sizes[self.layer_of(model)]

    def game(self, model, x, y, measure):
        from svprune.games import NeuronGame

        return NeuronGame(model, x, y, layer=self.layer, measure=measure)

    def remove(self, model, positions):
        return remove_units(model, self.layer_of(model), positions)

    def weight_norms(self, model) -> np.ndarray:
        return incoming_weight_norms(model, self.layer_of(model)).cpu().numpy()

    @torch.no_grad()
    def dead_units(self, model, x) -> float:
        hidden = model.hidden(x, self.layer_of(model))
        return float((hidden > 0).sum(0).eq(0).sum()) if hidden.shape[1] else 0.0

    def scored_layer(self, model):
        return model.linears[self.layer_of(model)], "linear"


class Blocks(Perspective):
    def n_players(self, model: ResidualMLP) -> int:
        return model.n_blocks

    def game(self, model, x, y, measure):
        from svprune.games import LayerGame

        return LayerGame(model, x, y, measure=measure)

    def remove(self, model, positions):
        return remove_blocks(model, positions)

    def weight_norms(self, model) -> np.ndarray:
        return np.array([float(b.weight.detach().norm()) for b in model.blocks])


class NoChannels(nn.Module):
    """A model whose player layer has lost its last channel: the one channel Torch-Pruning must keep is zeroed
    at its mask points, so the network computes what it would without the layer's channels (its read-out
    bias and whatever bypasses the layer); it still trains like any model."""

    def __init__(self, model: nn.Module, mask_points: list[str]):
        super().__init__()
        self.model, self.mask_points = model, list(mask_points)
        for point in self.mask_points:
            model.get_submodule(point).register_forward_hook(lambda mod, inp, out: out * 0)

    def forward(self, x):
        return self.model(x)


class Channels(Perspective):
    """Output channels of ``layer`` (a module path) of any model; coupled layers are removed with it."""

    def __init__(self, layer: str):
        if not isinstance(layer, str) or not layer:
            raise ValueError(f"the channels perspective needs the player layer as a module path; got {layer!r}")
        self.layer = layer

    def n_players(self, model) -> int:
        from svprune.channels import check_player_layer, n_channels

        if isinstance(model, NoChannels):
            return 0
        return n_channels(check_player_layer(model, self.layer))

    def game(self, model, x, y, measure):
        from svprune.games import ModuleGame

        return ModuleGame(model, self.layer, x, y, measure=measure)

    def remove(self, model, positions):
        from svprune.channels import channel_group, example_input, prune_channels

        n = self.n_players(model)
        positions = sorted(int(p) for p in positions)
        if n and len(positions) == n:  # the last channels: keep one, zeroed
            keep_one = prune_channels(model, self.layer, positions[1:])
            group = channel_group(keep_one, self.layer, example_input(keep_one))
            return NoChannels(keep_one, group.mask_points)
        return prune_channels(model, self.layer, positions)

    def weight_norms(self, model) -> np.ndarray:
        weight = model.get_submodule(self.layer).weight.detach()
        return weight.flatten(1).norm(dim=1).cpu().numpy()  # filter norms

    @torch.no_grad()
    def dead_units(self, model, x) -> float:
        """Channels whose output is never positive at the mask point (ReLU then zeroes them) on x."""
        if isinstance(model, NoChannels):
            return 0.0
        from svprune.channels import channel_group, example_input

        point = channel_group(model, self.layer, example_input(model)).mask_points[0]
        seen = []
        hook = model.get_submodule(point).register_forward_hook(lambda mod, inp, out: seen.append(out))
        try:
            model(x)
        finally:
            hook.remove()
        out = seen[0].transpose(0, 1).flatten(1)
        return float((out.max(1).values <= 0).sum())

    def scored_layer(self, model):
        module = model.get_submodule(self.layer)
        return module, "linear" if isinstance(module, nn.Linear) else "conv"


def perspective_for(model: nn.Module, layer: int | str | None = None) -> Perspective:
    """The perspective of a model: units of an MLP layer (``layer`` an index, default the last), blocks of a
    residual MLP, or channels of the layer a module path names in any other model."""
    if isinstance(model, MLP):
        return Units(layer)
    if isinstance(model, ResidualMLP):
        return Blocks()
    if isinstance(model, NoChannels):
        return Channels(layer)
    if layer is None and hasattr(model, "channels"):  # svprune's SmallCNN: its last convolution
        layer = f"conv{len(model.channels)}"
    return Channels(layer)
