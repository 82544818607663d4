"""The svprune command: each workflow step callable by hand, with clear errors."""

import pandas as pd

from svprune.cli import main
from svprune.models import MLP, load_checkpoint, save_checkpoint


def test_prepare_train_walk_by_hand(tmp_path):
    data, root, walk = tmp_path / "splits.npz", tmp_path / "root.pt", tmp_path / "walk.csv"
    assert main(["prepare", "--dataset", '{"name": "digits"}', "--out", str(data)]) == 0
    assert main(["train-root", "--data", str(data), "--model", '{"hidden": 8}', "--training", '{"root_epochs": 2}',
                 "--seed", "3", "--out", str(root)]) == 0
    assert main(["walk", "--data", str(data), "--root", str(root), "--strategy", "SVbottom(3)", "--seed", "3",
                 "--pruning", '{"shapley": {"budget": 10}}', "--out", str(walk)]) == 0
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
    assert "corrupt" in caplog.text
    assert not (tmp_path / "w.csv").exists()


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
    assert main(["values", "--data", str(data), "--model", str(root), "--method", "exact", "--out", str(out)]) == 0
    values = pd.read_csv(out)
    assert len(values) == 6 and (values["stderr"] == 0).all()
    if values["normalized"].notna().all():
        assert abs(values["normalized"].sum() - 1) < 1e-9
    assert main(["values", "--data", str(data), "--model", str(root), "--method", "permutation",
                 "--budget", "50", "--out", str(out)]) == 0
    approx = pd.read_csv(out)
    assert abs(approx["shapley"].sum() - values["shapley"].sum()) < 1e-9  # efficiency: both sum to v(U)
