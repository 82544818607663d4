"""Coalitional games, the base: a set of players and a payoff v(S) for every coalition S (SPEC section 1).

A game evaluates a *batch* of coalitions at once: ``value(coalitions)`` takes a boolean array of shape
(batch, n_players) (or one coalition of shape (n_players,)) and returns the payoffs, shape (batch,). v(empty)
may be any number; the estimators evaluate it once.

Two further methods have generic implementations that games may override with faster ones:
``prefix_values(perms)`` (payoffs along permutations, what permutation sampling needs) and
``all_values()`` (payoffs of all 2^n coalitions, what exact enumeration needs).
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


def check_exact_size(n_players: int) -> None:
    """Refuse enumeration of games too large for 2^n coalitions, with advice."""
    if n_players > MAX_EXACT_PLAYERS:
        raise ValueError(
            f"exact Shapley values enumerate all 2^n coalitions; n={n_players} players is more than "
            f"the supported {MAX_EXACT_PLAYERS} (2^{n_players} = {2**n_players:,} coalitions). "
            "Use a sampling estimator instead, e.g. method='permutation'."
        )


class Game:
    """Base class of coalitional games with payoffs v(S). v(empty) may be any number: the estimators take
    marginal contributions, so it cancels (the games on networks have v(empty) = 0 by construction)."""

    n_players: int
    fast_prefixes = False
    """Whether ``prefix_values`` is a fast walk of its own (estimators then use it instead of ``value``)."""

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        """Payoffs v(S) of a boolean coalition matrix of shape (batch, n_players); returns shape (batch,)."""
        raise NotImplementedError

    def _check(self, coalitions: np.ndarray) -> np.ndarray:
        coalitions = np.asarray(coalitions, dtype=bool)
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
        perms = np.asarray(perms, dtype=np.int64)
        n_perm, n = perms.shape
        out = np.empty((n_perm, n + 1))
        out[:, 0] = self.value(np.zeros((1, n), dtype=bool))[0]
        if n == 0:
            return out
        out[:, n] = self.value(np.ones((1, n), dtype=bool))[0]
        if n > 1:
            coalitions = np.zeros((n_perm, n - 1, n), dtype=bool)
            # position of each player in its permutation; a prefix of length t holds players at positions < t
            pos = np.empty_like(perms)
            np.put_along_axis(pos, perms, np.arange(n)[None, :].repeat(n_perm, 0), axis=1)
            lengths = np.arange(1, n)[None, :, None]
            coalitions = pos[:, None, :] < lengths
            out[:, 1:n] = self.value(coalitions.reshape(-1, n)).reshape(n_perm, n - 1)
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
    coalition matrix, with the base's generic prefix and enumeration paths."""

    def __init__(self, source, n_players: int):
        self.source, self.n_players = source, int(n_players)
        self._value = source if callable(source) and not hasattr(source, "value") else source.value

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        coalitions = self._check(coalitions)
        out = np.asarray(self._value(coalitions), dtype=float).reshape(-1)
        if out.shape != (len(coalitions),):
            raise ValueError(f"the game's value() returned {out.size} payoffs for {len(coalitions)} coalitions; "
                             "it must return one per row of the coalition matrix")
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
