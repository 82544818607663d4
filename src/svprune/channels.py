"""Channels of any PyTorch model as removable units, through Torch-Pruning's DependencyGraph.

:func:`channel_group` finds, for a ``nn.Linear`` or ``nn.Conv1d``/``nn.Conv2d`` named by its module path, what
removing its output channels involves (Torch-Pruning's pruning group): the layers whose output channels are tied
to it by residual additions or depthwise convolutions (*producers*: they are removed, and valued, together), the
per-channel operations on the way (batch norms, activations, pooling, concatenations), and the layers that read
the channels (*consumers*).

Masking equals removal where it is applied (docs/masking.md): a coalition's absent channels are zeroed **at the
inputs of the consumers**, at the positions each consumer reads them (through concatenations, flattens and
reshapes, as Torch-Pruning maps them). A consumer (a Linear or Conv layer) that reads zero at an input position
computes exactly what it computes without that input, whatever happened to the channel before (a batch norm
after the activation, a sigmoid, a squeeze-excitation gate): so the masked network is the pruned one. What
breaks this, and how each case is handled:

- an operation that mixes the group's channels before a consumer reads them: ``GroupNorm(1, C)`` or
  ``LayerNorm`` over the channels (removing a channel changes the statistics of the others). No mask is exact
  there; the game refuses, naming the op, unless asked to evaluate every coalition on the physically pruned
  model (``removal="prune"``);
- a ``GroupNorm`` of several groups of several channels, a grouped convolution, attention and recurrent
  modules: Torch-Pruning cannot remove single channels of them and keep the model valid: refused;
- channels that reach the model's output without passing a consumer (the output layer: its channels are the
  logits): refused, since removing one drops a class.

Whatever the analysis says, every game checks itself on a few coalitions against :func:`prune_channels`
(svprune.games.module), so a case this module does not foresee is an error, never a value.
"""

from __future__ import annotations

import contextlib
import copy
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

PLAYER_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)

_EXAMPLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""One example input per model, recorded by the channel games, so that pruning needs no second copy."""


class ChannelError(ValueError):
    """The channels of a layer cannot be players (or removed): the message names the layer and the operation."""


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
                     "inputs, e.g. x[:1] of the data)")


def player_layers(model: nn.Module) -> list[str]:
    """Module paths of the layers whose output channels can be players (Linear and Conv1d/Conv2d layers; which of
    them a game accepts depends on what follows them, see :func:`channel_group`)."""
    return [name for name, m in model.named_modules() if isinstance(m, PLAYER_LAYERS) and name]


def _shown(valid: list[str]) -> str:
    return ", ".join(repr(v) for v in valid[:40]) + (f", ... ({len(valid)} in all)" if len(valid) > 40 else "")


def check_player_layer(model: nn.Module, layer: str) -> nn.Module:
    """The module at ``layer``, which must be a Linear or Conv1d/Conv2d; else an error listing valid names."""
    valid = player_layers(model)
    try:
        module = model.get_submodule(layer) if isinstance(layer, str) and layer else None
    except AttributeError:
        module = None
    if module is None:
        raise ChannelError(f"the model has no module {layer!r}; layers whose channels can be players: {_shown(valid)}")
    if not isinstance(module, PLAYER_LAYERS):
        raise ChannelError(f"{layer!r} is a {type(module).__name__}, not a Linear or Conv1d/Conv2d layer; layers "
                           f"whose channels can be players: {_shown(valid)}")
    return module


TRACE_MEMORY = 4 << 30
"""Memory Torch-Pruning may take beyond what the process holds while it traces a group: on some architectures
(Swin's shifted windows) its index mapping grows without bound, and an error is better than the machine's OOM
killer."""


@contextlib.contextmanager
def _memory_guard(extra: int = TRACE_MEMORY):
    """Cap the process's address space at its current size plus ``extra`` bytes for the duration (Linux; elsewhere
    nothing), so that a runaway allocation raises MemoryError instead of exhausting the machine."""
    try:
        import resource

        with open("/proc/self/statm") as handle:
            current = int(handle.read().split()[0]) * resource.getpagesize()
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        yield
        return
    cap = current + extra
    if soft != resource.RLIM_INFINITY and soft <= cap:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _group(model: nn.Module, module: nn.Module, example: torch.Tensor, idxs: list[int]):
    """Torch-Pruning's DependencyGraph and the pruning group of ``module``'s output channels ``idxs``."""
    with _memory_guard():
        graph = _trace(model, example_inputs=example, verbose=False)
        if module not in graph.module2node:
            return graph, None
        return graph, graph.get_pruning_group(module, _out_pruner(module), idxs=idxs)


def _trace(model: nn.Module, example_inputs: torch.Tensor, verbose: bool = False):
    """Torch-Pruning's DependencyGraph of the model (it traces with autograd, so gradients are enabled here). A
    tensor is passed as a one-element tuple: Torch-Pruning first tries ``model(*example_inputs)``, which unpacks a
    (1, features) tensor into one 1-D sample that a Linear-first model accepts, and traces the wrong shapes."""
    import torch_pruning as tp

    from svprune.outputs import logits_of

    if torch.is_tensor(example_inputs):
        example_inputs = (example_inputs,)
    with torch.enable_grad():
        return tp.DependencyGraph().build_dependency(
            model, example_inputs=example_inputs, verbose=verbose,
            output_transform=logits_of)


def _out_pruner(module: nn.Module):
    import torch_pruning as tp

    return tp.prune_linear_out_channels if isinstance(module, nn.Linear) else tp.prune_conv_out_channels


def n_channels(module: nn.Module) -> int:
    return module.out_features if isinstance(module, nn.Linear) else module.out_channels


def _in_width(module: nn.Module) -> int:
    return module.in_features if isinstance(module, nn.Linear) else module.in_channels


def _grouped(module: nn.Module) -> bool:
    """A convolution of several groups that is not depthwise (one input and one output channel per group)."""
    groups = getattr(module, "groups", 1)
    if groups == 1 or not isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return False
    return not (groups == module.in_channels == module.out_channels)


@dataclass
class Consumer:
    """A layer that reads the group's channels: its input positions that hold them, and the player of each."""

    name: str
    channel_dim: int  # the input dimension that holds channels: -1 for Linear (features last), 1 for conv
    width: int  # size of that dimension
    gather: np.ndarray  # per input position: the player it holds, or n_players (the always-kept column)

    def keep(self, coalitions: torch.Tensor) -> torch.Tensor:
        """(B, width) masks of this consumer's inputs for boolean coalitions (B, n_players)."""
        ones = torch.ones((coalitions.shape[0], 1), dtype=coalitions.dtype, device=coalitions.device)
        index = torch.as_tensor(self.gather, device=coalitions.device)
        return torch.cat([coalitions, ones], 1)[:, index]

    def shaped(self, keep: torch.Tensor, ndim: int) -> torch.Tensor:
        """(B, width) input masks shaped to broadcast over an input of ``ndim`` dimensions (batch first)."""
        if self.channel_dim == 1:
            return keep.reshape(keep.shape[0], keep.shape[1], *([1] * (ndim - 2)))
        return keep.reshape(keep.shape[0], *([1] * (ndim - 2)), keep.shape[1])


