"""Data loaders through their real code paths on tiny local copies: MNIST-format files (raw and gzip),
a 20newsgroups bydate-layout corpus; clear errors for missing and corrupt files."""

import gzip
import struct

import numpy as np
import pytest

from svprune.data import DataError, Splits, load_splits, read_idx


def write_idx(path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


def make_mnist(directory, n_train=120, n_test=40, compress=True, seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 256, (n, 28, 28))
        write_idx(directory / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", labels, compress)
    return directory


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_mnist_format_offline(tmp_path, name, compress):
    root = make_mnist(tmp_path / "files", compress=compress)
    splits = load_splits(name, root=root, validation_fraction=0.25, split_seed=0)
    assert splits.x_train.shape == (90, 784) and splits.x_val.shape == (30, 784) and splits.x_test.shape == (40, 784)
    assert splits.n_classes == 10 and splits.x_train.dtype == np.float32 and splits.x_train.max() <= 1.0
    again = load_splits(name, root=root, validation_fraction=0.25, split_seed=0)
    np.testing.assert_array_equal(splits.x_val, again.x_val)  # fixed validation split
    splits.save(tmp_path / "s.npz")
    loaded = Splits.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded.y_test, splits.y_test)


def test_missing_files_error_names_what_it_looked_for(tmp_path):
    with pytest.raises(DataError) as err:
        load_splits("mnist", root=tmp_path / "nowhere")
    message = str(err.value)
    for expected in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte", str(tmp_path / "nowhere"), "dataset.root"):
        assert expected in message


def test_truncated_and_foreign_files(tmp_path):
    root = make_mnist(tmp_path / "files")
    victim = root / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(victim.read_bytes())
    victim.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_splits("mnist", root=root)
    victim.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot read or decompress"):
        load_splits("mnist", root=root)
    (tmp_path / "foreign").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(DataError, match="not an MNIST-format"):
        read_idx(tmp_path / "foreign")


def test_mismatched_images_and_labels(tmp_path):
    root = make_mnist(tmp_path / "a", n_train=120)
    other = make_mnist(tmp_path / "b", n_train=60)
    (root / "train-labels-idx1-ubyte.gz").write_bytes((other / "train-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(DataError, match="do not belong together"):
        load_splits("mnist", root=root)


POST = """From: someone@example.com
Subject: {subject}
Organization: Nowhere

{body}
> a quoted line from an earlier post about {quoted}

--
signature line
"""


def make_newsgroups(directory, per_category=12):
    rng = np.random.default_rng(0)
    topics = {"sci.space": ["orbit", "rocket", "launch", "nasa"], "rec.autos": ["engine", "car", "wheel", "drive"],
              "talk.politics.misc": ["vote", "senate", "policy", "law"]}
    for subset in ("train", "test"):
        for category, words in topics.items():
            folder = directory / f"20news-bydate-{subset}" / category
            folder.mkdir(parents=True)
            for i in range(per_category if subset == "train" else per_category // 2):
                body = " ".join(rng.choice(words, 30))
                (folder / str(1000 + i)).write_text(POST.format(subject=category, body=body, quoted="zebra"))
    return directory


def test_newsgroups_bydate_layout_offline(tmp_path):
    root = make_newsgroups(tmp_path / "news")
    splits = load_splits("20newsgroups", root=root, validation_fraction=0.25, vocabulary_size=50)
    assert splits.n_classes == 3
    assert splits.x_train.shape[0] == 27 and splits.x_val.shape[0] == 9 and splits.x_test.shape[0] == 18
    assert splits.n_features <= 50
    # headers, quotes and signatures removed by default: their words are not in the vocabulary
    kept = load_splits("20newsgroups", root=root, remove=(), vocabulary_size=500)
    assert kept.n_features > splits.n_features  # "zebra", "organization", ... come back


def test_newsgroups_missing_offline(tmp_path):
    with pytest.raises(DataError, match="20news-bydate-train"):
        load_splits("20newsgroups", root=tmp_path)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="digits, mnist, fashion-mnist, 20newsgroups"):
        load_splits("cifar10")


def test_prepare_command_reads_local_mnist(tmp_path):
    from svprune.cli import main

    root = make_mnist(tmp_path / "files")
    out = tmp_path / "splits.npz"
    assert main(["prepare", "--dataset", f'{{"name": "mnist", "root": "{root}"}}', "--out", str(out)]) == 0
    assert Splits.load(out).n_features == 784
    assert main(["prepare", "--dataset", f'{{"name": "mnist", "root": "{tmp_path}/none"}}', "--out", str(out)]) == 1
