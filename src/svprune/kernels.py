"""Fused native kernels for the fast paths of a game whose logits are additive in its players.

With the samples sorted by label, every kernel works on blocks of samples that share a label y and keeps the
margins M[c, s] = logit[c, s] - logit[y, s] of a block (the label's own margin is 0) in a small cache-resident
array. Adding player j adds its margin terms to M; two layouts of those terms:

- rank one (:class:`MarginData`, a neuron game: cached activations H, n players x N samples, and a linear read-out
  W, C x n, bias b): player j adds H[j, s] (W[c, j] - W[y, j]) to M[c, s], one multiply-add per class and sample;
- general (:class:`TermData`, a channel game whose network after the channels is additive in them, pooling and a
  linear layer): player j adds its own margin terms D[j, c, s], computed once per game; one add.

A sample is classified correctly (first arg-max, the tie rule of ``torch.argmax``) iff its margins are < 0 for
c < y and <= 0 for c > y: accuracy and balanced accuracy count correct samples per label. Cross-entropy keeps
E[c, s] = exp(M[c, s]) and multiplies it by a table of the players' factors exp(D[j, c, s]), computed once per
block of samples and reused by every permutation, so a step costs a multiply per class and sample instead of an
exponential; the sample's log-likelihood is -log(1 + sum_{c != y} E[c, s]), summed as the log of running products
(one log per block and step). Permutation walks and Gray-code walks over all coalitions (accuracy) then cost
O(N C) per coalition instead of a forward pass. numba compiles the kernels once and caches the machine code on
disk.
"""

from __future__ import annotations

import math
from functools import cached_property

import numba
import numpy as np
from numba import njit, prange

from svprune.checks import all_finite
from svprune.games.base import check_permutation_rows
from svprune.measures import EXP_RANGE

BLOCK = 256
FASTMATH = {"nnan", "ninf", "nsz", "contract"}  # no reassociation: each margin is one chain of multiply-adds
TABLE_BYTES = 1 << 22
"""Cross-entropy's per-thread table of a block's factors exp(D[j, c, s]): at most this many bytes (fewer samples per
block with many players)."""
FLOAT32_RANGE = EXP_RANGE
"""Cross-entropy walks in float32 where every margin, over every coalition and sample, is bounded by this many nats
less log(classes) (the bound within which the measures' own exp of float32 margins stays finite): exp(M) and
1 + sum exp(M) then stay normal float32 numbers below 1e36. Its rounding (1e-7 per factor) is that of the float32
logits the plain path computes."""
LOG_RANGE = 600.0
"""Beyond FLOAT32_RANGE, cross-entropy walks in float64 where the margins are bounded by this many nats (exp(M)
stays a normal float64), and takes the exact path beyond it."""
PRODUCT_LIMIT = 1e36
"""Eight factors 1 + sum exp(M) below this multiply without overflow; a larger one takes its own log."""
LOWEST = np.float32(-3.0e38)  # a finite "minus infinity" for the running maxima (fastmath assumes no inf)


