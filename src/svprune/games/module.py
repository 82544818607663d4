"""Channels of any layer of any PyTorch model as players (``ModuleGame``).

The players are the output features of a ``nn.Linear`` or the output channels of a ``nn.Conv1d``/``nn.Conv2d``,
named by module path (``"features.3"``, ``"layer4.1.conv1"``). A coalition keeps its channels and zeroes the rest
where zeroing equals removing them (after the layer's batch norm: see :mod:`svprune.channels`); where residual
additions tie the layer's channels to other layers, the players are the channels of the whole group.

The model is traced with ``torch.fx``; everything that does not depend on the players (the network up to the
player layer, and skip connections from before it) is computed once, for all samples, and cached; per coalition
only the operations downstream of the players run, for many coalitions at once (coalitions x samples as one
batch), in blocks of at most ``max_batch_bytes``. A model that ``torch.fx`` cannot trace is run whole per block,
with the mask applied by forward hooks. When the rest of the network is additive in the players (per-channel
pooling, flatten and a linear read-out), each channel's contribution to the logits is computed once and
permutation walks take the incremental path.
"""

from __future__ import annotations

import logging
import operator

import numpy as np
import torch
from torch import nn

from svprune.channels import channel_group, check_player_layer, remember_example
from svprune.games.network import DEFAULT_MAX_BATCH_BYTES, _NetworkGame

log = logging.getLogger(__name__)


def _size(value) -> int:
    return value.numel() * value.element_size() if torch.is_tensor(value) else 0


