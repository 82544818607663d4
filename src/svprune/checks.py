"""Checks of inputs before work starts: each error names the array (or file) and what to do. numpy only; torch
tensors are accepted too (they are checked where they live, without copying them to the host)."""

from __future__ import annotations

import numbers

import numpy as np


def _is_torch(a) -> bool:
    return type(a).__module__.startswith("torch")


def all_finite(a: np.ndarray, block_bytes: int = 1 << 24) -> bool:
    """Whether every value of a numpy array is finite, checked in blocks (no array of a's size is made)."""
    a = np.asarray(a)
    if a.dtype.kind not in "fc":
        return True
    flat = a.reshape(-1) if a.flags.c_contiguous else a.ravel()
    step = max(1, block_bytes // max(a.itemsize, 1))
    return all(np.isfinite(flat[i : i + step]).all() for i in range(0, flat.size, step))


def check_finite(a, name: str, hint: str = "") -> None:
    """Refuse NaN or infinite values in ``a``, naming it and how many there are."""
    if _is_torch(a):
        import torch

        if a.is_floating_point() and not bool(torch.isfinite(a).all()):
            bad = int((~torch.isfinite(a)).sum())
            raise ValueError(f"{name} holds {bad} NaN or infinite value(s) of {a.numel()}" + (f"; {hint}" if hint else ""))
        return
    a = np.asarray(a)
    if not all_finite(a):
        bad = int((~np.isfinite(a)).sum())
        raise ValueError(f"{name} holds {bad} NaN or infinite value(s) of {a.size}" + (f"; {hint}" if hint else ""))


def check_labels(y, n_classes: int, name: str = "labels", hint: str = "") -> None:
    """Labels must be integers in [0, n_classes): what a classifier with ``n_classes`` outputs can score (and
    what the compiled kernels index)."""
    if _is_torch(y):
        import torch

        if y.is_floating_point() or y.dtype == torch.bool:
            raise ValueError(f"{name} must be integer class indices; got dtype {y.dtype}")
        if y.numel() == 0:
            return
        lo, hi = int(y.min()), int(y.max())
    else:
        y = np.asarray(y)
        if y.size == 0:
            return
        whole = y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all()
        if y.dtype.kind not in "iu" and not whole:
            raise ValueError(f"{name} must be integer class indices; got dtype {y.dtype}")
        lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= n_classes:
        raise ValueError(
            f"{name} range over [{lo}, {hi}], but the model has {n_classes} outputs (classes 0..{n_classes - 1})"
            + (f"; {hint}" if hint else "; the data and the model do not belong together")
        )


def check_same_length(x, y, x_name: str = "x", y_name: str = "y") -> None:
    """Features and labels must describe the same samples."""
    if len(x) != len(y):
        raise ValueError(f"{x_name} has {len(x)} samples but {y_name} has {len(y)} labels; they must match")


def check_count(value, name: str, minimum: int = 0) -> int:
    """An integer count >= ``minimum`` (a float like 500.0 is refused: budgets are whole evaluations)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def check_tolerance(value, name: str = "tolerance") -> float | None:
    """None, or a finite number > 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0 (or None for a fixed budget); got {value!r}")
    return float(value)


UNSAFE_ADVICE = ("weights_only", "allow_pickle", "unsafe", "pickle.load")


def error_summary(err: Exception) -> str:
    """One line of an error for a message of ours: its type and first line, without a library's advice to load
    untrusted files unsafely (torch's weights_only=False, numpy's allow_pickle)."""
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    sentences = [p for p in text.replace("; ", ". ").split(". ") if p and not any(w in p for w in UNSAFE_ADVICE)]
    kept = ". ".join(sentences).strip()
    return f"{type(err).__name__}: {kept[:200]}" if kept else type(err).__name__
