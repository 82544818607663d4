"""Fused native kernels for the fast paths of a neuron game whose player layer feeds a linear read-out.

Adding a player is a rank-one update of the logits, whatever the measure: accuracy and balanced accuracy
count correct samples per label (from the margins below); cross-entropy multiplies the exponentials of the
logits by a table of the players' factors exp(W[c, j] h_j), computed once per block of samples, so a step costs a
multiply per class and sample instead of an exponential (see ``_prefix_loglik``). Both kinds run for permutation
walks; accuracy and balanced accuracy also over all 2^n coalitions.

With cached player activations H (n players x N samples) and read-out weights W (C x n), bias b, the logits
of coalition S are b + sum_{j in S} W[:, j] H[j]. A sample with label y is classified correctly (first
arg-max, the tie rule of ``torch.argmax``) iff its margins M[c] = logit[c] - logit[y] are < 0 for c < y
and <= 0 for c > y. Adding player j adds H[j] * (W[c, j] - W[y, j]) to M[c]: one multiply-add per class
and sample. With the samples sorted by label, every block of samples shares y, so the kernels keep the
margins of a block in a small cache-resident array and update them with scalar x vector operations that the
compiler vectorises. Permutation walks and Gray-code walks over all coalitions then cost O(N * C) per
coalition instead of a forward pass. numba compiles the kernels once and caches the machine code on disk.
"""

from __future__ import annotations

from functools import cached_property

import numba
import numpy as np
from numba import njit, prange

from svprune.checks import all_finite
from svprune.games.base import check_permutation_rows

BLOCK = 256
FASTMATH = {"nnan", "ninf", "nsz", "contract"}  # no reassociation: each margin is one chain of multiply-adds
TABLE_BYTES = 1 << 22
"""Cross-entropy's per-thread table of exp(W[c, j] h_j[s]) for a block of samples: at most this many bytes (fewer
samples per block with many players)."""
LOG_RANGE = 600.0
"""Cross-entropy's table walk needs every logit difference and every step's term within this many nats, so that
its float64 products neither overflow nor underflow between rescalings (checked per game; else the exact path)."""
LOWEST = np.float32(-3.0e38)  # a finite "minus infinity" for the running maxima (fastmath assumes no inf)


