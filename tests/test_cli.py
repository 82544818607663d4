"""The svprune command: each workflow step callable by hand, with clear errors for bad inputs (named, with a
non-zero exit, no traceback, no half-written or temporary files left)."""

import numpy as np
import pandas as pd
import pytest
import torch

from svprune.cli import main
from svprune.data import Splits
from svprune.models import MLP, load_checkpoint, save_checkpoint


def test_prepare_train_walk_by_hand(tmp_path):
    data, root, walk = tmp_path / "splits.npz", tmp_path / "root.pt", tmp_path / "walk.csv"
    assert main(["prepare", "--dataset", '{"name": "digits"}', "--out", str(data)]) == 0
    assert main(["train-root", "--data", str(data), "--model", '{"hidden": 8}', "--training", '{"root_epochs": 2}',
                 "--seed", "3", "--out", str(root)]) == 0
    assert main(["walk", "--data", str(data), "--root", str(root), "--strategy", "SVbottom(3)", "--seed", "3",
                 "--pruning", '{"shapley": {"budget": 100}}', "--out", str(walk)]) == 0
    records = pd.read_csv(walk)
    assert records["players_after"].tolist() == [8, 5, 2, 0]


def test_unknown_strategy_and_corrupt_checkpoint(tmp_path, caplog):
    data, root = tmp_path / "splits.npz", tmp_path / "root.pt"
    main(["prepare", "--dataset", '{"name": "digits"}', "--out", str(data)])
    save_checkpoint(MLP(64, [4], 10), root)
    assert main(["walk", "--data", str(data), "--root", str(root), "--strategy", "SVtop(3)", "--seed", "0",
                 "--out", str(tmp_path / "w.csv")]) == 1
    assert "valid forms" in caplog.text
    root.write_bytes(root.read_bytes()[:100])  # truncated
    assert main(["walk", "--data", str(data), "--root", str(root), "--strategy", "random(1)", "--seed", "0",
                 "--out", str(tmp_path / "w.csv")]) == 1
    assert "damaged or not an svprune checkpoint" in caplog.text and "run snakemake again" in caplog.text
    assert not (tmp_path / "w.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root.pt", "splits.npz"]  # no temporary files left


def test_checkpoint_round_trip(tmp_path):
    model = MLP(5, [3, 2], 4, seed=1)
    save_checkpoint(model, tmp_path / "m.pt", seed=1)
    loaded, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta == {"seed": 1}
    assert loaded.hidden_sizes == [3, 2]
    for a, b in zip(model.parameters(), loaded.parameters()):
        assert (a == b).all()


