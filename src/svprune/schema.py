"""The workflow's config schema (workflow/schemas/config.schema.yaml) with its registry-backed fields filled in,
and validation against it. No torch here.

A field marked ``x-registry: NAME`` takes its enum and default from that registry of :mod:`svprune.registry`;
``x-registry-items: NAME`` (an array) takes its items' enum from it and, as default, every registered name but
those in ``x-exclude``; ``x-default: CONSTANT`` takes its default from that constant of svprune.registry. So the
names of plugins validate, and every default is defined once.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from svprune import registry

RENAMED = {
    "pruning.shapley.method": "pruning.shapley.estimator",
    "pruning.walks_per_job": "pruning.repetitions_per_job",
    "gridsearch.models_per_job": "gridsearch.repetitions_per_job",
    "estimators": "estimator_study",
    "estimators.methods": "estimator_study.estimators",
    "estimators.evaluations": "estimator_study.budgets",
    "layers": "blocks",
    "layers.shapley.method": "blocks.shapley.estimator",
}
"""Config keys that were renamed: old dotted name -> new one."""


class SchemaError(ValueError):
    """A configuration that does not match the schema; the message names the field."""


def _registry(name: str) -> registry.Registry:
    if name == "kinds":
        import svprune.kinds  # noqa: F401 - fills registry.KINDS

    return getattr(registry, name.upper())


def _fill(node):
    if isinstance(node, dict):
        node = {k: _fill(v) for k, v in node.items()}
        if "x-registry" in node:
            reg = _registry(node["x-registry"])
            node.setdefault("enum", list(reg.names()))
            if reg.has_default:
                node.setdefault("default", reg.default)
        if "x-registry-items" in node:
            reg = _registry(node["x-registry-items"])
            node.setdefault("items", {})["enum"] = list(reg.names())
            node.setdefault("default", [n for n in reg.names() if n not in node.get("x-exclude", [])])
        if "x-default" in node:
            node.setdefault("default", getattr(registry, node["x-default"]))
        return node
    if isinstance(node, list):
        return [_fill(v) for v in node]
    return node


def load_schema(path: str | Path) -> dict:
    """The schema at ``path`` with the registries' names and defaults filled in."""
    return _fill(yaml.safe_load(Path(path).read_text()))


def has_key(tree: dict, dotted: str) -> bool:
    """Whether a nested mapping sets the dotted key."""
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


def check_renamed(config: dict) -> None:
    """Refuse keys that were renamed, naming the new key (before the schema's "additional property" error)."""
    found = [f"config {old} was renamed to {new}" for old, new in RENAMED.items() if has_key(config, old)]
    if found:
        raise SchemaError("; ".join(found) + ": rename them in your config file" if len(found) > 1
                          else f"{found[0]}: rename it in your config file")


def validate(config: dict, path: str | Path) -> dict:
    """Validate ``config`` against the schema at ``path`` and fill in its defaults (in place, as Snakemake's
    validate does); an error names the field and what was wrong."""
    from jsonschema import Draft202012Validator, validators

    check_renamed(config)
    schema = load_schema(path)

    def set_defaults(validator, properties, instance, schema):
        for name, sub in properties.items():
            if isinstance(instance, dict) and "default" in sub:
                instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, schema)

    filling = validators.extend(Draft202012Validator, {"properties": set_defaults})
    errors = sorted(filling(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise SchemaError(f"config {where}: {err.message}")
    return config
