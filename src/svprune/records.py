"""The per-job record files of the workflow: their columns, their validation when read, and a walk's summary.

A walk file holds one row per step of one pruning walk (docs/definitions.md, "The walk"), step 0 being the root model; a grid
file holds one row per epoch budget of one grid-search training run (docs/definitions.md, "The grid-search baseline"). Files are checked when
read, so that a truncated or foreign file stops the tables with its name instead of skewing them. No torch here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from svprune.files import rerun_command

@dataclass(frozen=True)
class StepRecord:
    """One step of a pruning walk (step 0: the root model): the columns of a walk file, in order.

    ``pruned``: the original ids of the players pruned, space-separated; ``removed_shapley``: the sum of their
    normalised Shapley values; ``shapley_normalized``: whether the values were normalised (v(U) > v(empty));
    ``accuracy_before_retrain``, ``accuracy``: on the evaluation split, before and after retraining;
    ``test_accuracy``: on the test split; ``epochs``: T0 + step x T1; ``wall_time``: seconds since the walk began;
    ``shapley_method``, ``shapley_samples``, ``shapley_evaluations``: the estimator, its sampling units and the
    coalitions it evaluated; ``shapley_stderr_mean``/``_max``: its standard errors; ``dead_units``: players never
    active on the evaluation split (NaN where the perspective has no such notion); ``parameters``: the model's
    parameter count."""

    walk_id: str
    strategy: str
    seed: int
    step: int
    players_before: int
    players_after: int
    pruned: str
    removed_shapley: float
    shapley_normalized: bool | None
    accuracy_before_retrain: float
    accuracy: float
    test_accuracy: float
    epochs: int
    wall_time: float
    shapley_method: str | None
    shapley_samples: int
    shapley_evaluations: int
    shapley_stderr_mean: float
    shapley_stderr_max: float
    dead_units: float
    parameters: int


WALK_COLUMNS = [f.name for f in fields(StepRecord)]
GRID_COLUMNS = ["hidden", "epochs", "repetition", "seed", "order_seed", "accuracy", "test_accuracy"]


class RecordError(ValueError):
    """A record file that is not a complete record of its job; the message names the file and what to do."""




def _redo(path) -> str:
    command = rerun_command()
    return (f"Rerun the job that writes it: `{command} --forcerun {path}` (this reruns everything downstream too), "
            f"or delete the file and run `{command}` again.")


def read_csv(path: str | os.PathLike, columns: Sequence[str]) -> pd.DataFrame:
    """A record CSV with at least ``columns``, no row missing a value in them; errors name the file."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise RecordError(f"{path}: not a readable record file ({type(err).__name__}: {err}). {_redo(path)}") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RecordError(f"{path}: columns {missing} are missing; it is truncated or not a record of this step. "
                          f"{_redo(path)}")
    if frame.empty:
        raise RecordError(f"{path}: has a header but no rows. {_redo(path)}")
    return frame


def check_walk(frame: pd.DataFrame, path, theta: float | None = None) -> pd.DataFrame:
    """A complete walk: one strategy and seed, steps 0, 1, ..., players falling by each step's pruned count,
    and an end: no players left, or (a walk that stops below theta) accuracy below theta."""
    required = ["step", "players_before", "players_after", "accuracy", "epochs"]
    holes = [c for c in required if frame[c].isna().any()]
    if holes:
        raise RecordError(f"{path}: missing values in {holes}; the file is truncated. {_redo(path)}")
    if frame["strategy"].nunique() != 1 or frame["seed"].nunique() != 1:
        raise RecordError(f"{path}: check_walk takes one walk; got {sorted(set(frame['strategy']))}, seeds "
                          f"{sorted(set(frame['seed']))}")
    steps = frame["step"].to_numpy()
    if not np.array_equal(steps, np.arange(len(frame))):
        raise RecordError(f"{path}: steps are {steps.tolist()[:12]}..., not 0, 1, 2, ...; the file is truncated or "
                          f"edited. {_redo(path)}")
    before, after = frame["players_before"].to_numpy(), frame["players_after"].to_numpy()
    if len(frame) > 1 and (not np.array_equal(before[1:], after[:-1]) or (after[1:] >= before[1:]).any()):
        raise RecordError(f"{path}: player counts do not follow from step to step. {_redo(path)}")
    pruned = frame["pruned"].map(lambda text: len(str(text).split()) if isinstance(text, str) or pd.notna(text) else 0)
    if (pruned.to_numpy()[1:] != (before - after)[1:]).any() or before[0] != after[0]:
        raise RecordError(f"{path}: the pruned players of a step do not account for its change in players. "
                          f"{_redo(path)}")
    for column in ("accuracy", "accuracy_before_retrain", "test_accuracy"):
        values = frame[column].to_numpy(dtype=float)
        bad = ~(np.isfinite(values) & (values >= 0) & (values <= 1))
        if bad.any():
            step = int(steps[np.flatnonzero(bad)[0]])
            raise RecordError(f"{path}: {column} at step {step} is {values[bad][0]}, not an accuracy in [0, 1]; the "
                              f"file is damaged or edited. {_redo(path)}")
    last_players, last_acc = int(after[-1]), float(frame["accuracy"].iloc[-1])
    if last_players > 0 and not (theta is not None and last_acc < theta):
        raise RecordError(
            f"{path}: the walk ends at step {int(steps[-1])} with {last_players} players left and accuracy "
            f"{last_acc:.4f}; a walk runs until no players remain (or accuracy falls below theta where configured). "
            f"The file is truncated. {_redo(path)}"
        )
    return frame


