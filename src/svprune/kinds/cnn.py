"""Model kind ``cnn``: svprune's small convolutional network for flattened images; its players are the output
channels of ``model.layer`` (default: its last convolution)."""

from __future__ import annotations

from svprune.kinds.base import ModelKind, image_shape


class CNNKind(ModelKind):
    name = "cnn"
    required = ("image_shape",)
    keys = ("kind", "channels", "image_shape")

    def help(self, key):
        return "[channels, height, width] of the images"

    def build(self, section, n_features, n_classes, sample_shape, seed):
        from svprune.models import SmallCNN

        return SmallCNN(image_shape(section, n_features), section.get("channels", [16, 32]), n_classes, seed=seed)

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
