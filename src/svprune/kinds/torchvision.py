"""Model kind ``torchvision``: any ``torchvision.models`` architecture by name, for flattened images; its players are
the output channels of ``model.layer`` (a module path inside ``net.``)."""

from __future__ import annotations

from svprune.kinds.base import ModelKind, image_shape


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

        return ImageModel(section["arch"], image_shape(section, n_features), n_classes, seed=seed)

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
