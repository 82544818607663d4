"""Coalitional games, the base: a set of players and a payoff v(S) for every coalition S (docs/definitions.md, "Games").

A game evaluates a *batch* of coalitions at once: ``value(coalitions)`` takes a boolean array of shape
(batch, n_players) (or one coalition of shape (n_players,)) and returns the payoffs, shape (batch,). v(empty)
may be any number; the estimators evaluate it once.

Two further methods have generic implementations that games may override with faster ones:
``prefix_values(perms)`` (payoffs along permutations, what permutation sampling needs) and
``all_values()`` (payoffs of all 2^n coalitions, what exact enumeration needs).

A game whose payoff is a sum over units (of samples) may also offer ``sample_units`` (how many, > 0) and
``unit_marginals(seeds, count)``: the sum over its units of each unit's marginal contributions, every unit
walking ``count`` permutations of its own (antithetic pairs drawn from ``seeds[k]``), shape (count, n). The
``antithetic_samples`` estimator uses it; the network games offer it for accuracy and balanced accuracy.
"""

from __future__ import annotations


import numpy as np

MAX_EXACT_PLAYERS = 20
"""Largest game that is enumerated exactly (2^20 coalitions, about one million)."""


def masks_to_bool(masks: np.ndarray, n_players: int) -> np.ndarray:
    """Turn integer bitmasks (bit i = player i) into a boolean coalition matrix (len(masks), n_players)."""
    masks = np.asarray(masks, dtype=np.int64)
    return ((masks[:, None] >> np.arange(n_players, dtype=np.int64)[None, :]) & 1).astype(bool)


def bool_to_masks(coalitions: np.ndarray) -> np.ndarray:
    """Turn a boolean coalition matrix into integer bitmasks (n_players <= 62)."""
    coalitions = np.asarray(coalitions, dtype=bool)
    weights = np.left_shift(np.int64(1), np.arange(coalitions.shape[1], dtype=np.int64))
    return coalitions.astype(np.int64) @ weights


def as_coalitions(coalitions) -> np.ndarray:
    """A coalition matrix as booleans: boolean arrays as they are, integer arrays of 0s and 1s converted; anything
    else (0.5, 2, -1: not a membership) is refused rather than cast."""
    array = np.asarray(coalitions)
    if array.dtype == bool:
        return array
    if array.size and not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"coalitions must be booleans or 0/1 integers; got an array of {array.dtype}")
    if array.size and not np.isin(array, (0, 1)).all():
        bad = array[~np.isin(array, (0, 1))].ravel()[:3].tolist()
        raise ValueError(f"coalitions must be booleans or 0/1 integers (membership of each player); got values such "
                         f"as {bad}")
    if array.size and np.issubdtype(array.dtype, np.floating):
        raise ValueError("coalitions must be booleans or 0/1 integers; got floats (cast them with .astype(bool) "
                         "if they are 0.0/1.0 memberships)")
    return array.astype(bool)


