"""Model kind ``residual``: the residual MLP of the layers experiment; its players are its hidden blocks."""

from __future__ import annotations

from svprune.kinds.base import ModelKind


class ResidualKind(ModelKind):
    name = "residual"
    required = ("width", "blocks")
    keys = ("kind", "width", "blocks")
    players = "blocks"

    def build(self, section, n_features, n_classes, sample_shape, seed):
        from svprune.models import ResidualMLP

        return ResidualMLP(n_features, int(section["width"]), int(section["blocks"]), n_classes, seed=seed)

    def describe(self, model):
        from svprune.models import ResidualMLP

        if type(model) is not ResidualMLP:
            return None
        return {"kind": "residual", "n_in": model.stem.in_features, "width": model.stem.out_features,
                "n_blocks": model.n_blocks, "n_out": model.out.out_features}

    def rebuild(self, spec):
        from svprune.models import ResidualMLP

        return ResidualMLP(spec["n_in"], spec["width"], spec["n_blocks"], spec["n_out"])

    def perspective(self, model, layer=None, example=None, removal="mask"):
        from svprune.perspectives import Blocks

        if layer is not None:
            raise ValueError(f"the players of a residual MLP are its {model.n_blocks} blocks, not the channels of a layer: "
                             f"leave the layer unset (got {layer!r})")
        return Blocks()
