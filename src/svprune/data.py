"""Data sets, each prepared into the same form: train / validation / test splits of float32 features and
int64 labels (docs/definitions.md, "Data"). The validation split is carved from the training data with a fixed seed.

- ``digits``: scikit-learn's embedded handwritten digits (8x8, 1,797 images); needs no network or files.
- ``mnist``, ``fashion-mnist``: the four MNIST-format files (``train-images-idx3-ubyte[.gz]`` etc.) read
  from a local directory (Debian's ``dataset-fashion-mnist`` installs them in
  /usr/share/datasets/fashion-mnist); with ``download=True`` and a network, torchvision fetches them.
- ``20newsgroups``: a local copy in the archive's ``20news-bydate-train/<category>/<file>`` layout, or
  scikit-learn's fetcher with a network; TF-IDF features fitted on the training split only.
"""

from __future__ import annotations

import gzip
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svprune.checks import check_finite, check_labels, check_same_length, error_summary
from svprune.files import atomic_path
from svprune.registry import DATASETS

SPLIT_ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
DEFAULT_ROOTS = {
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist"],
    "mnist": ["/usr/share/datasets/mnist"],
    "20newsgroups": [],
}
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class DataError(RuntimeError):
    """A data set could not be loaded: the message says what was looked for and how to supply it."""


