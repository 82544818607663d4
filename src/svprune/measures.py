"""Measures: what a game on a network pays for a coalition, from the masked model's logits on the evaluation
data (docs/definitions.md, "Games"). One class each, registered in svprune.registry.MEASURES.

A measure is a sum over samples, so it is computed in slices: ``partial(logits, sl)`` gives the statistics of a
block of coalitions' logits (B, S, C) on the samples ``sl`` (labels sorted), the slices add up, and
``finish(total)`` turns the sum into the measure. Where a compiled kernel computes the measure along
permutations, or over all 2^n coalitions, from the margins of a linear read-out (:mod:`svprune.kernels`), the
measure says so: ``prefix_kernel``/``all_kernel`` return the values, or None where it has no kernel.
"""

from __future__ import annotations

import numpy as np
import torch


class Measure:
    """A measure bound to the labels ``y`` (sorted, on the game's device) of the evaluation samples."""

    def __init__(self, y: torch.Tensor, n_classes: int):
        self.y, self.n_classes = y, n_classes
        self.n_samples = int(y.shape[0])

    def partial(self, logits: torch.Tensor, sl: slice) -> torch.Tensor:
        """Statistics of logits (B, S, C) of the samples ``sl``: shape (B,) or (B, C), float64."""
        raise NotImplementedError

    def finish(self, total: torch.Tensor) -> torch.Tensor:
        return total / self.n_samples

    def prefix_kernel(self, margins, perms: np.ndarray) -> np.ndarray | None:
        """The measure of every prefix of every permutation (P, n+1) by a compiled kernel, or None."""
        return None

    def all_kernel(self, margins) -> np.ndarray | None:
        """The measure of all 2^n coalitions (indexed by bitmask) by a compiled kernel, or None."""
        return None


class Accuracy(Measure):
    """The share of samples whose first arg-max logit is the label."""

    def partial(self, logits, sl):
        return (logits.argmax(-1) == self.y[sl]).sum(-1).double()

    def from_counts(self, counts: np.ndarray, margins) -> np.ndarray:
        """The measure from correct counts per label group (..., groups)."""
        return np.asarray(counts, dtype=np.float64).sum(-1) / self.n_samples

    def prefix_kernel(self, margins, perms):
        return self.from_counts(margins.prefix_correct(perms), margins)

    def all_kernel(self, margins):
        return self.from_counts(margins.all_correct(), margins)


class BalancedAccuracy(Accuracy):
    """The mean over the classes present of the per-class recall."""

    def __init__(self, y, n_classes):
        super().__init__(y, n_classes)
        self.onehot = torch.nn.functional.one_hot(y, n_classes).double()  # (N, C)
        counts = self.onehot.sum(0)
        self.present = counts > 0
        self.counts = counts[self.present]

    def partial(self, logits, sl):
        return (logits.argmax(-1) == self.y[sl]).double() @ self.onehot[sl]

    def finish(self, total):
        return (total[:, self.present] / self.counts).mean(-1)

    def from_counts(self, counts, margins):
        return (np.asarray(counts, dtype=np.float64) / np.diff(margins.starts).astype(np.float64)).mean(-1)


class NegCrossEntropy(Measure):
    """The mean log-likelihood of the labels under the softmax of the logits (minus the cross-entropy)."""

    def partial(self, logits, sl):
        y = self.y[sl]
        logp = torch.log_softmax(logits.double(), -1)
        return logp.gather(-1, y.expand(logits.shape[0], -1).unsqueeze(-1)).squeeze(-1).sum(-1)

    def prefix_kernel(self, margins, perms):
        if not margins.log_likelihood_in_range:  # logits too far apart for the table walk: the exact path
            return None
        return margins.prefix_log_likelihood(perms) / self.n_samples