class MarginData:
    """The arrays the kernels read: activations (players x samples, samples sorted by label), per-label weight
    differences and bias margins, and the label groups. Built once per game, without copying the activations
    when they come as float32 in that layout.

    Everything the compiled loops index is validated here first: labels sorted and within 0..C-1, shapes
    consistent, values finite (the kernels are compiled with fast-math, which assumes no NaN or inf)."""

    def __init__(self, ht: np.ndarray, w: np.ndarray, b: np.ndarray, y: np.ndarray):
        ht = np.ascontiguousarray(ht, dtype=np.float32)
        w = np.asarray(w, dtype=np.float32)
        b = np.asarray(b, dtype=np.float32)
        y = np.asarray(y, dtype=np.int64)
        if w.ndim != 2 or b.shape != (w.shape[0],) or ht.ndim != 2 or ht.shape[0] != w.shape[1]:
            raise ValueError(f"inconsistent shapes: activations {ht.shape} (players x samples), read-out weights "
                             f"{w.shape} (classes x players), bias {b.shape}")
        if y.shape != (ht.shape[1],):
            raise ValueError(f"{len(y)} labels for {ht.shape[1]} samples")
        n_classes = w.shape[0]
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"labels range over [{y.min()}, {y.max()}] but the read-out has {n_classes} classes")
        if len(y) > 1 and (np.diff(y) < 0).any():
            raise ValueError("the kernels need the samples sorted by label")
        for name, a in (("activations", ht), ("read-out weights", w), ("read-out bias", b)):
            if not all_finite(a):
                raise ValueError(f"{name} hold NaN or infinite values")
        self.labels = np.unique(y).astype(np.int64)
        self.starts = np.searchsorted(y, np.append(self.labels, n_classes)).astype(np.int64)
        self.ht = ht  # (n, N)
        self.d = np.ascontiguousarray((w[None, :, :] - w[:, None, :]).transpose(0, 2, 1))  # d[y, j, c] = W[c, j] - W[y, j]
        self.m0 = np.ascontiguousarray(b[None, :] - b[:, None])  # m0[y, c] = b[c] - b[y]

        self.w = np.ascontiguousarray(w.T)  # (n, C): W[:, j] as rows
        self.b = b

    @classmethod
    def on(cls, device, ht, w, b, y) -> MarginData | None:
        """The kernels' arrays from a game's tensors where the kernels run (CPU), else None (the game then takes
        its batched tensor path)."""
        if device.type != "cpu":
            return None
        return cls(ht.float().numpy(), w.numpy(), b.numpy(), y.numpy())

    def prefix_correct(self, perms: np.ndarray) -> np.ndarray:
        """Correct counts per label group of every prefix of every permutation, shape (P, n+1, groups)."""
        perms = check_permutations(perms, self.ht.shape[0])
        return _prefix_correct(self.ht, self.d, self.m0, self.starts, self.labels, perms)

    @cached_property
    def log_likelihood_in_range(self) -> bool:
        """Whether the logits' spread allows the cross-entropy table walk (LOG_RANGE): bounded, over every
        coalition and sample, by the bias differences plus sum_j |W[c, j] - W[c', j]| max_s |h_j[s]|."""
        reach = np.abs(self.ht).max(1) if self.ht.size else np.zeros(self.ht.shape[0], np.float32)
        w, b = self.w.T.astype(float), self.b.astype(float)  # (C, n), (C,)
        spread = np.abs(b[:, None] - b[None, :]) + np.abs(w[:, None, :] - w[None, :, :]) @ reach
        step = (np.abs(w) * reach).max(initial=0.0)
        return bool(spread.max(initial=0.0) + step <= LOG_RANGE)

    def prefix_log_likelihood(self, perms: np.ndarray) -> np.ndarray:
        """Sum over samples of log softmax(logits)[y] for every prefix of every permutation, shape (P, n+1);
        only where :attr:`log_likelihood_in_range`."""
        if not self.log_likelihood_in_range:
            raise ValueError("the logits span more than the cross-entropy table walk can hold; use the exact path")
        perms = check_permutations(perms, self.ht.shape[0])
        n, classes = self.w.shape
        block = int(max(8, min(BLOCK, TABLE_BYTES // (8 * max(n, 1) * classes))))
        return _prefix_loglik(self.ht, self.w, self.b, self.starts, self.labels, perms, block,
                              numba.get_num_threads())

    def all_correct(self, low_bits: int = 10) -> np.ndarray:
        """Correct counts per label group of all 2^n coalitions, indexed by bitmask, shape (2^n, groups)."""
        return _gray_correct(self.ht, self.d, self.m0, self.starts, self.labels, min(low_bits, self.ht.shape[0]))


def check_permutations(perms: np.ndarray, n: int) -> np.ndarray:
    """Permutations of 0..n-1, one per row, as the contiguous int64 array the kernels index with."""
    return np.ascontiguousarray(check_permutation_rows(perms, n))


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _update_group(M, acc, d_row, h, m, c0, c1, sign):  # pragma: no cover - compiled
    """M[c, :m] += sign * d_row[c] * h[:m] for classes c0 <= c < c1, and acc[:m] = their maximum margin.
    Classes go two per pass over the samples, so the running maximum is loaded and stored half as often."""
    if c1 <= c0:
        for s in range(m):
            acc[s] = LOWEST
        return
    c = c0
    if (c1 - c0) % 2 == 1:
        d = sign * d_row[c]
        for s in range(m):
            v = M[c, s] + d * h[s]
            M[c, s] = v
            acc[s] = v
        c += 1
    else:
        d0 = sign * d_row[c]
        d1 = sign * d_row[c + 1]
        for s in range(m):
            v0 = M[c, s] + d0 * h[s]
            v1 = M[c + 1, s] + d1 * h[s]
            M[c, s] = v0
            M[c + 1, s] = v1
            acc[s] = v0 if v0 > v1 else v1
        c += 2
    while c < c1:
        d0 = sign * d_row[c]
        d1 = sign * d_row[c + 1]
        for s in range(m):
            v0 = M[c, s] + d0 * h[s]
            v1 = M[c + 1, s] + d1 * h[s]
            M[c, s] = v0
            M[c + 1, s] = v1
            a = acc[s]
            a = v0 if v0 > a else a
            acc[s] = v1 if v1 > a else a
        c += 2


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _add_player(M, lo, hi, d_row, h, m, y, C, sign):  # pragma: no cover - compiled
    """Add (sign=1) or remove (sign=-1) one player for a block of samples of label y; return how many are
    classified correctly: margins < 0 below y and <= 0 above y (the first arg-max rule)."""
    _update_group(M, lo, d_row, h, m, 0, y, sign)
    _update_group(M, hi, d_row, h, m, y + 1, C, sign)
    total = 0
    for s in range(m):
        total += (lo[s] < 0) & (hi[s] <= 0)
    return total


@njit(cache=True, inline="always")
def _scratch(C):  # pragma: no cover - compiled
    """Per-task buffers: the margins of a block, a zero weight row, the running maxima below and above y."""
    return (np.empty((C, BLOCK), np.float32), np.zeros(C, np.float32), np.empty(BLOCK, np.float32),
            np.empty(BLOCK, np.float32))


@njit(cache=True, inline="always")
def _reset(M, m0_row, m, C):  # pragma: no cover - compiled
    """The margins of the empty coalition: bias differences b[c] - b[y]."""
    for c in range(C):
        for s in range(m):
            M[c, s] = m0_row[c]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _prefix_correct(HT, D, m0, starts, labels, perms):  # pragma: no cover - compiled
    P, n = perms.shape
    C = D.shape[2]
    out = np.zeros((P, n + 1, len(labels)), np.int64)
    for p in prange(P):
        M, zero, lo, hi = _scratch(C)
        for g in range(len(labels)):
            y = labels[g]
            for s0 in range(starts[g], starts[g + 1], BLOCK):
                m = min(BLOCK, starts[g + 1] - s0)
                _reset(M, m0[y], m, C)
                out[p, 0, g] += _add_player(M, lo, hi, zero, HT[0, s0 : s0 + m], m, y, C, np.float32(0.0))
                for t in range(n):
                    j = perms[p, t]
                    out[p, t + 1, g] += _add_player(M, lo, hi, D[y, j], HT[j, s0 : s0 + m], m, y, C, np.float32(1.0))
    return out


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _prefix_loglik(HT, Wt, b, starts, labels, perms, block, threads):  # pragma: no cover - compiled
    """Cross-entropy's incremental walk, without an exponential per step: a block of samples (one label) keeps
    E[c, s] = exp(logit[c, s] - shift[s]) in float64, and adding player j multiplies it by the table
    F[j, c, s] = exp(W[c, j] h_j[s]), computed once per block for every player and reused by every permutation.
    After each step, the block's log-likelihood is the sum of log(E[y, s] / sum_c E[c, s]), taken as the log of
    running products of those ratios (one log per many samples); a sample whose E drifts out of [1e-30, 1e30] is
    rescaled (the shift cancels in the ratio). MarginData.log_likelihood_in_range guarantees that no factor,
    ratio or rescaled E leaves float64's range. Threads take blocks of samples and keep their own sums."""
    P, n = perms.shape
    C = Wt.shape[1]
    count = 0
    for g in range(len(labels)):
        count += (starts[g + 1] - starts[g] + block - 1) // block
    first, size, label = np.empty(count, np.int64), np.empty(count, np.int64), np.empty(count, np.int64)
    k = 0
    for g in range(len(labels)):
        for s0 in range(starts[g], starts[g + 1], block):
            first[k], size[k], label[k] = s0, min(block, starts[g + 1] - s0), labels[g]
            k += 1
    threads = max(1, min(threads, count))
    out = np.zeros((threads, P, n + 1))
    top = np.float64(b.max())
    e0 = np.empty(C)
    z0 = 0.0
    for c in range(C):
        e0[c] = np.exp(np.float64(b[c]) - top)
        z0 += e0[c]
    for thread in prange(threads):
        F = np.empty((n, C, block))
        E = np.empty((C, block))
        z = np.empty(block)
        for k in range(thread, count, threads):
            s0, m, y = first[k], size[k], label[k]
            for j in range(n):
                for c in range(C):
                    w = np.float64(Wt[j, c])
                    for s in range(m):
                        F[j, c, s] = np.exp(w * np.float64(HT[j, s0 + s]))
            start = m * np.log(e0[y] / z0)
            for p in range(P):
                for c in range(C):
                    for s in range(m):
                        E[c, s] = e0[c]
                out[thread, p, 0] += start
                for t in range(n):
                    j = perms[p, t]
                    for c in range(C):
                        for s in range(m):
                            E[c, s] *= F[j, c, s]
                    for s in range(m):
                        z[s] = E[0, s]
                    for c in range(1, C):
                        for s in range(m):
                            z[s] += E[c, s]
                    total, product = 0.0, 1.0
                    for s in range(m):
                        ratio = E[y, s] / z[s]
                        if ratio > 1e-30:
                            product *= ratio
                            if product < 1e-270:
                                total += np.log(product)
                                product = 1.0
                        else:  # at least exp(-LOG_RANGE): representable
                            total += np.log(ratio)
                        if z[s] > 1e30 or z[s] < 1e-30:
                            for c in range(C):
                                E[c, s] /= z[s]
                    out[thread, p, t + 1] += total + np.log(product)
    return out.sum(0)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _gray_correct(HT, D, m0, starts, labels, low):  # pragma: no cover - compiled
    """The high n-low bits are fixed per parallel task, whose margins are recomputed from scratch (bounding
    floating-point drift); the low bits are walked in Gray-code order, one player added or removed per step."""
    n = HT.shape[0]
    C = D.shape[2]
    out = np.zeros((1 << n, len(labels)), np.int64)
    for hi_bits in prange(1 << (n - low)):
        base = hi_bits << low
        M, zero, lo, hi = _scratch(C)
        for g in range(len(labels)):
            y = labels[g]
            for s0 in range(starts[g], starts[g + 1], BLOCK):
                m = min(BLOCK, starts[g + 1] - s0)
                _reset(M, m0[y], m, C)
                for j in range(low, n):
                    if (base >> j) & 1:
                        _add_player(M, lo, hi, D[y, j], HT[j, s0 : s0 + m], m, y, C, np.float32(1.0))
                out[base, g] += _add_player(M, lo, hi, zero, HT[0, s0 : s0 + m], m, y, C, np.float32(0.0))
                code = 0
                for k in range(1, 1 << low):
                    j = 0
                    while not (k >> j) & 1:
                        j += 1
                    code ^= 1 << j
                    sign = np.float32(1.0) if (code >> j) & 1 else np.float32(-1.0)
                    out[base | code, g] += _add_player(M, lo, hi, D[y, j], HT[j, s0 : s0 + m], m, y, C, sign)
    return out