class _Readout:
    """What every kernel reads besides the players' terms: the label groups of the samples (sorted by label),
    validated before any compiled loop indexes them."""

    rank_one = False

    def _labels(self, y: np.ndarray, n_samples: int, n_classes: int) -> None:
        y = np.asarray(y, dtype=np.int64)
        if y.shape != (n_samples,):
            raise ValueError(f"{len(y)} labels for {n_samples} samples")
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"labels range over [{y.min()}, {y.max()}] but the read-out has {n_classes} classes")
        if len(y) > 1 and (np.diff(y) < 0).any():
            raise ValueError("the kernels need the samples sorted by label")
        self.n_classes = n_classes
        self.y = y
        self.labels = np.unique(y).astype(np.int64)
        self.starts = np.searchsorted(y, np.append(self.labels, n_classes)).astype(np.int64)

    @property
    def n_players(self) -> int:
        return self.h.shape[0]

    def prefix_correct(self, perms: np.ndarray) -> np.ndarray:
        """Correct counts per label group of every prefix of every permutation, shape (P, n+1, groups)."""
        perms = check_permutations(perms, self.n_players)
        return _prefix_correct(self.h, self.d, self.m0, self.starts, self.labels, perms, self._block(4, False),
                               self.rank_one, numba.get_num_threads())

    def all_correct(self, low_bits: int = 10) -> np.ndarray:
        """Correct counts per label group of all 2^n coalitions, indexed by bitmask, shape (2^n, groups)."""
        return _gray_correct(self.h, self.d, self.m0, self.starts, self.labels, min(low_bits, self.n_players),
                             self._block(4, False), self.rank_one)

    @cached_property
    def unit_lanes(self) -> np.ndarray:
        """The per-sample walk's units (:func:`unit_lanes`)."""
        return unit_lanes(len(self.y))

    @property
    def units_fit(self) -> bool:
        """Whether a thread's copy of a unit's margin terms stays within UNIT_TERMS_BYTES."""
        return 4 * self.n_players * self.n_classes * UNIT <= UNIT_TERMS_BYTES

    def unit_marginals(self, weights: np.ndarray, ends: np.ndarray, perms: np.ndarray | None = None,
                       seeds: np.ndarray | None = None, count: int = 0, log_likelihood: bool = False) -> np.ndarray:
        """Each player's marginal contributions summed over the units (:data:`UNIT`), every unit walking its own
        permutations: ``perms`` (1 or K x P x n) or, with ``seeds`` (one per unit), ``count`` drawn in the kernel
        (antithetic pairs: even rows random, odd rows their reverse). A unit's part of the measure is the sum of
        ``weights`` (one per sample) times its samples' correctness or, with ``log_likelihood`` (only where
        :attr:`log_likelihood_in_range`), their label's log-likelihood; ``ends`` (K x 2) are its parts of the
        empty and the full coalition. Returns (P, n)."""
        lanes = self.unit_lanes
        units = len(lanes)
        weights = np.ascontiguousarray(weights, dtype=np.float64)
        ends = np.ascontiguousarray(ends, dtype=np.float64)
        if weights.shape != self.y.shape or not all_finite(weights):
            raise ValueError(f"need one finite weight per sample ({len(self.y)}); got shape {weights.shape}")
        if ends.shape != (units, 2) or not all_finite(ends):
            raise ValueError(f"need the finite parts of the empty and full coalition of each of the {units} units")
        if not self.units_fit:
            raise ValueError(f"{self.n_players} players x {self.n_classes} classes: a unit's terms pass "
                             f"{UNIT_TERMS_BYTES} bytes; use the shared walk")
        dtype = np.float32
        if log_likelihood:
            dtype = self.log_likelihood_dtype
            if dtype is None:
                raise ValueError("the logits span more than the cross-entropy walk can hold; use the exact path")
        if seeds is None:
            perms = np.asarray(perms)
            if perms.ndim != 3 or perms.shape[0] not in (1, units):
                raise ValueError(f"permutations must have shape (1 or {units}, count, {self.n_players}); got {perms.shape}")
            flat = check_permutations(perms.reshape(-1, perms.shape[-1]) if perms.size else
                                      np.zeros((0, self.n_players), np.int64), self.n_players)
            perms, seeds = flat.reshape(perms.shape), np.zeros(0, np.uint64)
        else:
            seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
            if seeds.shape != (units,):
                raise ValueError(f"need one seed per unit ({units}); got shape {seeds.shape}")
            count = int(count)
            if count < 0 or count % 2:
                raise ValueError(f"count must be an even number of permutations (antithetic pairs); got {count}")
            perms = np.zeros((1, 0, self.n_players), np.int64)
        return _unit_walk(self.h, self.d, self.m0, self.y, weights, lanes, ends, perms, seeds, count, self.rank_one,
                          numba.get_num_threads(), bool(log_likelihood), np.zeros(0, dtype))

    def _block(self, itemsize: int, per_class: bool) -> int:
        """Samples per block: BLOCK, fewer where a block's per-thread copy of the players' terms (per class for the
        general terms, or ``per_class``: cross-entropy's table) would pass TABLE_BYTES; a multiple of 8."""
        classes = self.n_classes if per_class or not self.rank_one else 1
        return int(max(8, min(BLOCK, TABLE_BYTES // (itemsize * max(self.n_players, 1) * classes)) // 8 * 8))

    @cached_property
    def margin_bound(self) -> float:
        """A bound on |M[c, s]|, the margins of every coalition and sample."""
        raise NotImplementedError

    @cached_property
    def log_likelihood_dtype(self):
        """The float type of the cross-entropy walk (FLOAT32_RANGE, LOG_RANGE), or None: the exact path."""
        bound = self.margin_bound + math.log(max(self.n_classes, 1))
        return np.float32 if bound <= FLOAT32_RANGE else np.float64 if bound <= LOG_RANGE else None

    @property
    def log_likelihood_in_range(self) -> bool:
        return self.log_likelihood_dtype is not None

    def prefix_log_likelihood(self, perms: np.ndarray, dtype=None) -> np.ndarray:
        """Sum over samples of log softmax(logits)[y] for every prefix of every permutation, shape (P, n+1); only
        where :attr:`log_likelihood_in_range`. ``dtype``: float64 to walk in double precision where float32 would
        do (never the reverse)."""
        chosen = self.log_likelihood_dtype
        if chosen is None:
            raise ValueError("the logits span more than the cross-entropy table walk can hold; use the exact path")
        if dtype is not None and np.dtype(dtype).itemsize < np.dtype(chosen).itemsize:
            raise ValueError(f"the margins need a {np.dtype(chosen).name} walk")
        dtype = np.dtype(dtype or chosen)
        perms = check_permutations(perms, self.n_players)
        return _prefix_loglik(self.h, self.d, self.m0, self.w, self.b, self.starts, self.labels, perms,
                              self._block(dtype.itemsize, True), numba.get_num_threads(), np.zeros(0, dtype),
                              self.rank_one)


class MarginData(_Readout):
    """A rank-one read-out: activations (players x samples, samples sorted by label), read-out weights and bias.
    Built once per game, without copying the activations when they come as float32 in that layout.

    Everything the compiled loops index is validated here first: labels sorted and within 0..C-1, shapes
    consistent, values finite (the kernels are compiled with fast-math, which assumes no NaN or inf)."""

    rank_one = True

    def __init__(self, ht: np.ndarray, w: np.ndarray, b: np.ndarray, y: np.ndarray):
        ht = np.ascontiguousarray(ht, dtype=np.float32)
        w = np.asarray(w, dtype=np.float32)
        b = np.asarray(b, dtype=np.float32)
        if w.ndim != 2 or b.shape != (w.shape[0],) or ht.ndim != 2 or ht.shape[0] != w.shape[1]:
            raise ValueError(f"inconsistent shapes: activations {ht.shape} (players x samples), read-out weights "
                             f"{w.shape} (classes x players), bias {b.shape}")
        self._labels(y, ht.shape[1], w.shape[0])
        for name, a in (("activations", ht), ("read-out weights", w), ("read-out bias", b)):
            if not all_finite(a):
                raise ValueError(f"{name} hold NaN or infinite values")
        self.h = ht  # (n, N)
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

    @cached_property
    def margin_bound(self) -> float:
        """The bias differences plus sum_j |W[c, j] - W[c', j]| max_s |h_j[s]|, the largest over class pairs."""
        reach = np.abs(self.h).max(1) if self.h.size else np.zeros(self.h.shape[0], np.float32)
        w, b = self.w.T.astype(float), self.b.astype(float)  # (C, n), (C,)
        spread = np.abs(b[:, None] - b[None, :]) + np.abs(w[:, None, :] - w[None, :, :]) @ reach
        return float(spread.max(initial=0.0))


class TermData(_Readout):
    """General additive margins: ``terms`` D (players x classes x samples) and ``base`` (classes x samples), both
    relative to each sample's label (the label's row 0), samples sorted by label; read in place when they come as
    contiguous float32 (a game's own tensors on the CPU). Validated like :class:`MarginData`, and the label rows
    must be 0: the kernels leave them out."""

    def __init__(self, terms: np.ndarray, base: np.ndarray, y: np.ndarray):
        terms = np.ascontiguousarray(terms, dtype=np.float32)
        base = np.ascontiguousarray(base, dtype=np.float32)
        if terms.ndim != 3 or base.shape != terms.shape[1:]:
            raise ValueError(f"inconsistent shapes: terms {terms.shape} (players x classes x samples), base "
                             f"{base.shape} (classes x samples)")
        self._labels(y, terms.shape[2], terms.shape[1])
        for name, a in (("terms", terms), ("base", base)):
            if not all_finite(a):
                raise ValueError(f"{name} hold NaN or infinite values")
        at = np.asarray(y, dtype=np.int64)
        if terms.size and (terms[:, at, np.arange(len(at))].any() or base[at, np.arange(len(at))].any()):
            raise ValueError("the terms must be margins relative to each sample's label (its own row 0)")
        self.d, self.m0 = terms, base
        self.h = np.zeros((terms.shape[0], 0), np.float32)  # no rank-one factor: only its count of players
        self.w, self.b = np.zeros((terms.shape[0], 0), np.float32), np.zeros(0, np.float32)

    @cached_property
    def margin_bound(self) -> float:
        """max over samples of max_c |base[c, s]| + sum_j max_c |D[j, c, s]|."""
        if not self.d.size:
            return float(np.abs(self.m0).max(initial=0.0))
        reach = np.abs(self.d).max(1).sum(0, dtype=np.float64) + np.abs(self.m0).max(0)
        return float(reach.max(initial=0.0))


def unit_lanes(count: int) -> np.ndarray:
    """The per-sample walk's units of ``count`` samples (K x UNIT sample indices, -1 for padding): unit k holds
    samples k, k + K, k + 2K, ... of the label-sorted samples, so every unit mixes labels (samples of one label
    share their important players, and their contributions are the most correlated)."""
    units = -(-count // UNIT)
    lanes = np.full(units * UNIT, -1, np.int64)
    lanes[:count] = np.arange(count)
    return np.ascontiguousarray(lanes.reshape(UNIT, units).T)


def check_permutations(perms: np.ndarray, n: int) -> np.ndarray:
    """Permutations of 0..n-1, one per row, as the contiguous int64 array the kernels index with."""
    return np.ascontiguousarray(check_permutation_rows(perms, n))


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _update(M, acc, D, Hb, Db, y, j, m, c0, c1, sign, rank_one):  # pragma: no cover - compiled
    """M[c, :m] += sign * (player j's margin terms) for classes c0 <= c < c1, and acc[:m] = their maximum margin.
    Rank one: the terms are D[y, j, c] * Hb[j, :m]; general: Db[j, c, :m]. Classes go two per pass over the
    samples (an odd one first), so the running maximum is loaded and stored half as often, and the first pass
    stores it without loading it. Everything is indexed in place: an array view per step (a slice) costs more than
    the arithmetic on a block of a few dozen samples."""
    if c1 <= c0:
        for s in range(m):
            acc[s] = LOWEST
        return
    c = c0
    if (c1 - c0) % 2 == 1:  # the odd class: the maximum's first value
        if rank_one:
            d = sign * D[y, j, c]
            for s in range(m):
                v = M[c, s] + d * Hb[j, s]
                M[c, s] = v
                acc[s] = v
        else:
            for s in range(m):
                v = M[c, s] + sign * Db[j, c, s]
                M[c, s] = v
                acc[s] = v
        c += 1
    first = c == c0
    while c < c1:
        if rank_one:
            d0, d1 = sign * D[y, j, c], sign * D[y, j, c + 1]
            for s in range(m):
                h = Hb[j, s]
                v0 = M[c, s] + d0 * h
                v1 = M[c + 1, s] + d1 * h
                M[c, s] = v0
                M[c + 1, s] = v1
                a = v0 if first else (v0 if v0 > acc[s] else acc[s])
                acc[s] = v1 if v1 > a else a
        else:
            for s in range(m):
                v0 = M[c, s] + sign * Db[j, c, s]
                v1 = M[c + 1, s] + sign * Db[j, c + 1, s]
                M[c, s] = v0
                M[c + 1, s] = v1
                a = v0 if first else (v0 if v0 > acc[s] else acc[s])
                acc[s] = v1 if v1 > a else a
        first = False
        c += 2


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _count(lo, hi, m, real, C):  # pragma: no cover - compiled
    """How many of a block's ``real`` samples are correct: maximum margin < 0 below the label, <= 0 above it."""
    if C == 1:  # nothing to beat
        return real
    total = 0
    for s in range(m):  # whole vectors: a padding sample's margins are 1, never correct
        total += (lo[s] < 0) & (hi[s] <= 0)
    return total


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _add_player(M, lo, hi, Hb, D, Db, j, y, m, real, C, sign, rank_one):  # pragma: no cover - compiled
    """Add (sign=1) or remove (sign=-1) player j for a block of m samples (padded, _load) of label y; return how
    many of its ``real`` samples are classified correctly: margins < 0 below y and <= 0 above y (the first
    arg-max rule)."""
    _update(M, lo, D, Hb, Db, y, j, m, 0, y, sign, rank_one)
    _update(M, hi, D, Hb, Db, y, j, m, y + 1, C, sign, rank_one)
    return _count(lo, hi, m, real, C)


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _load(Hb, Db, Mb, H, D, M0, y, s0, m, C, rank_one):  # pragma: no cover - compiled
    """Copy a block's players' terms (rank one: activations; general: margin terms) and its empty coalition's
    margins into the thread's buffers, padded with zero terms and margins of 1 to a multiple of 8 samples, so that
    every loop over the block is whole vectors (a block of one label in a small data set is a few dozen samples,
    and scalar remainders cost more than the vectors); a padding sample is never counted correct. Returns the
    padded length."""
    padded = (m + 7) // 8 * 8
    n = Hb.shape[0] if rank_one else Db.shape[0]
    for j in range(n):
        if rank_one:
            Hb[j, :m] = H[j, s0 : s0 + m]
            Hb[j, m:padded] = 0.0
        else:
            for c in range(C):
                Db[j, c, :m] = D[j, c, s0 : s0 + m]
                Db[j, c, m:padded] = 0.0
    for c in range(C):
        if rank_one:
            Mb[c, :m] = M0[y, c]
        else:
            Mb[c, :m] = M0[c, s0 : s0 + m]
        Mb[c, m:padded] = 1.0
    return padded


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _reset(M, lo, hi, Mb, y, m, real, C):  # pragma: no cover - compiled
    """The margins of the empty coalition (from _load); return how many samples it classifies correctly."""
    for c in range(C):
        M[c, :m] = Mb[c, :m]
    lo[:m] = LOWEST
    hi[:m] = LOWEST
    for c in range(C):
        if c < y:
            for s in range(m):
                lo[s] = max(lo[s], M[c, s])
        elif c > y:
            for s in range(m):
                hi[s] = max(hi[s], M[c, s])
    return _count(lo, hi, m, real, C)


@njit(cache=True, inline="always")
def _buffers(n, C, block, rank_one):  # pragma: no cover - compiled
    """A thread's buffers: margins, their maxima below and above the label, the block's terms and base margins.
    Rows of BLOCK (a constant: loops over rows of a compile-time stride run faster) but for the general terms,
    whose copy is bounded by ``block`` (n x C x block)."""
    Hb = np.empty((n if rank_one else 0, BLOCK), np.float32)
    Db = np.empty((0 if rank_one else n, C, block), np.float32)
    return (np.empty((C, BLOCK), np.float32), np.empty(BLOCK, np.float32), np.empty(BLOCK, np.float32), Hb, Db,
            np.empty((C, BLOCK), np.float32))


@njit(cache=True)
def _blocks(starts, labels, block):  # pragma: no cover - compiled
    """The blocks of at most ``block`` samples of one label: first sample, size, label."""
    count = 0
    for g in range(len(labels)):
        count += (starts[g + 1] - starts[g] + block - 1) // block
    first, size, group = np.empty(count, np.int64), np.empty(count, np.int64), np.empty(count, np.int64)
    k = 0
    for g in range(len(labels)):
        for s0 in range(starts[g], starts[g + 1], block):
            first[k], size[k], group[k] = s0, min(block, starts[g + 1] - s0), g
            k += 1
    return first, size, group


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _prefix_correct(H, D, M0, starts, labels, perms, block, rank_one, threads):  # pragma: no cover - compiled
    """Threads take blocks of samples (and, with fewer blocks than threads, shares of the permutations); a block's
    terms stay in cache while every permutation of the share walks it."""
    P, n = perms.shape
    C = M0.shape[0]  # rank one: (C, C) bias margins; general: (C, N)
    first, size, group = _blocks(starts, labels, block)
    shares = max(1, min(P, -(-2 * threads // max(len(first), 1))))
    tasks = len(first) * shares
    threads = max(1, min(threads, tasks))
    out = np.zeros((threads, len(labels), P, n + 1), np.int64)  # a walk's counts contiguous
    for thread in prange(threads):
        M, lo, hi, Hb, Db, Mb = _buffers(n, C, block, rank_one)
        for task in range(thread, tasks, threads):
            k, share = task // shares, task % shares
            g = group[k]
            y = labels[g]
            real = size[k]
            m = _load(Hb, Db, Mb, H, D, M0, y, first[k], real, C, rank_one)
            for p in range(share * P // shares, (share + 1) * P // shares):
                counts = out[thread, g, p]
                counts[0] += _reset(M, lo, hi, Mb, y, m, real, C)
                for t in range(n):
                    counts[t + 1] += _add_player(M, lo, hi, Hb, D, Db, perms[p, t], y, m, real, C,
                                                 np.float32(1.0), rank_one)
    return out.sum(0).transpose(1, 2, 0).copy()


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _split(x, word, bits):  # pragma: no cover - compiled
    """x = mantissa * 2^exponent with the mantissa in [1, 2), by the bits of the float64 (``word``: a one-element
    float64 array, ``bits`` its int64 view): (mantissa, exponent), far cheaper than a call to frexp."""
    word[0] = x
    b = bits[0]
    bits[0] = (b & 0x800FFFFFFFFFFFFF) | 0x3FF0000000000000
    return word[0], ((b >> 52) & 0x7FF) - 1023


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _sum_log(z, m, checked, word, bits):  # pragma: no cover - compiled
    """sum_s log z[s] for z >= 1: products of eight (at most PRODUCT_LIMIT^8 < 1e308), their exponents taken out
    (_split), one log at the end. ``checked``: a factor may exceed PRODUCT_LIMIT (the float64 walk), and then
    takes its own log."""
    exponent = 0
    mantissa = 1.0
    extra = 0.0
    k = 0
    while k + 8 <= m:
        safe = True
        if checked:
            top = z[k]
            for i in range(k + 1, k + 8):
                top = max(top, z[i])
            safe = top < PRODUCT_LIMIT
        if safe:
            a = (np.float64(z[k]) * np.float64(z[k + 1])) * (np.float64(z[k + 2]) * np.float64(z[k + 3]))
            b = (np.float64(z[k + 4]) * np.float64(z[k + 5])) * (np.float64(z[k + 6]) * np.float64(z[k + 7]))
            frac, e = _split(a * b, word, bits)
            mantissa *= frac  # in [1, 2): renormalised before it could overflow
            exponent += e
            if mantissa > 1e200:
                frac, e = _split(mantissa, word, bits)
                mantissa = frac
                exponent += e
        else:
            for i in range(k, k + 8):
                extra += math.log(np.float64(z[i]))
        k += 8
    for i in range(k, m):
        extra += math.log(np.float64(z[i]))
    return math.log(mantissa) + exponent * 0.6931471805599453 + extra


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _prefix_loglik(H, D, M0, W, B, starts, labels, perms, block, threads, proto, rank_one):  # pragma: no cover
    """Cross-entropy's incremental walk, without an exponential per step: a block of samples (one label) keeps
    E[c, s] = exp(M[c, s]) for the classes c != y (in ``proto``'s float type), and adding player j multiplies it
    by the table F[j, c, s] = exp(D[j, c, s]), computed once per block for every player and reused by every
    permutation. After each step, the block's log-likelihood is -sum_s log(1 + sum_c E[c, s]) (_sum_log). The
    margin bound of the data (``log_likelihood_dtype``) keeps every E and factor a normal number of that type.
    Threads take blocks of samples and keep their own sums."""
    P, n = perms.shape
    C = M0.shape[0]  # rank one: (C, C) bias margins; general: (C, N)
    checked = proto.itemsize > 4  # float32: the margin bound keeps every factor below PRODUCT_LIMIT
    first, size, group = _blocks(starts, labels, block)
    count = len(first)
    threads = max(1, min(threads, count))
    out = np.zeros((threads, P, n + 1))
    for thread in prange(threads):
        F = np.empty((n, C, block), proto.dtype)
        E0 = np.empty((C, BLOCK), proto.dtype)  # rows of a compile-time stride (block <= BLOCK)
        E = np.empty((C, BLOCK), proto.dtype)
        z = np.empty(BLOCK, proto.dtype)
        word = np.empty(1)
        bits = word.view(np.int64)
        for k in range(thread, count, threads):
            s0, real, y = first[k], size[k], labels[group[k]]
            m = (real + 7) // 8 * 8  # padded to whole vectors (as _load): factors 1, margins 0, log terms 0
            for j in range(n):
                for c in range(C):
                    if c == y:
                        continue
                    # the exponents in float64, the exponential in the walk's type (float32's is twice as fast)
                    if rank_one:
                        a = np.float64(W[j, c]) - np.float64(W[j, y])
                        h = H[j, s0 : s0 + real]
                        for s in range(real):
                            F[j, c, s] = np.exp(proto.dtype.type(a * np.float64(h[s])))
                    else:
                        d = D[j, c, s0 : s0 + real]
                        for s in range(real):
                            F[j, c, s] = np.exp(proto.dtype.type(d[s]))
                    F[j, c, real:m] = 1.0
            z[:m] = 1.0
            for c in range(C):
                if c == y:
                    continue
                for s in range(real):
                    E0[c, s] = np.exp(np.float64(B[c]) - np.float64(B[y])) if rank_one else np.exp(np.float64(M0[c, s0 + s]))
                    z[s] += E0[c, s]
                E0[c, real:m] = 0.0
            start = -_sum_log(z, real, True, word, bits)
            for p in range(P):
                for c in range(C):
                    if c != y:
                        E[c, :m] = E0[c, :m]
                out[thread, p, 0] += start
                for t in range(n):
                    j = perms[p, t]
                    z[:m] = 1.0
                    for c in range(C):
                        if c == y:
                            continue
                        e, f = E[c], F[j, c]
                        for s in range(m):
                            v = e[s] * f[s]
                            e[s] = v
                            z[s] += v
                    out[thread, p, t + 1] -= _sum_log(z, m, checked, word, bits)
    return out.sum(0)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _gray_correct(H, D, M0, starts, labels, low, block, rank_one):  # pragma: no cover - compiled
    """The high n-low bits are fixed per parallel task, whose margins are recomputed from scratch (bounding
    floating-point drift); the low bits are walked in Gray-code order, one player added or removed per step."""
    n = H.shape[0]
    C = M0.shape[0]
    first, size, group = _blocks(starts, labels, block)
    out = np.zeros((1 << n, len(labels)), np.int64)
    for hi_bits in prange(1 << (n - low)):
        base = hi_bits << low
        M, lo, hi, Hb, Db, Mb = _buffers(n, C, block, rank_one)
        for k in range(len(first)):
            g = group[k]
            y = labels[g]
            real = size[k]
            m = _load(Hb, Db, Mb, H, D, M0, y, first[k], real, C, rank_one)
            correct = _reset(M, lo, hi, Mb, y, m, real, C)
            for j in range(low, n):
                if (base >> j) & 1:
                    correct = _add_player(M, lo, hi, Hb, D, Db, j, y, m, real, C, np.float32(1.0), rank_one)
            out[base, g] += correct
            code = 0
            for step in range(1, 1 << low):
                j = 0
                while not (step >> j) & 1:
                    j += 1
                code ^= 1 << j
                sign = np.float32(1.0) if (code >> j) & 1 else np.float32(-1.0)
                out[base | code, g] += _add_player(M, lo, hi, Hb, D, Db, j, y, m, real, C, sign, rank_one)
    return out


# ---- per-sample permutations: units of UNIT samples, each walking permutations of its own ----------------------
UNIT = 8
"""Samples per unit of the per-sample walk (one vector of float32 on AVX2): every unit walks its own permutations.
A game whose measure is a weighted count of correct samples is a sum over samples, so its Shapley values are the
sum of the samples' own; samples that share permutations have strongly correlated marginal contributions (a player
early in a permutation helps many samples at once), which independent permutations per unit of 8 samples of mixed
labels remove (benchmarks/unit_variance.py)."""
UNIT_TERMS_BYTES = 1 << 26
"""The per-thread copy of a unit's margin terms (players x classes x UNIT float32) is at most this; larger games take
the shared walk."""


@njit(cache=True, inline="always")
def _splitmix(state):  # pragma: no cover - compiled
    """splitmix64: the next state and its 64-bit output (Steele, Lea and Flood 2014)."""
    state = (state + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = state
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    return state, z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _shuffle(order, state):  # pragma: no cover - compiled
    """A uniformly random permutation of ``order`` in place (Fisher-Yates; bounded draws by Lemire's multiply-shift
    with rejection, so no index is favoured); returns the generator's state."""
    n = len(order)
    for i in range(n - 1, 0, -1):
        bound = np.uint64(i + 1)
        threshold = (np.uint64(0x100000000) - bound) % bound
        while True:
            state, x = _splitmix(state)
            x = x >> np.uint64(32)
            m = x * bound
            if (m & np.uint64(0xFFFFFFFF)) >= threshold:
                break
        r = np.int64(m >> np.uint64(32))
        order[i], order[r] = order[r], order[i]
    return state


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _unit_walk(H, D, M0, ys, weights, lanes, ends, perms, seeds, count, rank_one, threads, loglik, proto):  # pragma: no cover
    """Sum over units of each unit's marginal contributions (P, n), every unit walking its own permutations: the
    rows of ``perms`` (Q x P x n, Q = 1: the same for every unit, or one set per unit), or, where ``seeds`` is
    given (one per unit), ``count`` permutations drawn here, each even row random and each odd row the reverse of
    the one before (antithetic pairs). A unit's part of the measure is the weighted sum over its samples of
    correctness (accuracy) or, with ``loglik``, of the log-likelihood of the label; its parts of the empty and the
    full coalition are ``ends`` (K x 2, from the plain evaluation), so the marginals of every permutation sum to
    the plain path's difference.

    A unit keeps its margins M[c * UNIT + v] (class c, lane v) and a copy of its players' margin terms in that
    layout, so a step adds one contiguous row. Accuracy: the maxima over the classes below and above each lane's
    label are running maxima along the row at distance UNIT (R[i + UNIT] = max(R[i], M[i] + mask[i])), which
    vectorises. Log-likelihood (in ``proto``'s float type, as the shared walk's): the row holds E = exp(M) (0 on
    the label's row), a step multiplies it by the players' factors exp(terms), and running sums at distance UNIT
    give each lane's 1 + sum_c E; the unit's part is -sum_v w_v log of that, one log of the product of the eight
    where the unit's weights are equal and the float32 bound keeps the product finite."""
    K = lanes.shape[0]
    n = H.shape[0] if rank_one else D.shape[0]
    C = M0.shape[0]
    CV = C * UNIT
    generate = len(seeds) > 0
    P = count if generate else perms.shape[1]
    product = proto.itemsize == 4  # float32 walk: each 1 + sum E < 1e36, eight of them < 1e288
    threads = max(1, min(threads, K))
    out = np.zeros((threads, P, n))
    for thread in prange(threads):
        T = np.zeros((n, CV), proto.dtype)  # accuracy: margin terms; log-likelihood: their exponentials
        base = np.empty(CV, proto.dtype)
        mlo = np.empty(CV, proto.dtype)
        mhi = np.empty(CV, proto.dtype)
        M = np.empty(CV, proto.dtype)
        Rl = np.full(CV + UNIT, LOWEST, proto.dtype)  # log-likelihood: running sums, Rl[:UNIT] = 1
        Rh = np.full(CV + UNIT, LOWEST, proto.dtype)
        if loglik:
            Rl[:UNIT] = 1.0
        wt = np.zeros(UNIT)
        order = np.empty(n, np.int64)
        for k in range(thread, K, threads):
            equal = True  # every real lane has the first real lane's weight, ``shared``
            shared = 0.0
            first = True
            for v in range(UNIT):
                s = lanes[k, v]
                if s < 0:  # padding: zero terms, margins 1 above every label (never correct), weight 0
                    wt[v] = 0.0
                    for c in range(C):
                        for j in range(n):
                            T[j, c * UNIT + v] = 1.0 if loglik else 0.0
                        base[c * UNIT + v] = 0.0 if loglik else 1.0
                        mlo[c * UNIT + v] = LOWEST
                        mhi[c * UNIT + v] = 0.0
                    continue
                y = ys[s]
                wt[v] = weights[s]
                if first:
                    shared, first = wt[v], False
                equal = equal and wt[v] == shared
                for c in range(C):
                    i = c * UNIT + v
                    for j in range(n):
                        term = np.float64(D[y, j, c]) * np.float64(H[j, s]) if rank_one else np.float64(D[j, c, s])
                        T[j, i] = np.exp(proto.dtype.type(term)) if loglik else proto.dtype.type(term)
                    margin = np.float64(M0[y, c]) if rank_one else np.float64(M0[c, s])
                    base[i] = (0.0 if c == y else np.exp(margin)) if loglik else margin
                    mlo[i] = 0.0 if c < y else LOWEST
                    mhi[i] = 0.0 if c > y else LOWEST
            fast_log = loglik and product and equal
            state = np.uint64(seeds[k]) if generate else np.uint64(0)
            q = k if perms.shape[0] > 1 else 0
            for p in range(P):
                if not generate:
                    for t in range(n):
                        order[t] = perms[q, p, t]
                elif p % 2 == 0:
                    for t in range(n):
                        order[t] = t
                    state = _shuffle(order, state)
                else:
                    for t in range(n // 2):
                        order[t], order[n - 1 - t] = order[n - 1 - t], order[t]
                for i in range(CV):
                    M[i] = base[i]
                before = ends[k, 0]
                for t in range(n - 1):
                    j = order[t]
                    part = 0.0
                    if loglik:
                        for i in range(CV):
                            e = M[i] * T[j, i]
                            M[i] = e
                            Rl[i + UNIT] = Rl[i] + e
                        if fast_log:
                            z = 1.0
                            for v in range(UNIT):
                                z *= np.float64(Rl[CV + v])
                            part = -shared * math.log(z)
                        else:
                            for v in range(UNIT):
                                if wt[v] != 0.0:
                                    part -= wt[v] * math.log(np.float64(Rl[CV + v]))
                    else:
                        for i in range(CV):
                            x = M[i] + T[j, i]
                            M[i] = x
                            a = x + mlo[i]
                            b = x + mhi[i]
                            pa = Rl[i]
                            pb = Rh[i]
                            Rl[i + UNIT] = a if a > pa else pa
                            Rh[i + UNIT] = b if b > pb else pb
                        for v in range(UNIT):
                            part += wt[v] * ((Rl[CV + v] < 0) & (Rh[CV + v] <= 0))
                    out[thread, p, j] += part - before
                    before = part
                if n > 0:
                    out[thread, p, order[n - 1]] += ends[k, 1] - before
    return out.sum(0)
