"""Games on trained networks (SPEC section 1): neurons of a hidden layer, or blocks of a residual MLP.

A coalition S is evaluated by running the network with only the players in S active (neurons: activations
of the others set to 0; blocks: the others bypassed by their skip connections); nothing is retrained.
Payoff v(S) = m(S) - m(empty), with m a measure on the given evaluation data.
"""

from __future__ import annotations

import numpy as np
import torch

from svprune import kernels
from svprune.games.base import Game, check_exact_size
from svprune.models import MLP, ResidualMLP

MEASURES = ("accuracy", "balanced_accuracy", "neg_cross_entropy")
DEFAULT_MAX_BATCH_BYTES = 1 << 28  # 256 MiB of intermediate tensors per evaluated chunk of coalitions


def _measure(logits: torch.Tensor, y: torch.Tensor, measure: str, n_classes: int) -> torch.Tensor:
    """The measure of each coalition's logits (B, N, C) against labels y (N,), in float64, shape (B,)."""
    if measure == "accuracy":
        return (logits.argmax(-1) == y).sum(-1).double() / y.shape[0]
    if measure == "balanced_accuracy":
        correct = (logits.argmax(-1) == y).double()  # (B, N)
        onehot = torch.nn.functional.one_hot(y, n_classes).double()  # (N, C)
        per_class = correct @ onehot  # (B, C)
        counts = onehot.sum(0)
        present = counts > 0
        return (per_class[:, present] / counts[present]).mean(-1)
    if measure == "neg_cross_entropy":
        logp = torch.log_softmax(logits.double(), -1)
        return logp.gather(-1, y.expand(logits.shape[0], -1).unsqueeze(-1)).squeeze(-1).mean(-1)
    raise ValueError(f"unknown measure {measure!r}; choose one of {MEASURES}")


