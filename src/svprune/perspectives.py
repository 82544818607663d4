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

from svprune.models import MLP, ResidualMLP, incoming_weight_norms, remove_blocks, remove_units  # noqa: F401


class Perspective:
    """The players of a model: how many, their game, their removal, their weight norms (Wbottom), how many
    are dead (never active on the evaluation data), and the layer Torch-Pruning's criteria score."""

    retrains_together = False
    """Whether several walks' models retrain as one program (``retrain_together``); else one after another."""

    def retrain_together(self, models, x, y, epochs: int, seed: int, config, device) -> list:
        raise NotImplementedError

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

    def check(self, model, x, y) -> dict:
        """Build the players' game on a few samples (x, y) before any training, where building it can refuse them;
        return what it found, for the model check's report."""
        return {}

    def scored_layer(self, model) -> tuple[nn.Module, str]:
        """The module whose output channels Torch-Pruning's importance criteria score, and its kind."""
        raise ValueError(f"Torch-Pruning's importance criteria score channels of a layer; {type(self).__name__} "
                         "players are not channels")


class Units(Perspective):
    retrains_together = True

    def __init__(self, layer: int | str | None = None):
        if isinstance(layer, str) and layer.lstrip("-").isdigit():  # as the command line gives it
            layer = int(layer)
        self.layer = layer

    def layer_of(self, model: MLP) -> int:
        hidden = len(model.hidden_sizes)
        if self.layer is None:
            return hidden - 1
        if isinstance(self.layer, bool) or not isinstance(self.layer, (int, np.integer)) or not -hidden <= self.layer < hidden:
            raise ValueError(f"the players of an MLP are the units of a hidden layer, named by its index: choose one "
                             f"of {', '.join(str(i) for i in range(hidden))} (default the last); got {self.layer!r}")
        return int(self.layer) % hidden

    def n_players(self, model: MLP) -> int:
        return model.hidden_sizes[self.layer_of(model)]

    def game(self, model, x, y, measure):
        from svprune.games import NeuronGame

        return NeuronGame(model, x, y, layer=self.layer_of(model), measure=measure)

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

    def retrain_together(self, models, x, y, epochs, seed, config, device):
        """The pruned MLPs retrained as one fused program (:mod:`svprune.fused`), narrower ones padded with masked
        units (a masked unit trains exactly like a removed one); every model shares the minibatch order of
        ``seed``."""
        from svprune.fused import StackedMLP, train_fused
        from svprune.models import pad_units

        layer = self.layer_of(models[0])
        width = max(m.hidden_sizes[layer] for m in models)
        padded = [pad_units(m, layer, width) for m in models]
        stacked = StackedMLP([p for p, _ in padded]).to(device)
        stacked.masks[layer] = torch.stack([mask for _, mask in padded]).to(device)
        train_fused(stacked, x, y, epochs, seed=seed, config=config)
        return [remove_units(trained, layer, range(m.hidden_sizes[layer], width))
                for m, trained in zip(models, stacked.unstack())]


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
    """A model whose player layer has lost its last channel: the one channel Torch-Pruning must keep is zeroed at
    the inputs of the layers that read it (``index_fill``, so neither a NaN nor a gradient passes), so the network
    computes what it would without the layer's channels (its read-out bias and whatever bypasses the layer); it
    still trains like any model, except that its batch norms keep their running statistics: what follows the
    layer now sees the same input for every sample, so batch statistics would have zero variance, and a chain of
    such batch norms multiplies the gradient by 1/sqrt(eps) at each one until it overflows (NaN)."""

    def __init__(self, model: nn.Module, consumers: list):
        super().__init__()
        self.model, self.consumers = model, list(consumers)
        for c in self.consumers:
            index = torch.as_tensor(np.flatnonzero(c.gather == 0), dtype=torch.long)  # player 0: the one left
            model.get_submodule(c.name).register_forward_pre_hook(
                lambda mod, args, c=c, index=index: (args[0].index_fill(c.channel_dim, index.to(args[0].device), 0),
                                                     *args[1:]))

    def forward(self, x):
        return self.model(x)

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self


