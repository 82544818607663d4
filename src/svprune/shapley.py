"""Shapley value estimators (SPEC section 2): exact enumeration, the paper's permutation (eq. 4) and subset
(eq. 3) sampling, and two better estimators from the literature on the same budget: antithetic permutations
(each permutation paired with its reverse) and stratified sampling by coalition size.

Every estimator takes a game, a budget and a seed, and returns a :class:`ShapleyEstimate` with the values,
their standard errors and the number of coalition evaluations spent. Same seed, same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import lgamma

import numpy as np

from svprune.checks import check_count, check_tolerance
from svprune.games.base import Game, as_game, check_exact_size

ESTIMATORS = ("exact", "permutation", "antithetic", "subset", "stratified")
PERMUTATION_BATCH = 256
"""Permutations evaluated per call of the game: bounds memory whatever the total number of permutations."""


@dataclass(frozen=True)
class ShapleyEstimate:
    """Estimated Shapley values of a game's players.

    ``values[i]``: phi(i); ``stderr[i]``: its standard error (0 for exact values); ``n_evaluations``:
    coalitions evaluated; ``n_samples``: permutations (permutation, antithetic) or samples per player
    (subset, stratified) actually used; ``grand_value``: v(U).
    """

    values: np.ndarray
    stderr: np.ndarray
    n_evaluations: int
    method: str
    n_samples: int
    grand_value: float
    extra: dict = field(default_factory=dict)
    empty_value: float = 0.0

    @property
    def total(self) -> float:
        """v(U) - v(empty): what the values share (efficiency)."""
        return self.grand_value - self.empty_value

    def normalized(self) -> tuple[np.ndarray, bool]:
        """phi / (v(U) - v(empty)) while that is > 0 (values then sum to 1), else the raw values; and whether it
        normalised."""
        if self.total > 0:
            return self.values / self.total, True
        return self.values.copy(), False


def _log_weights(n: int) -> np.ndarray:
    """log of |S|!(n-|S|-1)!/n! for |S| = 0..n-1: the Shapley weight of one coalition of that size."""
    return np.array([lgamma(k + 1) + lgamma(n - k) - lgamma(n + 1) for k in range(n)])


def shapley_from_table(table: np.ndarray) -> np.ndarray:
    """Exact Shapley values from the payoffs of all 2^n coalitions (indexed by bitmask)."""
    n = int(np.log2(len(table)))
    masks = np.arange(len(table), dtype=np.int64)
    sizes = np.bitwise_count(masks.astype(np.uint64)).astype(np.int64)
    weights = np.exp(_log_weights(n)) if n else np.zeros(0)
    phi = np.empty(n)
    for i in range(n):
        without = masks[((masks >> i) & 1) == 0]
        phi[i] = np.dot(weights[sizes[without]], table[without | (1 << i)] - table[without])
    return phi


def exact(game: Game) -> ShapleyEstimate:
    """Exact Shapley values by enumeration of all 2^n coalitions (n <= 20)."""
    game = as_game(game)
    check_exact_size(game.n_players)
    table = game.all_values()
    n = game.n_players
    return ShapleyEstimate(
        values=shapley_from_table(table),
        stderr=np.zeros(n),
        n_evaluations=1 << n,
        method="exact",
        n_samples=1 << n,
        grand_value=float(table[-1]),
        empty_value=float(table[0]),
    )


def _random_permutations(rng: np.random.Generator, count: int, n: int, antithetic: bool) -> np.ndarray:
    if not antithetic:
        return rng.permuted(np.tile(np.arange(n), (count, 1)), axis=1)
    half = rng.permuted(np.tile(np.arange(n), ((count + 1) // 2, 1)), axis=1)
    both = np.empty((2 * len(half), n), dtype=half.dtype)
    both[0::2] = half
    both[1::2] = half[:, ::-1]
    return both[:count]


def permutation(
    game: Game,
    n_permutations: int = 100,
    seed: int = 0,
    antithetic: bool = False,
    tolerance: float | None = None,
    min_permutations: int = 32,
) -> ShapleyEstimate:
    """Permutation sampling (the paper's eq. 4): the mean marginal contribution over random orders.

    ``antithetic``: pair every permutation with its reverse (a player early in one is late in the other),
    and compute standard errors from the pair means. ``tolerance``: sample in batches until every standard
    error is at most ``tolerance`` (after at least ``min_permutations``), with ``n_permutations`` as the cap.
    Efficiency holds by construction: each permutation's marginals sum to v(U).
    """
    game = as_game(game)
    n = game.n_players
    check_count(n_permutations, "n_permutations", minimum=1)
    tolerance = check_tolerance(tolerance)
    if antithetic and n_permutations % 2:
        n_permutations += 1  # complete the last pair
    rng = np.random.default_rng(seed)
    unit_sum = np.zeros(n)
    unit_sq = np.zeros(n)
    units = 0  # independent units: permutations, or pairs when antithetic
    done = 0
    grand = float(game.value(np.ones((1, n), dtype=bool))[0])
    rows = np.arange(PERMUTATION_BATCH)[:, None]
    stderr = np.full(n, np.inf)
    while done < n_permutations:
        count = min(PERMUTATION_BATCH, n_permutations - done)
        perms = _random_permutations(rng, count, n, antithetic)
        prefixes = game.prefix_values(perms)
        empty = float(prefixes[0, 0])
        marg = np.diff(prefixes, axis=1)
        contrib = np.empty((count, n))
        contrib[rows[:count], perms] = marg
        if antithetic:
            contrib = 0.5 * (contrib[0::2] + contrib[1::2])
        unit_sum += contrib.sum(0)
        unit_sq += (contrib**2).sum(0)
        units += len(contrib)
        done += count
        mean = unit_sum / units
        if units > 1:
            var = np.maximum(unit_sq - units * mean**2, 0.0) / (units - 1)
            stderr = np.sqrt(var / units)
        if tolerance is not None and done >= min_permutations and units > 1 and stderr.max() <= tolerance:
            break
    values = unit_sum / units if units else np.zeros(n)
    return ShapleyEstimate(
        values=values,
        stderr=stderr if units > 1 else np.full(n, np.nan),
        n_evaluations=done * max(n - 1, 0) + 2,
        method="antithetic" if antithetic else "permutation",
        n_samples=done,
        grand_value=grand,
        extra={"tolerance": tolerance},
        empty_value=empty,
    )


def _evaluate_unique(game: Game, coalitions: np.ndarray) -> tuple[np.ndarray, int]:
    """Payoffs of a stack of coalitions, each distinct coalition evaluated once; also the count evaluated."""
    packed = np.packbits(coalitions, axis=1)
    unique, inverse = np.unique(packed, axis=0, return_inverse=True)
    distinct = np.unpackbits(unique, axis=1, count=coalitions.shape[1]).astype(bool)
    return game.value(distinct)[inverse.reshape(-1)], len(distinct)


def _no_players(game: Game, method: str) -> ShapleyEstimate:
    """A game without players: no values, and v(U) = v(empty)."""
    grand = float(game.value(np.zeros((1, 0), dtype=bool))[0])
    return ShapleyEstimate(np.zeros(0), np.zeros(0), 1, method, 0, grand, empty_value=grand)


def subset(game: Game, n_samples: int = 500, seed: int = 0) -> ShapleyEstimate:
    """Subset sampling (the paper's eq. 3): for each player i, coalitions S drawn uniformly from the subsets
    of U without i, marginals v(S+i) - v(S) weighted by |S|!(n-|S|-1)! and self-normalised. Standard errors
    by the delta method for self-normalised importance sampling."""
    game = as_game(game)
    n = game.n_players
    check_count(n_samples, "n_samples", minimum=1)
    if n == 0:
        return _no_players(game, "subset")
    rng = np.random.default_rng(seed)
    without = rng.random((n, n_samples, n)) < 0.5
    idx = np.arange(n)
    without[idx, :, idx] = False
    with_i = without.copy()
    with_i[idx, :, idx] = True
    payoffs, evaluated = _evaluate_unique(game, np.concatenate([without, with_i]).reshape(-1, n))
    payoffs = payoffs.reshape(2, n, n_samples)
    diffs = payoffs[1] - payoffs[0]
    log_w = _log_weights(n)[without.sum(-1)]  # (n, samples)
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    wsum = w.sum(1)
    values = (w * diffs).sum(1) / wsum
    stderr = np.sqrt((w**2 * (diffs - values[:, None]) ** 2).sum(1)) / wsum
    grand, empty = game.value(np.stack([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)]))
    return ShapleyEstimate(values, stderr, evaluated, "subset", n_samples, float(grand), empty_value=float(empty))


def _stratum_allocation(n: int, n_samples: int) -> np.ndarray:
    """Samples per coalition size 0..n-1 for one player: sizes 0 and n-1 have one coalition each (sampled
    once, exactly); the rest of the budget is spread evenly over the other sizes, at least 2 each."""
    alloc = np.ones(n, dtype=np.int64)
    inner = np.arange(1, n - 1)
    if len(inner):
        rest = max(n_samples - min(n, 2), 2 * len(inner))
        alloc[inner] = rest // len(inner)
        alloc[inner[: rest % len(inner)]] += 1
    return alloc


def stratified(game: Game, n_samples: int = 500, seed: int = 0) -> ShapleyEstimate:
    """Stratified sampling by coalition size (Maleki et al. 2013): phi(i) is the average over sizes k of the
    mean marginal contribution to a uniformly drawn coalition of size k; each size gets an equal share of the
    budget, and the one-coalition sizes (0 and n-1) are computed exactly."""
    game = as_game(game)
    n = game.n_players
    check_count(n_samples, "n_samples", minimum=1)
    if n == 0:
        return _no_players(game, "stratified")
    rng = np.random.default_rng(seed)
    alloc = _stratum_allocation(n, n_samples)
    total = int(alloc.sum())
    sizes = np.repeat(np.arange(n), alloc)  # (total,): the coalition size of each sample
    without = np.zeros((n, total, n), dtype=bool)
    for i in range(n):
        others = np.delete(np.arange(n), i)
        ranks = rng.random((total, n - 1)).argsort(axis=1).argsort(axis=1)
        without[i][:, others] = ranks < sizes[:, None]
    idx = np.arange(n)
    with_i = without.copy()
    with_i[idx, :, idx] = True
    payoffs, evaluated = _evaluate_unique(game, np.concatenate([without, with_i]).reshape(-1, n))
    payoffs = payoffs.reshape(2, n, total)
    diffs = payoffs[1] - payoffs[0]
    bounds = np.concatenate([[0], np.cumsum(alloc)])
    strata = list(zip(bounds[:-1], bounds[1:]))
    means = np.stack([diffs[:, a:b].mean(1) for a, b in strata], 1)
    variances = np.stack([diffs[:, a:b].var(1, ddof=1) if b - a > 1 else np.zeros(n) for a, b in strata], 1)
    values = means.mean(1)
    stderr = np.sqrt((variances / alloc[None, :]).sum(1)) / n
    grand, empty = game.value(np.stack([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)]))
    return ShapleyEstimate(values, stderr, evaluated, "stratified", total, float(grand), empty_value=float(empty))


def shapley_values(
    game,
    method: str = "permutation",
    budget: int = 100,
    seed: int = 0,
    tolerance: float | None = None,
    n_players: int | None = None,
) -> ShapleyEstimate:
    """Estimate Shapley values by name. ``game``: a :class:`Game`, any object with ``n_players`` and
    ``value(coalitions)``, or a function of a boolean coalition matrix (then give ``n_players``); v(empty) may
    be non-zero. ``budget``: permutations (permutation, antithetic) or samples per player (subset,
    stratified); ignored by exact. ``tolerance``: adaptive stopping (permutation family)."""
    game = as_game(game, n_players)
    if method not in ESTIMATORS:
        raise ValueError(f"unknown Shapley estimator {method!r}; choose one of {', '.join(ESTIMATORS)}")
    check_count(budget, "budget", minimum=1)
    tolerance = check_tolerance(tolerance)
    if method == "exact":
        return exact(game)
    if method in ("permutation", "antithetic"):
        return permutation(game, budget, seed, antithetic=method == "antithetic", tolerance=tolerance)
    if tolerance is not None:
        raise ValueError(f"tolerance (adaptive budget) is supported by permutation and antithetic, not {method!r}")
    if method == "subset":
        return subset(game, budget, seed)
    if method == "stratified":
        return stratified(game, budget, seed)
    raise ValueError(f"unknown Shapley estimator {method!r}; choose one of {', '.join(ESTIMATORS)}")
