"""Model kind ``python``: the user's own ``nn.Module``, built by a factory function of theirs.

``model: {kind: python, factory: "package.module:function", kwargs: {...}, layer: NAME}``: the module is
imported from the user's PYTHONPATH and ``function(**kwargs)`` must return the model (logits out; see
svprune.outputs for models that return more). Its parameters are drawn with torch's generator seeded by the
repetition seed, so the same config gives the same root model. ``input_shape`` (optional) is the shape of one
model input; by default the data's own sample shape (e.g. [1, 28, 28] for Fashion-MNIST). Checkpoints record
the factory, its kwargs and the input shape beside the weights, so that `svprune values` and the workflow's
jobs rebuild the model by calling the factory again.
"""

from __future__ import annotations

import importlib
import math
import re

from svprune.kinds.base import KindError, ModelKind

FACTORY = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def check_factory(factory, field: str = "model.factory") -> str:
    if not isinstance(factory, str) or not FACTORY.match(factory):
        raise KindError(f"config {field}: {factory!r} is not of the form 'package.module:function' (a function of "
                        "a module importable from PYTHONPATH, e.g. 'my_models:small_resnet')")
    return factory


def resolve_factory(factory: str, field: str = "model.factory"):
    """The function ``package.module:function`` names, imported from PYTHONPATH."""
    check_factory(factory, field)
    module_name, _, attr = factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise KindError(f"config {field}: cannot import module {module_name!r} ({err}); put the directory that "
                        "holds it on PYTHONPATH (e.g. `export PYTHONPATH=$PWD/examples`) and run again") from err
    target = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise KindError(f"config {field}: module {module_name!r} has no {attr!r}")
    if not callable(target):
        raise KindError(f"config {field}: {factory!r} is a {type(target).__name__}, not a function")
    return target


def build_from_factory(factory: str, kwargs: dict | None = None, seed: int = 0, input_shape=None):
    """``function(**kwargs)`` with torch's global generator seeded by ``seed`` (and restored after), the
    description that rebuilds it attached as ``model.svprune_spec``."""
    import torch
    from torch import nn

    kwargs = dict(kwargs or {})
    function = resolve_factory(factory)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        try:
            model = function(**kwargs)
        except TypeError as err:
            raise KindError(f"config model.kwargs: {factory}(**{kwargs}) failed ({err})") from err
    if not isinstance(model, nn.Module):
        raise KindError(f"config model.factory: {factory} returned a {type(model).__name__}, not a torch nn.Module")
    model.svprune_spec = {"kind": "python", "factory": factory, "kwargs": kwargs,
                          "input_shape": list(input_shape) if input_shape is not None else None}
    return model


class PythonKind(ModelKind):
    name = "python"
    required = ("factory", "layer")
    keys = ("kind", "factory", "kwargs", "input_shape")

    def help(self, key):
        return {"factory": "'package.module:function' returning your nn.Module",
                "layer": "the module path of the player layer in your model, e.g. layer2.0.conv1"}[key]

    def check(self, section):
        super().check(section)
        check_factory(section["factory"])
        if not isinstance(section.get("kwargs", {}) or {}, dict):
            raise KindError("config model.kwargs: must be a mapping of keyword arguments of the factory")
        shape = section.get("input_shape")
        if shape is not None and (not isinstance(shape, list) or not shape or
                                  not all(isinstance(v, int) and v > 0 for v in shape)):
            raise KindError(f"config model.input_shape: must be a list of positive integers; got {shape!r}")

    def build(self, section, n_features, n_classes, sample_shape, seed):
        shape = self.input_shape(section, sample_shape)
        return build_from_factory(section["factory"], section.get("kwargs") or {}, seed, shape)

    def describe(self, model):
        spec = getattr(model, "svprune_spec", None)
        return dict(spec) if isinstance(spec, dict) and spec.get("kind") == "python" else None

    def rebuild(self, spec):
        return build_from_factory(spec["factory"], spec.get("kwargs") or {}, 0, spec.get("input_shape"))

    def input_shape(self, spec, sample_shape):
        shape = spec.get("input_shape")
        if shape is not None:
            size, flat = math.prod(int(s) for s in shape), math.prod(int(s) for s in sample_shape)
            if size != flat:
                raise KindError(f"config model.input_shape {list(shape)} holds {size} values, but the data's samples "
                                f"hold {flat} (shape {list(sample_shape)})")
            return tuple(int(s) for s in shape)
        return tuple(int(s) for s in sample_shape)
