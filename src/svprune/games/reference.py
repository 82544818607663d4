"""Reference games with known Shapley values, for tests and the estimator study (docs/definitions.md, "Estimators")."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from svprune.games.base import Game, bool_to_masks, check_exact_size


class TableGame(Game):
    """A game given by an explicit payoff for each of the 2^n coalitions (small n)."""

    def __init__(self, payoffs: Mapping[frozenset | tuple | str, float] | Sequence[float], players: Sequence[str] | None = None):
        """``payoffs``: either a sequence of 2^n values indexed by bitmask, or a mapping from coalitions
        (tuples/frozensets of player names or indices, or strings of one-letter names) to values.
        Missing coalitions are an error; v(empty) must be 0 (payoffs are differences to the empty coalition).
        """
        if isinstance(payoffs, Mapping):
            if players is None:
                names: set = set()
                for key in payoffs:
                    names.update(key)
                players = sorted(names, key=str)
            players = list(players)
            n = len(players)
            index = {p: i for i, p in enumerate(players)}
            table = np.full(1 << n, np.nan)
            for key, val in payoffs.items():
                mask = 0
                for member in key:
                    if member not in index:
                        raise ValueError(f"coalition {key!r} names unknown player {member!r}; players: {players}")
                    mask |= 1 << index[member]
                table[mask] = float(val)
            missing = np.flatnonzero(np.isnan(table))
            if len(missing):
                example = [players[i] for i in range(n) if (missing[0] >> i) & 1]
                raise ValueError(f"{len(missing)} coalition payoffs are missing, e.g. for {example}")
        else:
            table = np.asarray(payoffs, dtype=float)
            n = int(round(math.log2(len(table)))) if len(table) else -1
            if n < 0 or len(table) != 1 << n:
                raise ValueError(f"a payoff table needs 2^n entries; got {len(table)}")
            players = list(players) if players is not None else [str(i) for i in range(n)]
        if table[0] != 0:
            raise ValueError(f"v(empty) must be 0 (payoffs are v(S) = m(S) - m(empty)); got {table[0]}")
        check_exact_size(n)
        self.players = players
        self.n_players = n
        self.table = table

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        return self.table[bool_to_masks(self._check(coalitions))]

    def all_values(self) -> np.ndarray:
        return self.table.copy()


def paper_example() -> TableGame:
    """The three-player example of the paper (section 3.1): Shapley values (1.5, 2, 1.5)."""
    return TableGame(
        {"": 0, "A": 1, "B": 2, "C": 2, "AB": 4, "AC": 3, "BC": 3, "ABC": 5},
        players=["A", "B", "C"],
    )


class SecurityCouncilGame(Game):
    """The UN Security Council voting game: a coalition wins (v=1) with all permanent members and at
    least ``quota_other`` of the others. Exact values for 5 + 10 members and quota 4: 421/2145 for each
    permanent member, 4/2145 for each other member. Players 0..n_permanent-1 are the permanent ones."""

    def __init__(self, n_permanent: int = 5, n_other: int = 10, quota_other: int = 4):
        self.n_permanent = n_permanent
        self.n_other = n_other
        self.quota_other = quota_other
        self.n_players = n_permanent + n_other

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        c = self._check(coalitions)
        wins = c[:, : self.n_permanent].all(axis=1) & (c[:, self.n_permanent :].sum(axis=1) >= self.quota_other)
        return wins.astype(float)


class PerturbedUniformGame(TableGame):
    """v(S) = |S|/n + a small random perturbation per coalition (v(empty) = 0), tabulated for exact values.

    The paper's "randomly perturbed uniform" game: almost uniform contributions, exact values by enumeration.
    """

    def __init__(self, n_players: int = 10, noise: float = 0.01, seed: int = 0):
        check_exact_size(n_players)
        rng = np.random.default_rng(seed)
        masks = np.arange(1 << n_players)
        sizes = np.bitwise_count(masks.astype(np.uint64)).astype(float)
        table = sizes / n_players + rng.uniform(-noise, noise, size=len(masks))
        table[0] = 0.0
        super().__init__(table)


class UnanimityGame(TableGame):
    """v(S) = 1 when S contains all of ``carrier``, else 0: each carrier member gets 1/|carrier|, others 0
    (dummy players)."""

    def __init__(self, n_players: int, carrier: Sequence[int]):
        check_exact_size(n_players)
        carrier_mask = 0
        for i in carrier:
            carrier_mask |= 1 << int(i)
        masks = np.arange(1 << n_players)
        super().__init__(((masks & carrier_mask) == carrier_mask).astype(float))


class UnanimitySumGame(Game):
    """A sum of weighted unanimity games, v(S) = sum_k c_k [T_k subset of S], of any size: each carrier T_k's
    weight is shared equally by its members, so the exact Shapley values are phi_i = sum_{k: i in T_k} c_k/|T_k|
    (closed form, no enumeration). Random carriers of sizes 1..``max_size`` with weights uniform in [0, 1];
    v(empty) = 0 unless a carrier is empty. The estimator study's 40-player games."""

    def __init__(self, n_players: int = 40, n_terms: int = 50, max_size: int = 8, seed: int = 0):
        if n_players < 1 or n_terms < 1 or not 1 <= max_size <= n_players:
            raise ValueError(f"need n_players >= 1, n_terms >= 1 and 1 <= max_size <= n_players; got "
                             f"{n_players}, {n_terms}, {max_size}")
        rng = np.random.default_rng(seed)
        self.n_players = n_players
        sizes = rng.integers(1, max_size + 1, size=n_terms)
        self.carriers = np.zeros((n_terms, n_players), dtype=bool)
        for k, size in enumerate(sizes):
            self.carriers[k, rng.choice(n_players, size, replace=False)] = True
        self.weights = rng.uniform(0, 1, size=n_terms)

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        # members of each carrier in each coalition, counted by a float32 product (BLAS; exact: counts <= n < 2^24)
        c = self._check(coalitions).astype(np.float32)
        contained = c @ self.carriers.T.astype(np.float32) == self.carriers.sum(1)
        return contained.astype(float) @ self.weights

    def exact_values(self) -> np.ndarray:
        share = self.weights / self.carriers.sum(1)
        return share @ self.carriers


