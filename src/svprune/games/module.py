"""Channels of any layer of any PyTorch model as players (``ModuleGame``).

The players are the output features of a ``nn.Linear`` or the output channels of a ``nn.Conv1d``/``nn.Conv2d``,
named by module path (``"features.3"``, ``"layer4.1.conv1"``); where residual additions or depthwise
convolutions tie the layer's channels to other layers, the players are the channels of the whole group. A
coalition keeps its channels; the others are zeroed at the inputs of the layers that read them, which equals
removing them (see :mod:`svprune.channels` and docs/masking.md). Every game checks that equality when it is
built: on a few random coalitions its logits must equal those of the model :func:`svprune.channels.prune_channels`
returns; a mismatch is an error, never a value. Where no mask is exact (a normalisation that mixes the channels),
``removal="prune"`` evaluates every coalition on the physically pruned model instead.

The model is traced with ``torch.fx``; everything that does not depend on the players (the network up to the
layers that read them, skip connections from before it) is computed once, for all samples, and cached; per
coalition only the operations downstream of the masks run, for many coalitions at once (coalitions x samples
as one batch), in blocks of at most ``max_batch_bytes``. A model that ``torch.fx`` cannot trace is run whole per
block, the masks applied by forward pre-hooks. When the rest of the network is additive in the players
(per-channel pooling, flatten and a linear read-out), each channel's contribution to the logits is computed once
and permutation walks take the incremental path. Where it is a chain of linear, element-wise and pooling modules
(players in several layers, or a read-out that is not additive), permutation walks (shared, or per unit of samples
for ``antithetic_samples``) follow the chain incrementally on the CPU (:mod:`svprune.games.chain`).

The game evaluates the model in eval mode (batch norm with its running statistics, no dropout); a model given
in train mode is left in train mode between evaluations. The logits are read from the model's output by the rule
of :mod:`svprune.outputs`.
"""

from __future__ import annotations

import contextlib
import logging
import operator
from collections import Counter, OrderedDict
from functools import cached_property

import numpy as np
import torch
from torch import nn

from svprune.channels import (
    ChannelError,
    all_player_groups,
    channel_group,
    check_player_layer,
    combine_groups,
    player_layer_list,
    prune_layers,
    remember_example,
)
from svprune.games.chain import Chain, NotAChain, chain_of
from svprune.games.network import DEFAULT_MAX_BATCH_BYTES, _NetworkGame
from svprune.kernels import UNIT, TermData, check_permutations
from svprune.outputs import logits_of, logits_on
from svprune.registry import MEASURES
from svprune.settings import REMOVALS

log = logging.getLogger(__name__)

CHECK_COALITIONS = 3
"""Random coalitions on which every game compares its logits with the physically pruned model's."""
CHECK_SAMPLES = 32
"""Samples of that comparison."""
PRUNED_CACHE_BYTES = 1 << 30
"""Weights of physically pruned models kept for reuse (removal="prune" and the self-check)."""


def _size(value) -> int:
    return value.numel() * value.element_size() if torch.is_tensor(value) else 0