def test_values_command_on_a_checkpoint(tmp_path):
    data, root, out = tmp_path / "splits.npz", tmp_path / "root.pt", tmp_path / "values.csv"
    main(["prepare", "--dataset", '{"name": "digits"}', "--out", str(data)])
    main(["train-root", "--data", str(data), "--model", '{"hidden": 6}', "--training", '{"root_epochs": 3}',
          "--seed", "0", "--out", str(root)])
    assert main(["values", "--data", str(data), "--model", str(root), "--estimator", "exact", "--out", str(out)]) == 0
    values = pd.read_csv(out)
    assert len(values) == 6 and (values["stderr"] == 0).all()
    # the same values as the library on the same split
    from svprune import shapley as sh
    from svprune.games import NeuronGame

    splits = Splits.load(data)
    model, _ = load_checkpoint(root)
    expected = sh.exact(NeuronGame(model, *splits.split("validation")))
    np.testing.assert_allclose(values["shapley"], expected.values, atol=1e-12)
    assert expected.grand_value > 0  # so normalised values exist and are phi / v(U)
    np.testing.assert_allclose(values["normalized"], expected.values / expected.grand_value, atol=1e-12)
    assert main(["values", "--data", str(data), "--model", str(root), "--estimator", "permutation",
                 "--budget", "50", "--seed", "1", "--out", str(out)]) == 0
    approx = pd.read_csv(out)
    assert np.all(np.abs(approx["shapley"] - values["shapley"]) <= 4 * approx["stderr"] + 1e-12)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Digits splits and a 6-unit checkpoint trained on them."""
    d = tmp_path_factory.mktemp("cli")
    data, root = d / "splits.npz", d / "root.pt"
    assert main(["prepare", "--dataset", '{"name": "digits"}', "--out", str(data)]) == 0
    assert main(["train-root", "--data", str(data), "--model", '{"hidden": 6}', "--training", '{"root_epochs": 2}',
                 "--seed", "0", "--out", str(root)]) == 0
    return data, root


def values_cmd(data, model, out, *extra):
    return main(["values", "--data", str(data), "--model", str(model), "--estimator", "permutation", "--budget", "50",
                 "--out", str(out), *extra])


def test_labels_outside_the_models_classes_are_an_error_not_a_crash(prepared, tmp_path, caplog):
    data, root = prepared
    splits = Splits.load(data)
    splits.n_classes = 20
    splits.y_val = splits.y_val + 10  # a 20-class data set valued with a 10-class checkpoint
    wide = tmp_path / "wide.npz"
    splits.save(wide)
    out = tmp_path / "v.csv"
    assert values_cmd(wide, root, out) == 1
    assert "labels" in caplog.text and "10 outputs" in caplog.text
    assert not out.exists()


def test_nan_features_are_named(prepared, tmp_path, caplog):
    data, root = prepared
    splits = Splits.load(data)
    splits.x_val[3, 7] = np.nan
    np.savez_compressed(tmp_path / "nan.npz", name=np.array("digits"), n_classes=np.array(10),
                        **{k: getattr(splits, k) for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")})
    assert values_cmd(tmp_path / "nan.npz", root, tmp_path / "v.csv") == 1
    assert "x_val holds 1 NaN" in caplog.text and "nan.npz" in caplog.text


def test_swapped_arguments_and_missing_cuda_are_not_called_corruption(prepared, tmp_path, caplog):
    data, root = prepared
    assert values_cmd(root, data, tmp_path / "v.csv") == 1
    assert "model checkpoint, not prepared data" in caplog.text and "swapped" in caplog.text
    caplog.clear()
    assert main(["walk", "--data", str(data), "--root", str(data), "--strategy", "random(1)", "--seed", "0",
                 "--out", str(tmp_path / "w.csv")]) == 1
    assert "prepared data (.npz), not a model checkpoint" in caplog.text
    if not torch.cuda.is_available():
        caplog.clear()
        assert values_cmd(data, root, tmp_path / "v.csv", "--device", "cuda") == 1
        assert "CUDA is not available" in caplog.text and "checkpoint itself is fine" in caplog.text
        assert "damaged" not in caplog.text


def test_diverged_training_saves_nothing(prepared, tmp_path, caplog):
    data, _ = prepared
    out = tmp_path / "root.pt"
    assert main(["train-root", "--data", str(data), "--model", '{"hidden": 6}',
                 "--training", '{"root_epochs": 3, "optimizer": "sgd", "learning_rate": 1e12}', "--seed", "0", "--out", str(out)]) == 1
    assert "diverged" in caplog.text and "learning_rate" in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_bad_record_files_stop_the_tables_with_the_file_named(prepared, tmp_path, caplog):
    data, root = prepared
    walk = tmp_path / "walk.csv"
    assert main(["walk", "--data", str(data), "--root", str(root), "--strategy", "random(2)", "--seed", "0",
                 "--pruning", '{"shapley": {"budget": 40}}', "--out", str(walk)]) == 0
    outs = [f"--out-{k}" for k in ("steps", "summaries", "table", "roots", "html")]
    args = ["walk-tables", "--theta", "0.5", "--root-epochs", "2", "--retrain-epochs", "2"]
    for o in outs:
        args += [o, str(tmp_path / f"t{o}")]
    assert main([*args, "--walks", str(walk)]) == 0
    lines = walk.read_text().splitlines()
    cut = tmp_path / "cut.csv"
    cut.write_text("\n".join(lines[:-1]) + "\n")  # the last step lost
    for o in outs:
        (tmp_path / f"t{o}").unlink()
    assert main([*args, "--walks", str(walk), str(cut)]) == 1
    assert "cut.csv" in caplog.text and "truncated" in caplog.text
    assert not any((tmp_path / f"t{o}").exists() for o in outs)  # no table from a bad record
    header = tmp_path / "header.csv"
    header.write_text(lines[0] + "\n")
    assert main([*args, "--walks", str(header)]) == 1
    assert "header but no rows" in caplog.text


def test_an_unexpected_failure_is_one_line_without_traceback(prepared, tmp_path, caplog, capsys):
    data, root = prepared
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    assert values_cmd(data, root, blocked / "v.csv") == 1  # the output's directory cannot be created
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Traceback" not in caplog.text
    assert "file" in caplog.text


def test_every_options_error_names_the_valid_values(tmp_path, caplog, capsys):
    from svprune.models import ResidualMLP, SmallCNN

    data = tmp_path / "splits.npz"
    main(["prepare", "--dataset", '{"name": "digits"}', "--out", str(data)])
    mlp, residual, cnn = tmp_path / "mlp.pt", tmp_path / "res.pt", tmp_path / "cnn.pt"
    save_checkpoint(MLP(64, [4], 10), mlp)
    save_checkpoint(ResidualMLP(64, 8, 3, 10), residual)
    save_checkpoint(SmallCNN((1, 8, 8), (3, 4), 10), cnn)

    def values(model, *extra):
        return main(["values", "--data", str(data), "--model", str(model), *extra, "--out", str(tmp_path / "v.csv")])

    assert values(mlp, "--layer", "conv2") == 1
    assert "choose one of 0 (default the last); got 'conv2'" in caplog.text  # not "invalid literal for int()"
    assert values(residual, "--layer", "3") == 1 and "blocks" in caplog.text and "leave the layer unset" in caplog.text
    assert values(cnn, "--layer", "fc9") == 1 and "'conv1'" in caplog.text and "'conv2'" in caplog.text
    for option, bad, listed in [("--estimator", "montecarlo", "antithetic"), ("--measure", "auc", "balanced_accuracy"),
                                ("--split", "train2", "validation")]:
        with pytest.raises(SystemExit):
            values(mlp, option, bad)
        assert listed in capsys.readouterr().err
    assert main(["walk", "--data", str(data), "--root", str(mlp), "--strategy", "SVtop(3)", "--seed", "0",
                 "--out", str(tmp_path / "w.csv")]) == 1
    assert "SVbottom(k), SVbottomP(p), SVbucket(p), random(k), Wbottom(k)" in caplog.text
