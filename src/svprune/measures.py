"""Measures: what a game on a network pays for a coalition, from the masked model's logits on the evaluation
data (docs/definitions.md, "Games"). One class each, registered in svprune.registry.MEASURES.

A measure is a sum over samples, so it is computed in slices: ``partial(logits, sl)`` gives the statistics of a
block of coalitions' logits (B, S, C) on the samples ``sl`` (labels sorted), the slices add up, and
``finish(total)`` turns the sum into the measure. Where a compiled kernel computes the measure along
permutations, or over all 2^n coalitions, from the margins of a linear read-out (:mod:`svprune.kernels`), the
measure says so: ``prefix_kernel``/``all_kernel`` return the values, or None where it has no kernel.
"""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
import torch


EXP_RANGE = 80.0
"""exp of float32 margins bounded by this many nats less log(classes) stays finite and normal, and so does the
sum over the classes (the compiled cross-entropy walk's float32 range, svprune.kernels.FLOAT32_RANGE, too)."""


class Measure:
    """A measure bound to the labels ``y`` (sorted, on the game's device) of the evaluation samples.

    The samples of one label are contiguous, so a measure works on each label's block of logits with whole-tensor
    operations over the classes (a maximum or a log-sum-exp over the class axis, the label's logits a slice):
    several times faster than an arg-max or a gather per sample, and at their fastest where a game hands over
    class-major logits (a (B, C, S) tensor viewed as (B, S, C)), as NeuronGame does."""

    def __init__(self, y: torch.Tensor, n_classes: int):
        self.y, self.n_classes = y, n_classes
        self.n_samples = int(y.shape[0])
        labels, counts = torch.unique_consecutive(y.cpu(), return_counts=True)
        ends = np.cumsum(counts.numpy())
        self._groups = [(int(label), int(end - count), int(end))
                        for label, count, end in zip(labels.tolist(), counts.tolist(), ends)]

    def groups(self, sl: slice):
        """(label, slice of the samples ``sl`` relative to its start) for each label with samples in ``sl``."""
        start, stop = sl.start or 0, self.n_samples if sl.stop is None else sl.stop
        for label, first, last in self._groups:
            if first < stop and last > start:
                yield label, slice(max(first, start) - start, min(last, stop) - start)

    shift_invariant = False
    """Whether adding a constant to all logits of a sample leaves the measure unchanged (true of every measure of
    the softmax or the arg-max). Games may then hand over margins, each sample's label logit subtracted."""

    def partial(self, logits: torch.Tensor, sl: slice) -> torch.Tensor:
        """Statistics of logits (B, S, C) of the samples ``sl``: shape (B,) or (B, C), float64."""
        raise NotImplementedError

    def statistics(self, logits: torch.Tensor, sl: slice, margins: float | None = None,
                   scratch: bool = False) -> torch.Tensor:
        """What the games call: :meth:`partial`, with hints a measure may use to skip work. ``margins``: the logits
        are margins (0 at each sample's label; only given to a shift-invariant measure), and this bounds their
        absolute values; ``scratch``: the logits are a temporary of the caller's, which the measure may
        overwrite."""
        return self.partial(logits, sl)

    def finish(self, total: torch.Tensor) -> torch.Tensor:
        return total / self.n_samples

    def rounding(self, value: float) -> float:
        """How far two correct paths to the measure ``value`` may differ by rounding: what the games' run-time
        check of a fast walk against the plain evaluation allows (float32 logits)."""
        return 1e-5 * max(1.0, abs(value))

    def sample_weights(self) -> np.ndarray | None:
        """Where the measure is a weighted sum over samples of a per-sample value (:meth:`per_sample`), each
        sample's weight (samples in label order; the per-sample walk of :mod:`svprune.kernels` splits the measure
        over units of samples by them), else None."""
        return None

    def row_values(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Each row's per-sample value (R,), float64, from its logits (R, C) and its sample's label (R,), where
        :meth:`sample_weights` is not None: the measure is sum_s weight_s value_s."""
        raise NotImplementedError

    def per_sample(self, logits: torch.Tensor, sl: slice) -> torch.Tensor:
        """Each sample's value (B, S) of logits (B, S, C) of the samples ``sl`` (:meth:`row_values`)."""
        b, span, classes = logits.shape
        labels = self.y[sl].repeat(b)
        return self.row_values(logits.reshape(-1, classes), labels).reshape(b, span)

    def has_unit_kernel(self, margins) -> bool:
        """Whether :meth:`unit_kernel` walks these margins."""
        return False

    def unit_kernel(self, margins, weights, ends, **walk) -> np.ndarray:
        """The per-sample walk's contributions by a compiled kernel (``margins.unit_marginals``; where
        :meth:`has_unit_kernel`)."""
        raise NotImplementedError(f"{type(self).__name__} has no per-sample walk")

    def prefix_kernel(self, margins, perms: np.ndarray) -> np.ndarray | None:
        """The measure of every prefix of every permutation (P, n+1) by a compiled kernel, or None."""
        return None

    def all_kernel(self, margins) -> np.ndarray | None:
        """The measure of all 2^n coalitions (indexed by bitmask) by a compiled kernel, or None."""
        return None


def correct_by_label(logits: torch.Tensor, measure: Measure, sl: slice):
    """(label, correct (B, samples of that label in ``sl``)) per label: whether the label is the first arg-max
    logit (torch.argmax's tie rule): above every logit before it, at least every logit after it. The maxima are
    elementwise over the class rows (a reduction over the class axis of a slice of samples is ten times slower)."""
    z = logits.transpose(-1, -2)  # (B, C, S)
    for label, loc in measure.groups(sl):
        mine = z[:, label, loc]
        correct = torch.ones_like(mine, dtype=torch.bool)
        if label > 0:
            correct &= mine > reduce(torch.maximum, (z[:, c, loc] for c in range(label)))
        if label < z.shape[1] - 1:
            correct &= mine >= reduce(torch.maximum, (z[:, c, loc] for c in range(label + 1, z.shape[1])))
        yield label, correct


class Accuracy(Measure):
    """The share of samples whose first arg-max logit is the label."""

    shift_invariant = True

    def rounding(self, value):
        return 3 / self.n_samples  # three samples whose arg-max a rounding of near-equal logits flips

    def partial(self, logits, sl):
        total = torch.zeros(logits.shape[0], dtype=torch.float64, device=logits.device)
        for _, correct in correct_by_label(logits, self, sl):
            total += correct.sum(-1)
        return total

    def from_counts(self, counts: np.ndarray, margins) -> np.ndarray:
        """The measure from correct counts per label group (..., groups)."""
        return np.asarray(counts, dtype=np.float64).sum(-1) / self.n_samples

    def sample_weights(self):
        return np.full(self.n_samples, 1.0 / self.n_samples)

    def row_values(self, logits, labels):
        return (logits.argmax(-1) == labels).double()  # torch.argmax: the first maximum, as correct_by_label

    def has_unit_kernel(self, margins):
        return True

    def unit_kernel(self, margins, weights, ends, **walk):
        return margins.unit_marginals(weights, ends, **walk)

    def prefix_kernel(self, margins, perms):
        return self.from_counts(margins.prefix_correct(perms), margins)

    def all_kernel(self, margins):
        return self.from_counts(margins.all_correct(), margins)


class BalancedAccuracy(Accuracy):
    """The mean over the classes present of the per-class recall."""

    def __init__(self, y, n_classes):
        super().__init__(y, n_classes)
        counts = torch.bincount(y, minlength=n_classes).double()  # samples per class
        self.present = counts > 0
        self.counts = counts[self.present]

    def partial(self, logits, sl):
        total = torch.zeros(logits.shape[0], self.n_classes, dtype=torch.float64, device=logits.device)
        for label, correct in correct_by_label(logits, self, sl):
            total[:, label] += correct.sum(-1)
        return total

    def finish(self, total):
        return (total[:, self.present] / self.counts).mean(-1)

    def rounding(self, value):
        return 3 / (len(self.counts) * float(self.counts.min()))  # three flipped samples of the rarest class

    def from_counts(self, counts, margins):
        return (np.asarray(counts, dtype=np.float64) / np.diff(margins.starts).astype(np.float64)).mean(-1)

    def sample_weights(self):
        counts = torch.bincount(self.y.cpu(), minlength=self.n_classes).double().numpy()
        return 1.0 / (len(self.counts) * counts[self.y.cpu().numpy()])


class NegCrossEntropy(Measure):
    """The mean log-likelihood of the labels under the softmax of the logits (minus the cross-entropy)."""

    shift_invariant = True

    def partial(self, logits, sl):
        z = logits.transpose(-1, -2)  # (B, C, S)
        # the log-sum-exp over all samples at once, in the logits' precision (their own rounding is as large);
        # the labels' logits from each label's block; sums in float64
        total = -torch.logsumexp(z, 1).sum(-1, dtype=torch.float64)
        for label, loc in self.groups(sl):
            total += z[:, label, loc].sum(-1, dtype=torch.float64)
        return total

    def statistics(self, logits, sl, margins=None, scratch=False):
        if margins is None:
            return self.partial(logits, sl)
        z = logits.transpose(-1, -2)  # (B, C, S)
        if margins + math.log(self.n_classes) <= EXP_RANGE:
            # margins that exp cannot overflow: the log of the sum of exponentials without the maximum taken out
            # (its own pass over the logits), in place where allowed
            return -(z.exp_() if scratch else z.exp()).sum(1).log_().sum(-1, dtype=torch.float64)
        return -torch.logsumexp(z, 1).sum(-1, dtype=torch.float64)  # nothing to add for the labels: margins 0

    def prefix_kernel(self, margins, perms):
        if not margins.log_likelihood_in_range:  # logits too far apart for the table walk: the exact path
            return None
        return margins.prefix_log_likelihood(perms) / self.n_samples

    def sample_weights(self):
        return np.full(self.n_samples, 1.0 / self.n_samples)

    def row_values(self, logits, labels):
        return torch.log_softmax(logits.double(), -1).gather(-1, labels[:, None])[:, 0]

    def has_unit_kernel(self, margins):
        return margins.log_likelihood_in_range

    def unit_kernel(self, margins, weights, ends, **walk):
        return margins.unit_marginals(weights, ends, log_likelihood=True, **walk)
