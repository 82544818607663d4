"""Pruning strategies (the paper's table 1; docs/definitions.md, "Strategies"): a strategy is an importance
criterion (a scorer, :mod:`svprune.scorers`: one score per player, lower pruned first) and a selection rule (this
module: which players a step prunes, given the scores). Names are written as configs and outputs write them:
``SVbottom(k)``, ``SVbottomP(p)``, ``SVbucket(p)``, ``random(k)``, ``Wbottom(k)``, ``TPmagnitude(k)``,
``TPtaylor(k)``, ``TPbnscale(k)``; the families come from the scorers' registrations (svprune.registry.SCORERS),
so a criterion of your own names its families too.

A rule selects the positions (0..n-1 among the current players) to prune in one step; every step prunes at least
one player, and all that remain when fewer than k are left. Ties in scores are broken by position (a stable
sort), so selection is deterministic.

Thresholds are strict ("phi(i) < p/|S|", "sum of phi over T < p") and compared with a tolerance of
``TOLERANCE`` x (1 + the sum of |phi|): a value or sum within float rounding of the threshold counts as reaching
it. So values normalised to sum to 1 never all fit into ``SVbucket(1)`` however the sum rounds, and players of
exactly p/|S| are not "below" it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from svprune.registry import RULES, SCORERS, strategy_families

TOLERANCE = 1e-9
_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*([^()]*?)\s*\)\s*$")


def _ranked(scores: np.ndarray, name: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    if not np.isfinite(scores).all():
        raise ValueError(f"{name}: the scores hold NaN or infinite entries; cannot rank players by them")
    return scores


class BottomK:
    """The k players of lowest score (all that remain when fewer are left)."""

    def __init__(self, k: int):
        self.k = int(k)

    @property
    def count(self) -> int:
        return self.k

    def select(self, scores: np.ndarray, name: str = "bottom_k") -> np.ndarray:
        scores = _ranked(scores, name)
        return np.sort(np.argsort(scores, kind="stable")[: min(self.k, len(scores))])


class _Threshold:
    """A rule with a threshold p, compared with a tolerance of TOLERANCE x (1 + the sum of |score|)."""

    count = None

    def __init__(self, p: float):
        self.p = float(p)

    def select(self, scores: np.ndarray, name: str = "") -> np.ndarray:
        scores = _ranked(scores, name or type(self).__name__)
        if not len(scores):
            return np.zeros(0, dtype=np.int64)
        return self._select(scores, TOLERANCE * (1.0 + float(np.abs(scores).sum())))


class BottomP(_Threshold):
    """Every player whose score is below p/|S|; if none, the lowest one."""

    def _select(self, scores: np.ndarray, tol: float) -> np.ndarray:
        below = np.flatnonzero(scores < self.p / len(scores) - tol)
        return below if len(below) else np.argsort(scores, kind="stable")[:1]


class Bucket(_Threshold):
    """The longest prefix of the ascending order whose scores sum below p (negatives allowed); if empty, the
    lowest player."""

    def _select(self, scores: np.ndarray, tol: float) -> np.ndarray:
        order = np.argsort(scores, kind="stable")
        fits = np.flatnonzero(np.cumsum(scores[order]) < self.p - tol)
        return np.sort(order[: int(fits[-1]) + 1 if len(fits) else 1])


def valid_forms() -> str:
    return ", ".join(f"{family}({RULES.entry(rule).meta['param']})" for family, (_, rule, _) in strategy_families().items())


@dataclass(frozen=True)
class Strategy:
    """A parsed strategy: its family (e.g. ``SVbucket``) and parameter (int k or float p)."""

    family: str
    param: float

    def __post_init__(self):
        forms = strategy_families()
        if self.family not in forms:
            raise ValueError(f"unknown strategy family {self.family!r}; valid forms: {valid_forms()}")
        kind = self.param_kind
        ok = isinstance(self.param, (int, float, np.integer, np.floating)) and np.isfinite(self.param) and (
            (kind == "k" and self.param == int(self.param) and self.param >= 1) or (kind == "p" and 0 < self.param <= 1))
        if not ok:
            raise ValueError(f"strategy {self.family}: parameter {self.param!r} must be "
                             f"{'an integer k >= 1' if kind == 'k' else 'a number p in (0, 1]'}")

    @property
    def scorer_name(self) -> str:
        return strategy_families()[self.family][0]

    @property
    def rule_name(self) -> str:
        return strategy_families()[self.family][1]

    @property
    def param_kind(self) -> str:
        return RULES.entry(self.rule_name).meta["param"]

    @property
    def name(self) -> str:
        if self.param_kind == "k":
            return f"{self.family}({int(self.param)})"
        return f"{self.family}({self.param:g})"

    @property
    def rule(self):
        """The selection rule, with this strategy's parameter."""
        return RULES.get(self.rule_name)(self.param)

    @property
    def scorer(self):
        """The importance criterion (loaded on first use: the Torch-Pruning ones import torch)."""
        return SCORERS.get(self.scorer_name)()

    @property
    def needs_shapley(self) -> bool:
        return bool(getattr(self.scorer, "needs_shapley", False))

    def select(self, scores: np.ndarray) -> np.ndarray:
        """Positions of the players to prune, sorted, given one score per player (lower pruned first)."""
        return self.rule.select(scores, self.name)


def parse(name: str) -> Strategy:
    """Parse a strategy name such as ``"SVbucket(0.2)"`` or ``"random(3)"``; a bad name or parameter gets
    an error that lists the valid forms."""
    forms = strategy_families()
    match = _PATTERN.match(str(name))
    if not match or match.group(1) not in forms:
        raise ValueError(f"unknown strategy {name!r}; valid forms: {valid_forms()} (k an integer >= 1, 0 < p <= 1)")
    family, raw = match.groups()
    kind = RULES.entry(forms[family][1]).meta["param"]
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"strategy {name!r}: parameter {raw!r} is not a number; valid forms: {valid_forms()}") from None
    if not np.isfinite(value):
        raise ValueError(f"strategy {name!r}: parameter {raw!r} is not a finite number; valid forms: {valid_forms()}")
    if kind == "k" and (value != int(value) or value < 1):
        raise ValueError(f"strategy {name!r}: k must be an integer >= 1; valid forms: {valid_forms()}")
    if kind == "p" and not 0 < value <= 1:
        raise ValueError(f"strategy {name!r}: p must be in (0, 1]; valid forms: {valid_forms()}")
    return Strategy(family, int(value) if kind == "k" else value)
