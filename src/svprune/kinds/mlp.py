"""Model kind ``mlp``: the paper's feed-forward network; its players are the units of a hidden layer."""

from __future__ import annotations

from svprune.kinds.base import ModelKind


class MLPKind(ModelKind):
    name = "mlp"
    keys = ("hidden",)
    players = "neurons"
    trains_grid = True

    def build(self, section, n_features, n_classes, sample_shape, seed):
        from svprune.models import MLP

        hidden = section.get("hidden", 40)
        return MLP(n_features, hidden if isinstance(hidden, list) else [int(hidden)], n_classes, seed=seed)

    def describe(self, model):
        from svprune.models import MLP

        if type(model) is not MLP:
            return None
        return {"kind": "mlp", "n_in": model.linears[0].in_features, "hidden": model.hidden_sizes,
                "n_out": model.linears[-1].out_features}

    def rebuild(self, spec):
        from svprune.models import MLP

        return MLP(spec["n_in"], spec["hidden"], spec["n_out"])

    def perspective(self, model, layer=None, example=None, removal="mask"):
        from svprune.perspectives import Units

        return Units(layer)
