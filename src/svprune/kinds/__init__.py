"""Model kinds: what a config's ``model`` section can describe, one class per kind and one registry line.

A kind knows the keys its section needs (checked before any job, without torch), how to build its root model,
how to describe a model in a checkpoint and rebuild it, what its players are (its perspective) and the shape of
one model input. Planning a workflow imports this module only; the kinds load torch when they build.

Adding a kind: a subclass of :class:`ModelKind` in a module of its own, then ``register(MyKind())``; the config
check, the workflow's params and the command line follow from the registry.
"""

from __future__ import annotations

from svprune.kinds.base import KindError, ModelKind
from svprune.registry import KINDS as REGISTRY
from svprune.registry import RegistryError


def register(kind: ModelKind) -> ModelKind:
    """Add a model kind (its ``name`` must be new)."""
    if not isinstance(kind, ModelKind):
        raise TypeError(f"register() takes a ModelKind instance; got {type(kind).__name__}")
    REGISTRY.register(kind.name, kind, description=kind.players)
    return kind


def get(name: str, field: str = "model.kind") -> ModelKind:
    """The kind called ``name``; an unknown name gets an error listing the kinds."""
    try:
        return REGISTRY.get(name, field)
    except RegistryError as err:
        raise KindError(str(err)) from None


def kind_of_section(section: dict) -> ModelKind:
    return get(section.get("kind", REGISTRY.default))


def kind_of_spec(spec: dict) -> ModelKind:
    return get(spec.get("kind", REGISTRY.default), field="the checkpoint's kind")


def kind_of_model(model) -> ModelKind:
    """The kind that describes ``model`` (the most specific registered kind first)."""
    for kind in reversed([REGISTRY.get(name) for name in REGISTRY]):
        if kind.describe(model) is not None:
            return kind
    raise KindError(f"no model kind describes a {type(model).__name__}; build it through a factory function "
                    "(model kind 'python': svprune.kinds.python.build_from_factory) so that its checkpoint can "
                    "rebuild it")


from svprune.kinds.cnn import CNNKind  # noqa: E402
from svprune.kinds.mlp import MLPKind  # noqa: E402
from svprune.kinds.residual import ResidualKind  # noqa: E402
from svprune.kinds.torchvision import TorchvisionKind  # noqa: E402
from svprune.kinds.python import PythonKind  # noqa: E402

register(MLPKind())
register(ResidualKind())
register(CNNKind())
register(TorchvisionKind())
register(PythonKind())

__all__ = ["REGISTRY", "KindError", "ModelKind", "get", "kind_of_model", "kind_of_section", "kind_of_spec",
           "register"]
