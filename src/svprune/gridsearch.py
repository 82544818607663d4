"""The grid-search baseline (SPEC section 5): train from scratch for each hidden size and record accuracy
after each epoch budget of the grid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from svprune.data import Splits
from svprune.models import MLP
from svprune.train import TrainConfig, accuracy, as_tensors, train


def cell_seed(seed: int, hidden: int, repetition: int) -> int:
    """The seed of one (hidden size, repetition) training run: a function of these alone."""
    return int(np.random.SeedSequence([int(seed), int(hidden), int(repetition)]).generate_state(1)[0])


def grid_runs(
    splits: Splits,
    hidden: int,
    epochs: Sequence[int],
    repetition: int,
    seed: int = 0,
    config: TrainConfig = TrainConfig(),
    eval_split: str = "validation",
    device: str = "cpu",
) -> pd.DataFrame:
    """Train one MLP with ``hidden`` units for max(epochs) epochs and record its accuracy after each budget in
    ``epochs``. With a fixed seed and no learning-rate schedule, the model after E epochs of this run is
    exactly the model trained for E epochs from scratch, so one run serves every budget of the grid."""
    budgets = sorted({int(e) for e in epochs})
    run_seed = cell_seed(seed, hidden, repetition)
    model = MLP(splits.n_features, [int(hidden)], splits.n_classes, seed=run_seed).to(device)
    x_train, y_train = as_tensors(*splits.split("train"), device=device)
    x_eval, y_eval = as_tensors(*splits.split(eval_split), device=device)
    x_test, y_test = as_tensors(*splits.split("test"), device=device)
    rows = []

    def record(epoch: int, m) -> None:
        if epoch in budgets:
            rows.append({
                "hidden": int(hidden), "epochs": epoch, "repetition": int(repetition), "seed": run_seed,
                "accuracy": accuracy(m, x_eval, y_eval), "test_accuracy": accuracy(m, x_test, y_test),
            })

    train(model, x_train, y_train, budgets[-1], seed=run_seed, config=config, on_epoch=record)
    return pd.DataFrame(rows)