@contextlib.contextmanager
def evaluating(model: nn.Module):
    """The model in eval mode for the duration, then back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


class _Suffix:
    """The part of a traced model that reads the masked inputs, with the values it reads from the rest."""

    def __init__(self, graph_module: torch.fx.GraphModule, consumers: list[str]):
        self.gm = graph_module
        self.modules = dict(graph_module.named_modules())
        nodes = list(graph_module.graph.nodes)
        masked = [n for n in nodes if n.op == "call_module" and n.target in consumers]
        calls = Counter(n.target for n in masked)
        if any(calls[c] != 1 for c in consumers):
            raise _Untraceable(f"layers called other than once: {dict(calls)}")
        self.masked = {n.name: n.target for n in masked}
        dependent: set[str] = set()
        for n in nodes:
            if n.name in self.masked or any(a.name in dependent for a in n.all_input_nodes):
                dependent.add(n.name)
        self.suffix = [n for n in nodes if n.name in dependent and n.op != "output"]
        self.output = next(n for n in nodes if n.op == "output")
        readers = self.suffix + [self.output]
        frontier = {a.name for n in readers for a in n.all_input_nodes if a.name not in dependent}
        self.frontier = [n for n in nodes if n.name in frontier]
        self.prefix = [n for n in nodes if n.name not in dependent and n.op != "output"]

    @torch.no_grad()
    def run_prefix(self, x: torch.Tensor) -> dict:
        """The frontier values for inputs x (the network up to the masked inputs, once)."""
        env: dict = {}
        wanted = {n.name for n in self.frontier}
        for n in self.prefix:
            env[n.name] = x if n.op == "placeholder" else self.call(n, env)
        return {k: env[k] for k in wanted}

    @torch.no_grad()
    def run_suffix(self, frontier: dict, masks: dict) -> torch.Tensor:
        """The logits with ``masks[consumer]`` multiplying the first input of each consumer."""
        env = dict(frontier)
        for n in self.suffix:
            env[n.name] = self.call(n, env, masks.get(self.masked.get(n.name)))
        return logits_of(torch.fx.node.map_arg(self.output.args[0], lambda a: env[a.name]), "the traced model")

    def call(self, n, env, mask=None):
        args = torch.fx.node.map_arg(n.args, lambda a: env[a.name])
        kwargs = torch.fx.node.map_arg(n.kwargs, lambda a: env[a.name])
        if mask is not None:
            args = (args[0] * mask, *args[1:])
        if n.op == "call_module":
            return self.modules[n.target](*args, **kwargs)
        if n.op == "call_function":
            return n.target(*args, **kwargs)
        if n.op == "call_method":
            return getattr(args[0], n.target)(*args[1:], **kwargs)
        if n.op == "get_attr":
            return operator.attrgetter(n.target)(self.gm)
        raise _Untraceable(f"unsupported node {n.op}")


class _Untraceable(Exception):
    pass


class ModuleGame(_NetworkGame):
    """Players: the output channels of ``layer`` (a module path) in any ``nn.Module`` classifier, or of several
    layers (a list of module paths, or "all": every Linear/Conv layer whose channels can be players, the output
    layer aside), in order, named ``layer:channel`` (``player_names``); a coalition masks each layer's absent
    channels at its own mask points. See the module's docstring for what a coalition means and how it is computed.

    ``removal``: "mask" (zero the absent channels where the layers that read them read them; refused, naming the
    operation, where that is not exact) or "prune" (evaluate each coalition on the physically pruned model: exact
    wherever Torch-Pruning can prune, and slow). ``coupled_layers``: the other layers whose channels are removed
    with these (residual groups); ``mask_points``: the layers whose inputs are masked; ``mode``: "cached" (traced,
    prefix computed once), "hooks" (whole model per block of coalitions) or "pruned"; ``fast``: whether the
    read-out is additive in the channels, so that coalitions are one matrix product of the channels' logit terms
    and permutation walks take the incremental path (equal to the plain path up to float rounding); where it is
    not, permutation and per-sample walks follow the network's chain incrementally where it is one (on the CPU;
    :mod:`svprune.games.chain`). ``fast=False`` evaluates every coalition plainly.
    ``max_diff``: the largest difference between this game's logits and the pruned model's found by the
    self-check. Labels must lie in 0..(classes - 1) and inputs and weights must be finite, checked before any
    evaluation."""

    def __init__(
        self,
        model: nn.Module,
        layer,
        x,
        y,
        measure: str = MEASURES.default,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        fast: bool | None = None,
        removal: str = "mask",
    ):
        if removal not in REMOVALS:
            raise ValueError(f"removal must be one of {', '.join(REMOVALS)}; got {removal!r}")
        param = next(model.parameters())
        first = torch.as_tensor(np.asarray(x[:1]) if not torch.is_tensor(x) else x[:1], dtype=param.dtype)
        first = first.to(param.device)
        names = None if layer == "all" else [layer] if isinstance(layer, str) else player_layer_list(layer)
        for name in names or []:  # every name before any work, so that a typo is the first error
            check_player_layer(model, name)
        self.removal = removal
        was_training = model.training
        if was_training:
            log.info("the model is in train mode: the game evaluates it in eval mode (batch norm with its running "
                     "statistics, no dropout) and leaves it in train mode")
        with evaluating(model):
            n_classes = int(logits_on(model, first).shape[1])
            remember_example(model, first)
            if names is None:
                groups = all_player_groups(model, first)
            else:
                groups = [channel_group(model, name, first) for name in names]
            layers = [g.layer for g in groups]
            group = groups[0] if len(groups) == 1 else combine_groups(groups)
            self.layers, self.layer, self.group = layers, group.layer, group
            self.bounds = np.cumsum([0, *(g.n_channels for g in groups)])  # players of layers[i]: bounds[i]:bounds[i+1]
            self.player_names = [f"{g.layer}:{c}" for g in groups for c in range(g.n_channels)]
            self.coupled_layers = [c for g in groups for c in g.coupled]
            self.mask_points = group.mask_points
            if self.coupled_layers:
                log.info("the channels of %r are tied to %s: they are valued and removed together", self.layer,
                         ", ".join(self.coupled_layers))
            if removal == "prune" and len(layers) > 1:
                raise ValueError("removal='prune' values the channels of one layer at a time; a game over several "
                                 f"layers ({self.layer}) masks them")
            if removal == "mask" and not group.exact_by_mask:
                raise ChannelError(
                    f"no mask of the channels of {self.layer!r} equals removing them: they pass through "
                    f"{'; '.join(group.mixing)}. Evaluate every coalition on the physically pruned model instead "
                    "(ModuleGame(..., removal='prune'); in the workflow, model.removal: prune; slower), or choose "
                    "another layer")
            self._setup(model, x, y, measure, n_classes, max_batch_bytes)
            self.n_players = group.n_channels
            self._probe_x = self._samples(x, self._order[:CHECK_SAMPLES])
            self._pruned: OrderedDict = OrderedDict()
            self._suffix, self._terms = None, None
            if removal == "prune":
                self.mode = "pruned"
                self._cache = {"x": self._samples(x, self._order)}
                self._input_shapes, self._per_sample = self._inspect()
            else:
                self._build(x)
            self.max_diff = self._check_against_pruning()
            self.empty_measure = float(self.measure_of(np.zeros((1, self.n_players), dtype=bool))[0])
            if fast is not False and removal == "mask" and len(layers) == 1:  # one layer: its read-out may be additive
                self._terms, self._base = self._additive_terms()
        model.train(was_training)
        self._walks = fast is not False  # fast=False: the plain path everywhere, the chain's walks included
        self.fast = self._terms is not None
        if self.fast and self.device.type == "cpu" and self._margin_bound is not None:
            self._kernel_data = TermData(self._terms.float().numpy(), self._base.float().numpy(), self._y.numpy())
        if fast and not self.fast:
            raise ValueError(f"fast=True needs the network after {self.layer!r} to be additive in its channels "
                             "(per-channel pooling, reshapes and linear layers only)")

    # ---- caching and running ---------------------------------------------------------------------------------
    def _build(self, x) -> None:
        self.mode = "hooks"
        try:
            self._suffix = _Suffix(torch.fx.symbolic_trace(self.model), self.mask_points)
            self._cache = self._build_cache(x)
            self._input_shapes, self._per_sample = self._inspect()
            if not self._agrees_with_model():
                raise _Untraceable("the traced graph does not reproduce the model's logits")
            self.mode = "cached"
        except Exception as err:  # noqa: BLE001 - any tracing failure falls back to running the whole model
            log.info("coalitions of %r run the whole model (torch.fx: %s)", self.layer, err)
            self._suffix = None
            self._cache = {"x": self._samples(x, self._order)}
            self._input_shapes, self._per_sample = self._inspect()

    @torch.no_grad()
    def _build_cache(self, x) -> dict:
        """The frontier values of all samples, label-ordered, computed in slices within max_batch_bytes."""
        n = len(self._order)
        probe = self._suffix.run_prefix(self._probe_x[:2])
        for name, value in probe.items():
            if not torch.is_tensor(value) or value.ndim == 0 or value.shape[0] != min(2, n):
                raise _Untraceable(f"{name} is not a per-sample tensor")
        per_sample = max(sum(_size(v) for v in probe.values()) // 2, 1) * 4
        step = max(1, self.max_batch_bytes // per_sample)
        parts = [self._suffix.run_prefix(self._samples(x, self._order[s : s + step])) for s in range(0, n, step)]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    @torch.no_grad()
    def _inspect(self) -> tuple[dict, int]:
        """Run one sample with every player: the shape of each consumer's input (a batch of that one sample), and
        the bytes of intermediate tensors per (coalition, sample), doubled for temporaries."""
        shapes, total = {}, 0
        if self._suffix is not None:
            env = {k: v[:1] for k, v in self._cache.items()}
            for n in self._suffix.suffix:
                if n.name in self._suffix.masked:
                    shapes[self._suffix.masked[n.name]] = tuple(env[n.args[0].name].shape)
                env[n.name] = self._suffix.call(n, env)
                total += _size(env[n.name])
            return shapes, max(2 * total, 1)
        sizes = []
        hooks = [m.register_forward_hook(lambda mod, inp, out: sizes.append(_size(out)))
                 for m in self.model.modules() if m is not self.model]
        hooks += [self.model.get_submodule(p).register_forward_pre_hook(
            lambda mod, args, p=p: shapes.__setitem__(p, tuple(args[0].shape))) for p in self.mask_points]
        try:
            self.model(self._probe_x[:1])
        finally:
            for h in hooks:
                h.remove()
        return shapes, max(2 * sum(sizes), 1)

    @torch.no_grad()
    def _agrees_with_model(self) -> bool:
        """The traced suffix, all players kept, must give the model's own logits."""
        frontier = self._suffix.run_prefix(self._probe_x)
        traced = self._suffix.run_suffix(frontier, {})
        return bool(torch.allclose(traced, logits_of(self.model(self._probe_x)), rtol=1e-4, atol=1e-5))

    def _masks(self, masks: torch.Tensor, span: int) -> dict:
        """Per consumer, the coalitions' input masks as (coalitions x samples, ...) broadcastable to its input
        (``span`` samples per coalition; 1: one row per coalition)."""
        out = {}
        for c in self.group.consumers:
            keep = c.keep(masks.to(self.dtype))
            out[c.name] = c.shaped(keep.repeat_interleave(span, 0) if span > 1 else keep, len(self._input_shapes[c.name]))
        return out

    def _masked_logits(self, masks: torch.Tensor, sl: slice) -> torch.Tensor:
        b, span = masks.shape[0], sl.stop - sl.start
        if self._suffix is not None:
            frontier = {k: v[sl].repeat((b,) + (1,) * (v.ndim - 1)) for k, v in self._cache.items()}
        else:
            x = self._cache["x"][sl]
            frontier = x.repeat((b,) + (1,) * (x.ndim - 1))
        return self._masked_rows(self._masks(masks, span), frontier).reshape(b, span, -1)

    def _masked_rows(self, mask_of: dict, frontier) -> torch.Tensor:
        """Logits (rows, C) of the masked network: ``frontier`` the cached frontier values of the rows (traced
        mode) or their inputs (hooks mode), ``mask_of`` each mask point's masks of the rows."""
        if self._suffix is not None:
            z = self._suffix.run_suffix(frontier, mask_of)
            return z.reshape(z.shape[0], -1)
        hooks = [self.model.get_submodule(p).register_forward_pre_hook(
            lambda mod, args, p=p: (args[0] * mask_of[p], *args[1:])) for p in self.mask_points]
        try:
            logits = logits_of(self.model(frontier))
        finally:
            for h in hooks:
                h.remove()
        return logits.reshape(logits.shape[0], -1)

    @property
    def _row_path(self) -> bool:
        return self.mode != "pruned"  # a physically pruned model per row would cost a model per sample

    def _row_logits(self, masks, samples):
        if self._terms is not None:  # additive read-out: each row's terms summed
            return torch.einsum("rn,ncr->rc", masks.to(self._terms.dtype), self._terms[:, :, samples]) \
                + self._base[:, samples].T
        frontier = ({k: v[samples] for k, v in self._cache.items()} if self._suffix is not None
                    else self._cache["x"][samples])
        with evaluating(self.model):
            return self._masked_rows(self._masks(masks, 1), frontier)

    @cached_property
    def _chain(self) -> Chain | None:
        """The network after the players as a chain for the incremental walks (svprune.games.chain): on the CPU,
        traced, where the read-out is not additive (the compiled kernels serve that); None where it is not such a
        chain, or where reading it as one fails (the reason is logged; the walks then evaluate coalitions plainly)."""
        if (not self._walks or self.mode != "cached" or self.device.type != "cpu" or self._terms is not None
                or self.n_players < 2):
            return None
        try:
            return chain_of(self._suffix, next(iter(self._cache.values())), self._owners(), self._suffix.masked)
        except Exception as err:  # noqa: BLE001 - not a chain (NotAChain says why) or unreadable: the plain path
            log.info("the permutation walks of %s evaluate coalitions plainly: %s", self.layer, err)
            return None

    @torch.no_grad()
    def _owners(self) -> list[dict]:
        """For each player, its mask point and the flat input elements (of one sample) its absence zeroes there."""

        def masks_of(coalition: torch.Tensor) -> dict:
            return {point: torch.broadcast_to(m, self._input_shapes[point]).reshape(-1)
                    for point, m in self._masks(coalition[None, :], 1).items()}

        empty = masks_of(torch.zeros(self.n_players, dtype=torch.bool))
        owned = {point: torch.zeros_like(m, dtype=torch.bool) for point, m in empty.items()}
        owners = []
        for player in range(self.n_players):
            one = torch.zeros(self.n_players, dtype=torch.bool)
            one[player] = True
            own = {}
            for point, m in masks_of(one).items():
                if not bool(((m == 0) | (m == 1)).all()):
                    raise NotAChain(f"the masks at {point} are not 0 and 1")
                mine = (m == 1) & (empty[point] == 0)
                if bool(mine.any()):
                    own[point] = mine.nonzero()[:, 0].numpy()
                    owned[point] |= mine
            owners.append(own)
        if any(bool(((empty[p] == 0) != owned[p]).any()) for p in empty):
            raise NotAChain("some inputs are zeroed without a player")
        return owners

    @property
    def fast_prefixes(self) -> bool:
        """Whether permutation walks take an incremental path: the additive read-out's, or the chain's (where the
        measure is a weighted sum over samples)."""
        return self.fast or (self._chain is not None and self._sample_weights is not None)

    @torch.no_grad()
    def prefix_values(self, perms: np.ndarray) -> np.ndarray:
        """Payoffs along permutations: the additive read-out's walk, else every unit of samples walking the same
        permutations through the chain (checked once against the plain evaluation), else the plain evaluation."""
        if self.fast or not self.fast_prefixes or self.n_players < 2:
            return super().prefix_values(perms)
        n = self.n_players
        perms = check_permutations(perms, n)
        samples, weights = self._lane_rows(self._sample_weights)
        units, count = len(samples), len(perms)
        measure = np.empty((count, n + 1))
        measure[:, 0], measure[:, n] = self.empty_measure, self.grand_measure
        step = max(1, self.max_batch_bytes // (units * (n - 1) * UNIT * (4 * self.n_classes + 24)))
        for p0 in range(0, count, step):
            block = np.broadcast_to(perms[None, p0 : p0 + step], (units, min(step, count - p0), n))
            measure[p0 : p0 + step, 1:n] = self._unit_prefix_parts(block, samples, weights).sum(0)
        return self._checked_walk(perms, measure) - self.empty_measure

    def _unit_prefix_parts(self, perms: np.ndarray, lanes: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The per-sample walk's prefix values: the chain's incremental walk where the network is one
        (:attr:`_chain`), else a coalition per sample through the plain evaluation."""
        chain = self._chain
        units, count, n = perms.shape
        if chain is None or n < 2:
            return super()._unit_prefix_parts(perms, lanes, weights)
        classes, width = chain.n_classes, lanes.shape[1]
        labels = self._y[torch.as_tensor(lanes)][:, None, None, :]  # (K, 1, 1, V)
        step = max(1, self.max_batch_bytes // (units * (n - 1) * width * (4 * classes + 24)))
        out = np.empty((units, count, n - 1))
        for p0 in range(0, count, step):
            logits = torch.from_numpy(chain.walk(perms[:, p0 : p0 + step], lanes))  # (K, P, n - 1, V, C)
            rows = self._measure.row_values(logits.reshape(-1, classes),
                                            labels.expand(logits.shape[:-1]).reshape(-1)).view(logits.shape[:-1])
            out[:, p0 : p0 + step] = (rows * torch.as_tensor(weights)[:, None, None, :]).sum(-1).numpy()
        return out

    def _pruned_model(self, keep: np.ndarray) -> nn.Module:
        """The model without the channels ``keep`` leaves out; the most recent few are kept (within
        PRUNED_CACHE_BYTES), since a coalition's samples may come in several slices."""
        key = np.packbits(keep).tobytes()
        if key not in self._pruned:
            size = sum(_size(t) for t in self.model.state_dict().values())
            while self._pruned and len(self._pruned) >= max(1, min(16, PRUNED_CACHE_BYTES // max(size, 1))):
                self._pruned.popitem(last=False)
            removed = {name: np.flatnonzero(~keep[a:b])
                       for name, a, b in zip(self.layers, self.bounds[:-1], self.bounds[1:])}
            self._pruned[key] = prune_layers(self.model, removed, example_inputs=self._probe_x[:1]).eval()
        self._pruned.move_to_end(key)
        return self._pruned[key]

    def _pruned_logits(self, masks: torch.Tensor, sl: slice) -> torch.Tensor:
        rows = []
        for keep in masks.cpu().numpy().astype(bool):
            if not keep.any():  # nothing left to mix: zeroing every input is removing the group
                rows.append(self._masked_logits(torch.as_tensor(keep[None], device=self.device), sl)[0])
            else:
                rows.append(logits_of(self._pruned_model(keep)(self._cache["x"][sl])))
        return torch.stack(rows)

    def _logits(self, masks: torch.Tensor, sl: slice) -> torch.Tensor:
        if self._terms is not None:  # additive read-out: one matrix product per block of the margins (B, C, S)
            weights = masks.to(self._terms.dtype)
            n, classes, samples = self._terms.shape
            if (sl.start or 0) == 0 and sl.stop >= samples:  # all samples: the base added by the product itself
                z = torch.addmm(self._base.reshape(1, -1), weights, self._terms.reshape(n, -1))
                return z.view(-1, classes, samples).transpose(1, 2)
            z = torch.einsum("bn,ncs->bcs", weights, self._terms[:, :, sl])
            return (z + self._base[:, sl]).transpose(1, 2)
        with evaluating(self.model):
            if self.mode == "pruned":
                return self._pruned_logits(masks, sl)
            return self._masked_logits(masks, sl)

    def _bytes_per_sample(self) -> int:
        if getattr(self, "_terms", None) is not None:
            return 4 * 3 * self.n_classes + 8 * self.n_classes
        return self._per_sample

    def _row_bytes(self) -> int:
        if self._terms is not None:  # a row gathers its sample's terms of every player (_row_logits)
            return 4 * self.n_players * self.n_classes + self._bytes_per_sample()
        return self._bytes_per_sample()

    # ---- the self-check: masking must equal removal -------------------------------------------------------------
    @torch.no_grad()
    def _check_against_pruning(self) -> float:
        """Compare the game's logits with the physically pruned model's on CHECK_COALITIONS random coalitions (one
        channel removed, about half, all but one) and CHECK_SAMPLES samples; a mismatch is a ChannelError."""
        n = self.n_players
        if n < 2:
            return 0.0
        rng = np.random.default_rng(0)
        sl = slice(0, len(self._probe_x))
        worst = 0.0
        for removed in sorted({1, n // 2, n - 1})[:CHECK_COALITIONS]:
            keep = np.ones(n, dtype=bool)
            keep[rng.choice(n, size=removed, replace=False)] = False
            for a, b in zip(self.bounds[:-1], self.bounds[1:]):  # a layer keeps at least one channel (else it is not prunable)
                if not keep[a:b].any():
                    keep[a + rng.integers(b - a)] = True
            try:
                pruned = self._pruned_model(keep)
                expected = logits_of(pruned(self._probe_x))
            except ChannelError:
                raise
            except Exception as err:  # noqa: BLE001 - a model Torch-Pruning breaks
                raise ChannelError(f"the model Torch-Pruning returns without {removed} of the {n} channels of "
                                   f"{self.layer!r} does not run ({type(err).__name__}: {err}); its channels cannot "
                                   "be players") from err
            got = self._logits(torch.as_tensor(keep[None], device=self.device), sl)[0]
            diff = float((got - expected).abs().max())
            scale = float(expected.abs().max()) + 1.0
            worst = max(worst, diff)
            if not diff <= 1e-4 * scale:
                ops = ", ".join(self.group.ops[:12]) or "none"
                raise ChannelError(
                    f"masking the channels of {self.layer!r} does not equal removing them: without {removed} of its "
                    f"{n} channels the masked model's logits differ from the pruned model's by up to {diff:.3g} "
                    f"(operations between the layer and the layers that read it: {ops}). Evaluate every coalition "
                    "on the physically pruned model instead (ModuleGame(..., removal='prune'); in the workflow, "
                    "model.removal: prune), or choose another layer")
        self._pruned.clear()
        return worst

    # ---- additive read-outs: each channel's logit terms once, then the incremental walk -----------------------
    @torch.no_grad()
    def _additive_terms(self):
        """Per-channel logit terms T[j] = logits({j}) - logits(empty), kept when logits(S) = logits(empty) +
        sum_{j in S} T[j] holds on probe coalitions and they fit in max_batch_bytes; else (None, None). Returned as
        margins (below)."""
        n, n_samples = self.n_players, self.n_samples
        if n * n_samples * self.n_classes * 4 > 4 * self.max_batch_bytes:
            return None, None
        rng = np.random.default_rng(0)
        half = rng.random(n) < 0.5  # first a cheap test: f(A + B) = f(A) + f(B) - f(empty) for disjoint A, B
        empty, a, b, both = self._all_logits(np.stack([np.zeros(n, dtype=bool), half, ~half, np.ones(n, dtype=bool)]))
        scale = float(both.abs().max()) + 1e-12
        if float((both - a - b + empty).abs().max()) > 1e-4 * scale:
            return None, None
        terms = self._all_logits(np.eye(n, dtype=bool)) - empty  # (n, S, C)
        probe = rng.random((4, n)) < 0.5
        direct = self._all_logits(probe)
        summed = empty + torch.einsum("bn,nsc->bsc", torch.as_tensor(probe, dtype=terms.dtype, device=self.device), terms)
        if float((direct - summed).abs().max()) > 1e-4 * scale:
            return None, None
        # class-major (players x classes x samples; classes x samples): the logits a product of them gives are
        # what the measures read fastest. For a shift-invariant measure (every built-in one), kept as margins, each
        # sample's label logit subtracted: what the compiled kernels read, in place
        terms, base = terms.transpose(1, 2).contiguous(), empty.T.contiguous()
        if not self._measure.shift_invariant:
            return terms, base
        at = self._y.view(1, 1, -1)
        terms = (terms - terms.gather(1, at.expand(n, 1, -1))).contiguous()
        base = (base - base.gather(0, at[0])).contiguous()
        self._margin_bound = float((terms.abs().amax(1).sum(0, dtype=torch.float64) + base.abs().amax(0)).max())
        return terms, base

    def _all_logits(self, coalitions: np.ndarray) -> torch.Tensor:
        """Logits of coalitions over all samples, (B, S, C), in blocks."""
        masks = torch.as_tensor(coalitions, device=self.device)
        step, span = self._blocks(len(masks), self.n_samples, self._bytes_per_sample())
        out = []
        for start in range(0, len(masks), step):
            parts = [self._logits(masks[start : start + step], slice(s0, min(self.n_samples, s0 + span)))
                     for s0 in range(0, self.n_samples, span)]
            out.append(torch.cat(parts, 1))
        return torch.cat(out)

    def _prefix_terms(self, p: torch.Tensor, sl: slice) -> torch.Tensor:
        return self._terms[p][..., sl]

    def _prefix_base(self, sl: slice) -> torch.Tensor:
        return self._base[:, sl]
