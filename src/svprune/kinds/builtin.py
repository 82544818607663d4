"""svprune's own model kinds: the paper's MLP, the residual MLP (layers as players), a small CNN, and any
torchvision architecture."""

from __future__ import annotations

from svprune.kinds.base import KindError, ModelKind


def _image_shape(section: dict, n_features: int) -> list:
    shape = section.get("image_shape")
    if shape is None or len(shape) != 3 or int(shape[0]) * int(shape[1]) * int(shape[2]) != n_features:
        raise KindError(f"config model.image_shape must be [channels, height, width] with {n_features} values in all "
                        f"(the data's features); got {shape}")
    return [int(v) for v in shape]


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

        return Blocks()


class CNNKind(ModelKind):
    name = "cnn"
    required = ("image_shape",)
    keys = ("kind", "channels", "image_shape")

    def help(self, key):
        return "[channels, height, width] of the images"

    def build(self, section, n_features, n_classes, sample_shape, seed):
        from svprune.models import SmallCNN

        return SmallCNN(_image_shape(section, n_features), section.get("channels", [16, 32]), n_classes, seed=seed)

    def describe(self, model):
        from svprune.models import SmallCNN

        if type(model) is not SmallCNN:
            return None
        return {"kind": "cnn", "image_shape": list(model.image_shape), "channels": model.channels,
                "n_out": model.fc.out_features}

    def rebuild(self, spec):
        from svprune.models import SmallCNN

        return SmallCNN(spec["image_shape"], spec["channels"], spec["n_out"])

    def player_layer(self, section_or_spec):
        layer = section_or_spec.get("layer")
        channels = section_or_spec.get("channels", [16, 32])
        return layer or f"conv{len(channels)}"  # the last convolution


class TorchvisionKind(ModelKind):
    name = "torchvision"
    required = ("image_shape", "arch", "layer")
    keys = ("kind", "arch", "image_shape")

    def help(self, key):
        return {"image_shape": "[channels, height, width] of the images",
                "arch": "a torchvision.models architecture, e.g. resnet18",
                "layer": "the player layer's module path, e.g. net.layer4.1.conv1"}[key]

    def build(self, section, n_features, n_classes, sample_shape, seed):
        from svprune.models import ImageModel

        return ImageModel(section["arch"], _image_shape(section, n_features), n_classes, seed=seed)

    def describe(self, model):
        from torch import nn

        from svprune.models import ImageModel

        if type(model) is not ImageModel:
            return None
        head = [m for m in model.net.modules() if isinstance(m, nn.Linear)][-1]
        return {"kind": "torchvision", "arch": model.arch, "image_shape": list(model.image_shape),
                "n_out": head.out_features}

    def rebuild(self, spec):
        from svprune.models import ImageModel

        return ImageModel(spec["arch"], spec["image_shape"], spec["n_out"])