class _NetworkGame(Game):
    """Shared machinery: labels on the model's device, chunked evaluation, m(empty) computed once."""

    def _setup(self, y, measure: str, n_classes: int, max_batch_bytes: int, device) -> None:
        if measure not in MEASURES:
            raise ValueError(f"unknown measure {measure!r}; choose one of {MEASURES}")
        self.measure = measure
        self.n_classes = n_classes
        self.max_batch_bytes = int(max_batch_bytes)
        self.device = device
        self._y = torch.as_tensor(np.asarray(y), dtype=torch.long, device=device)

    def _chunk(self, bytes_per_coalition: int) -> int:
        return max(1, self.max_batch_bytes // max(bytes_per_coalition, 1))

    @torch.no_grad()
    def measure_of(self, coalitions: np.ndarray) -> np.ndarray:
        """m(S) for each coalition (the raw measure, not the payoff)."""
        coalitions = self._check(coalitions)
        out = np.empty(len(coalitions))
        step = self._chunk(self._bytes_per_coalition())
        for start in range(0, len(coalitions), step):
            masks = torch.as_tensor(coalitions[start : start + step], device=self.device)
            logits = self._logits(masks)
            out[start : start + len(masks)] = _measure(logits, self._y, self.measure, self.n_classes).cpu().numpy()
        return out

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        return self.measure_of(coalitions) - self.empty_measure


class NeuronGame(_NetworkGame):
    """Players: the units of hidden layer ``layer`` of a trained :class:`~svprune.models.MLP`.

    The player layer's activations are computed once and cached; per coalition only the layers after it
    run, many coalitions per batched tensor operation, in chunks of at most ``max_batch_bytes``.
    When the player layer feeds the linear read-out and the measure is accuracy, permutation walks and
    exact enumeration use fused incremental kernels (``fast=None`` picks them automatically; ``fast=False``
    forces the plain batched path, which gives the same values up to floating-point ties).
    Runs on the model's device (CUDA included).
    """

    def __init__(
        self,
        model: MLP,
        x,
        y,
        layer: int | None = None,
        measure: str = "accuracy",
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        fast: bool | None = None,
    ):
        if not isinstance(model, MLP):
            raise TypeError(f"NeuronGame needs an svprune.models.MLP; got {type(model).__name__}")
        n_hidden = len(model.hidden_sizes)
        layer = n_hidden - 1 if layer is None else int(layer)
        if not 0 <= layer < n_hidden:
            raise ValueError(f"layer {layer} is not a hidden layer; the model has {n_hidden} (0..{n_hidden - 1})")
        device = model.linears[0].weight.device
        dtype = model.linears[0].weight.dtype
        model.eval()
        self.model = model
        self.layer = layer
        self._setup(y, measure, model.linears[-1].out_features, max_batch_bytes, device)
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=dtype, device=device)
            self._h = model.hidden(x, layer)  # (N, n): the cached player-layer activations
        self.n_players = self._h.shape[1]
        linear_head = layer == n_hidden - 1
        eligible = linear_head and measure == "accuracy"
        if fast and not eligible:
            raise ValueError("fast=True needs the player layer to feed the linear read-out and measure='accuracy'")
        self.fast = eligible if fast is None else bool(fast)
        self.empty_measure = float(self.measure_of(np.zeros((1, self.n_players), dtype=bool))[0])
        if self.fast:
            head = model.linears[-1]
            self._W = head.weight.detach().float()
            self._b = head.bias.detach().float()
            if device.type == "cpu":
                self._margins = kernels.MarginData(self._h.numpy(), self._W.numpy(), self._b.numpy(), self._y.numpy())

    def _bytes_per_coalition(self) -> int:
        widths = [self.n_players, *self.model.hidden_sizes[self.layer + 1 :], self.n_classes]
        return 4 * self._h.shape[0] * (sum(widths) + max(widths))

    def _logits(self, masks: torch.Tensor) -> torch.Tensor:
        z = self._h.unsqueeze(0) * masks.unsqueeze(1).to(self._h.dtype)
        return self.model.head(z, self.layer)

    # ---- fast paths -------------------------------------------------------------------------------
    def _counts_to_payoff(self, counts) -> np.ndarray:
        n_samples = self._h.shape[0]
        return np.asarray(counts, dtype=np.float64) / n_samples - self.empty_measure

    @torch.no_grad()
    def prefix_values(self, perms: np.ndarray) -> np.ndarray:
        if not self.fast or self.n_players == 0:
            return super().prefix_values(perms)
        perms = np.ascontiguousarray(np.asarray(perms, dtype=np.int64))
        if self.device.type == "cpu":
            counts = self._margins.prefix_correct(perms)
        else:
            counts = self._prefix_correct_torch(perms)
        return self._counts_to_payoff(counts)

    def _prefix_correct_torch(self, perms: np.ndarray) -> np.ndarray:
        """The incremental permutation walk as batched tensor ops (the GPU path): logits += h_j * W[:, j]."""
        n_perm, n = perms.shape
        n_samples = self._h.shape[0]
        step = self._chunk(4 * n_samples * self.n_classes * 2)
        out = np.empty((n_perm, n + 1), dtype=np.int64)
        h = self._h.float()
        for start in range(0, n_perm, step):
            p = torch.as_tensor(perms[start : start + step], device=self.device)
            logits = self._b.expand(len(p), n_samples, self.n_classes).clone()
            counts = [(logits.argmax(-1) == self._y).sum(-1)]
            for t in range(n):
                j = p[:, t]
                logits += h[:, j].T.unsqueeze(-1) * self._W[:, j].T.unsqueeze(1)
                counts.append((logits.argmax(-1) == self._y).sum(-1))
            out[start : start + len(p)] = torch.stack(counts, 1).cpu().numpy()
        return out

    @torch.no_grad()
    def all_values(self) -> np.ndarray:
        check_exact_size(self.n_players)
        if not self.fast or self.n_players == 0:
            return super().all_values()
        if self.device.type == "cpu":
            counts = self._margins.all_correct()
            return self._counts_to_payoff(counts)
        return super().all_values()


class LayerGame(_NetworkGame):
    """Players: the hidden blocks of a :class:`~svprune.models.ResidualMLP`; a block outside the coalition
    is bypassed by its skip connection. The stem's output is cached; blocks run batched over coalitions."""

    def __init__(
        self,
        model: ResidualMLP,
        x,
        y,
        measure: str = "accuracy",
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    ):
        if not isinstance(model, ResidualMLP):
            raise TypeError(f"LayerGame needs an svprune.models.ResidualMLP; got {type(model).__name__}")
        device = model.stem.weight.device
        model.eval()
        self.model = model
        self._setup(y, measure, model.out.out_features, max_batch_bytes, device)
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=model.stem.weight.dtype, device=device)
            self._e = model.embed(x)
        self.n_players = model.n_blocks
        self.empty_measure = float(self.measure_of(np.zeros((1, self.n_players), dtype=bool))[0])

    def _bytes_per_coalition(self) -> int:
        return 4 * self._e.shape[0] * (3 * self._e.shape[1] + self.n_classes)

    def _logits(self, masks: torch.Tensor) -> torch.Tensor:
        h = self._e.unsqueeze(0).expand(masks.shape[0], -1, -1)
        gate = masks.to(h.dtype)
        for i, block in enumerate(self.model.blocks):
            h = h + gate[:, i, None, None] * torch.relu(block(h))
        return self.model.out(h)

