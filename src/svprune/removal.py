"""Removal curves of a network's channels (Neuron Shapley's headline experiment, Ghorbani and Zou 2020): the
measure (accuracy) after removing the k highest-ranked channels, k = 0..K, ranked by their Shapley values and by
other importance criteria, and after removing the channels of negative value.

Every channel of the chosen layers is a player of one :class:`~svprune.games.ModuleGame`; a set of channels is
removed by that game's masks, which the game proves equal to removing them from the model (Torch-Pruning) on
random coalitions when it is built. Curves are measured on a split of their own (the test split), apart from the
samples the values were estimated on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from svprune.registry import SCORERS


@dataclass(frozen=True)
class Ranking:
    """Players in the order a criterion removes them (most important first); ``draw``: which random draw (0 for a
    deterministic criterion)."""

    criterion: str
    order: np.ndarray
    draw: int = 0


def criterion_scores(model, game, criterion: str, train: tuple, seed: int = 0) -> np.ndarray:
    """Every player's score by a registered criterion (svprune.registry.SCORERS; higher = more important): each
    layer of the game scored as a pruning walk scores its player layer, concatenated in the game's player order.
    Scores of different layers are compared as they are (a global ranking, as in Neuron Shapley's baselines)."""
    from svprune.perspectives import perspective_for
    from svprune.scorers import ScoreContext

    scorer = SCORERS.get(criterion, "network.criteria")()
    if scorer.needs_shapley:
        raise ValueError(f"network.criteria: {criterion!r} reads Shapley values; the experiment ranks by them already")
    rng = np.random.default_rng(seed)
    parts = []
    for layer, a, b in zip(game.layers, game.bounds[:-1], game.bounds[1:]):
        perspective = perspective_for(model, layer, example=train[0][:1])
        scores = np.asarray(scorer.score(ScoreContext(model, perspective, train, rng, int(b - a))), dtype=float)
        if scores.shape != (b - a,):
            raise ValueError(f"the {criterion} criterion gave {scores.shape} scores for the {b - a} channels of {layer}")
        parts.append(scores)
    return np.concatenate(parts)


def ranking(scores: np.ndarray, criterion: str, draw: int = 0) -> Ranking:
    """Players by decreasing score (ties in player order)."""
    return Ranking(criterion, np.argsort(-np.asarray(scores, dtype=float), kind="stable"), draw)


def removal_curves(game, rankings: list[Ranking], max_removed: int, split: str) -> pd.DataFrame:
    """The game's measure after removing the first k players of each ranking, k = 0..max_removed: one row per
    (criterion, draw, k)."""
    n = game.n_players
    ks = np.arange(min(int(max_removed), n) + 1)
    rows, coalitions = [], []
    for r in rankings:
        for k in ks:
            keep = np.ones(n, dtype=bool)
            keep[r.order[:k]] = False
            coalitions.append(keep)
            rows.append({"criterion": r.criterion, "draw": r.draw, "k": int(k), "split": split})
    frame = pd.DataFrame(rows)
    frame["measure"] = game.measure_of(np.stack(coalitions))
    return frame


def negative_removal(game, values: np.ndarray, upper: np.ndarray, split: str) -> pd.DataFrame:
    """The measure after removing the channels of negative estimated value, and after removing only those whose
    upper confidence bound is negative too (Neuron Shapley's repair by negative neurons)."""
    removed = {"negative": values < 0, "negative (upper bound < 0)": upper < 0}
    measures = game.measure_of(~np.stack(list(removed.values())))
    return pd.DataFrame([{"criterion": name, "draw": 0, "k": int(mask.sum()), "split": split, "measure": float(m)}
                         for (name, mask), m in zip(removed.items(), measures)])