@dataclass
class Splits:
    """A prepared data set: features (float32) and labels (int64) of the train, validation and test splits."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    sample_shape: tuple = ()
    """The shape of one sample before flattening (e.g. (1, 28, 28)); features are stored flat. Default: flat."""

    def __post_init__(self):
        if not self.sample_shape:
            self.sample_shape = (int(self.x_train.shape[1]),)
        self.sample_shape = tuple(int(v) for v in self.sample_shape)

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def shaped(self, shape) -> Splits:
        """The same splits with each sample reshaped to ``shape`` (views, no copy): the input a model takes."""
        shape = tuple(int(v) for v in shape)
        if int(np.prod(shape)) != self.n_features:
            raise ValueError(f"cannot give samples of {self.n_features} features the shape {list(shape)}")
        reshape = lambda a: a.reshape(len(a), *shape)  # noqa: E731
        return Splits(self.name, reshape(self.x_train), self.y_train, reshape(self.x_val), self.y_val,
                      reshape(self.x_test), self.y_test, self.n_classes, self.sample_shape)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Features and labels of split ``train``, ``validation`` or ``test``."""
        pairs = {
            "train": (self.x_train, self.y_train),
            "validation": (self.x_val, self.y_val),
            "test": (self.x_test, self.y_test),
        }
        if name not in pairs:
            raise ValueError(f"unknown split {name!r}; choose train, validation or test")
        return pairs[name]

    def save(self, path: str | os.PathLike) -> None:
        """Write all splits to one .npz file (atomically)."""
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(
                tmp,
                name=np.array(self.name),
                n_classes=np.array(self.n_classes),
                sample_shape=np.array(self.sample_shape, dtype=np.int64),
                **{k: getattr(self, k).reshape(len(getattr(self, k)), -1) if k.startswith("x") else getattr(self, k)
                   for k in SPLIT_ARRAYS},
            )

    def check(self, source: str = "the data") -> Splits:
        """Refuse what would make every later number wrong: NaN or infinite features, labels outside
        0..n_classes-1, features and labels of different lengths."""
        for part in ("train", "val", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            check_same_length(x, y, f"{source}: x_{part}", f"y_{part}")
            check_finite(x, f"{source}: x_{part}", "clean or impute the features before preparing the data")
            check_labels(y, self.n_classes, f"{source}: y_{part}", f"the data set declares {self.n_classes} classes")
        return self

    @classmethod
    def load(cls, path: str | os.PathLike) -> Splits:
        """Read splits written by :meth:`save`; a damaged file gets an error that says to recreate it."""
        if _is_torch_checkpoint(path):
            raise DataError(f"{path} is a model checkpoint, not prepared data (.npz from `svprune prepare`); "
                            "were --data and --model swapped?")
        try:
            with np.load(path) as z:
                splits = cls(
                    name=str(z["name"]),
                    n_classes=int(z["n_classes"]),
                    sample_shape=tuple(z["sample_shape"].tolist()) if "sample_shape" in z.files else (),
                    **{k: z[k] for k in SPLIT_ARRAYS},
                )
        except FileNotFoundError:
            raise
        except Exception as err:
            raise DataError(
                f"prepared data {path} is unreadable ({error_summary(err)}); delete it and run snakemake "
                "again (or `svprune prepare`), which rewrites it"
            ) from err
        try:
            return splits.check(str(path))
        except ValueError as err:
            raise DataError(str(err)) from None


def _is_torch_checkpoint(path) -> bool:
    """torch.save writes a zip archive holding a pickle (``*/data.pkl``); np.savez one of ``.npy`` files."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("data.pkl") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _carve_validation(x, y, fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1); got {fraction}")
    return train_test_split(x, y, test_size=fraction, random_state=seed, stratify=y)


def _finish(name, x_train, y_train, x_test, y_test, validation_fraction, seed, sample_shape=(), val=None) -> Splits:
    if val is None:
        x_tr, x_val, y_tr, y_val = _carve_validation(x_train, y_train, validation_fraction, seed)
    else:
        (x_tr, y_tr), (x_val, y_val) = (x_train, y_train), val
    f32 = lambda a: np.ascontiguousarray(np.asarray(a).reshape(len(a), -1), dtype=np.float32)  # noqa: E731
    i64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    n_classes = int(max(np.max(y_train), np.max(y_test))) + 1
    splits = Splits(name, f32(x_tr), i64(y_tr), f32(x_val), i64(y_val), f32(x_test), i64(y_test), n_classes,
                    tuple(sample_shape))
    try:
        return splits.check(f"data set {name!r}")
    except ValueError as err:
        raise DataError(str(err)) from None


def load_digits_splits(validation_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0) -> Splits:
    """scikit-learn's digits, pixels scaled to [0, 1], split stratified with ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=test_fraction, random_state=seed, stratify=y)
    return _finish("digits", x_train, y_train, x_test, y_test, validation_fraction, seed, sample_shape=(1, 8, 8))


# ---- MNIST format -------------------------------------------------------------------------------------
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one MNIST-format (IDX) file, gzip-compressed or not; a truncated or foreign file gets a
    :class:`DataError` naming the file and what is wrong with it."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: cannot read or decompress ({err}); the file is damaged, replace it") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or not 1 <= raw[3] <= 4:
        raise DataError(f"{path}: not an MNIST-format (IDX) file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: truncated or corrupt: header says shape {shape} ({expected:,} bytes of data), "
            f"file holds {len(raw) - header:,}; replace the file"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz", directory / "raw" / stem, directory / "raw" / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _download_mnist(name: str, cache: Path) -> Path:
    """Fetch the files with torchvision's dataset class into ``cache``; returns the directory of raw files."""
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    cls(str(cache), train=True, download=True)
    cls(str(cache), train=False, download=True)
    return cache / cls.__name__ / "raw"


def load_mnist_splits(
    name: str = "mnist",
    root: str | os.PathLike | None = None,
    download: bool = False,
    validation_fraction: float = 1 / 6,
    seed: int = 0,
) -> Splits:
    """MNIST or Fashion-MNIST (flattened 784 pixels scaled to [0, 1]) from local MNIST-format files in
    ``root`` (or the Debian package's directory), else, with ``download``, through torchvision."""
    roots = [Path(root)] if root else [Path(p) for p in DEFAULT_ROOTS[name]]
    for directory in roots:
        found = {k: _find_idx(directory, stem) for k, stem in IDX_FILES.items()}
        if all(found.values()):
            break
    else:
        if download:
            cache = Path(root or Path.home() / ".cache" / "svprune")
            try:
                directory = _download_mnist(name, cache)
                found = {k: _find_idx(directory, stem) for k, stem in IDX_FILES.items()}
            except Exception as err:  # no network, or a failed mirror
                raise DataError(_missing_message(name, roots, f"and the download failed ({err})")) from err
        else:
            raise DataError(_missing_message(name, roots, "and download is off"))
    arrays = {k: read_idx(path) for k, path in found.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(
                f"{found[f'{split}_images']} has {len(images)} images but {found[f'{split}_labels']} has "
                f"{len(labels)} labels; the files do not belong together"
            )
    flat = lambda a: a.reshape(len(a), -1).astype(np.float32) / 255.0  # noqa: E731
    height, width = arrays["train_images"].shape[1:3]
    return _finish(
        name, flat(arrays["train_images"]), arrays["train_labels"], flat(arrays["test_images"]),
        arrays["test_labels"], validation_fraction, seed, sample_shape=(1, height, width),
    )


def _missing_message(name: str, roots: list[Path], why: str) -> str:
    where = ", ".join(str(r) for r in roots) or "(no directory configured)"
    files = ", ".join(f"{stem}[.gz]" for stem in IDX_FILES.values())
    hint = (
        " On Debian, `apt-get install dataset-fashion-mnist` puts them in /usr/share/datasets/fashion-mnist."
        if name == "fashion-mnist"
        else ""
    )
    return (
        f"data set {name!r}: looked for the four MNIST-format files {files} in {where} "
        f"(and its raw/ subdirectory), {why}. Put the files there or set dataset.root in the config to the "
        f"directory that holds them, or set dataset.download: true on a machine with network.{hint}"
    )


# ---- 20newsgroups -------------------------------------------------------------------------------------
def _read_bydate(directory: Path, subset: str) -> tuple[list[str], list[str]]:
    folder = directory / f"20news-bydate-{subset}"
    texts, labels = [], []
    for category in sorted(p for p in folder.iterdir() if p.is_dir()):
        for document in sorted(category.iterdir()):
            if document.is_file():
                texts.append(document.read_bytes().decode("latin-1"))
                labels.append(category.name)
    return texts, labels


def load_newsgroups_splits(
    root: str | os.PathLike | None = None,
    download: bool = False,
    vocabulary_size: int = 2000,
    remove: tuple[str, ...] = ("headers", "footers", "quotes"),
    validation_fraction: float = 0.2,
    seed: int = 0,
) -> Splits:
    """20newsgroups as TF-IDF features (vocabulary fitted on the training split only) from a local
    bydate-layout copy in ``root``, else, with ``download``, through scikit-learn's fetcher."""
    from sklearn.datasets import fetch_20newsgroups
    from sklearn.datasets._twenty_newsgroups import (
        strip_newsgroup_footer,
        strip_newsgroup_header,
        strip_newsgroup_quoting,
    )
    from sklearn.feature_extraction.text import TfidfVectorizer

    directory = Path(root) if root else None
    if directory is not None and (directory / "20news-bydate-train").is_dir() and (directory / "20news-bydate-test").is_dir():
        (train_text, train_cat), (test_text, test_cat) = _read_bydate(directory, "train"), _read_bydate(directory, "test")
        strip = {"headers": strip_newsgroup_header, "footers": strip_newsgroup_footer, "quotes": strip_newsgroup_quoting}
        for part in remove:
            train_text = [strip[part](t) for t in train_text]
            test_text = [strip[part](t) for t in test_text]
        categories = sorted(set(train_cat))
        index = {c: i for i, c in enumerate(categories)}
        unknown = sorted(set(test_cat) - set(index))
        if unknown:
            raise DataError(f"{directory}: test categories {unknown} do not occur in 20news-bydate-train")
        y_train = np.array([index[c] for c in train_cat])
        y_test = np.array([index[c] for c in test_cat])
    elif download or directory is None:
        try:
            kwargs = dict(remove=tuple(remove), data_home=str(directory) if directory else None, download_if_missing=download)
            train = fetch_20newsgroups(subset="train", **kwargs)
            test = fetch_20newsgroups(subset="test", **kwargs)
        except Exception as err:
            raise DataError(_newsgroups_message(directory, f"scikit-learn's fetcher failed ({err})")) from err
        train_text, y_train, test_text, y_test = train.data, train.target, test.data, test.target
    else:
        raise DataError(_newsgroups_message(directory, "and download is off"))
    if not len(train_text) or not len(test_text):
        raise DataError(_newsgroups_message(directory, "but found no documents there"))
    vectorizer = TfidfVectorizer(max_features=int(vocabulary_size), dtype=np.float32)
    x_train = vectorizer.fit_transform(train_text).toarray()
    x_test = vectorizer.transform(test_text).toarray()
    return _finish("20newsgroups", x_train, y_train, x_test, y_test, validation_fraction, seed)


def _newsgroups_message(directory: Path | None, why: str) -> str:
    return (
        f"data set '20newsgroups': looked for {directory or '<dataset.root>'}/20news-bydate-train/<category>/<file> "
        f"and 20news-bydate-test/..., {why}. Unpack 20news-bydate.tar.gz into dataset.root; or leave dataset.root "
        "unset to read the copy scikit-learn caches in its data home (~/scikit_learn_data, or $SCIKIT_LEARN_DATA) "
        "when it has fetched one before; or set dataset.download: true on a machine with network."
    )


# ---- data the user brings --------------------------------------------------------------------------------------
ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_array_splits(path: str | os.PathLike, validation_fraction: float = 0.2, seed: int = 0) -> Splits:
    """Splits from one .npz file of arrays: ``x_train``, ``y_train``, ``x_test``, ``y_test`` (and, optionally,
    ``x_val``, ``y_val``; else the validation split is carved from the training data with ``seed``). Samples keep
    their shape (``x_train`` of shape (N, 3, 32, 32) gives sample shape (3, 32, 32)); labels are 0..classes-1."""
    if not path:
        raise DataError("data set 'arrays' needs dataset.path: an .npz file with x_train, y_train, x_test, y_test")
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data set 'arrays': looked for {path}, which does not exist; set dataset.path to an .npz "
                        "file with arrays x_train, y_train, x_test, y_test (np.savez)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as err:  # noqa: BLE001
        raise DataError(f"data set 'arrays': {path} is not a readable .npz file ({type(err).__name__}: {err})") from err
    missing = [k for k in ARRAY_KEYS if k not in arrays]
    if missing or (("x_val" in arrays) != ("y_val" in arrays)):
        raise DataError(f"data set 'arrays': {path} lacks {', '.join(missing) or 'x_val or y_val'} (it holds "
                        f"{', '.join(sorted(arrays))}); it needs x_train, y_train, x_test, y_test, and x_val with "
                        "y_val or neither")
    shape = arrays["x_train"].shape[1:]
    for key in ("x_test", "x_val"):
        if key in arrays and arrays[key].shape[1:] != shape:
            raise DataError(f"data set 'arrays': {path}: {key} has samples of shape {arrays[key].shape[1:]}, x_train "
                            f"of shape {shape}")
    for key in ("y_train", "y_test", "y_val"):
        if key in arrays and (arrays[key].ndim != 1 or not np.issubdtype(arrays[key].dtype, np.integer)):
            raise DataError(f"data set 'arrays': {path}: {key} must be a vector of integer class labels; it is "
                            f"{arrays[key].dtype} of shape {arrays[key].shape}")
    val = (arrays["x_val"], arrays["y_val"]) if "x_val" in arrays else None
    return _finish(path.stem, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                   validation_fraction, seed, sample_shape=shape or (1,), val=val)


def load_image_folder_splits(root: str | os.PathLike | None, image_size: int | None = None, grayscale: bool = False,
                             validation_fraction: float = 0.2, seed: int = 0) -> Splits:
    """Splits from image folders in torchvision's ``ImageFolder`` layout: ``root/train/<class>/<image>`` and
    ``root/test/<class>/<image>`` (and, optionally, ``root/val/...``), pixels scaled to [0, 1], resized to
    ``image_size`` x ``image_size`` where given (else every image must have one size), one channel with
    ``grayscale``. Classes are the training folders' names in sorted order."""
    if not root:
        raise DataError("data set 'imagefolder' needs dataset.root: a directory with train/<class>/ and "
                        "test/<class>/ folders of images")
    from torchvision import datasets, transforms

    root = Path(root)
    parts = [t for t in ([transforms.Grayscale()] if grayscale else [])]
    if image_size:
        parts.append(transforms.Resize((int(image_size), int(image_size))))
    parts.append(transforms.ToTensor())
    transform = transforms.Compose(parts)
    found = {}
    for split in ("train", "val", "test"):
        folder = root / split
        if not folder.is_dir():
            if split == "val":
                continue
            raise DataError(f"data set 'imagefolder': looked for {folder}, which does not exist; lay the images out "
                            f"as {root}/train/<class>/<image> and {root}/test/<class>/<image>")
        try:
            data = datasets.ImageFolder(str(folder), transform=transform)
            images = [data[i] for i in range(len(data))]
        except Exception as err:  # noqa: BLE001 - empty folders, unreadable images
            raise DataError(f"data set 'imagefolder': cannot read {folder} ({type(err).__name__}: {err})") from err
        shapes = {tuple(img.shape) for img, _ in images}
        if len(shapes) > 1:
            raise DataError(f"data set 'imagefolder': {folder} holds images of several sizes ({sorted(shapes)[:4]}); "
                            "set dataset.image_size to resize them to one")
        found[split] = (data.classes, np.stack([img.numpy() for img, _ in images]), np.array([c for _, c in images]))
    classes = found["train"][0]
    for split, (names, _, _) in found.items():
        if set(names) - set(classes):
            raise DataError(f"data set 'imagefolder': {root / split} has classes {sorted(set(names) - set(classes))} "
                            f"that {root / 'train'} lacks")
    remap = lambda split: np.array([classes.index(found[split][0][c]) for c in found[split][2]])  # noqa: E731
    x_train, x_test = found["train"][1], found["test"][1]
    val = (found["val"][1], remap("val")) if "val" in found else None
    return _finish(root.name, x_train, remap("train"), x_test, remap("test"), validation_fraction, seed,
                   sample_shape=x_train.shape[1:], val=val)


def load_splits(name: str = DATASETS.default, split_seed: int = 0, train_size: int | None = None,
                **options) -> Splits:
    """Load the data set registered as ``name`` (svprune.registry.DATASETS) into splits. ``options``: the keys of
    the config's ``dataset`` section that its loader reads (``validation_fraction``; ``path`` of ``arrays``;
    ``root``, ``download``; ``image_size`` and ``grayscale`` of ``imagefolder``; ``vocabulary_size`` and
    ``remove`` of ``20newsgroups``). ``split_seed`` draws the validation split; ``train_size`` keeps a stratified
    subset of that many training samples (the validation and test splits stay whole), for a quicker study."""
    loader = DATASETS.get(name, "dataset.name")
    splits = loader({**options, "name": name, "split_seed": int(split_seed)})
    if not isinstance(splits, Splits):
        raise DataError(f"the loader of data set {name!r} returned a {type(splits).__name__}, not svprune.data.Splits")
    return subsample_training(splits, train_size, split_seed) if train_size else splits


def subsample_training(splits: Splits, train_size: int, seed: int = 0) -> Splits:
    """The splits with a stratified subset of ``train_size`` training samples."""
    from sklearn.model_selection import train_test_split

    n = len(splits.y_train)
    if not 0 < int(train_size) <= n:
        raise DataError(f"dataset.train_size {train_size} must lie in 1..{n} (the training samples of {splits.name!r})")
    if int(train_size) == n:
        return splits
    idx, _ = train_test_split(np.arange(n), train_size=int(train_size), random_state=seed, stratify=splits.y_train)
    idx = np.sort(idx)
    return Splits(splits.name, splits.x_train[idx], splits.y_train[idx], splits.x_val, splits.y_val, splits.x_test,
                  splits.y_test, splits.n_classes, splits.sample_shape)


def _fraction(section: dict) -> float:
    return float(section.get("validation_fraction", 0.2))


def load_digits(section: dict) -> Splits:
    return load_digits_splits(_fraction(section), seed=section["split_seed"])


def load_mnist(section: dict) -> Splits:
    return load_mnist_splits("mnist", section.get("root"), bool(section.get("download", False)), _fraction(section),
                             section["split_seed"])


def load_fashion_mnist(section: dict) -> Splits:
    return load_mnist_splits("fashion-mnist", section.get("root"), bool(section.get("download", False)),
                             _fraction(section), section["split_seed"])


def load_newsgroups(section: dict) -> Splits:
    return load_newsgroups_splits(section.get("root"), bool(section.get("download", False)),
                                  int(section.get("vocabulary_size", 2000)),
                                  tuple(section.get("remove", ("headers", "footers", "quotes"))), _fraction(section),
                                  section["split_seed"])


def load_arrays(section: dict) -> Splits:
    return load_array_splits(section.get("path"), _fraction(section), section["split_seed"])


def load_imagefolder(section: dict) -> Splits:
    return load_image_folder_splits(section.get("root"), section.get("image_size"), bool(section.get("grayscale", False)),
                                    _fraction(section), section["split_seed"])
