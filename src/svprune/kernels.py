"""Fused native kernels for the fast paths of a neuron game whose player layer feeds a linear read-out.

With cached player activations H (n players x N samples), read-out weights W (C x n) and bias b, the logits
of coalition S are b + sum_{j in S} W[:, j] * H[j]. Adding one player is a rank-one update, so a permutation
walk or a Gray-code walk over all coalitions costs O(N * C) per coalition instead of a forward pass.
The kernels keep the running logits of a block of samples in a small local array (cache-resident,
vectorised over samples) and count, per coalition, the samples whose first arg-max is the label (the same
tie rule as ``torch.argmax``). numba compiles them once and caches the machine code on disk.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

BLOCK = 256


@njit(cache=True, inline="always")
def _count_correct(L, y, s0, m, best, arg):  # pragma: no cover - compiled
    C = L.shape[0]
    for s in range(m):
        best[s] = L[0, s]
        arg[s] = 0
    for c in range(1, C):
        for s in range(m):
            v = L[c, s]
            if v > best[s]:
                best[s] = v
                arg[s] = c
    total = 0
    for s in range(m):
        if arg[s] == y[s0 + s]:
            total += 1
    return total


@njit(parallel=True, cache=True)
def prefix_correct(HT, W, b, y, perms):  # pragma: no cover - compiled
    """out[p, t] = number of correctly classified samples with the first t players of perms[p] active."""
    P, n = perms.shape
    C = W.shape[0]
    N = HT.shape[1]
    out = np.zeros((P, n + 1), np.int64)
    for p in prange(P):
        L = np.empty((C, BLOCK), np.float32)
        best = np.empty(BLOCK, np.float32)
        arg = np.empty(BLOCK, np.int64)
        for s0 in range(0, N, BLOCK):
            m = min(BLOCK, N - s0)
            for c in range(C):
                bc = b[c]
                for s in range(m):
                    L[c, s] = bc
            out[p, 0] += _count_correct(L, y, s0, m, best, arg)
            for t in range(n):
                j = perms[p, t]
                for c in range(C):
                    w = W[c, j]
                    for s in range(m):
                        L[c, s] += w * HT[j, s0 + s]
                out[p, t + 1] += _count_correct(L, y, s0, m, best, arg)
    return out


@njit(parallel=True, cache=True)
def gray_correct(HT, W, b, y, low):  # pragma: no cover - compiled
    """out[mask] = correctly classified samples for every coalition bitmask of n = HT.shape[0] players.

    The high n-low bits are fixed per parallel task (its logits recomputed from scratch, which bounds
    floating-point drift); the low bits are walked in Gray-code order, one rank-one update per coalition.
    """
    n = HT.shape[0]
    C = W.shape[0]
    N = HT.shape[1]
    out = np.zeros(1 << n, np.int64)
    for hi in prange(1 << (n - low)):
        base = hi << low
        L = np.empty((C, BLOCK), np.float32)
        best = np.empty(BLOCK, np.float32)
        arg = np.empty(BLOCK, np.int64)
        for s0 in range(0, N, BLOCK):
            m = min(BLOCK, N - s0)
            for c in range(C):
                bc = b[c]
                for s in range(m):
                    L[c, s] = bc
            for j in range(low, n):
                if (base >> j) & 1:
                    for c in range(C):
                        w = W[c, j]
                        for s in range(m):
                            L[c, s] += w * HT[j, s0 + s]
            out[base] += _count_correct(L, y, s0, m, best, arg)
            g = 0
            for k in range(1, 1 << low):
                j = 0
                while not (k >> j) & 1:
                    j += 1
                g ^= 1 << j
                sign = np.float32(1.0) if (g >> j) & 1 else np.float32(-1.0)
                for c in range(C):
                    w = sign * W[c, j]
                    for s in range(m):
                        L[c, s] += w * HT[j, s0 + s]
                out[base | g] += _count_correct(L, y, s0, m, best, arg)
    return out
