"""One source of truth: the registries are where names and defaults live; the schema, the command line, the
library's settings and the docs follow them, and these tests fail on any drift."""

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

import svprune.kinds  # noqa: F401 - fills registry.KINDS
from svprune import registry
from svprune.cli import build_parser
from svprune.schema import RENAMED, SchemaError, load_schema, validate
from svprune.settings import ShapleyConfig, TrainConfig, WalkConfig
from svprune.strategies import valid_forms

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
REGISTRIES = {"estimators": registry.ESTIMATORS, "measures": registry.MEASURES, "datasets": registry.DATASETS,
              "kinds": registry.KINDS, "games": registry.GAMES}


def _enums(node, path=""):
    if isinstance(node, dict):
        if "enum" in node:
            yield path, node["enum"]
        for key, value in node.items():
            yield from _enums(value, f"{path}.{key}")


def test_the_schema_file_lists_no_registered_name_itself():
    """Registered names reach the schema only through its x-registry fields, so they cannot drift."""
    raw = yaml.safe_load(SCHEMA.read_text())
    names = {n for reg in REGISTRIES.values() for n in reg}
    for path, enum in _enums(raw):
        assert not names & set(enum), f"{path} hard-codes registered names {sorted(names & set(enum))}"


def test_the_filled_schema_takes_names_and_defaults_from_the_registries():
    schema = load_schema(SCHEMA)["properties"]
    assert schema["pruning"]["properties"]["shapley"]["properties"]["estimator"]["enum"] == list(registry.ESTIMATORS)
    assert schema["pruning"]["properties"]["shapley"]["properties"]["estimator"]["default"] == registry.ESTIMATORS.default
    assert schema["pruning"]["properties"]["shapley"]["properties"]["budget"]["default"] == registry.DEFAULT_BUDGET
    assert schema["pruning"]["properties"]["measure"]["default"] == registry.MEASURES.default
    assert schema["dataset"]["properties"]["name"]["enum"] == list(registry.DATASETS)
    assert schema["model"]["properties"]["kind"]["enum"] == list(registry.KINDS)
    from svprune.settings import REMOVALS

    assert schema["model"]["properties"]["removal"]["enum"] == list(REMOVALS)  # not a registry: checked for drift
    study = schema["estimator_study"]["properties"]
    assert study["games"]["default"] == list(registry.GAMES)
    assert study["estimators"]["default"] == [e for e in registry.ESTIMATORS if e != "exact"]


def test_schema_defaults_equal_the_librarys():
    config = validate({}, SCHEMA)
    library = {**{f.name: f.default for f in fields(TrainConfig)}, **{f.name: f.default for f in fields(WalkConfig)
                                                                    if not callable(f.default_factory)}}
    for key in ("optimizer", "learning_rate", "batch_size", "root_epochs"):
        assert config["training"][key] == library[key], f"training.{key}"
    for section in ("pruning", "blocks"):
        for key in ("stop_below_theta", "eval_split", "shapley_for_all"):
            assert config[section][key] == library[key], f"{section}.{key}"
    assert config["pruning"]["retrain_epochs"] == library["retrain_epochs"]
    shapley = {f.name: f.default for f in fields(ShapleyConfig)}
    assert config["pruning"]["shapley"]["estimator"] == shapley["estimator"]
    assert config["pruning"]["shapley"]["budget"] == shapley["budget"]
    assert config["pruning"]["measure"] == shapley["measure"]
    from svprune.settings import NetworkConfig, network_config

    network = {f.name: f.default for f in fields(NetworkConfig)}
    assert network_config(config["network"]) == NetworkConfig()  # the schema's defaults build the library's
    for key in ("layers", "samples", "test_samples", "eval_split", "measure", "max_removed", "random_draws"):
        assert config["network"][key] == network[key], f"network.{key}"
    for key in ("criteria", "table_ks"):
        assert tuple(config["network"][key]) == network[key], f"network.{key}"
    for key in ("estimator", "budget", "top_k"):
        assert config["network"]["shapley"][key] == network[key], f"network.shapley.{key}"


def test_the_default_study_uses_the_default_estimator():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert config["pruning"]["shapley"]["estimator"] == registry.ESTIMATORS.default == ShapleyConfig().estimator
    from svprune.shapley import DEFAULT_ESTIMATOR, shapley_values

    assert DEFAULT_ESTIMATOR == registry.ESTIMATORS.default
    # with no estimator and no budget: the default estimator at the default budget, exact where 2^n fits in it
    from svprune.games import SecurityCouncilGame, UnanimitySumGame

    small = shapley_values(SecurityCouncilGame())  # 15 players: 32,768 coalitions > 20,000: sampled
    assert small.estimator == registry.ESTIMATORS.default and small.n_evaluations <= registry.DEFAULT_BUDGET
    tiny = UnanimitySumGame(12, n_terms=5, max_size=3, seed=0)  # 4,096 coalitions: enumerated, exact
    import numpy as np

    np.testing.assert_allclose(shapley_values(tiny).values, tiny.exact_values(), atol=1e-12)


def test_the_command_lines_choices_are_the_registries():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    values = {a.dest: a for a in sub["values"]._actions}
    assert list(values["estimator"].choices) == list(registry.ESTIMATORS)
    assert values["estimator"].default == registry.ESTIMATORS.default
    assert list(values["measure"].choices) == list(registry.MEASURES)
    study = {a.dest: a for a in sub["estimator-study"]._actions}
    assert list(study["game"].choices) == list(registry.GAMES)


def test_the_config_reference_names_every_registered_thing():
    text = (REPO / "config" / "README.md").read_text()
    for name, reg in REGISTRIES.items():
        for entry in reg:
            assert f"`{entry}`" in text, f"config/README.md does not name the {reg.what} {entry!r}"
    for family in registry.strategy_families():
        assert family in text + (REPO / "docs" / "definitions.md").read_text(), family
    assert valid_forms().startswith("SVbottom(k), SVbottomP(p), SVbucket(p), random(k), Wbottom(k)")


@pytest.mark.parametrize("old,new", list(RENAMED.items()))
def test_each_renamed_key_is_refused_naming_the_new_one(old, new):
    config: dict = {}
    node = config
    parts = old.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = {} if old in ("estimators", "layers") else 1
    with pytest.raises(SchemaError, match=f"config {old} was renamed to {new}"):
        validate(config, SCHEMA)


def test_a_registry_takes_objects_paths_and_decorators_and_refuses_duplicates():
    reg = registry.Registry("thing", default="a")
    reg.register("a", "svprune.strategies:BottomK", "by path")

    @reg.register("b")
    class B:
        """B's one-line description."""

    assert B.__name__ == "B" and reg.get("b") is B  # the decorator returns the class itself
    assert reg.entry("b").description == "B's one-line description."
    assert reg.get("a").__name__ == "BottomK" and reg.names() == ("a", "b") and reg.default == "a"
    with pytest.raises(registry.RegistryError, match="'b' is registered already"):
        reg.register("b", B)
    with pytest.raises(registry.RegistryError, match="unknown thing 'c'; choose one of a, b"):
        reg.get("c")
    reg.unregister("b")
    assert "b" not in reg
