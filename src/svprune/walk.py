"""The pruning walk (SPEC section 4): from a trained root model, repeatedly value the players, prune the
strategy's selection physically, retrain, evaluate and record, until no players remain (or, where
configured, accuracy falls below theta). Works on neurons of an MLP layer and on blocks of a residual MLP.
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from svprune.data import Splits
from svprune.games import LayerGame, NeuronGame
from svprune.models import MLP, ResidualMLP, incoming_weight_norms, remove_blocks, remove_units
from svprune.shapley import shapley_values
from svprune.strategies import Strategy, parse
from svprune.train import TrainConfig, accuracy, as_tensors, train

log = logging.getLogger("svprune.walk")

RECORD_COLUMNS = [
    "walk_id", "strategy", "seed", "step", "players_before", "players_after", "pruned",
    "removed_shapley", "shapley_normalized", "accuracy_before_retrain", "accuracy", "test_accuracy",
    "epochs", "wall_time", "shapley_method", "shapley_samples", "shapley_evaluations",
    "shapley_stderr_mean", "shapley_stderr_max",
]


@dataclass(frozen=True)
class ShapleyConfig:
    """How Shapley values are estimated at each step: estimator name, budget, seed-free options."""

    method: str = "permutation"
    budget: int = 100
    tolerance: float | None = None
    measure: str = "accuracy"


@dataclass(frozen=True)
class WalkConfig:
    """Settings of one walk: T0 (root epochs, for the epoch count), T1 (retraining epochs per step), theta,
    whether to stop below theta, the evaluation split, Shapley estimation, training, and whether to value
    the players for strategies that do not need it (for the removed-value curve of random and Wbottom)."""

    root_epochs: int = 20
    retrain_epochs: int = 2
    theta: float | None = None
    stop_below_theta: bool = False
    eval_split: str = "validation"
    layer: int | None = None
    shapley: ShapleyConfig = field(default_factory=ShapleyConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    shapley_for_all: bool = True


def walk_seed(seed: int, strategy: str) -> np.random.SeedSequence:
    """The walk's random stream: a function of the repetition seed and the strategy name only."""
    return np.random.SeedSequence([int(seed), zlib.crc32(strategy.encode())])


def _layer(model: MLP, cfg: WalkConfig) -> int:
    """The player layer of an MLP walk: the configured one, else the last hidden layer."""
    return len(model.hidden_sizes) - 1 if cfg.layer is None else cfg.layer


def _game(model, x, y, cfg: WalkConfig):
    if isinstance(model, ResidualMLP):
        return LayerGame(model, x, y, measure=cfg.shapley.measure)
    return NeuronGame(model, x, y, layer=cfg.layer, measure=cfg.shapley.measure)


def _weight_norms(model, cfg: WalkConfig) -> np.ndarray:
    if isinstance(model, ResidualMLP):
        return np.array([float(b.weight.detach().norm()) for b in model.blocks])
    return incoming_weight_norms(model, _layer(model, cfg)).cpu().numpy()


def _remove(model, positions, cfg: WalkConfig):
    if isinstance(model, ResidualMLP):
        return remove_blocks(model, positions)
    return remove_units(model, _layer(model, cfg), positions)


def _players_of(model, cfg: WalkConfig) -> int:
    if isinstance(model, ResidualMLP):
        return model.n_blocks
    return model.hidden_sizes[_layer(model, cfg)]