@dataclass
class ChannelGroup:
    """What removing the output channels of ``layer`` involves, and how a game removes them."""

    layer: str
    n_channels: int
    producers: list[str]  # layers whose output channels are removed together (the layer first)
    consumers: list[Consumer]  # layers that read them: where a mask zeroes them
    ops: list[str] = field(default_factory=list)  # the other operations on the channels' way (for messages)
    mixing: list[str] = field(default_factory=list)  # operations that mix the channels: no mask is exact

    @property
    def coupled(self) -> list[str]:
        return self.producers[1:]

    @property
    def mask_points(self) -> list[str]:
        """The modules whose inputs are masked (the consumers)."""
        return [c.name for c in self.consumers]

    @property
    def exact_by_mask(self) -> bool:
        return not self.mixing


def _refuse(layer: str, what: str, why: str, advice: str = "choose another layer") -> ChannelError:
    return ChannelError(f"the channels of {layer!r} cannot be players: they pass through {what}, {why}; {advice}")


def _check_prunable(layer: str, module, name: str | None = None) -> None:
    """Refuse a module whose channels Torch-Pruning cannot remove one at a time and keep the model valid: a grouped
    convolution, or a GroupNorm of several groups of several channels. ``name`` None: the player layer itself."""
    if _grouped(module):
        what = "its own grouped convolution" if name is None else f"{name!r}, a grouped convolution"
        raise _refuse(layer, f"{what} (groups={module.groups})",
                      "whose channels Torch-Pruning cannot remove one at a time and keep the groups even")
    if isinstance(module, nn.GroupNorm) and 1 < module.num_groups < module.num_channels:
        raise _refuse(layer, f"{name!r}, a GroupNorm({module.num_groups}, {module.num_channels})",
                      "which mixes channels within its groups, and whose groups removing single channels would "
                      "leave uneven")


def _kind_of(item, names: dict) -> tuple[str, nn.Module, str]:
    target = item.dep.target
    module = target.module
    handler = getattr(item.dep.handler, "__name__", str(item.dep.handler))
    name = names.get(module) if isinstance(module, nn.Module) else None
    return name or target.name, module, handler


