"""Extending svprune from outside the package: a new estimator, scoring criterion (with its strategy family), model
kind and data set (tests/plugins/svprune_extensions.py), each one class or function and one registration call,
driven through the config check, the command line and a walk, as a user's plugin module would be."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from svprune import registry

PLUGINS = Path(__file__).parent / "plugins"
MODULE = "svprune_extensions"
REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def plugin(monkeypatch):
    """The plugin imported from its own directory (not the package's); its registrations removed afterwards."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    sys.modules.pop(MODULE, None)
    module = importlib.import_module(MODULE)
    yield module
    for reg, name in [(registry.ESTIMATORS, "leave_one_out"), (registry.SCORERS, "l1_norm"),
                      (registry.KINDS, "tanh_mlp"), (registry.DATASETS, "blobs")]:
        if name in reg:
            reg.unregister(name)
    sys.modules.pop(MODULE, None)


def test_each_extension_is_registered_by_one_call_and_works_in_the_library(plugin):
    from svprune.data import load_splits
    from svprune.games import UnanimitySumGame
    from svprune.shapley import shapley_values
    from svprune.strategies import parse

    # the estimator: leave-one-out is exact on an additive game (unanimity games of one player each)
    weights = np.array([0.5, -0.25, 2.0, 1.0, 0.0])
    additive = lambda c: c.astype(float) @ weights  # noqa: E731
    est = shapley_values(additive, "leave_one_out", budget=7, n_players=5)
    np.testing.assert_allclose(est.values, weights)
    assert est.n_evaluations == 7 and est.estimator == "leave_one_out"
    with pytest.raises(ValueError, match="at least 7"):
        shapley_values(additive, "leave_one_out", budget=6, n_players=5)
    # ... and not on a game with interactions, where it differs from the Shapley value
    game = UnanimitySumGame(6, n_terms=4, max_size=3, seed=0)
    assert np.abs(shapley_values(game, "leave_one_out", 8).values - game.exact_values()).max() > 1e-3
    # the criterion's family parses like the built-in ones; the data set loads by name with its options
    assert parse("L1bottom( 2 )").name == "L1bottom(2)" and parse("L1bottom(2)").scorer_name == "l1_norm"
    splits = load_splits("blobs", split_seed=3, options={"samples": 500})
    assert splits.name == "blobs" and len(splits.y_train) == 300 and splits.n_classes == 4


def test_the_config_check_accepts_the_plugins_names_and_lists_them_in_errors(plugin):
    from svprune.config import ConfigError, plan

    def config(**sections):
        return {"plugins": [MODULE], "outdir": "results/ext", "dataset": {"name": "blobs"},
                "model": {"kind": "tanh_mlp", "hidden": 8, "layer": "hidden"}, "gridsearch": {"enabled": False},
                "estimator_study": {"enabled": False}, "blocks": {"enabled": False},
                "pruning": {"strategies": ["L1bottom(2)", "SVbottom(2)"], "shapley": {"estimator": "leave_one_out"}},
                **sections}

    checked = plan(config(), REPO, SCHEMA)
    assert checked.strategies == ["L1bottom(2)", "SVbottom(2)"] and checked.kind.name == "tanh_mlp"
    with pytest.raises(ConfigError, match="leave_one_out"):  # an unknown estimator: the plugin's is among the choices
        plan(config(pruning={"shapley": {"estimator": "nope"}}), REPO, SCHEMA)
    with pytest.raises(ConfigError, match=r"L1bottom\(k\)"):
        plan(config(pruning={"strategies": ["L2bottom(1)"]}), REPO, SCHEMA)
    with pytest.raises(ConfigError, match="model.layer"):  # the kind's own checks
        plan(config(model={"kind": "tanh_mlp", "hidden": 8}), REPO, SCHEMA)


def _cli(tmp_path, *args):
    env = {"PYTHONPATH": f"{PLUGINS}:{REPO / 'src'}", "PATH": str(Path(sys.executable).parent)}
    proc = subprocess.run([sys.executable, "-m", "svprune.cli", "--plugins", MODULE, *map(str, args)], cwd=tmp_path,
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_the_command_line_and_a_walk_run_every_extension(tmp_path):
    model = {"kind": "tanh_mlp", "hidden": 6, "layer": "hidden"}
    _cli(tmp_path, "prepare", "--dataset", json.dumps({"name": "blobs", "split_seed": 0}), "--out", "splits.npz")
    training = json.dumps({"root_epochs": 3, "batch_size": 32, "learning_rate": 0.01})
    _cli(tmp_path, "train-root", "--data", "splits.npz", "--model", json.dumps(model), "--training", training,
         "--seed", 0, "--out", "root.pt")
    pruning = json.dumps({"retrain_epochs": 1, "layer": "hidden", "shapley": {"estimator": "leave_one_out", "budget": 50}})
    _cli(tmp_path, "walk", "--data", "splits.npz", "--root", "root.pt", "--strategy", "L1bottom(2)", "--seed", 0,
         "--training", training, "--pruning", pruning, "--model", json.dumps(model), "--out", "walk.csv")
    walk = pd.read_csv(tmp_path / "walk.csv")
    assert list(walk["players_after"]) == [6, 4, 2, 0]
    assert (walk["shapley_method"].iloc[1:] == "leave_one_out").all()
    assert (walk["shapley_evaluations"].iloc[1:] == walk["players_before"].iloc[1:] + 2).all()  # n, v(empty), v(U)
    values = _cli(tmp_path, "values", "--data", "splits.npz", "--model", "root.pt", "--estimator", "leave_one_out",
                  "--budget", 8, "--out", "values.csv")
    assert "leave_one_out" in values.stderr and len(pd.read_csv(tmp_path / "values.csv")) == 6
    # without the plugin, the names are unknown and the errors list what is registered
    proc = subprocess.run([sys.executable, "-m", "svprune.cli", "values", "--data", "splits.npz", "--model", "root.pt",
                           "--estimator", "leave_one_out", "--out", "v.csv"], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO / "src")})
    assert proc.returncode == 2 and "invalid choice: 'leave_one_out'" in proc.stderr and "permutation" in proc.stderr


def test_the_workflow_plans_with_the_plugin(tmp_path):
    """The Snakefile imports the plugins named in the config before it checks the config."""
    cwd = tmp_path / "wf"
    cwd.mkdir()
    for item in ("workflow", "config"):
        import shutil

        shutil.copytree(REPO / item, cwd / item)
    (cwd / "ext.yaml").write_text(
        f"plugins: [{MODULE}]\noutdir: results/ext\ndataset: {{name: blobs}}\n"
        "model: {kind: tanh_mlp, hidden: 6, layer: hidden}\ngridsearch: {enabled: false}\n"
        "estimator_study: {enabled: false}\nblocks: {enabled: false}\n"
        "pruning: {repetitions: 1, strategies: ['L1bottom(2)'], figures: [], shapley: {estimator: leave_one_out}}\n")
    env = {"PYTHONPATH": f"{PLUGINS}:{REPO / 'src'}", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
           "HOME": str(tmp_path)}
    snakemake = [sys.executable, "-m", "snakemake", "--cores", "1", "-n", "--configfile", "ext.yaml"]
    proc = subprocess.run(snakemake, cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "prune_walk" in proc.stdout and "L1bottom-2" in proc.stdout + proc.stderr
    bad = subprocess.run(snakemake + ["--config", "plugins=[]"], cwd=cwd, capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "config dataset.name: 'blobs' is not one of ['digits'" in bad.stderr + bad.stdout