class WeightedVotingGame(Game):
    """A weighted voting game: v(S) = 1 when the integer weights of S sum to at least ``quota``, else 0. Exact
    Shapley values of any size by dynamic programming (Mann and Shapley 1962): phi_i is the Shapley-weighted
    number of coalitions without i, counted by size and total weight, that i turns from losing to winning, in
    O(n^2 x total weight) per player. Its small players pivot rarely, which tests whether standard errors stay
    honest when a player's marginal contribution is almost always 0."""

    def __init__(self, weights: Sequence[int], quota: int):
        weights = np.asarray(weights)
        if weights.ndim != 1 or not len(weights) or not np.issubdtype(weights.dtype, np.integer) or (weights < 0).any():
            raise ValueError("weights must be a non-empty list of non-negative integers")
        if not 0 < int(quota) <= int(weights.sum()):
            raise ValueError(f"quota must lie in 1..{int(weights.sum())} (the total weight); got {quota}")
        self.weights, self.quota, self.n_players = weights.astype(np.int64), int(quota), len(weights)

    @classmethod
    def random(cls, n_players: int = 60, seed: int = 0) -> WeightedVotingGame:
        """Weights drawn from a heavy-tailed law (a few large players, many small), quota half the total + 1."""
        rng = np.random.default_rng(seed)
        weights = np.maximum(1, np.round(rng.pareto(1.5, n_players) * 3)).astype(np.int64)
        return cls(weights, int(weights.sum()) // 2 + 1)

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        c = self._check(coalitions)
        return (c.astype(np.int64) @ self.weights >= self.quota).astype(float)

    def exact_values(self) -> np.ndarray:
        n, total = self.n_players, int(self.weights.sum())
        shapley_weight = np.exp([math.lgamma(s + 1) + math.lgamma(n - s) - math.lgamma(n + 1) for s in range(n)])
        phi = np.zeros(n)
        for i in range(n):
            counts = np.zeros((n, total + 1))  # counts[s, w]: coalitions of the others of size s and weight w
            counts[0, 0] = 1.0
            for j in np.delete(np.arange(n), i):
                w = int(self.weights[j])
                if w:
                    counts[1:, w:] += counts[:-1, : total + 1 - w].copy()
                else:
                    counts[1:] += counts[:-1].copy()
            low, high = max(self.quota - int(self.weights[i]), 0), self.quota  # losing without i, winning with
            phi[i] = shapley_weight @ counts[:, low:high].sum(1)
        return phi