def channel_group(model: nn.Module, layer: str, example: torch.Tensor) -> ChannelGroup:
    """Trace the model with Torch-Pruning and describe the group of ``layer``'s output channels; a layer whose
    channels cannot be valued as players gets a :class:`ChannelError` naming the operation that prevents it."""
    import torch_pruning as tp

    module = check_player_layer(model, layer)
    n = n_channels(module)
    _check_prunable(layer, module)
    names = {m: k for k, m in model.named_modules()}
    was_training = model.training
    model.eval()
    try:
        graph, group = _group(model, module, example, list(range(n)))
        if group is None:
            parent = next((p for p, m in model.named_modules() if any(c is module for c in m.children())), "")
            owner = type(model.get_submodule(parent)).__name__ if parent else "the model"
            raise ChannelError(f"{layer!r} is not called as a layer in the model's forward pass (its owner {parent!r}, "
                               f"a {owner}, uses its weights directly): its channels cannot be players; layers whose "
                               f"channels can be: {_shown([p for p in player_layers(model) if p != layer])}")
    except ChannelError:
        raise
    except MemoryError as err:
        raise ChannelError(f"Torch-Pruning ran out of memory tracing the channels of {layer!r} (more than "
                           f"{TRACE_MEMORY >> 30} GiB: its index mapping grows without bound on this architecture); "
                           "choose another layer") from err
    except Exception as err:  # noqa: BLE001 - Torch-Pruning raises many kinds on models it cannot trace
        raise ChannelError(f"Torch-Pruning cannot trace the channels of {layer!r} ({type(err).__name__}: {err}); "
                           "choose another layer, or check that the model runs on the example input") from err
    finally:
        model.train(was_training)
    OP = tp.ops.OPTYPE
    producers, consumers, ops, mixing = [layer], {}, [], []
    for item in group.items:
        name, target, handler = _kind_of(item, names)
        kind = item.dep.target.type
        _check_prunable(layer, target, name)
        if isinstance(target, PLAYER_LAYERS) or kind in (OP.CONV, OP.LINEAR, OP.DEPTHWISE_CONV):
            if not isinstance(target, PLAYER_LAYERS):
                raise _refuse(layer, f"{name!r} ({type(target).__name__})", "a layer svprune does not mask")
            if "out" in handler:
                if name not in producers:
                    producers.append(name)
            elif "in" in handler:
                consumers[name] = (target, item)
        elif kind in (OP.BN, OP.IN, OP.PRELU):
            ops.append(name)
        elif kind == OP.GN:
            if target.num_groups == target.num_channels:
                ops.append(name)  # one channel per group: per-channel (prune_channels keeps num_groups in step)
            else:  # one group (uneven groups were refused above)
                mixing.append(f"{name!r} (GroupNorm(1, {target.num_channels}): its statistics mix the channels)")
        elif kind == OP.LN:
            mixing.append(f"{name!r} (LayerNorm over the channels: its statistics mix them)")
        elif kind in (OP.MHA, OP.LSTM, OP.CUSTOMIZED):
            raise _refuse(layer, f"{name!r} ({type(target).__name__})",
                          "which svprune cannot mask channel by channel")
        elif kind == OP.OUTPUT:
            raise _refuse(layer, "the model's output", "other than through a layer that reads them: removing one "
                          "would change the logits themselves, which no mask stands for", "choose an earlier layer")
        else:  # element-wise ops, concatenations, splits, reshapes, parameters and embeddings tied to the channels
            ops.append(name)
    if not consumers:
        raise ChannelError(f"the channels of {layer!r} are the model's output (no later layer reads them): removing "
                           "one drops a logit (a class), which no mask stands for; choose a layer before the head, "
                           f"e.g. one of {_shown([p for p in player_layers(model) if p not in producers][-3:])}")
    out = []
    for name, (target, item) in consumers.items():
        if any(r is None for r in item.root_idxs):
            raise _refuse(layer, f"an index mapping into {name!r} that Torch-Pruning cannot trace back",
                          "so svprune cannot tell which input belongs to which channel")
        gather = np.full(_in_width(target), n, dtype=np.int64)
        gather[np.asarray(item.idxs, dtype=np.int64)] = np.asarray(item.root_idxs, dtype=np.int64)
        out.append(Consumer(name, -1 if isinstance(target, nn.Linear) else 1, _in_width(target), gather))
    return ChannelGroup(layer, n, producers, out, ops, mixing)


