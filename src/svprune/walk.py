"""The pruning walk (SPEC section 4): from a trained root model, repeatedly value the players, prune the
strategy's selection physically, retrain, evaluate and record, until no players remain (or, where
configured, accuracy falls below theta). Works on neurons of an MLP layer and on blocks of a residual MLP.
"""

from __future__ import annotations

import logging
import time
import zlib

import numpy as np
import pandas as pd
import torch

from svprune.data import Splits
from svprune.games import LayerGame, NeuronGame
from svprune.models import MLP, ResidualMLP, incoming_weight_norms, remove_blocks, remove_units
from svprune.shapley import shapley_values
from svprune.records import WALK_COLUMNS
from svprune.settings import ShapleyConfig, WalkConfig  # noqa: F401 (the walk's settings, re-exported)
from svprune.strategies import Strategy, parse
from svprune.train import accuracy, as_tensors, train

log = logging.getLogger("svprune.walk")


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
    return pd.DataFrame.from_records(records, columns=WALK_COLUMNS)


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
