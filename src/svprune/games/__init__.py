"""Coalitional games: reference games with known values, and games on trained networks."""

from svprune.games.base import MAX_EXACT_PLAYERS, Game, bool_to_masks, masks_to_bool
from svprune.games.network import MEASURES, LayerGame, NeuronGame
from svprune.games.reference import (
    PerturbedUniformGame,
    SecurityCouncilGame,
    TableGame,
    UnanimityGame,
    paper_example,
)

__all__ = [
    "MAX_EXACT_PLAYERS",
    "MEASURES",
    "Game",
    "LayerGame",
    "NeuronGame",
    "PerturbedUniformGame",
    "SecurityCouncilGame",
    "TableGame",
    "UnanimityGame",
    "bool_to_masks",
    "masks_to_bool",
    "paper_example",
]