def prune_channels(model: nn.Module, layer: str, positions: Sequence[int], example_inputs=None) -> nn.Module:
    """A new, smaller model with output channels ``positions`` of ``layer`` removed (with their batch norm
    entries, the input channels of the layers that read them, and, where residual additions tie layers together,
    the same channels of every coupled layer: Torch-Pruning's group). The original model is not changed. A layer
    whose channels Torch-Pruning cannot remove and keep the model valid is refused (:class:`ChannelError`)."""
    module = check_player_layer(model, layer)
    positions = sorted({int(p) for p in np.asarray(positions, dtype=np.int64).reshape(-1)})
    total = n_channels(module)
    if positions and (positions[0] < 0 or positions[-1] >= total):
        raise ValueError(f"channel positions must lie in 0..{total - 1} for {layer!r}; got {positions}")
    if len(positions) >= total:
        raise ValueError(f"removing all {total} channels of {layer!r} would disconnect the network; keep at least one")
    _check_prunable(layer, module)
    example = example_input(model, example_inputs)
    pruned = copy.deepcopy(model)
    if hasattr(model, "example_input_shape"):
        pruned.example_input_shape = model.example_input_shape
    if not positions:
        return pruned
    target = pruned.get_submodule(layer)
    was_training = pruned.training
    pruned.eval()
    try:
        _, group = _group(pruned, target, example.to(next(pruned.parameters()).device), positions)
        if group is None:
            raise ChannelError(f"{layer!r} is not called as a layer in the model's forward pass")
    except ChannelError:
        raise
    except Exception as err:  # noqa: BLE001
        raise ChannelError(f"Torch-Pruning cannot trace the channels of {layer!r} ({type(err).__name__}: {err})") from err
    names = {m: k for k, m in pruned.named_modules()}
    for item in group.items:
        name, target, _ = _kind_of(item, names)
        _check_prunable(layer, target, name)
    per_channel = [item.dep.target.module for item in group.items if isinstance(item.dep.target.module, nn.GroupNorm)
                   and item.dep.target.module.num_groups == item.dep.target.module.num_channels]
    group.prune()
    for norm in per_channel:  # Torch-Pruning keeps num_groups: one group per channel stays one per channel
        norm.num_groups = norm.num_channels
    pruned.train(was_training)
    return pruned


def player_layer_list(layers) -> list[str]:
    """The layers of a game over several layers, as given: a list of module paths (at least one, no repeats)."""
    layers = list(layers)
    if not layers or not all(isinstance(name, str) for name in layers):
        raise ValueError(f"layers must be a non-empty list of module paths, or 'all'; got {layers!r}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"a layer is listed twice: {layers}")
    return layers


def all_player_groups(model: nn.Module, example: torch.Tensor) -> list[ChannelGroup]:
    """The groups of every Linear/Conv layer whose channels a mask removes exactly: svprune's refusals and the
    output layer left out, and a layer coupled to an earlier one, whose channels that one's players already are."""
    chosen, covered = [], set()
    for name in player_layers(model):
        if name in covered:
            continue
        try:
            group = channel_group(model, name, example)
        except ChannelError:
            continue
        if group.exact_by_mask:
            chosen.append(group)
            covered.update(group.producers)
    if not chosen:
        raise ChannelError("no layer of this model has channels that can be players")
    return chosen


def combine_groups(groups: list[ChannelGroup]) -> ChannelGroup:
    """The channels of several layers as one set of players, in order (layer by layer): each consumer's input
    positions mapped to the combined players; a layer read by another player layer's consumer shares it. A layer
    listed twice, or coupled to another listed layer (their channels are one group), is refused."""
    total = sum(g.n_channels for g in groups)
    owner: dict[str, str] = {}
    for g in groups:
        for producer in g.producers:
            if producer in owner:
                raise ChannelError(f"{g.layer!r} and {owner[producer]!r} share the channels of {producer!r} (the same "
                                   "layer, or layers tied by residual additions): list one of them")
            owner[producer] = g.layer
    consumers: dict[str, Consumer] = {}
    offset = 0
    for g in groups:
        for c in g.consumers:
            gather = np.where(c.gather >= g.n_channels, total, c.gather + offset)
            if c.name in consumers:  # one layer reads the channels of several player layers (a concatenation)
                old = consumers[c.name].gather
                if ((old < total) & (gather < total)).any():
                    raise ChannelError(f"{c.name!r} reads one input position as a channel of two player layers")
                gather = np.where(gather < total, gather, old)
            consumers[c.name] = Consumer(c.name, c.channel_dim, c.width, gather)
        offset += g.n_channels
    return ChannelGroup(", ".join(g.layer for g in groups), total, [p for g in groups for p in g.producers],
                        list(consumers.values()), [o for g in groups for o in g.ops],
                        [m for g in groups for m in g.mixing])


def prune_layers(model: nn.Module, removed: dict[str, Sequence[int]], example_inputs=None) -> nn.Module:
    """A new model without the output channels ``removed[layer]`` of each layer (:func:`prune_channels`, one layer
    after another; module paths do not change)."""
    pruned = model
    for layer, positions in removed.items():
        if len(positions) or pruned is model:
            pruned = prune_channels(pruned, layer, positions, example_inputs)
    return pruned
