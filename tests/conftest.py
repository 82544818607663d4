"""Shared fixtures: a small trained MLP on scikit-learn's digits (built once per session)."""

import numpy as np
import pytest
import torch

from svprune.data import load_splits
from svprune.models import MLP
from svprune.train import as_tensors, train

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits():
    return load_splits("digits")


@pytest.fixture(scope="session")
def trained_mlp(digits):
    """A 64-40-10 MLP trained 10 epochs on digits."""
    model = MLP(digits.n_features, [40], digits.n_classes, seed=0)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=10, seed=0)
    return model


@pytest.fixture(scope="session")
def deep_mlp(digits):
    """A 64-24-16-10 MLP: a player layer that does not feed the read-out directly."""
    model = MLP(digits.n_features, [24, 16], digits.n_classes, seed=1)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=5, seed=1)
    return model


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# ---- whether the Slurm tests ran: said at the end of every test run, so a skip never passes unnoticed ----
_SLURM_OUTCOMES: list[tuple[str, str]] = []


def pytest_runtest_logreport(report):
    if "slurm" in report.keywords and (report.when == "call" or report.outcome == "skipped"):
        reason = ""
        if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        _SLURM_OUTCOMES.append((report.outcome, reason))


def pytest_terminal_summary(terminalreporter):
    if not _SLURM_OUTCOMES:
        return
    ran = [o for o, _ in _SLURM_OUTCOMES if o != "skipped"]
    skipped = [r for o, r in _SLURM_OUTCOMES if o == "skipped"]
    if ran:
        line = f"Slurm tests: ran {len(ran)} on the one-node test cluster ({ran.count('passed')} passed)"
    else:
        line = "Slurm tests: did NOT run"
    if skipped:
        line += f"; {len(skipped)} skipped: {sorted(set(skipped))[0]}"
    terminalreporter.write_line(line, bold=True, yellow=not ran)
