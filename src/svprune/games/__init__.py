"""Coalitional games: reference games with known values, and games on trained networks (units of an MLP,
blocks of a residual MLP, channels of any layer of any model).

The reference games and the base need only numpy; the network games (``NeuronGame``, ``LayerGame``) load torch
when first used, so that estimators and reference games import without the training stack.
"""

from svprune.games.base import MAX_EXACT_PLAYERS, Game, bool_to_masks, masks_to_bool
from svprune.games.reference import (
    PerturbedUniformGame,
    SecurityCouncilGame,
    TableGame,
    UnanimityGame,
    UnanimitySumGame,
    WeightedVotingGame,
    paper_example,
)

_NETWORK = ("MEASURES", "LayerGame", "NeuronGame")


def __getattr__(name):
    if name in _NETWORK:
        from svprune.games import network

        return getattr(network, name)
    if name == "ModuleGame":
        from svprune.games.module import ModuleGame

        return ModuleGame
    raise AttributeError(f"module 'svprune.games' has no attribute {name!r}")


__all__ = [
    "MAX_EXACT_PLAYERS",
    "MEASURES",
    "Game",
    "LayerGame",
    "ModuleGame",
    "NeuronGame",
    "PerturbedUniformGame",
    "SecurityCouncilGame",
    "TableGame",
    "UnanimityGame",
    "UnanimitySumGame",
    "WeightedVotingGame",
    "bool_to_masks",
    "masks_to_bool",
    "paper_example",
]
