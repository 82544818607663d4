"""The grid-search baseline (docs/definitions.md, "The grid-search baseline"): train from scratch for each hidden size and record accuracy
after each epoch budget of the grid.

The repetitions of one hidden size are trained together, as one fused tensor program
(:mod:`svprune.fused`): each repetition has its own initial seed, and a group of repetitions shares one
minibatch order, whose seed is a function of the base seed, the size and the group's first repetition. Groups
have a fixed size (``gridsearch.repetitions_per_job``), so adding repetitions adds groups and leaves the earlier ones as
they were.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from svprune.data import Splits
from svprune.fused import StackedMLP, train_fused
from svprune.models import MLP
from svprune.progress import Progress
from svprune.settings import TrainConfig
from svprune.train import as_tensors

log = logging.getLogger("svprune.gridsearch")


def cell_seed(seed: int, hidden: int, repetition: int) -> int:
    """The initial seed of one (hidden size, repetition) model: a function of these alone."""
    return int(np.random.SeedSequence([int(seed), int(hidden), int(repetition)]).generate_state(1)[0])


def order_seed(seed: int, hidden: int, first_repetition: int) -> int:
    """The minibatch-order seed of the fused group of repetitions that starts at ``first_repetition``."""
    return int(np.random.SeedSequence([int(seed), int(hidden), int(first_repetition), 1]).generate_state(1)[0])


def grid_runs(
    splits: Splits,
    hidden: int,
    epochs: Sequence[int],
    repetitions: Sequence[int],
    seed: int = 0,
    config: TrainConfig = TrainConfig(),
    eval_split: str = "validation",
    device: str = "cpu",
) -> pd.DataFrame:
    """Train one MLP with ``hidden`` units per repetition for max(epochs) epochs, all repetitions together on
    one minibatch order, and record each model's accuracy after each budget in ``epochs``. With no
    learning-rate schedule, the model after E epochs of this run is exactly the model trained for E epochs
    from scratch, so one run serves every budget of the grid."""
    budgets = sorted({int(e) for e in epochs})
    repetitions = [int(r) for r in repetitions]
    if not repetitions:
        raise ValueError("no repetitions to train")
    init = [cell_seed(seed, hidden, r) for r in repetitions]
    shuffle = order_seed(seed, hidden, repetitions[0])
    stacked = StackedMLP([MLP(splits.n_features, [int(hidden)], splits.n_classes, seed=s) for s in init]).to(device)
    x_train, y_train = as_tensors(*splits.split("train"), device=device)
    x_eval, y_eval = as_tensors(*splits.split(eval_split), device=device)
    x_test, y_test = as_tensors(*splits.split("test"), device=device)
    rows = []
    progress = Progress(budgets[-1])

    def record(epoch: int, models: StackedMLP) -> None:
        if epoch not in budgets:
            log.info("hidden %d, epoch %d of %d: %s", hidden, epoch, budgets[-1], progress(epoch))
            return
        acc, test = models.accuracy(x_eval, y_eval), models.accuracy(x_test, y_test)
        for r, s, a, t in zip(repetitions, init, acc, test):
            rows.append({"hidden": int(hidden), "epochs": epoch, "repetition": r, "seed": s, "order_seed": shuffle,
                         "accuracy": a, "test_accuracy": t})
        log.info("hidden %d, repetitions %d-%d, epoch %d: mean accuracy %.4f (%s)", hidden, repetitions[0],
                 repetitions[-1], epoch, float(np.mean(acc)), progress(epoch))

    train_fused(stacked, x_train, y_train, budgets[-1], seed=shuffle, config=config, on_epoch=record)
    return pd.DataFrame(rows).sort_values(["repetition", "epochs"], ignore_index=True)
