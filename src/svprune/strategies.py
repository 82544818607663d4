"""Pruning strategies (SPEC section 3, the paper's table 1), named exactly as in configs and outputs:
``SVbottom(k)``, ``SVbottomP(p)``, ``SVbucket(p)``, ``random(k)``, ``Wbottom(k)``, and Torch-Pruning's criteria as
baselines: ``TPmagnitude(k)``, ``TPtaylor(k)``, ``TPbnscale(k)``.

A strategy selects the positions (0..n-1 among the current players) to prune in one step; every step
prunes at least one player, and all that remain when fewer than k are left. Ties in values are broken by
position (a stable sort), so selection is deterministic.

Thresholds are strict, as SPEC 3 states them ("phi(i) < p/|S|", "sum of phi over T < p"), and compared with a
tolerance of ``TOLERANCE`` x (1 + the sum of |phi|): a value or sum within float rounding of the threshold
counts as reaching it. So values normalised to sum to 1 never all fit into ``SVbucket(1)`` however the sum
rounds, and players of exactly p/|S| are not "below" it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

FORMS = {
    "SVbottom": ("k", "the k players with smallest Shapley value"),
    "SVbottomP": ("p", "every player with phi(i) < p/|S|; if none, the smallest one"),
    "SVbucket": ("p", "the largest set of smallest-valued players whose values sum below p; if empty, the smallest"),
    "random": ("k", "k players chosen at random"),
    "Wbottom": ("k", "the k players with smallest L2 norm of their incoming weights (filter norm for channels)"),
    "TPmagnitude": ("k", "the k channels of smallest group L2 magnitude (Torch-Pruning)"),
    "TPtaylor": ("k", "the k channels of smallest first-order Taylor importance (Torch-Pruning)"),
    "TPbnscale": ("k", "the k channels of smallest batch-norm scale (Torch-Pruning)"),
}
CRITERION = {"Wbottom": "weight_norm", "TPmagnitude": "magnitude", "TPtaylor": "taylor", "TPbnscale": "bn_scale"}
"""The importance criterion (svprune.importance) each score-ranked family reads."""
VALID_FORMS = ", ".join(f"{name}({param})" for name, (param, _) in FORMS.items())
TOLERANCE = 1e-9
_PATTERN = re.compile(r"^\s*([A-Za-z]+)\s*\(\s*([^()]*?)\s*\)\s*$")


@dataclass(frozen=True)
class Strategy:
    """A parsed strategy: its family (e.g. ``SVbucket``) and parameter (int k or float p)."""

    family: str
    param: float

    def __post_init__(self):
        if self.family not in FORMS:
            raise ValueError(f"unknown strategy family {self.family!r}; valid forms: {VALID_FORMS}")
        kind = FORMS[self.family][0]
        ok = isinstance(self.param, (int, float, np.integer, np.floating)) and np.isfinite(self.param) and (
            (kind == "k" and self.param == int(self.param) and self.param >= 1) or (kind == "p" and 0 < self.param <= 1))
        if not ok:
            raise ValueError(f"strategy {self.family}: parameter {self.param!r} must be "
                             f"{'an integer k >= 1' if kind == 'k' else 'a number p in (0, 1]'}")

    @property
    def name(self) -> str:
        if FORMS[self.family][0] == "k":
            return f"{self.family}({int(self.param)})"
        return f"{self.family}({self.param:g})"

    @property
    def needs_shapley(self) -> bool:
        return self.family.startswith("SV")

    @property
    def criterion(self) -> str | None:
        """The importance criterion whose scores rank the players (Wbottom and the TP families), else None."""
        return CRITERION.get(self.family)

    def select(
        self,
        shapley: np.ndarray | None = None,
        scores: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
        n_players: int | None = None,
    ) -> np.ndarray:
        """Positions of the players to prune, sorted. Shapley strategies read ``shapley`` (normalised values
        while v(U) > 0), Wbottom and the TP families read ``scores`` of their criterion, random draws from
        ``rng``."""
        if self.needs_shapley:
            values = _need(shapley, "shapley", self.name)
        elif self.criterion is not None:
            values = _need(scores, f"scores ({self.criterion})", self.name)
        else:
            if rng is None or n_players is None:
                raise ValueError(f"{self.name} needs rng (a numpy Generator) and n_players")
            values = None
        n = len(values) if values is not None else int(n_players)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        if self.family == "random":
            chosen = rng.choice(n, size=min(int(self.param), n), replace=False)
            return np.sort(chosen)
        if not np.isfinite(values).all():
            raise ValueError(f"{self.name}: the values hold NaN or infinite entries; cannot rank players by them")
        order = np.argsort(values, kind="stable")
        if self.family == "SVbottom" or self.criterion is not None:
            return np.sort(order[: min(int(self.param), n)])
        tol = TOLERANCE * (1.0 + float(np.abs(values).sum()))
        if self.family == "SVbottomP":
            below = np.flatnonzero(values < self.param / n - tol)
            return below if len(below) else order[:1]
        # SVbucket: the longest prefix of the ascending order whose sum stays below p (negatives allowed)
        prefix_sums = np.cumsum(values[order])
        fits = np.flatnonzero(prefix_sums < self.param - tol)
        count = int(fits[-1]) + 1 if len(fits) else 1
        return np.sort(order[:count])


def _need(values, what: str, name: str) -> np.ndarray:
    if values is None:
        raise ValueError(f"{name} needs {what}")
    return np.asarray(values, dtype=float)


def parse(name: str) -> Strategy:
    """Parse a strategy name such as ``"SVbucket(0.2)"`` or ``"random(3)"``; a bad name or parameter gets
    an error that lists the valid forms."""
    match = _PATTERN.match(str(name))
    if not match or match.group(1) not in FORMS:
        raise ValueError(f"unknown strategy {name!r}; valid forms: {VALID_FORMS} (k an integer >= 1, 0 < p <= 1)")
    family, raw = match.groups()
    kind = FORMS[family][0]
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"strategy {name!r}: parameter {raw!r} is not a number; valid forms: {VALID_FORMS}") from None
    if not np.isfinite(value):
        raise ValueError(f"strategy {name!r}: parameter {raw!r} is not a finite number; valid forms: {VALID_FORMS}")
    if kind == "k" and (value != int(value) or value < 1):
        raise ValueError(f"strategy {name!r}: k must be an integer >= 1; valid forms: {VALID_FORMS}")
    if kind == "p" and not 0 < value <= 1:
        raise ValueError(f"strategy {name!r}: p must be in (0, 1]; valid forms: {VALID_FORMS}")
    return Strategy(family, int(value) if kind == "k" else value)
