"""Coalition designs for the regression and stratified estimators: coalition sizes enumerated completely where
the budget allows (the border trick of shapiq: sizes near 0 and n have few coalitions), the other sizes sampled
in complementary pairs (S with U minus S; SVARM draws them independently, :func:`draw_coalitions`) with a size
distribution of the estimator's choosing.

The regression design (:func:`build`) gives every coalition a weight ``c`` such that sum_S c(S) g(S) over the design is an unbiased
estimate of the sum of g over all coalitions of sizes 1..n-1: c = 1 for enumerated coalitions, and
1 / (2 m q(S)) for each of the m sampled pairs, with q(S) = p(|S|) / C(n, |S|).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np

from svprune.shapley.base import Oracle, log_binom


@dataclass
class Design:
    """Evaluated coalitions of a design: ``coalitions`` (rows), their payoffs, log weights log ``c`` (kept as
    logs: C(n, k) overflows for large n) and, for sampled rows, the index of the pair they belong to (-1 for
    enumerated rows). The enumerated rows come first, then the sampled ones, each pair's two rows consecutive."""

    n: int
    coalitions: np.ndarray
    payoffs: np.ndarray
    log_weights: np.ndarray
    pair: np.ndarray
    n_pairs: int
    complete_sizes: list[int]

    @property
    def sampled(self) -> np.ndarray:
        return self.pair >= 0


def plan_sizes(n: int, budget: int, size_weights: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Sizes to enumerate (while the expected number of samples of a size pair would cover it) and the
    sampling distribution over the remaining sizes (symmetric, zero elsewhere)."""
    left = budget
    remaining = set(range(1, n))
    complete: list[int] = []
    changed = True
    while changed and remaining:
        changed = False
        p = np.zeros(n + 1)
        idx = sorted(remaining)
        p[idx] = size_weights[idx]
        p /= p.sum()
        for k in range(1, n // 2 + 1):
            pair = sorted({k, n - k} & remaining)
            if not pair:
                continue
            count = sum(comb(n, s) for s in pair)
            if count <= left and left * p[pair].sum() >= count:
                complete += pair
                remaining -= set(pair)
                left -= count
                changed = True
            break  # only the outermost remaining pair is considered in each round
    p = np.zeros(n + 1)
    idx = sorted(remaining)
    if idx:
        p[idx] = size_weights[idx]
        p /= p.sum()
    return sorted(complete), p


def draw_coalitions(rng: np.random.Generator, n: int, p: np.ndarray, budget: int, paired: bool = True) -> np.ndarray:
    """Sampled coalitions, their sizes drawn from ``p`` and their members uniformly: complementary pairs (rows
    S_1, S_1^c, S_2, S_2^c, ...), or ``paired=False`` independent coalitions, as many as fit ``budget`` distinct
    evaluations: draws continue past duplicates (a coalition drawn twice counts twice and costs once)."""
    sizes = np.flatnonzero(p)
    width = 2 if paired else 1
    drawn: list[np.ndarray] = []
    seen: set[bytes] = set()
    new = 0
    for _ in range(64):
        batch = max(budget // width, 8)
        k = rng.choice(sizes, size=batch, p=p[sizes])
        ranks = rng.random((batch, n)).argsort(1).argsort(1)
        s = ranks < k[:, None]
        if paired:
            rows = np.empty((2 * batch, n), dtype=bool)
            rows[0::2], rows[1::2] = s, ~s
        else:
            rows = s
        keys = np.packbits(rows, axis=1)
        take = 0
        for j in range(batch):
            unit = {keys[width * j + i].tobytes() for i in range(width)}
            cost = len(unit - seen)
            if new + cost > budget:
                break
            seen |= unit
            new += cost
            take += 1
        drawn.append(rows[: width * take])
        if take < batch:
            break
    return np.concatenate(drawn) if drawn else np.zeros((0, n), dtype=bool)


def enumerate_sizes(n: int, sizes) -> np.ndarray:
    """Every coalition of each of ``sizes``, as boolean rows."""
    rows = [np.zeros((0, n), dtype=bool)]
    for k in sizes:
        members = np.array(list(combinations(range(n), k)), dtype=np.int64).reshape(-1, k)
        block = np.zeros((len(members), n), dtype=bool)
        block[np.arange(len(members))[:, None], members] = True
        rows.append(block)
    return np.concatenate(rows)


def build(oracle: Oracle, rng: np.random.Generator, size_weights: np.ndarray, min_pairs: int = 2) -> Design:
    """Enumerate the planned sizes, sample pairs for the rest, evaluate everything through the oracle."""
    n = oracle.n
    reserve = 2 * min_pairs
    complete, p = plan_sizes(n, max(oracle.left - reserve, 0), size_weights)
    enumerated = enumerate_sizes(n, complete)
    enum_payoffs = oracle.value(enumerated)
    sampled = draw_coalitions(rng, n, p, oracle.left) if p.any() else np.zeros((0, n), dtype=bool)
    m = len(sampled) // 2
    sizes = sampled.sum(1)
    log_q = np.log(np.maximum(p[sizes], 1e-300)) - log_binom(n, sizes)
    log_weights = np.concatenate([np.zeros(len(enumerated)), -log_q - np.log(2 * max(m, 1))])
    return Design(
        n=n,
        coalitions=np.concatenate([enumerated, sampled]),
        payoffs=np.concatenate([enum_payoffs, oracle.value(sampled)]),
        log_weights=log_weights,
        pair=np.concatenate([np.full(len(enumerated), -1), np.repeat(np.arange(m), 2)]),
        n_pairs=m,
        complete_sizes=complete,
    )


def min_budget(n: int) -> int:
    """The least budget of a paired design: v(empty), v(U) and two complementary pairs (or every coalition of a
    game with fewer)."""
    return 2 + min(4, max(2**n - 2, 0))


def kernel_size_weights(n: int) -> np.ndarray:
    """Total Shapley-kernel weight of each size (what KernelSHAP samples by): proportional to 1/(k(n-k))."""
    k = np.arange(n + 1, dtype=float)
    with np.errstate(divide="ignore"):
        w = 1.0 / (k * (n - k))
    w[[0, n]] = 0.0
    return w


def uniform_size_weights(n: int) -> np.ndarray:
    """Every size 1..n-1 equally likely (the leverage-score distribution of Leverage SHAP)."""
    w = np.ones(n + 1)
    w[[0, n]] = 0.0
    return w


def log_shapley_kernel(n: int, sizes: np.ndarray) -> np.ndarray:
    """log mu(S), mu(S) = (n-1) / (C(n,|S|) |S| (n-|S|)): the KernelSHAP weight of one coalition of that size."""
    sizes = np.asarray(sizes, dtype=float)
    return np.log(n - 1) - log_binom(n, sizes) - np.log(sizes * (n - sizes))