def prune_walk(
    model: MLP | ResidualMLP,
    splits: Splits,
    strategy: Strategy | str,
    seed: int,
    config: WalkConfig = WalkConfig(),
    walk_id: str = "",
    device: str | torch.device = "cpu",
) -> pd.DataFrame:
    """Run one pruning walk from ``model`` (left unchanged) and return one record per step (SPEC 4); step 0
    is the root model. Randomness (Shapley sampling, random selection, retraining order) comes from
    ``seed`` and the strategy name alone."""
    strategy = parse(strategy) if isinstance(strategy, str) else strategy
    rng = np.random.default_rng(walk_seed(seed, strategy.name))
    x_train, y_train = as_tensors(*splits.split("train"), device=device)
    x_eval, y_eval = as_tensors(*splits.split(config.eval_split), device=device)
    x_test, y_test = as_tensors(*splits.split("test"), device=device)
    model = _remove(model.to(device), [], config)  # a private copy
    units = np.arange(_players_of(model, config))  # original ids of the current players
    epochs = config.root_epochs
    start = time.perf_counter()
    acc = accuracy(model, x_eval, y_eval)
    records = [_record(walk_id, strategy, seed, 0, len(units), len(units), [], np.nan, None, acc, acc,
                       accuracy(model, x_test, y_test), epochs, 0.0, None)]
    log.info("%s seed %d: root model, %d players, accuracy %.4f", strategy.name, seed, len(units), acc)
    step = 0
    while len(units) and not (config.stop_below_theta and config.theta is not None and acc < config.theta):
        step += 1
        estimate, normalized, values = None, None, None
        if strategy.needs_shapley or config.shapley_for_all:
            game = _game(model, x_eval, y_eval, config)
            estimate = shapley_values(
                game, config.shapley.method, config.shapley.budget,
                seed=int(rng.integers(2**31)), tolerance=config.shapley.tolerance,
            )
            values, normalized = estimate.normalized()
        norms = _weight_norms(model, config) if strategy.family == "Wbottom" else None
        chosen = strategy.select(shapley=values, weight_norms=norms, rng=rng, n_players=len(units))
        model = _remove(model, chosen, config)
        before_retrain = accuracy(model, x_eval, y_eval)
        train(model, x_train, y_train, config.retrain_epochs, seed=int(rng.integers(2**31)), config=config.train)
        epochs += config.retrain_epochs
        acc = accuracy(model, x_eval, y_eval)
        removed = float(values[chosen].sum()) if values is not None else np.nan
        records.append(_record(
            walk_id, strategy, seed, step, len(units), len(units) - len(chosen), units[chosen].tolist(), removed,
            normalized, before_retrain, acc, accuracy(model, x_test, y_test), epochs,
            time.perf_counter() - start, estimate,
        ))
        log.info(
            "%s seed %d step %d: %d -> %d players (pruned %s), removed value %.3f, accuracy %.4f",
            strategy.name, seed, step, len(units), len(units) - len(chosen), units[chosen].tolist(), removed, acc,
        )
        units = np.delete(units, chosen)
    return pd.DataFrame.from_records(records, columns=RECORD_COLUMNS)


def _record(walk_id, strategy, seed, step, before, after, pruned, removed, normalized, acc_before, acc,
            test_acc, epochs, wall, estimate) -> dict:
    return {
        "walk_id": walk_id,
        "strategy": strategy.name,
        "seed": int(seed),
        "step": step,
        "players_before": before,
        "players_after": after,
        "pruned": " ".join(str(u) for u in pruned),
        "removed_shapley": removed,
        "shapley_normalized": normalized,
        "accuracy_before_retrain": acc_before,
        "accuracy": acc,
        "test_accuracy": test_acc,
        "epochs": epochs,
        "wall_time": wall,
        "shapley_method": estimate.method if estimate else None,
        "shapley_samples": estimate.n_samples if estimate else 0,
        "shapley_evaluations": estimate.n_evaluations if estimate else 0,
        "shapley_stderr_mean": float(np.mean(estimate.stderr)) if estimate and len(estimate.stderr) else np.nan,
        "shapley_stderr_max": float(np.max(estimate.stderr)) if estimate and len(estimate.stderr) else np.nan,
    }


def summarize_walk(records: pd.DataFrame, theta: float, root_epochs: int, retrain_epochs: int) -> dict:
    """A walk's summary (the paper's tables 2-3): steps, epochs = T0 + T1 * steps, and found = the smallest
    number of players among the walk's models with accuracy >= theta (NaN if none reaches it)."""
    steps = int(records["step"].max())
    above = records.loc[records["accuracy"] >= theta, "players_after"]
    return {
        "steps": steps,
        "epochs": root_epochs + retrain_epochs * steps,
        "found": float(above.min()) if len(above) else np.nan,
    }
