"""Games on trained networks (docs/definitions.md, "Games"): neurons of a hidden layer, or blocks of a residual MLP.

A coalition S is evaluated by running the network with only the players in S active (neurons: activations
of the others set to 0; blocks: the others bypassed by their skip connections); nothing is retrained.
Payoff v(S) = m(S) - m(empty), with m a measure on the given evaluation data.

Memory: the player layer's inputs are computed once, in chunks of samples, into one activation matrix (players
x samples, samples sorted by label); that is all a game keeps beyond the model. Coalitions are evaluated in
blocks of at most ``max_batch_bytes`` of intermediate tensors: many coalitions at once, or, where one
coalition over all samples is larger than that, one coalition over a slice of the samples at a time. Every
measure is a sum over samples, so the slices add up exactly.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch

from svprune import kernels
from svprune.checks import check_count, check_finite, check_labels, check_same_length
from svprune.games.base import Game, check_exact_size, positions, random_permutations
from svprune.models import MLP, ResidualMLP, non_finite_parameters
from svprune.registry import MEASURES

DEFAULT_MAX_BATCH_BYTES = 1 << 28  # 256 MiB of intermediate tensors per evaluated block of coalitions


WALK_CHECK_POSITIONS = 16
"""Prefix sizes of one permutation at which a game checks its fast walk against the plain evaluation, once."""


class _NetworkGame(Game):
    """Shared machinery: checked inputs, labels sorted on the model's device, blocked evaluation, m(empty)
    computed once."""

    _walk_checked = False

    def _setup(self, model: torch.nn.Module, x, y, measure: str, n_classes: int, max_batch_bytes: int) -> None:
        check_count(max_batch_bytes, "max_batch_bytes", minimum=1)
        check_same_length(x, y, "x (features)", "y (labels)")
        if len(y) == 0:
            raise ValueError("x and y hold no samples; a measure needs at least one")
        check_labels(y if torch.is_tensor(y) else np.asarray(y), n_classes, "y (labels)")
        bad = non_finite_parameters(model)
        if bad:
            raise ValueError(f"the model has NaN or infinite weights (in {', '.join(bad)}); payoffs would be meaningless")
        first = next(p for p in model.parameters())
        self.device, self.dtype = first.device, first.dtype
        self.max_batch_bytes = int(max_batch_bytes)
        y_np = y.detach().cpu().numpy() if torch.is_tensor(y) else np.asarray(y)
        self._order = np.argsort(y_np, kind="stable")  # samples sorted by label: the fast kernels need it
        self._y = torch.as_tensor(y_np[self._order].astype(np.int64), device=self.device)
        self.n_classes = n_classes
        self.measure = measure
        self._measure = MEASURES.get(measure, "measure")(self._y, n_classes)
        model.eval()
        self.model = model

    def _inputs(self, x, width: int, bytes_per_sample: int, transform) -> torch.Tensor:
        """``transform`` (the network up to the player layer) of all samples, in label order, as one
        (width, samples) matrix filled slice by slice: peak memory one matrix plus one bounded slice."""
        n_samples = len(x)
        out = torch.empty((width, n_samples), dtype=self.dtype, device=self.device)
        step = max(1, self.max_batch_bytes // max(bytes_per_sample, 1))
        with torch.no_grad():
            for start in range(0, n_samples, step):
                idx = self._order[start : start + step]
                out[:, start : start + len(idx)] = transform(self._samples(x, idx)).T
        return out

    def _samples(self, x, idx: np.ndarray) -> torch.Tensor:
        """Samples ``idx`` of x on the game's device and dtype, checked finite."""
        if torch.is_tensor(x):
            chunk = x[torch.as_tensor(idx, device=x.device)].to(device=self.device, dtype=self.dtype)
        else:
            chunk = torch.as_tensor(np.asarray(x[idx]), dtype=self.dtype, device=self.device)
        check_finite(chunk, "x (features)", "clean or impute the features")
        return chunk

    def _blocks(self, n_coalitions: int, n_samples: int, bytes_per_sample: int):
        """(coalitions per block, samples per slice) within max_batch_bytes."""
        per_coalition = bytes_per_sample * n_samples
        if per_coalition <= self.max_batch_bytes:
            return max(1, min(n_coalitions, self.max_batch_bytes // per_coalition)), n_samples
        return 1, max(1, self.max_batch_bytes // max(bytes_per_sample, 1))

    @torch.no_grad()
    def measure_of(self, coalitions: np.ndarray) -> np.ndarray:
        """m(S) for each coalition (the raw measure, not the payoff)."""
        coalitions = self._check(coalitions)
        n_samples = self._y.shape[0]
        out = np.empty(len(coalitions))
        step, span = self._blocks(len(coalitions), n_samples, self._bytes_per_sample())
        for start in range(0, len(coalitions), step):
            masks = torch.as_tensor(coalitions[start : start + step], device=self.device)
            total = None
            for s0 in range(0, n_samples, span):
                sl = slice(s0, min(n_samples, s0 + span))
                part = self._measure.statistics(self._logits(masks, sl), sl, self._margin_bound, scratch=True)
                total = part if total is None else total + part
            out[start : start + len(masks)] = self._measure.finish(total).cpu().numpy()
        return out

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        return self.measure_of(coalitions) - self.empty_measure

    @cached_property
    def grand_measure(self) -> float:
        """The measure with every player present, m(U) (evaluated once)."""
        return float(self.measure_of(np.ones((1, self.n_players), dtype=bool))[0])

    @property
    def resolution(self) -> float:
        """The payoffs' rounding: the model computes in its dtype (float32: eps = 1.2e-7), and a walk's sums of n
        steps round apart from the plain evaluation by about eps x sqrt(n) x the measure's scale. A player whose
        every contribution is exactly 0 (a dead unit) still receives a walk's end rounding now and then (its
        estimate about 1e-8 on a 16-unit cross-entropy game, with standard errors of 2e-10 that did not cover 0)."""
        scale = max(abs(self.empty_measure), abs(self.grand_measure))
        return float(torch.finfo(self.dtype).eps * np.sqrt(max(self.n_players, 1)) * scale)

    # ---- fast paths of games whose logits are additive in the players ------------------------------------------
    fast = False
    _kernel_data = None  # the compiled kernels' arrays (svprune.kernels), where they run (CPU)
    _margin_bound = None  # where _logits returns margins (each sample's label logit subtracted), a bound on them

    @property
    def fast_prefixes(self) -> bool:
        return self.fast

    @torch.no_grad()
    def prefix_values(self, perms: np.ndarray) -> np.ndarray:
        """The incremental walk where the logits are additive in the players: compiled kernels on CPU (where the
        measure has one), batched tensor operations elsewhere; checked once against the plain evaluation."""
        if not self.fast or self.n_players == 0:
            return super().prefix_values(perms)
        data = self._kernel_data
        measure = self._measure.prefix_kernel(data, perms) if data is not None else None
        if measure is None:  # the measure has no compiled kernel on this device: batched tensor operations
            measure = self._prefix_measure_torch(kernels.check_permutations(perms, self.n_players))
        return self._checked_walk(perms, measure) - self.empty_measure

    @torch.no_grad()
    def all_values(self) -> np.ndarray:
        check_exact_size(self.n_players)
        table = None
        if self.fast and self.n_players and self._kernel_data is not None:
            table = self._measure.all_kernel(self._kernel_data)
        return super().all_values() if table is None else table - self.empty_measure

    # ---- the incremental walk in batched tensor operations, for games whose read-out is additive in the players
    def _prefix_terms(self, p: torch.Tensor, sl: slice) -> torch.Tensor:
        """Each player's additive term of the logits, for permutations p and the samples sl, class-major:
        (P, n, C, S)."""
        raise NotImplementedError

    def _prefix_base(self, sl: slice) -> torch.Tensor:
        """The logits of the empty coalition for the samples sl: broadcastable to (C, S)."""
        raise NotImplementedError

    @property
    def _kernel_units(self) -> bool:
        """Whether the compiled per-sample walk applies: the kernels' arrays (a fast walk on the CPU), a measure
        with a unit kernel for them, and a unit's terms within ``kernels.UNIT_TERMS_BYTES``."""
        data = self._kernel_data
        return self.fast and data is not None and data.units_fit and self._measure.has_unit_kernel(data)

    _row_path = True
    """Whether :meth:`_row_logits` evaluates one coalition per sample (a game kind may lack it)."""

    @property
    def sample_units(self) -> int:
        """Units of samples for the per-sample walk (:meth:`unit_marginals`), or 0 where the game has none. The
        measure must be a weighted sum over samples (accuracy, balanced accuracy, cross-entropy); the walk is the
        compiled kernel where it applies (:attr:`_kernel_units`), else the plain evaluation with one coalition per
        sample (:meth:`_row_logits`), which costs what the plain path's coalitions over all samples cost."""
        if self._sample_weights is None or not (self._kernel_units or self._row_path):
            return 0
        return len(self._lanes)

    @torch.no_grad()
    def unit_marginals(self, seeds: np.ndarray, count: int) -> np.ndarray:
        """The sum over the game's :attr:`sample_units` of each unit's marginal contributions, every unit walking
        ``count`` permutations of its own (antithetic pairs, unit k's drawn from ``seeds[k]``): (count, n). The
        payoff is a weighted sum over samples, so the Shapley values are the sum of the units' own. Each unit's
        parts of the empty and the full coalition are the plain evaluation's, so every row sums to v(U) - v(empty);
        the walk is checked once against the plain evaluation (every unit on one permutation)."""
        if not self.sample_units:
            raise ValueError(f"this {type(self).__name__} has no sample units (sample_units is 0); use prefix_values")
        weights, ends = self._sample_weights, self._unit_ends
        if not self._units_checked:
            perm = np.random.default_rng(0).permutation(self.n_players)
            marginal = self._unit_walk(weights, ends, perms=perm[None, None])[0]
            self._check_walk(perm, self.empty_measure + np.concatenate([[0.0], np.cumsum(marginal[perm])]),
                             "per-sample")
            self._units_checked = True
        return self._unit_walk(weights, ends, seeds=seeds, count=count)

    def _unit_walk(self, weights, ends, perms=None, seeds=None, count=0) -> np.ndarray:
        """The per-sample walk: the compiled kernel, or the plain evaluation of one coalition per sample, whose
        units draw their antithetic pairs with numpy from their seeds."""
        if self._kernel_units:
            return self._measure.unit_kernel(self._kernel_data, weights, ends, perms=perms, seeds=seeds, count=count)
        n, lanes = self.n_players, self._lanes
        units = len(lanes)
        if seeds is not None:
            seeds = np.asarray(seeds, dtype=np.uint64)
            if seeds.shape != (units,) or count % 2:
                raise ValueError(f"need one seed per unit ({units}) and an even count; got {seeds.shape}, {count}")
            draws = [np.random.default_rng(int(seed)) for seed in seeds]
        else:
            perms = np.asarray(perms)
            count = perms.shape[1]
        out = np.zeros((count, n))
        if n == 0:
            return out
        samples, lane_weights = self._lane_rows(weights)
        per_perm = units * max(n - 1, 1) * kernels.UNIT  # rows of one permutation of every unit
        step = max(2, min(count, (1 << 22) // max(per_perm, 1)) // 2 * 2)  # bounds the block's values (32 MiB)
        for p0 in range(0, count, step):
            size = min(step, count - p0)
            if seeds is not None:
                block = np.stack([random_permutations(draw, size, n, antithetic=True) for draw in draws])
            else:
                block = np.stack([kernels.check_permutations(perms[k if len(perms) > 1 else 0, p0 : p0 + size], n)
                                  for k in range(units)])
            parts = np.empty((units, size, n + 1))
            parts[:, :, 0], parts[:, :, n] = ends[:, 0, None], ends[:, 1, None]
            parts[:, :, 1:n] = self._unit_prefix_parts(block, samples, lane_weights)
            contrib = np.diff(parts, axis=2)  # (units, size, n), in each permutation's order
            flat = np.zeros((size, n))
            for k in range(units):
                flat[np.arange(size)[:, None], block[k]] += contrib[k]
            out[p0 : p0 + size] = flat
        return out

    def _lane_rows(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The units' lanes (:attr:`_lanes`) as sample indices and their samples' ``weights``; a padding lane is
        sample 0 with weight 0."""
        present = self._lanes >= 0
        samples = np.where(present, self._lanes, 0)
        return samples, np.where(present, weights[samples], 0.0)

    def _unit_prefix_parts(self, perms: np.ndarray, lanes: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """sum_v weights[k, v] value(sample lanes[k, v] | the first t players of perms[k, p]) for t = 1..n-1:
        (K, P, n - 1), over rows (coalition, sample) evaluated in blocks of max_batch_bytes."""
        units, count, n = perms.shape
        if n < 2:
            return np.zeros((units, count, max(n - 1, 0)))
        position = torch.as_tensor(positions(perms.reshape(-1, n)).reshape(perms.shape), device=self.device)
        lanes_t = torch.as_tensor(lanes, device=self.device)
        total = units * count * (n - 1) * kernels.UNIT
        # a row costs the game's bytes per (coalition, sample) and its mask's making (an int64 gather, a bool)
        step = max(1, self.max_batch_bytes // (self._row_bytes() + 9 * n))
        values = torch.empty(total, dtype=torch.float64, device=self.device)
        for r0 in range(0, total, step):
            r = torch.arange(r0, min(total, r0 + step), device=self.device)  # row = ((k * P + p) * (n-1) + t) * UNIT + v
            v, rest = r % kernels.UNIT, r // kernels.UNIT
            t, kp = rest % (n - 1) + 1, rest // (n - 1)
            k = kp // count
            masks = position.view(-1, n)[kp] < t[:, None]  # the first t players of the row's permutation
            samples = lanes_t[k, v]
            values[r0 : r0 + len(r)] = self._measure.row_values(self._row_logits(masks, samples), self._y[samples])
        parts = values.view(units, count, n - 1, kernels.UNIT) * torch.as_tensor(weights, device=self.device)[:, None, None, :]
        return parts.sum(-1).cpu().numpy()

    def _row_logits(self, masks: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
        """Logits (R, C) of sample ``samples[r]`` (label order) under coalition ``masks[r]`` (R x n, boolean)."""
        raise NotImplementedError

    def _row_bytes(self) -> int:
        """Bytes of intermediate tensors per row of :meth:`_row_logits`: a (coalition, sample) of the plain path."""
        return self._bytes_per_sample()

    _units_checked = False

    @cached_property
    def _lanes(self) -> np.ndarray:
        """The per-sample walk's units of the game's samples (kernels.unit_lanes)."""
        return kernels.unit_lanes(self.n_samples)

    @cached_property
    def _sample_weights(self) -> np.ndarray | None:
        """The measure's weight of each sample where it is a weighted sum over samples (Measure.sample_weights)."""
        return self._measure.sample_weights()

    @cached_property
    def _unit_ends(self) -> np.ndarray:
        """Each unit's part (its samples' weighted values) of the empty and the full coalition, from the plain
        evaluation: (units, 2)."""
        weights = self._sample_weights
        values = np.zeros((2, self.n_samples))
        masks = torch.as_tensor(np.stack([np.zeros(self.n_players, bool), np.ones(self.n_players, bool)]),
                                device=self.device)
        span = self._blocks(2, self.n_samples, self._bytes_per_sample())[1]
        for s0 in range(0, self.n_samples, span):
            sl = slice(s0, min(self.n_samples, s0 + span))
            values[:, sl] = self._measure.per_sample(self._logits(masks, sl), sl).cpu().numpy()
        lanes = self._lanes
        parts = np.where(lanes >= 0, weights[lanes] * values[:, lanes], 0.0).sum(-1)  # (2, units)
        # the parts' sums to the plain measure's own (a per-sample log-likelihood rounds apart from the measure's
        # sum by about 1e-7), so that every permutation's contributions sum to exactly v(U) - v(empty)
        plain = np.array([self.empty_measure, self.grand_measure])
        parts += ((plain - parts.sum(1)) / parts.shape[1])[:, None]
        return np.ascontiguousarray(parts.T)

    def _checked_walk(self, perms: np.ndarray, measure: np.ndarray) -> np.ndarray:
        """A fast permutation walk's measures (P, n + 1), checked once per game (:meth:`_check_walk`) on the first
        permutation."""
        if not self._walk_checked and len(perms):
            self._check_walk(perms[0], measure[0], "permutation")
            self._walk_checked = True
        return measure

    def _check_walk(self, perm: np.ndarray, measure: np.ndarray, kind: str) -> None:
        """A fast walk's measures of the prefixes of ``perm`` (n + 1) against the plain evaluation at up to
        WALK_CHECK_POSITIONS + 1 sizes, through ``measure_of``. The fast paths rest on the read-out being additive
        in the players and on compiled kernels; a disagreement beyond rounding is refused, never used."""
        n = self.n_players
        sizes = np.unique(np.linspace(0, n, min(n, WALK_CHECK_POSITIONS) + 1).round().astype(np.int64))
        order = np.argsort(np.asarray(perm), kind="stable")  # order[i]: where player i stands
        plain = self.measure_of(order[None, :] < sizes[:, None])
        walked = measure[sizes]
        gap = np.abs(plain - walked)
        allowed = np.array([self._measure.rounding(v) for v in plain])
        if (gap > allowed).any():
            worst = int(np.argmax(gap - allowed))
            raise RuntimeError(
                f"the fast {kind} walk of this {type(self).__name__} disagrees with its plain evaluation: "
                f"the first {sizes[worst]} players of a permutation measure {walked[worst]:.6g} on the walk and "
                f"{plain[worst]:.6g} evaluated plainly (more than rounding, {allowed[worst]:.2g}). This is a bug "
                "in svprune; report it, and pass fast=False meanwhile (the plain path)")

    @torch.no_grad()
    def _prefix_measure_torch(self, perms: np.ndarray) -> np.ndarray:
        """The incremental permutation walk as batched tensor operations (any device, any measure): the logits of
        every prefix are the empty coalition's plus a cumulative sum of the players' additive terms, for a block
        of permutations and a slice of the samples at a time (within ``max_batch_bytes``)."""
        n_perm, n = perms.shape
        step, span = self._blocks(n_perm, self.n_samples, 4 * self.n_classes * n * 2)
        out = np.empty((n_perm, n + 1))
        out[:, 0] = self.empty_measure  # the empty prefix: the same for every permutation
        for start in range(0, n_perm, step):
            p = torch.as_tensor(perms[start : start + step], device=self.device)
            total = None
            for s0 in range(0, self.n_samples, span):
                sl = slice(s0, min(self.n_samples, s0 + span))
                logits = self._prefix_terms(p, sl).contiguous()  # (P, n, C, S), gathered: a copy of our own
                logits.cumsum_(1).add_(self._prefix_base(sl))  # in place: the prefixes of 1..n players
                part = self._measure.statistics(logits.flatten(0, 1).transpose(1, 2), sl, self._margin_bound,
                                                scratch=True)
                total = part if total is None else total + part
            out[start : start + len(p), 1:] = self._measure.finish(total).cpu().numpy().reshape(len(p), n)
        return out

    @property
    def n_samples(self) -> int:
        return int(self._y.shape[0])


class NeuronGame(_NetworkGame):
    """Players: the units of hidden layer ``layer`` of a trained :class:`~svprune.models.MLP`.

    The player layer's activations are computed once and cached; per coalition only the layers after it
    run, many coalitions per batched tensor operation, in blocks of at most ``max_batch_bytes``.
    When the player layer feeds the linear read-out, permutation walks use incremental paths (adding a player
    is a rank-one update of the logits) for every measure: fused native kernels on CPU, batched cumulative
    sums on other devices; exact enumeration uses a Gray-code kernel for accuracy and balanced accuracy on CPU.
    ``fast=None`` picks them automatically; ``fast=False`` forces the plain batched path, which gives the same
    values up to floating-point rounding (and arg-max ties).
    Runs on the model's device (CUDA included). Labels must lie in 0..(the model's outputs - 1) and
    features and weights must be finite; anything else is refused before any evaluation.
    """

    def __init__(
        self,
        model: MLP,
        x,
        y,
        layer: int | None = None,
        measure: str = MEASURES.default,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        fast: bool | None = None,
    ):
        if not isinstance(model, MLP):
            raise TypeError(f"NeuronGame needs an svprune.models.MLP; got {type(model).__name__}")
        n_hidden = len(model.hidden_sizes)
        layer = n_hidden - 1 if layer is None else int(layer)
        if not 0 <= layer < n_hidden:
            raise ValueError(f"layer {layer} is not a hidden layer; the model has {n_hidden} (0..{n_hidden - 1})")
        self._setup(model, x, y, measure, model.linears[-1].out_features, max_batch_bytes)
        self.layer = layer
        self.n_players = model.hidden_sizes[layer]
        widths_in = [model.linears[0].in_features, *model.hidden_sizes[: layer + 1]]
        self._ht = self._inputs(x, self.n_players, 4 * 2 * sum(widths_in), lambda xb: model.hidden(xb, layer))
        eligible = layer == n_hidden - 1  # the player layer feeds the linear read-out
        if fast and not eligible:
            raise ValueError("fast=True needs the player layer to feed the linear read-out (the last hidden layer)")
        self.fast = eligible if fast is None else bool(fast)
        self.empty_measure = float(self.measure_of(np.zeros((1, self.n_players), dtype=bool))[0])
        if self.fast:
            head = model.linears[-1]
            self._W = head.weight.detach().float()
            self._b = head.bias.detach().float()
            self._kernel_data = kernels.MarginData.on(self.device, self._ht, self._W, self._b, self._y)

    def _bytes_per_sample(self) -> int:
        widths = [self.n_players, *self.model.hidden_sizes[self.layer + 1 :], self.n_classes]
        return 4 * (sum(widths) + max(widths)) + 8 * self.n_classes

    def _logits(self, masks: torch.Tensor, sl: slice) -> torch.Tensor:
        # zeroing a player's activation = zeroing its column of the next layer's weights: mask those (B x n x
        # out, small) instead of the activations (B x samples x n), then one batched product per coalition block
        nxt = self.model.linears[self.layer + 1]
        weights = masks.to(self._ht.dtype).unsqueeze(1) * nxt.weight.unsqueeze(0)  # (B, out, n)
        # (B, out, n) @ (n, S): the cached activations as they are stored (players x samples), so the product
        # reads them contiguously (three times faster than through their transpose)
        # (B, S, out), class-major underneath: where this is the read-out, what the measures read fastest
        z = (torch.matmul(weights, self._ht[:, sl]) + nxt.bias[:, None]).transpose(1, 2)
        for k in range(self.layer + 2, len(self.model.linears)):
            z = self.model.linears[k](torch.relu(z))
        return z

    def _row_logits(self, masks, samples):
        nxt = self.model.linears[self.layer + 1]
        h = self._ht[:, samples] * masks.T.to(self._ht.dtype)  # (n, R): each row's own coalition
        z = torch.addmm(nxt.bias[:, None], nxt.weight, h).T
        for k in range(self.layer + 2, len(self.model.linears)):
            z = self.model.linears[k](torch.relu(z))
        return z

    # ---- fast paths: adding a player is a rank-one update of the logits -----------------------------------
    def _prefix_terms(self, p: torch.Tensor, sl: slice) -> torch.Tensor:
        return self._W.T[p].unsqueeze(-1) * self._ht[p, sl].float().unsqueeze(2)  # W[:, j] h_j: (P, n, C, S)

    def _prefix_base(self, sl: slice) -> torch.Tensor:
        return self._b[:, None]


class LayerGame(_NetworkGame):
    """Players: the hidden blocks of a :class:`~svprune.models.ResidualMLP`; a block outside the coalition
    is bypassed by its skip connection. The stem's output is cached; blocks run batched over coalitions."""

    def __init__(
        self,
        model: ResidualMLP,
        x,
        y,
        measure: str = MEASURES.default,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    ):
        if not isinstance(model, ResidualMLP):
            raise TypeError(f"LayerGame needs an svprune.models.ResidualMLP; got {type(model).__name__}")
        self._setup(model, x, y, measure, model.out.out_features, max_batch_bytes)
        width = model.stem.out_features
        self._et = self._inputs(x, width, 4 * 2 * (model.stem.in_features + width), model.embed)
        self.n_players = model.n_blocks
        self.empty_measure = float(self.measure_of(np.zeros((1, self.n_players), dtype=bool))[0])

    def _bytes_per_sample(self) -> int:
        return 4 * (3 * self._et.shape[0] + self.n_classes) + 8 * self.n_classes

    def _logits(self, masks: torch.Tensor, sl: slice) -> torch.Tensor:
        e = self._et[:, sl].T
        h = e.unsqueeze(0).expand(masks.shape[0], -1, -1)
        gate = masks.to(h.dtype)
        for i, block in enumerate(self.model.blocks):
            h = h + gate[:, i, None, None] * torch.relu(block(h))
        return self.model.out(h)

    def _row_logits(self, masks, samples):
        h = self._et[:, samples].T  # (R, width)
        gate = masks.to(h.dtype)
        for i, block in enumerate(self.model.blocks):
            h = h + gate[:, i, None] * torch.relu(block(h))
        return self.model.out(h)