def random_permutations(rng: np.random.Generator, count: int, n: int, antithetic: bool) -> np.ndarray:
    """``count`` random permutations of 0..n-1; antithetic: each followed by its reverse (count even)."""
    if not antithetic:
        return rng.permuted(np.tile(np.arange(n), (count, 1)), axis=1)
    half = rng.permuted(np.tile(np.arange(n), ((count + 1) // 2, 1)), axis=1)
    both = np.empty((2 * len(half), n), dtype=half.dtype)
    both[0::2] = half
    both[1::2] = half[:, ::-1]
    return both[:count]


def check_permutation_rows(perms, n: int) -> np.ndarray:
    """Permutations of 0..n-1, one per row, as int64; anything else is refused (a repeated player would give wrong
    values, not an error)."""
    perms = np.asarray(perms)
    if perms.size and not np.issubdtype(perms.dtype, np.integer):
        raise ValueError(f"permutations must be integer player indices; got {perms.dtype}")
    perms = perms.astype(np.int64, copy=False)
    if perms.ndim != 2 or perms.shape[1] != n:
        raise ValueError(f"permutations must have shape (count, {n}); got {perms.shape}")
    if perms.size and not (np.sort(perms, axis=1) == np.arange(n)).all():
        raise ValueError(f"every row must be a permutation of the players 0..{n - 1}")
    return perms


def positions(perms: np.ndarray) -> np.ndarray:
    """pos[p, i]: where player i stands in permutation p."""
    perms = np.asarray(perms, dtype=np.int64)
    pos = np.empty_like(perms)
    np.put_along_axis(pos, perms, np.arange(perms.shape[1])[None, :].repeat(len(perms), 0), axis=1)
    return pos


def prefix_coalitions(perms: np.ndarray) -> np.ndarray:
    """coalitions[p, t - 1]: the first t players of permutation p, for t = 1..n-1 (shape (P, n-1, n))."""
    n = np.shape(perms)[1]
    return positions(perms)[:, None, :] < np.arange(1, n)[None, :, None]


def check_exact_size(n_players: int) -> None:
    """Refuse enumeration of games too large for 2^n coalitions, with advice."""
    if n_players > MAX_EXACT_PLAYERS:
        raise ValueError(
            f"exact Shapley values enumerate all 2^n coalitions; n={n_players} players is more than "
            f"the supported {MAX_EXACT_PLAYERS} (2^{n_players} = {2**n_players:,} coalitions). "
            "Use a sampling estimator instead, e.g. estimator='permutation'."
        )


class Game:
    """Base class of coalitional games with payoffs v(S). v(empty) may be any number: the estimators take
    marginal contributions, so it cancels (the games on networks have v(empty) = 0 by construction)."""

    n_players: int
    fast_prefixes = False
    """Whether ``prefix_values`` is a fast walk of its own (estimators then use it instead of ``value``)."""
    sample_units = 0
    """Units of samples whose own permutations ``unit_marginals`` walks (0: the game has none)."""
    resolution = 0.0
    """How finely the payoffs are computed: the rounding that the game's arithmetic may leave in them and in its
    walks' sums (0 for exact arithmetic; a network game in float32 about 1.2e-7 x sqrt(n) x its measure's scale).
    Estimated standard errors are never below it: a value that rounding alone moves is not known more finely."""

    def unit_marginals(self, seeds: np.ndarray, count: int) -> np.ndarray:
        """The sum over the :attr:`sample_units` of each unit's marginal contributions along ``count`` permutations
        of its own (antithetic pairs: even rows random, odd rows their reverse; unit k's drawn from ``seeds[k]``),
        shape (count, n_players); each row sums to v(U) - v(empty)."""
        raise NotImplementedError(f"{type(self).__name__} has no sample units")

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        """Payoffs v(S) of a boolean coalition matrix of shape (batch, n_players); returns shape (batch,)."""
        raise NotImplementedError

    def _check(self, coalitions: np.ndarray) -> np.ndarray:
        coalitions = as_coalitions(coalitions)
        if coalitions.ndim == 1 and coalitions.shape[0] == self.n_players:
            coalitions = coalitions[None, :]  # one coalition
        if coalitions.ndim != 2 or coalitions.shape[1] != self.n_players:
            raise ValueError(
                f"coalitions must be a boolean array of shape (batch, {self.n_players}); "
                f"got shape {coalitions.shape}"
            )
        return coalitions

    def prefix_values(self, perms: np.ndarray) -> np.ndarray:
        """Payoffs of the prefixes of each permutation: out[p, t] = v(first t players of perms[p]).

        out[:, 0] is v(empty) and out[:, n] is v(U); both are evaluated once, not once per permutation.
        """
        perms = check_permutation_rows(perms, self.n_players)
        n_perm, n = perms.shape
        out = np.empty((n_perm, n + 1))
        out[:, 0] = self.value(np.zeros((1, n), dtype=bool))[0]
        if n == 0:
            return out
        out[:, n] = self.value(np.ones((1, n), dtype=bool))[0]
        if n > 1:
            out[:, 1:n] = self.value(prefix_coalitions(perms).reshape(-1, n)).reshape(n_perm, n - 1)
        return out

    def all_values(self) -> np.ndarray:
        """Payoffs of all 2^n coalitions, indexed by bitmask (bit i set = player i in S)."""
        check_exact_size(self.n_players)
        total = 1 << self.n_players
        out = np.empty(total)
        chunk = 1 << 14
        for start in range(0, total, chunk):
            masks = np.arange(start, min(total, start + chunk), dtype=np.int64)
            out[start : start + len(masks)] = self.value(masks_to_bool(masks, self.n_players))
        return out


class _GameAdapter(Game):
    """A game given as any object with ``n_players`` and ``value(coalitions)``, or as a function of a boolean
    coalition matrix. The optional parts of the protocol are used where the object has them: ``prefix_values(perms)``
    (payoffs along permutations; used by the permutation estimators when ``fast_prefixes`` is true, or absent),
    ``all_values()`` (payoffs of all 2^n coalitions) and ``sample_units`` with ``unit_marginals(seeds, count)``
    (used by ``antithetic_samples``) and ``resolution`` (the payoffs' rounding, a floor under the standard errors);
    their results are checked for shape and finiteness. Otherwise
    the base's generic paths evaluate coalitions through ``value``."""

    def __init__(self, source, n_players: int):
        if isinstance(n_players, bool) or not isinstance(n_players, (int, np.integer)) or n_players < 0:
            raise ValueError(f"n_players must be a whole number >= 0 (the number of players); got {n_players!r}")
        self.source, self.n_players = source, int(n_players)
        self._value = source if callable(source) and not hasattr(source, "value") else source.value
        own = getattr(source, "prefix_values", None)
        self._prefixes = own if callable(own) and getattr(source, "fast_prefixes", True) else None
        own_all = getattr(source, "all_values", None)
        self._all = own_all if callable(own_all) else None
        own_units = getattr(source, "unit_marginals", None)
        units = getattr(source, "sample_units", 0) if callable(own_units) else 0
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 0:
            raise ValueError(f"the game's sample_units must be a whole number >= 0; got {units!r}")
        self.sample_units, self._units = int(units), own_units
        resolution = getattr(source, "resolution", 0.0)
        if isinstance(resolution, bool) or not isinstance(resolution, (int, float, np.integer, np.floating)) \
                or not np.isfinite(resolution) or resolution < 0:
            raise ValueError(f"the game's resolution must be a finite number >= 0 (the rounding of its payoffs); "
                             f"got {resolution!r}")
        self.resolution = float(resolution)

    @property
    def fast_prefixes(self) -> bool:
        return self._prefixes is not None

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        coalitions = self._check(coalitions)
        out = np.asarray(self._value(coalitions), dtype=float).reshape(-1)
        if out.shape != (len(coalitions),):
            raise ValueError(f"the game's value() returned {out.size} payoffs for {len(coalitions)} coalitions; "
                             "it must return one per row of the coalition matrix")
        return out

    def prefix_values(self, perms: np.ndarray) -> np.ndarray:
        if self._prefixes is None:
            return super().prefix_values(perms)
        perms = check_permutation_rows(perms, self.n_players)
        out = np.asarray(self._prefixes(perms), dtype=float)
        if out.shape != (len(perms), self.n_players + 1):
            raise ValueError(f"the game's prefix_values() returned shape {out.shape} for {len(perms)} permutations; "
                             f"it must return ({len(perms)}, {self.n_players + 1}): v(empty), then v of each prefix")
        return out

    def unit_marginals(self, seeds: np.ndarray, count: int) -> np.ndarray:
        if not self.sample_units:
            return super().unit_marginals(seeds, count)
        out = np.asarray(self._units(seeds, count), dtype=float)
        if out.shape != (count, self.n_players):
            raise ValueError(f"the game's unit_marginals() returned shape {out.shape} for {count} permutations; it "
                             f"must return ({count}, {self.n_players}): the marginal contributions summed over units")
        return out

    def all_values(self) -> np.ndarray:
        if self._all is None:
            return super().all_values()
        check_exact_size(self.n_players)
        out = np.asarray(self._all(), dtype=float).reshape(-1)
        if out.shape != (1 << self.n_players,):
            raise ValueError(f"the game's all_values() returned {out.size} payoffs; it must return 2^n = "
                             f"{1 << self.n_players}, indexed by bitmask")
        return out


def as_game(game, n_players: int | None = None) -> Game:
    """The estimators' view of a game: a :class:`Game` as it is; any object with ``n_players`` and
    ``value(coalitions)`` (no base class needed); or a function of a boolean coalition matrix, with
    ``n_players`` given."""
    if isinstance(game, Game):
        return game
    if hasattr(game, "value") and hasattr(game, "n_players"):
        return _GameAdapter(game, game.n_players)
    if callable(game):
        if n_players is None:
            raise TypeError("a game given as a function needs n_players (shapley_values(f, ..., n_players=n))")
        return _GameAdapter(game, n_players)
    raise TypeError(f"not a game: {type(game).__name__} has no n_players and value(coalitions); give a Game, such "
                    "an object, or a function of a boolean coalition matrix with n_players")
