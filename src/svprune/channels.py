"""Channels of any PyTorch model as removable units, through Torch-Pruning's DependencyGraph.

:func:`channel_group` finds, for a ``nn.Linear`` or ``nn.Conv1d``/``nn.Conv2d`` named by its module path, what
removing its output channels involves: the batch norm that follows it, and the other layers whose output
channels are tied to it by residual additions (then the whole group is removed, and valued, together). The
*mask points* are where zeroing a channel equals removing it: after each producing layer's batch norm (a
zeroed convolution output passed through batch norm is not zero), valid when every operation after it maps 0 to
0 (ReLU and its kin, pooling, additions, reshapes); anything else is refused with the reason.
:func:`prune_channels` removes channels for real, returning a smaller model.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

PLAYER_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
ZERO_PRESERVING = ("Relu", "Relu6", "LeakyRelu", "Gelu", "Silu", "Hardswish", "Elu", "Tanh", "MaxPool", "AvgPool",
                   "AdaptiveAvgPool", "AdaptiveMaxPool", "Mean", "Add", "View", "Reshape", "Flatten", "Cat", "Mul",
                   "T", "Permute", "Transpose", "Clone", "Squeeze", "Unsqueeze", "Split", "Slice", "Select",
                   "Dropout", "Identity")
"""Operations f with f(0) = 0 channel-wise (matched against autograd names such as ReluBackward0)."""

_EXAMPLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""One example input per model, recorded by the channel games, so that pruning needs no second copy."""


def remember_example(model: nn.Module, example: torch.Tensor) -> None:
    _EXAMPLES[model] = example[:1].detach().clone()


def example_input(model: nn.Module, example_inputs=None) -> torch.Tensor:
    """An input Torch-Pruning can trace the model with: as given, else the model's ``example_input_shape``
    (svprune's own models have one), else the inputs a channel game of this model last saw."""
    if example_inputs is not None:
        return example_inputs
    shape = getattr(model, "example_input_shape", None)
    if shape is not None:
        device = next(model.parameters()).device
        return torch.zeros((1, *shape), device=device)
    if model in _EXAMPLES:
        return _EXAMPLES[model]
    raise ValueError("Torch-Pruning traces the model with an example input: pass example_inputs (one batch of "
                     "inputs), or value the model with a ModuleGame first")


def player_layers(model: nn.Module) -> list[str]:
    """Module paths of the layers whose output channels can be players."""
    return [name for name, m in model.named_modules() if isinstance(m, PLAYER_LAYERS) and name]


def check_player_layer(model: nn.Module, layer: str) -> nn.Module:
    """The module at ``layer``, which must be a Linear or Conv1d/Conv2d; else an error listing valid names."""
    valid = player_layers(model)
    shown = ", ".join(repr(v) for v in valid[:40]) + (f", ... ({len(valid)} in all)" if len(valid) > 40 else "")
    try:
        module = model.get_submodule(layer) if isinstance(layer, str) and layer else None
    except AttributeError:
        module = None
    if module is None:
        raise ValueError(f"the model has no module {layer!r}; layers whose channels can be players: {shown}")
    if not isinstance(module, PLAYER_LAYERS):
        raise ValueError(f"{layer!r} is a {type(module).__name__}, not a Linear or Conv1d/Conv2d layer; layers whose "
                         f"channels can be players: {shown}")
    return module


def _trace(model: nn.Module, example_inputs: torch.Tensor, verbose: bool = False):
    """Torch-Pruning's DependencyGraph of the model (it traces with autograd, so gradients are enabled here)."""
    import torch_pruning as tp

    with torch.enable_grad():
        return tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs, verbose=verbose)


def _out_pruner(module: nn.Module):
    import torch_pruning as tp

    return tp.prune_linear_out_channels if isinstance(module, nn.Linear) else tp.prune_conv_out_channels


def n_channels(module: nn.Module) -> int:
    return module.out_features if isinstance(module, nn.Linear) else module.out_channels


@dataclass
class ChannelGroup:
    """What removing the output channels of ``layer`` involves."""

    layer: str
    n_channels: int
    producers: list[str]  # layers whose output channels are removed together (the layer first)
    mask_points: list[str]  # modules whose outputs are zeroed to remove a channel
    consumers: list[str]  # layers whose input channels go with them

    @property
    def coupled(self) -> list[str]:
        return self.producers[1:]


def channel_group(model: nn.Module, layer: str, example: torch.Tensor) -> ChannelGroup:
    """Trace the model with Torch-Pruning and describe the group of ``layer``'s output channels."""
    module = check_player_layer(model, layer)
    names = {m: n for n, m in model.named_modules()}
    was_training = model.training
    model.eval()
    graph = _trace(model, example_inputs=example, verbose=False)
    model.train(was_training)
    group = graph.get_pruning_group(module, _out_pruner(module), idxs=[0])
    producers, consumers, ops = [layer], [], []
    for dep, _ in group.items:
        target = dep.target.module
        handler = getattr(dep.handler, "__name__", str(dep.handler))
        if isinstance(target, PLAYER_LAYERS):
            name = names[target]
            if "out" in handler and name not in producers:
                producers.append(name)
            elif "in" in handler and name not in consumers:
                consumers.append(name)
        elif not isinstance(target, NORMS):
            ops.append(getattr(dep.target, "name", "") or type(target).__name__)
    norms = {}  # a producer's batch norm: its only consumer in the traced graph
    for name in producers:
        outputs = graph.module2node[model.get_submodule(name)].outputs
        if len(outputs) == 1 and isinstance(outputs[0].module, NORMS):
            norms[name] = names[outputs[0].module]
    bad = sorted({op for op in ops if "ElementWiseOp" in op and not any(z in op for z in ZERO_PRESERVING)})
    if bad:
        raise ValueError(f"the channels of {layer!r} pass through {', '.join(bad)}, which do not map 0 to 0: zeroing "
                         "a channel would not equal removing it, so its channels cannot be valued as players")
    mask_points = [norms.get(p, p) for p in producers]
    return ChannelGroup(layer, n_channels(module), producers, mask_points, consumers)


def prune_channels(model: nn.Module, layer: str, positions: Sequence[int], example_inputs=None) -> nn.Module:
    """A new, smaller model with output channels ``positions`` of ``layer`` removed (with their batch norm
    entries, the input channels of the layers that read them, and, where residual additions tie layers together,
    the same channels of every coupled layer: Torch-Pruning's group). The original model is not changed."""
    module = check_player_layer(model, layer)
    positions = sorted({int(p) for p in np.asarray(positions, dtype=np.int64).reshape(-1)})
    total = n_channels(module)
    if positions and (positions[0] < 0 or positions[-1] >= total):
        raise ValueError(f"channel positions must lie in 0..{total - 1} for {layer!r}; got {positions}")
    if len(positions) >= total:
        raise ValueError(f"removing all {total} channels of {layer!r} would disconnect the network; keep at least one")
    example = example_input(model, example_inputs)
    pruned = copy.deepcopy(model)
    if hasattr(model, "example_input_shape"):
        pruned.example_input_shape = model.example_input_shape
    if not positions:
        return pruned
    target = pruned.get_submodule(layer)
    was_training = pruned.training
    pruned.eval()
    graph = _trace(pruned, example_inputs=example.to(next(pruned.parameters()).device),
                                                  verbose=False)
    group = graph.get_pruning_group(target, _out_pruner(target), idxs=positions)
    group.prune()
    pruned.train(was_training)
    return pruned