class _Suffix:
    """The part of a traced model that depends on the mask points, with the values it reads from the rest."""

    def __init__(self, graph_module: torch.fx.GraphModule, mask_points: list[str]):
        self.gm = graph_module
        self.modules = dict(graph_module.named_modules())
        nodes = list(graph_module.graph.nodes)
        masked = [n for n in nodes if n.op == "call_module" and n.target in mask_points]
        calls = {p: sum(1 for n in masked if n.target == p) for p in mask_points}
        if any(c != 1 for c in calls.values()):
            raise _Untraceable(f"mask points called other than once: {calls}")
        self.masked = {n.name for n in masked}
        dependent: set[str] = set()
        for n in nodes:
            if n.name in self.masked or any(a.name in dependent for a in n.all_input_nodes):
                dependent.add(n.name)
        self.suffix = [n for n in nodes if n.name in dependent and n.op != "output"]
        self.output = next(n for n in nodes if n.op == "output")
        first = {n.name for n in masked if not any(a.name in dependent for a in n.all_input_nodes)}
        frontier = {a.name for n in self.suffix for a in n.all_input_nodes if a.name not in dependent} | first
        self.frontier = [n for n in nodes if n.name in frontier]
        self.prefix = [n for n in nodes if (n.name not in dependent or n.name in first) and n.op != "output"]

    @torch.no_grad()
    def run_prefix(self, x: torch.Tensor) -> dict:
        """The frontier values for inputs x (the network up to the players, once)."""
        env: dict = {}
        wanted = {n.name for n in self.frontier}
        for n in self.prefix:
            env[n.name] = x if n.op == "placeholder" else self._call(n, env)
        return {k: env[k] for k in wanted}

    @torch.no_grad()
    def run_suffix(self, frontier: dict, masks: dict) -> torch.Tensor:
        """The logits with the masks applied at the mask points: ``masks[name]`` multiplies that node's output."""
        env = dict(frontier)
        for n in self.suffix:
            if n.name in self.masked and n.name in frontier:
                value = frontier[n.name]
            else:
                value = self._call(n, env)
            env[n.name] = value * masks[n.name] if n.name in self.masked else value
        return torch.fx.node.map_arg(self.output.args[0], lambda a: env[a.name])

    def _call(self, n, env):
        args = torch.fx.node.map_arg(n.args, lambda a: env[a.name])
        kwargs = torch.fx.node.map_arg(n.kwargs, lambda a: env[a.name])
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
    """Players: the output channels of ``layer`` (a module path) in any ``nn.Module`` classifier whose output is
    logits (samples x classes). See the module's docstring for what a coalition means and how it is computed.

    ``coupled_layers``: the other layers whose channels are removed with these (residual groups);
    ``mask_points``: where channels are zeroed; ``mode``: "cached" (traced, prefix computed once) or "hooks"
    (whole model per block of coalitions); ``fast``: whether the read-out is additive in the channels, so that
    coalitions are one matrix product of the channels' logit terms and permutation walks take the incremental
    path (equal to the plain path up to float rounding).
    Labels must lie in 0..(classes - 1) and inputs and weights must be finite, checked before any evaluation."""

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        x,
        y,
        measure: str = "accuracy",
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        fast: bool | None = None,
    ):
        check_player_layer(model, layer)
        param = next(model.parameters())
        first = torch.as_tensor(np.asarray(x[:1]) if not torch.is_tensor(x) else x[:1], dtype=param.dtype)
        first = first.to(param.device)
        model.eval()
        with torch.no_grad():
            out = model(first)
        if out.ndim != 2:
            raise ValueError(f"the model must return logits of shape (samples, classes); it returned {tuple(out.shape)}")
        remember_example(model, first)
        group = channel_group(model, layer, first)
        self.layer, self.group = layer, group
        self.coupled_layers, self.mask_points = group.coupled, group.mask_points
        if group.coupled:
            log.info("the channels of %r are tied by residual additions to %s: they are valued and removed together",
                     layer, ", ".join(group.coupled))
        self._setup(model, x, y, measure, out.shape[1], max_batch_bytes)
        self.n_players = group.n_channels
        self._probe_x = self._samples(x, self._order[:8])
        self.mode = "hooks"
        try:
            self._suffix = _Suffix(torch.fx.symbolic_trace(model), group.mask_points)
            self._cache = self._build_cache(x)
            self._ndims, self._per_sample = self._inspect()
            if not self._agrees_with_model():
                raise _Untraceable("the traced graph does not reproduce the model's logits")
            self.mode = "cached"
        except Exception as err:  # noqa: BLE001 - any tracing failure falls back to running the whole model
            log.info("coalitions of %r run the whole model (torch.fx: %s)", layer, err)
            self._suffix = None
            self._cache = {"x": self._samples(x, self._order)}
            self._ndims, self._per_sample = self._inspect()
        self.empty_measure = float(self.measure_of(np.zeros((1, self.n_players), dtype=bool))[0])
        self._terms = None
        if fast is not False:
            self._terms, self._base = self._additive_terms()
        self.fast = self._terms is not None
        if fast and not self.fast:
            raise ValueError(f"fast=True needs the network after {layer!r} to be additive in its channels "
                             "(per-channel pooling, reshapes and linear layers only)")

    # ---- caching and running ---------------------------------------------------------------------------------
    @torch.no_grad()
    def _build_cache(self, x) -> dict:
        """The frontier values of all samples, label-ordered, computed in slices within max_batch_bytes."""
        n = len(self._order)
        probe = self._suffix.run_prefix(self._probe_x[:2])
        for name, value in probe.items():
            if not torch.is_tensor(value) or value.ndim == 0 or value.shape[0] != 2:
                raise _Untraceable(f"{name} is not a per-sample tensor")
        per_sample = max(sum(_size(v) for v in probe.values()) // 2, 1) * 4
        step = max(1, self.max_batch_bytes // per_sample)
        parts = [self._suffix.run_prefix(self._samples(x, self._order[s : s + step])) for s in range(0, n, step)]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    @torch.no_grad()
    def _inspect(self) -> tuple[dict, int]:
        """Run one sample with every player: the number of dimensions at each mask point, and the bytes of
        intermediate tensors per (coalition, sample), doubled for temporaries."""
        ndims, total = {}, 0
        if self._suffix is not None:
            env = {k: v[:1] for k, v in self._cache.items()}
            for n in self._suffix.suffix:
                if not (n.name in self._suffix.masked and n.name in env):
                    env[n.name] = self._suffix._call(n, env)
                if n.name in self._suffix.masked:
                    ndims[n.name] = env[n.name].ndim
                total += _size(env[n.name])
            return ndims, max(2 * total, 1)
        sizes = []
        hooks = [m.register_forward_hook(lambda mod, inp, out: sizes.append(_size(out)))
                 for m in self.model.modules() if m is not self.model]
        hooks += [self.model.get_submodule(p).register_forward_hook(
            lambda mod, inp, out, p=p: ndims.__setitem__(p, out.ndim)) for p in self.mask_points]
        try:
            self.model(self._probe_x[:1])
        finally:
            for h in hooks:
                h.remove()
        return ndims, max(2 * sum(sizes), 1)

    @torch.no_grad()
    def _agrees_with_model(self) -> bool:
        """The traced suffix, all players kept, must give the model's own logits."""
        frontier = self._suffix.run_prefix(self._probe_x)
        traced = self._suffix.run_suffix(frontier, {k: 1.0 for k in self._ndims})
        return bool(torch.allclose(traced, self.model(self._probe_x), rtol=1e-4, atol=1e-5))

    def _masks(self, masks: torch.Tensor, span: int) -> dict:
        """Per mask point, the coalition masks as (coalitions x samples, channels, 1, ...)."""
        m = masks.to(self.dtype).repeat_interleave(span, 0)
        return {k: m.reshape(m.shape[0], m.shape[1], *([1] * (nd - 2))) for k, nd in self._ndims.items()}

    def _logits(self, masks: torch.Tensor, sl: slice) -> torch.Tensor:
        b, span = masks.shape[0], sl.stop - sl.start
        if getattr(self, "_terms", None) is not None:  # additive read-out: one matrix product per block
            return self._base[sl] + torch.einsum("bn,nsc->bsc", masks.to(self._terms.dtype), self._terms[:, sl])
        mask_of = self._masks(masks, span)
        if self._suffix is not None:
            frontier = {k: v[sl].repeat((b,) + (1,) * (v.ndim - 1)) for k, v in self._cache.items()}
            logits = self._suffix.run_suffix(frontier, mask_of)
        else:
            hooks = [self.model.get_submodule(p).register_forward_hook(lambda mod, inp, out, p=p: out * mask_of[p])
                     for p in self.mask_points]
            try:
                x = self._cache["x"][sl]
                logits = self.model(x.repeat((b,) + (1,) * (x.ndim - 1)))
            finally:
                for h in hooks:
                    h.remove()
        return logits.reshape(b, span, -1)

    def _bytes_per_sample(self) -> int:
        if getattr(self, "_terms", None) is not None:
            return 4 * 3 * self.n_classes + 8 * self.n_classes
        return self._per_sample

    # ---- additive read-outs: each channel's logit terms once, then the incremental walk -----------------------
    @torch.no_grad()
    def _additive_terms(self):
        """Per-channel logit terms T[j] = logits({j}) - logits(empty), kept when logits(S) = logits(empty) +
        sum_{j in S} T[j] holds on probe coalitions and they fit in max_batch_bytes; else (None, None)."""
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
        return terms, empty

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

    @property
    def fast_prefixes(self) -> bool:
        return self.fast

    def _prefix_terms(self, p: torch.Tensor, sl: slice) -> torch.Tensor:
        return self._terms[p][:, :, sl]

    def _prefix_base(self, sl: slice) -> torch.Tensor:
        return self._base[sl]

    @torch.no_grad()
    def prefix_values(self, perms: np.ndarray) -> np.ndarray:
        if not self.fast or self.n_players == 0:
            return super().prefix_values(perms)
        from svprune.kernels import check_permutations

        return self._prefix_measure_torch(check_permutations(perms, self.n_players)) - self.empty_measure