class Channels(Perspective):
    """Output channels of ``layer`` (a module path) of any model; coupled layers are removed with it.
    ``example``: one input of the model (Torch-Pruning traces with it; the walk passes one sample of the data);
    ``removal``: how games remove absent channels (svprune.settings.REMOVALS)."""

    def __init__(self, layer: str, example: torch.Tensor | None = None, removal: str = "mask"):
        if not isinstance(layer, str) or not layer:
            raise ValueError(f"the channels perspective needs the player layer as a module path; got {layer!r}")
        self.layer, self.example, self.removal = layer, example, removal

    def _example(self, model):
        from svprune.channels import example_input

        example = example_input(model, self.example)
        return example.to(next(model.parameters()).device)

    def n_players(self, model) -> int:
        from svprune.channels import check_player_layer, n_channels

        if isinstance(model, NoChannels):
            return 0
        return n_channels(check_player_layer(model, self.layer))

    def game(self, model, x, y, measure):
        from svprune.games import ModuleGame

        return ModuleGame(model, self.layer, x, y, measure=measure, removal=self.removal)

    def remove(self, model, positions):
        from svprune.channels import channel_group, prune_channels

        n = self.n_players(model)
        positions = sorted(int(p) for p in positions)
        if n and len(positions) == n:  # the last channels: keep one, zeroed where it is read
            keep_one = prune_channels(model, self.layer, positions[1:], self._example(model))
            group = channel_group(keep_one, self.layer, self._example(keep_one))
            return NoChannels(keep_one, group.consumers)
        return prune_channels(model, self.layer, positions, self._example(model))

    def check(self, model, x, y) -> dict:
        from svprune.games.module import ModuleGame

        game = ModuleGame(model, self.layer, x, y, removal=self.removal)
        return dict(layer=self.layer, mode=game.mode, coupled_layers=game.coupled_layers, read_by=game.mask_points,
                    max_diff_against_pruning=game.max_diff, additive=game.fast)

    def weight_norms(self, model) -> np.ndarray:
        weight = model.get_submodule(self.layer).weight.detach()
        return weight.flatten(1).norm(dim=1).cpu().numpy()  # filter norms

    @torch.no_grad()
    def dead_units(self, model, x) -> float:
        """Channels that are zero wherever a later layer reads them, for every sample of x (ReLU zeroes a channel
        whose batch-norm output is never positive, say): removing them changes nothing."""
        if isinstance(model, NoChannels):
            return 0.0
        from svprune.channels import channel_group

        consumer = channel_group(model, self.layer, self._example(model)).consumers[0]
        seen = []
        hook = model.get_submodule(consumer.name).register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
        try:
            model(x)
        finally:
            hook.remove()
        largest = seen[0].movedim(consumer.channel_dim, 0).flatten(1).abs().amax(1).float()  # per input position
        index = torch.as_tensor(consumer.gather, device=largest.device)
        per_player = torch.zeros(self.n_players(model) + 1, device=largest.device).scatter_reduce(0, index, largest,
                                                                                                   "amax")
        return float((per_player[:-1] <= 0).sum())

    def scored_layer(self, model):
        module = model.get_submodule(self.layer)
        return module, "linear" if isinstance(module, nn.Linear) else "conv"


def perspective_for(model: nn.Module, layer: int | str | None = None, example: torch.Tensor | None = None,
                    removal: str = "mask") -> Perspective:
    """The perspective of a model, its kind's (svprune.kinds): units of an MLP layer (``layer`` an index, default
    the last), blocks of a residual MLP, or the channels of the layer a module path names in any other model
    (default: the kind's, e.g. a SmallCNN's last convolution). ``example``: one model input, which Torch-Pruning
    traces with; ``removal``: how channel games remove absent channels."""
    from svprune.kinds import KindError, kind_of_model

    if isinstance(model, NoChannels):
        return Channels(layer, example, removal)
    try:
        kind = kind_of_model(model)
    except KindError:  # a model of the user's, built without a factory: its channels
        return Channels(layer, example, removal)
    if layer is None:
        layer = kind.player_layer(kind.describe(model))
    return kind.perspective(model, layer, example, removal)
