"""Your own model and data, end to end: a factory in a module outside the package (model kind ``python``), arrays
and image folders as data sets, checkpoints that rebuild the model, the command line, refusals before any
training, and the workflow from config to report."""

import json
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from svprune.cli import main
from svprune.data import DataError, Splits, load_splits
from svprune.kinds import REGISTRY, KindError
from svprune.kinds.python import build_from_factory
from svprune.models import load_checkpoint, load_weights, save_checkpoint
from tests.test_workflow import run, workdir

REPO = Path(__file__).resolve().parents[1]

MODULE = textwrap.dedent('''
    """A user's models: nothing here imports svprune."""
    import torch
    from torch import nn


    def tiny_cnn(num_classes=10, width=6, norm="batch"):
        """conv -> ReLU -> norm -> conv -> pool -> linear, for (1, 8, 8) images."""
        norms = {"batch": nn.BatchNorm2d(width), "group": nn.GroupNorm(1, width)}
        return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), norms[norm],
                             nn.Conv2d(width, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                             nn.Linear(32, num_classes))


    class TwoHeads(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.body = tiny_cnn(num_classes)

        def forward(self, x):
            logits = self.body(x)
            return logits, logits.softmax(1)


    def two_heads(num_classes=10):
        return TwoHeads(num_classes)


    not_a_function = 3
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module of the user's, importable through PYTHONPATH (and sys.path, for this process)."""
    folder = tmp_path / "usercode"
    folder.mkdir()
    (folder / "tiny_models.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]))
    sys.modules.pop("tiny_models", None)
    return folder


@pytest.fixture
def image_arrays(tmp_path, digits):
    """Digits as the user's own arrays: images of shape (N, 1, 8, 8), a test split, no validation split."""
    path = tmp_path / "digits_arrays.npz"
    shape = lambda a: a.reshape(len(a), 1, 8, 8)  # noqa: E731
    np.savez(path, x_train=shape(np.concatenate([digits.x_train, digits.x_val])),
             y_train=np.concatenate([digits.y_train, digits.y_val]), x_test=shape(digits.x_test), y_test=digits.y_test)
    return path


def test_the_registry_is_the_one_list_of_model_kinds():
    import yaml

    assert list(REGISTRY) == ["mlp", "residual", "cnn", "torchvision", "python"]
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    kind = schema["properties"]["model"]["properties"]["kind"]
    assert "enum" not in kind  # checked against the registry by svprune.config.check_model
    for name in REGISTRY:
        assert name in kind["description"]


def test_arrays_keep_their_sample_shape_and_a_validation_split_is_carved(image_arrays):
    splits = load_splits("arrays", path=image_arrays, validation_fraction=0.25, split_seed=0)
    assert splits.sample_shape == (1, 8, 8) and splits.n_features == 64 and splits.n_classes == 10
    assert len(splits.y_val) == pytest.approx(0.25 * (len(splits.y_train) + len(splits.y_val)), abs=1)
    assert splits.shaped(splits.sample_shape).x_train.shape[1:] == (1, 8, 8)


def test_arrays_errors_name_what_was_looked_for(tmp_path):
    with pytest.raises(DataError, match=r"looked for .*nothere.npz, which does not exist.*dataset.path"):
        load_splits("arrays", path=tmp_path / "nothere.npz")
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((4, 3)), y_train=np.zeros(4, dtype=int))
    with pytest.raises(DataError, match=r"lacks x_test, y_test"):
        load_splits("arrays", path=tmp_path / "bad.npz")


def test_an_image_folder_is_read_with_its_classes(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 2)):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)).save(tmp_path / split / cls / f"{i}.png")
    splits = load_splits("imagefolder", root=tmp_path, image_size=8, validation_fraction=0.25)
    assert splits.sample_shape == (3, 8, 8) and splits.n_classes == 2
    assert len(splits.y_test) == 4 and len(splits.y_train) + len(splits.y_val) == 12
    assert 0 <= splits.x_train.min() and splits.x_train.max() <= 1
    grey = load_splits("imagefolder", root=tmp_path, grayscale=True)  # one size already: no resize needed
    assert grey.sample_shape == (1, 10, 12)
    with pytest.raises(DataError, match=r"looked for .*elsewhere/train"):
        load_splits("imagefolder", root=tmp_path / "elsewhere")


def test_factory_models_are_seeded_described_and_rebuilt_from_checkpoints(user_module, tmp_path):
    a = build_from_factory("tiny_models:tiny_cnn", {"width": 5}, seed=3, input_shape=[1, 8, 8])
    b = build_from_factory("tiny_models:tiny_cnn", {"width": 5}, seed=3)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)  # the same seed gives the same model
    save_checkpoint(a, tmp_path / "a.pt")
    loaded, _ = load_checkpoint(tmp_path / "a.pt")
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(loaded.eval()(x), a.eval()(x))
    assert loaded.svprune_spec == {"kind": "python", "factory": "tiny_models:tiny_cnn", "kwargs": {"width": 5},
                                   "input_shape": [1, 8, 8]}
    torch.save(a.state_dict(), tmp_path / "weights.pt")
    c = load_weights(build_from_factory("tiny_models:tiny_cnn", {"width": 5}, seed=9), tmp_path / "weights.pt")
    torch.testing.assert_close(c.eval()(x), a(x))
    with pytest.raises(ValueError, match=r"do not fit the model the config builds"):
        load_weights(build_from_factory("tiny_models:tiny_cnn", {"width": 4}), tmp_path / "weights.pt")


def test_factory_errors_say_what_to_do(user_module):
    with pytest.raises(KindError, match=r"cannot import module 'nowhere_models'.*PYTHONPATH"):
        build_from_factory("nowhere_models:net")
    with pytest.raises(KindError, match=r"has no 'missing'"):
        build_from_factory("tiny_models:missing")
    with pytest.raises(KindError, match=r"is a int, not a function"):
        build_from_factory("tiny_models:not_a_function")
    with pytest.raises(KindError, match=r"not of the form 'package.module:function'"):
        build_from_factory("tiny_models.tiny_cnn")
    with pytest.raises(KindError, match=r"model.kwargs: tiny_models:tiny_cnn\(\*\*\{'depth': 3\}\) failed"):
        build_from_factory("tiny_models:tiny_cnn", {"depth": 3})
    with pytest.raises(TypeError, match=r"cannot describe a Sequential.*factory"):
        save_checkpoint(torch.nn.Sequential(torch.nn.Linear(2, 2)), "never-written.pt")


def test_damaged_checkpoints_get_one_line_without_unsafe_advice(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value) and "weights_only" not in str(err.value) and "damaged" in str(err.value)


def cli(*args):
    return main([str(a) for a in args])


def test_your_model_through_every_command(user_module, image_arrays, tmp_path, caplog):
    data, root, out = tmp_path / "splits.npz", tmp_path / "root.pt", tmp_path / "out"
    dataset = json.dumps({"name": "arrays", "path": str(image_arrays), "validation_fraction": 0.2})
    assert cli("prepare", "--dataset", dataset, "--out", data) == 0
    assert Splits.load(data).sample_shape == (1, 8, 8)
    model = {"kind": "python", "factory": "tiny_models:tiny_cnn", "kwargs": {"width": 6}, "layer": "0"}
    assert cli("check-model", "--data", data, "--model", json.dumps(model), "--out", tmp_path / "check.json") == 0
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["players"] == 6 and report["read_by"] == ["3"] and report["max_diff_against_pruning"] < 1e-4
    assert cli("train-root", "--data", data, "--model", json.dumps(model), "--training", '{"root_epochs": 2}',
               "--seed", "0", "--out", root) == 0
    training = {"root_epochs": 2}
    pruning = {"retrain_epochs": 1, "layer": "0", "shapley": {"estimator": "antithetic", "budget": 300}}
    assert cli("walk", "--data", data, "--root", root, "--strategy", "SVbottom(2)", "--seed", 0, "--training",
               json.dumps(training), "--pruning", json.dumps(pruning), "--out", out.with_suffix(".csv")) == 0
    walk = pd.read_csv(out.with_suffix(".csv"))
    assert list(walk["players_after"]) == [6, 4, 2, 0] and walk["accuracy"].between(0, 1).all()
    assert not Path(f"{out.with_suffix('.csv')}.partial.csv").exists()
    torch.save(load_checkpoint(root)[0].state_dict(), tmp_path / "weights.pt")
    assert cli("values", "--data", data, "--model", "tiny_models:tiny_cnn", "--kwargs", '{"width": 6}', "--weights",
               tmp_path / "weights.pt", "--layer", "0", "--estimator", "exact", "--out", tmp_path / "v.csv") == 0
    assert len(pd.read_csv(tmp_path / "v.csv")) == 6
    assert cli("values", "--data", data, "--model", "tiny_models:tiny_cnn", "--layer", "0",
               "--out", tmp_path / "v.csv") == 1
    assert "give its trained weights with --weights" in caplog.text
    # a tuple output: the first element is the logits (svprune.outputs)
    heads = {"kind": "python", "factory": "tiny_models:two_heads", "layer": "body.0"}
    assert cli("check-model", "--data", data, "--model", json.dumps(heads), "--out", tmp_path / "c2.json") == 0


def test_check_model_refuses_before_any_training(user_module, image_arrays, tmp_path, caplog):
    data = tmp_path / "splits.npz"
    assert cli("prepare", "--dataset", json.dumps({"name": "arrays", "path": str(image_arrays)}), "--out", data) == 0
    cases = [
        ({"layer": "7"}, r"'7' are the model's output"),
        ({"layer": "2"}, r"'2' is a BatchNorm2d, not a Linear or Conv1d/Conv2d layer"),
        ({"layer": "0", "kwargs": {"norm": "group"}}, r"GroupNorm\(1, 6\).*model.removal: prune"),
        ({"layer": "0", "kwargs": {"num_classes": 3}}, r"returns 3 logits per sample, but the data have 10 classes"),
        ({"layer": "0", "input_shape": [64]}, r"cannot run on the data's samples.*model.input_shape"),
    ]
    for extra, message in cases:
        model = {"kind": "python", "factory": "tiny_models:tiny_cnn", **extra}
        caplog.clear()
        assert cli("check-model", "--data", data, "--model", json.dumps(model), "--out", tmp_path / "c.json") == 1
        assert any(__import__("re").search(message, r.getMessage()) for r in caplog.records), (message, caplog.text)
    model = {"kind": "python", "factory": "tiny_models:tiny_cnn", "layer": "0", "kwargs": {"norm": "group"}}
    assert cli("check-model", "--data", data, "--model", json.dumps(model), "--pruning", '{"removal": "prune"}',
               "--out", tmp_path / "c.json") == 0
    assert json.loads((tmp_path / "c.json").read_text())["mode"] == "pruned"


OWN_CONFIG = textwrap.dedent('''
    outdir: results/own
    dataset: {{name: arrays, path: {arrays}}}
    model: {{kind: python, factory: "tiny_models:tiny_cnn", kwargs: {{width: 6}}, layer: "0"{extra}}}
    training: {{root_epochs: 2, batch_size: 32, learning_rate: 0.01}}
    pruning:
      repetitions: 2
      retrain_epochs: 1
      theta: 0.5
      shapley: {{estimator: antithetic, budget: 200}}
      strategies: [SVbottom(2), TPtaylor(2), random(2)]
      figures: [[SVbottom(2), TPtaylor(2), random(2)]]
    gridsearch: {{enabled: false}}
    estimator_study: {{enabled: false}}
    blocks: {{enabled: false}}
    network: {{enabled: false}}
''')


def workflow_copy(tmp_path: Path) -> Path:
    return workdir(tmp_path, "project")


def snakemake(cwd, *args, check=True):
    return run(cwd, *args, check=check)


@pytest.mark.slow
def test_your_model_plans_and_runs_from_config_to_report(user_module, image_arrays, tmp_path):
    cwd = workflow_copy(tmp_path)
    (cwd / "own.yaml").write_text(OWN_CONFIG.format(arrays=image_arrays, extra=""))
    plan = snakemake(cwd, "-n", "--configfile", "own.yaml").stdout
    assert "check_model" in plan and "train_root" in plan and "prune_walk" in plan
    snakemake(cwd, "--cores", "2", "--configfile", "own.yaml")
    table = pd.read_csv(cwd / "results" / "own" / "tables" / "strategies.csv")
    assert list(table["strategy"]) == ["SVbottom(2)", "TPtaylor(2)", "random(2)"]
    snakemake(cwd, "--configfile", "own.yaml", "--report", "results/own/report.html")
    assert (cwd / "results" / "own" / "report.html").stat().st_size > 10_000
    # from weights of the user's own: no root training, every repetition starts from them
    root, _ = load_checkpoint(cwd / "results" / "own" / "roots" / "seed0.pt")
    torch.save(root.state_dict(), tmp_path / "mine.pt")
    (cwd / "own2.yaml").write_text(OWN_CONFIG.format(arrays=image_arrays, extra=f", checkpoint: {tmp_path / 'mine.pt'}")
                                   .replace("results/own", "results/own2"))
    plan = snakemake(cwd, "-n", "--configfile", "own2.yaml").stdout
    assert "import_root" in plan and "train_root" not in plan


@pytest.mark.slow
def test_a_refused_layer_stops_the_run_before_any_training(user_module, image_arrays, tmp_path):
    cwd = workflow_copy(tmp_path)
    config = OWN_CONFIG.format(arrays=image_arrays, extra="").replace('layer: "0"', 'layer: "7"')
    (cwd / "own.yaml").write_text(config)
    proc = snakemake(cwd, "--cores", "2", "--configfile", "own.yaml", check=False)
    assert proc.returncode != 0
    log = (cwd / "results" / "own" / "logs" / "check_model.log").read_text()
    assert "'7' are the model's output" in log
    assert not (cwd / "results" / "own" / "roots").exists()


def test_a_walk_to_the_last_channel_of_a_residual_tied_group_ends_without_nan():
    """MobileNetV2's residual-tied projection channels: at the last step nothing reaches the layers after the group,
    and batch statistics of constant inputs would blow the gradient up through the chain of batch norms."""
    from svprune.models import ImageModel
    from svprune.walk import ShapleyConfig, WalkConfig, prune_walk

    rng = np.random.default_rng(0)
    x = rng.random((240, 3 * 16 * 16)).astype(np.float32)
    y = rng.integers(0, 4, 240)
    splits = Splits("random", x[:160], y[:160], x[160:200], y[160:200], x[200:], y[200:], 4, (3 * 16 * 16,))
    model = ImageModel("mobilenet_v2", (3, 16, 16), 4, seed=0)
    config = WalkConfig(retrain_epochs=1, layer="net.features.3.conv.2",
                        shapley=ShapleyConfig(estimator="antithetic", budget=100))
    records = prune_walk(model, splits, "random(8)", seed=0, config=config)
    assert list(records["players_after"]) == [24, 16, 8, 0]
    assert records["accuracy"].notna().all() and np.isfinite(records["parameters"]).all()


def test_a_failed_walk_keeps_the_records_of_its_steps(tmp_path, digits, monkeypatch, caplog):
    import svprune.fused as walk_module

    data, root = tmp_path / "splits.npz", tmp_path / "root.pt"
    digits.save(data)
    assert cli("train-root", "--data", data, "--model", '{"hidden": 6}', "--training", '{"root_epochs": 1}',
               "--seed", "0", "--out", root) == 0
    calls = {"n": 0}
    real_train = walk_module.train_fused  # MLP walks retrain fused (svprune.fused)

    def failing_train(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the machine caught fire")
        return real_train(*args, **kwargs)

    monkeypatch.setattr(walk_module, "train_fused", failing_train)
    out = tmp_path / "walk.csv"
    pruning = json.dumps({"retrain_epochs": 1, "shapley": {"estimator": "exact"}})
    assert cli("walk", "--data", data, "--root", root, "--strategy", "random(1)", "--seed", 0, "--pruning", pruning,
               "--out", out) == 1
    assert not out.exists()
    kept = pd.read_csv(f"{out}.partial.csv")
    assert list(kept["step"]) == [0, 1, 2]
    assert f"the records of the steps before the failure are in {out}.partial.csv" in caplog.text
