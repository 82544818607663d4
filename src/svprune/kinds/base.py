"""The model-kind protocol (no torch at import)."""

from __future__ import annotations

import math


class KindError(ValueError):
    """A model section or checkpoint that no kind can build: the message names the field."""


class ModelKind:
    """One kind of model. ``name``: the ``model.kind`` value; ``required``: keys its section must set;
    ``keys``: the keys building a root model reads (a workflow rule's params); ``players``: what its players are
    called in tables and plots."""

    name: str = ""
    required: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    players: str = "channels"
    trains_grid = False  # whether the grid search (MLPs of each hidden size) applies

    def check(self, section: dict) -> None:
        """Config checks without torch: raise KindError naming the field."""
        for key in self.required:
            if section.get(key) in (None, "", []):
                raise KindError(f"config model.{key}: model.kind {self.name} needs it ({self.help(key)})")

    def help(self, key: str) -> str:
        return key

    def build(self, section: dict, n_features: int, n_classes: int, sample_shape: tuple, seed: int):
        """The root model the section describes, for data of that many features and classes."""
        raise NotImplementedError

    def describe(self, model) -> dict | None:
        """The checkpoint description of ``model`` (``kind`` included), or None if it is not of this kind."""
        raise NotImplementedError

    def rebuild(self, spec: dict):
        """The model ``describe`` described (weights freshly initialised)."""
        raise NotImplementedError

    def input_shape(self, spec: dict, sample_shape: tuple) -> tuple:
        """The shape of one model input, for data whose samples have ``sample_shape``: flat by default."""
        return (math.prod(int(s) for s in sample_shape),)

    def perspective(self, model, layer=None, example=None, removal: str = "mask"):
        """What the players of ``model`` are and how they are removed (svprune.perspectives)."""
        from svprune.perspectives import Channels

        return Channels(layer, example=example, removal=removal)

    def player_layer(self, section_or_spec: dict):
        """The player layer a config section or checkpoint names (None: the kind's default)."""
        return section_or_spec.get("layer")


def image_shape(section: dict, n_features: int) -> list:
    """[channels, height, width] of a section's images, checked against the data's features."""
    shape = section.get("image_shape")
    if shape is None or len(shape) != 3 or int(shape[0]) * int(shape[1]) * int(shape[2]) != n_features:
        raise KindError(f"config model.image_shape must be [channels, height, width] with {n_features} values in all "
                        f"(the data's features); got {shape}")
    return [int(v) for v in shape]