def _index(where: dict, key: tuple, path, described: str) -> None:
    """Record that ``path`` holds the record ``key`` (a walk's (strategy, seed), a grid run's (hidden, repetition));
    a key held by two files stops the tables, naming both."""
    if key in where:
        raise RecordError(f"{path}: holds {described}, which {where[key]} holds too. {_redo(path)}")
    where[key] = path


def _complete(where: dict, expected: set, missing_error, extra_error) -> None:
    """Every expected key held, and no other: else ``missing_error(first missing key, how many)`` or
    ``extra_error(first unexpected key)``, each a RecordError naming the file and the repair."""
    missing = sorted(expected - set(where))
    if missing:
        raise missing_error(missing[0], len(missing))
    extra = sorted(set(where) - expected)
    if extra:
        raise extra_error(extra[0])


def read_walks(paths: Iterable[str | os.PathLike], theta: float | None = None,
               strategies: Sequence[str] | None = None, seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Read and check walk files (each with one or more walks), concatenated in the order given. With
    ``strategies`` and ``seeds``, every (strategy, seed) walk must be there exactly once, and no other."""
    frames, where = [], {}
    for path in paths:
        frame = read_csv(path, WALK_COLUMNS)
        # a file holds the walks of one job: one or several (strategy, seed), each checked on its own
        for (strategy, seed), one in frame.groupby(["strategy", "seed"], sort=False):
            frames.append(check_walk(one.reset_index(drop=True), path, theta))
            _index(where, (strategy, seed), path, f"the walk of {strategy} seed {seed}")
    if not frames:
        raise ValueError("no walk files given")
    if strategies is not None and seeds is not None:
        def missing(key, count):
            strategy, seed = key
            files = sorted({str(p) for (s, _), p in where.items() if s == strategy}) or sorted(map(str, paths))
            return RecordError(f"the walk of {strategy} seed {seed} is missing ({count} walks in all); the files "
                               f"of {strategy} hold seeds {sorted(int(x) for s, x in where if s == strategy)}: "
                               f"{', '.join(files)}. A file cut short lost a walk. {_redo(files[0])}")

        def extra(key):
            return RecordError(f"{where[key]}: holds a walk of {key[0]} seed {key[1]}, which this configuration "
                               f"does not run; the file is from another run. {_redo(where[key])}")

        _complete(where, {(s, int(seed)) for s in strategies for seed in seeds}, missing, extra)
    return pd.concat(frames, ignore_index=True)


def check_grid(frame: pd.DataFrame, path, budgets: Sequence[int] | None = None) -> pd.DataFrame:
    """A complete grid-search record: every (hidden, repetition) run has one row per epoch budget, and
    accuracies in [0, 1]."""
    if frame[GRID_COLUMNS].isna().any().any():
        raise RecordError(f"{path}: missing values; the file is truncated. {_redo(path)}")
    for col in ("accuracy", "test_accuracy"):
        if not frame[col].between(0, 1).all():
            raise RecordError(f"{path}: {col} outside [0, 1]; not a record of a grid-search run. {_redo(path)}")
    want = sorted(int(b) for b in budgets) if budgets is not None else None
    for (hidden, rep), run in frame.groupby(["hidden", "repetition"]):
        got = sorted(run["epochs"].astype(int))
        expected = want if want is not None else sorted(set(got))
        if got != expected:
            raise RecordError(f"{path}: hidden {hidden}, repetition {rep} has rows for epochs {got}, expected "
                              f"{expected}; the file is truncated or from another grid. {_redo(path)}")
    return frame


def read_grid(paths: Iterable[str | os.PathLike], budgets: Sequence[int] | None = None,
              sizes: Sequence[int] | None = None, repetitions: int | None = None) -> pd.DataFrame:
    """Read and check grid-search files, concatenated in the order given. With ``sizes`` and ``repetitions``,
    every (size, repetition) run must be there exactly once."""
    paths = list(paths)
    frames = [check_grid(read_csv(p, GRID_COLUMNS), p, budgets) for p in paths]
    if not frames:
        raise ValueError("no grid-search files given")
    if sizes is not None and repetitions is not None:
        runs: dict = {}
        for path, frame in zip(paths, frames):
            for key in {(int(h), int(r)) for h, r in zip(frame["hidden"], frame["repetition"])}:
                _index(runs, key, path, f"hidden {key[0]} repetition {key[1]}")

        def missing(key, count):
            files = sorted({str(p) for (h, _), p in runs.items() if h == key[0]}) or [str(p) for p in paths]
            return RecordError(f"grid-search run hidden {key[0]} repetition {key[1]} is missing ({count} runs in all); "
                               f"a file cut short lost it: {', '.join(files)}. {_redo(files[0])}")

        def extra(key):
            return RecordError(f"{runs[key]}: holds hidden {key[0]} repetition {key[1]}, which this configuration "
                               f"does not run. {_redo(runs[key])}")

        _complete(runs, {(int(h), r) for h in sizes for r in range(int(repetitions))}, missing, extra)
    return pd.concat(frames, ignore_index=True)


def _smallest_above(records: pd.DataFrame, column: str, theta: float) -> float:
    above = records.loc[records[column] >= theta, "players_after"]
    return float(above.min()) if len(above) else np.nan


def summarize_walk(records: pd.DataFrame, theta: float, root_epochs: int, retrain_epochs: int) -> dict:
    """A walk's summary (the paper's tables 2-3): steps, epochs = T0 + T1 * steps, found = the smallest number
    of players among the walk's models with accuracy >= theta on the payoff split (NaN if none reaches it),
    and found_test, the same on the test split."""
    steps = int(records["step"].max())
    return {
        "steps": steps,
        "epochs": root_epochs + retrain_epochs * steps,
        "found": _smallest_above(records, "accuracy", theta),
        "found_test": _smallest_above(records, "test_accuracy", theta),
    }


REMOVAL_COLUMNS = ["criterion", "draw", "k", "split", "measure"]


def read_removal(path: str | os.PathLike, criteria: Sequence[str], draws: int, max_removed: int) -> pd.DataFrame:
    """The network experiment's removal curves, checked complete: on the test split one row per k = 0..max_removed
    for the Shapley ranking, each criterion and each random draw, and the two negative-value rows; on the valuation
    split the Shapley ranking's rows and the negative-value rows; every measure finite."""
    frame = read_csv(path, REMOVAL_COLUMNS)
    if not np.isfinite(frame["measure"].to_numpy(dtype=float)).all():
        raise RecordError(f"{path}: missing or non-finite measures; the file is truncated. {_redo(path)}")
    ks = range(int(max_removed) + 1)
    negatives = ("negative", "negative (upper bound < 0)")
    expected = {("test", c, 0, k) for c in ["shapley", *criteria] for k in ks}
    expected |= {("test", "random", d, k) for d in range(int(draws)) for k in ks}
    expected |= {("valuation", "shapley", 0, k) for k in ks}
    expected |= {(s, c, 0) for s in ("test", "valuation") for c in negatives}
    keys = [(row.split, row.criterion, int(row.draw)) + (() if row.criterion in negatives else (int(row.k),))
            for row in frame.itertuples(index=False)]
    where = dict.fromkeys(keys)
    if len(where) < len(keys):
        twice = next(key for i, key in enumerate(keys) if key in keys[:i])
        raise RecordError(f"{path}: the row {' '.join(map(str, twice))} is there twice. {_redo(path)}")

    def missing(key, count):
        return RecordError(f"{path}: no row for {' '.join(map(str, key))} ({count} expected rows missing); the file "
                           f"is incomplete or from another config. {_redo(path)}")

    def extra(key):
        return RecordError(f"{path}: an unexpected row {' '.join(map(str, key))} (not in the config's criteria, "
                           f"draws or k = 0..{max_removed}). {_redo(path)}")

    _complete(where, expected, missing, extra)
    return frame
