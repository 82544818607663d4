"""The pruning walk (SPEC section 4): from a trained root model, repeatedly value the players, prune the
strategy's selection physically, retrain, evaluate and record, until no players remain (or, where
configured, accuracy falls below theta). Works on any perspective (svprune.perspectives): neurons of an MLP
layer, blocks of a residual MLP, channels of a layer of any model.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from svprune.data import Splits
from svprune.fused import StackedMLP, train_fused
from svprune.importance import score
from svprune.models import pad_units, remove_units
from svprune.perspectives import perspective_for
from svprune.records import WALK_COLUMNS
from svprune.settings import ShapleyConfig, WalkConfig  # noqa: F401 (the walk's settings, re-exported)
from svprune.shapley import shapley_values
from svprune.strategies import Strategy, parse
from svprune.train import accuracy, as_tensors, train

log = logging.getLogger("svprune.walk")


def n_parameters(model: torch.nn.Module) -> int:
    """The model's parameter count (a walk's last channel step still counts the one zeroed channel's weights)."""
    return int(sum(p.numel() for p in model.parameters()))


def walk_seed(seed: int, strategy: str) -> np.random.SeedSequence:
    """The walk's random stream: a function of the repetition seed and the strategy name only."""
    return np.random.SeedSequence([int(seed), zlib.crc32(strategy.encode())])


class _Walk:
    """The state of one pruning walk and its step, apart from how the pruned model is retrained: so that one
    walk (:func:`prune_walk`) and several walks retrained together (:func:`prune_walks`) share every rule."""

    def __init__(self, model, data: dict, strategy: Strategy, seed: int, config: WalkConfig, walk_id: str, device):
        self.strategy, self.seed, self.config, self.walk_id, self.data = strategy, int(seed), config, walk_id, data
        self.rng = np.random.default_rng(walk_seed(seed, strategy.name))
        example = data["train"][0][:1]  # Torch-Pruning traces the model with one sample of the data
        self.perspective = perspective_for(model, config.layer, example=example, removal=config.removal)
        self.model = self.perspective.remove(model.to(device), [])  # a private copy
        self.units = np.arange(self.perspective.n_players(self.model))  # original ids of the current players
        self.epochs = config.root_epochs
        self.start = time.perf_counter()
        self.acc = accuracy(self.model, *data["eval"])
        self.records = [_record(walk_id, strategy, seed, 0, len(self.units), len(self.units), [], np.nan, None,
                                self.acc, self.acc, accuracy(self.model, *data["test"]), self.epochs, 0.0, None,
                                self.dead_units(), n_parameters(self.model))]
        self.step = 0
        if config.shapley.method == "subset" and len(self.units) > 20 and strategy.needs_shapley:
            log.warning("the subset estimator (the paper's eq. 3) is biased for more than 20 players: uniform subsets "
                        "almost never have the small and large sizes that carry much of the Shapley weight, and its "
                        "values do not sum to v(U); with %d players prefer 'regression' or 'antithetic'",
                        len(self.units))
        log.info("%s seed %d: root model, %d players, accuracy %.4f", strategy.name, seed, len(self.units), self.acc)

    @property
    def done(self) -> bool:
        cfg = self.config
        return not len(self.units) or (cfg.stop_below_theta and cfg.theta is not None and self.acc < cfg.theta)

    def prune(self) -> int:
        """Value the players, prune the strategy's selection physically; return the retraining seed drawn."""
        cfg = self.config
        self.step += 1
        estimate, normalized, values = None, None, None
        if self.strategy.needs_shapley or cfg.shapley_for_all:
            game = self.perspective.game(self.model, *self.data["eval"], cfg.shapley.measure)
            estimate = shapley_values(game, cfg.shapley.method, cfg.shapley.budget,
                                      seed=int(self.rng.integers(2**31)), tolerance=cfg.shapley.tolerance)
            values, normalized = estimate.normalized()
        criterion = self.strategy.criterion
        scores = score(criterion, self.perspective, self.model, *self.data["train"]) if criterion else None
        chosen = self.strategy.select(shapley=values, scores=scores, rng=self.rng, n_players=len(self.units))
        self.model = self.perspective.remove(self.model, chosen)
        removed = float(values[chosen].sum()) if values is not None else np.nan
        self._pending = (chosen, removed, normalized, accuracy(self.model, *self.data["eval"]), estimate)
        return int(self.rng.integers(2**31))

    def record(self) -> None:
        """Evaluate the retrained model and record the step."""
        chosen, removed, normalized, before_retrain, estimate = self._pending
        self.epochs += self.config.retrain_epochs
        self.acc = accuracy(self.model, *self.data["eval"])
        n = len(self.units)
        self.records.append(_record(
            self.walk_id, self.strategy, self.seed, self.step, n, n - len(chosen), self.units[chosen].tolist(),
            removed, normalized, before_retrain, self.acc, accuracy(self.model, *self.data["test"]), self.epochs,
            time.perf_counter() - self.start, estimate, self.dead_units(), n_parameters(self.model),
        ))
        log.info("%s seed %d step %d: %d -> %d players (pruned %s), removed value %.3f, accuracy %.4f",
                 self.strategy.name, self.seed, self.step, n, n - len(chosen), self.units[chosen].tolist(), removed,
                 self.acc)
        self.units = np.delete(self.units, chosen)

    def dead_units(self) -> float:
        """Players never active on the evaluation split (NaN where the perspective has no such notion)."""
        return self.perspective.dead_units(self.model, self.data["eval"][0])

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.records, columns=WALK_COLUMNS)


def _walk_data(splits: Splits, config: WalkConfig, device) -> dict:
    return {name: as_tensors(*splits.split(split), device=device)
            for name, split in (("train", "train"), ("eval", config.eval_split), ("test", "test"))}


def prune_walk(
    model: torch.nn.Module,
    splits: Splits,
    strategy: Strategy | str,
    seed: int,
    config: WalkConfig = WalkConfig(),
    walk_id: str = "",
    device: str | torch.device = "cpu",
    on_step: Callable[[list[pd.DataFrame]], None] | None = None,
) -> pd.DataFrame:
    """Run one pruning walk from ``model`` (left unchanged) and return one record per step (SPEC 4); step 0
    is the root model. Randomness (Shapley sampling, random selection, retraining order) comes from
    ``seed`` and the strategy name alone. The library's reference walk: the pruned model is a physically
    smaller network, retrained on its own. ``on_step([records])`` is called after every step (to keep them)."""
    strategy = parse(strategy) if isinstance(strategy, str) else strategy
    data = _walk_data(splits, config, device)
    walk = _Walk(model, data, strategy, seed, config, walk_id, device)
    while not walk.done:
        train_seed = walk.prune()
        train(walk.model, *data["train"], config.retrain_epochs, seed=train_seed, config=config.train)
        walk.record()
        if on_step is not None:
            on_step([walk.frame()])
    return walk.frame()


def prune_walks(
    models: Sequence[torch.nn.Module],
    splits: Splits,
    strategy: Strategy | str,
    seeds: Sequence[int],
    config: WalkConfig = WalkConfig(),
    walk_ids: Sequence[str] | None = None,
    device: str | torch.device = "cpu",
    on_step: Callable[[list[pd.DataFrame]], None] | None = None,
) -> list[pd.DataFrame]:
    """Walks of one strategy from several root models (one per seed), advanced step by step together: each
    walk values and prunes its own model exactly as :func:`prune_walk` does, and the pruned MLPs of a step are
    retrained as one fused program (:mod:`svprune.fused`), narrower ones padded with masked units (a masked unit
    trains exactly like a removed one). What the walks share is the minibatch order of each step's retraining:
    the seed that the first unfinished walk draws. A group of one walk is :func:`prune_walk`, up to float32
    rounding. Other perspectives (blocks, channels) are walked one after another."""
    strategy = parse(strategy) if isinstance(strategy, str) else strategy
    if len(models) != len(seeds):
        raise ValueError(f"{len(models)} root models for {len(seeds)} seeds")
    walk_ids = list(walk_ids) if walk_ids is not None else [f"{strategy.name}/seed{s}" for s in seeds]
    if not all(perspective_for(m, config.layer, removal=config.removal).fused_retraining for m in models):
        done: list[pd.DataFrame] = []
        for m, s, w in zip(models, seeds, walk_ids):
            keep = (lambda frames: on_step(done + frames)) if on_step is not None else None
            done.append(prune_walk(m, splits, strategy, s, config, w, device, on_step=keep))
        return done
    data = _walk_data(splits, config, device)
    walks = [_Walk(m, data, strategy, s, config, w, device) for m, s, w in zip(models, seeds, walk_ids)]
    while True:
        active = [w for w in walks if not w.done]
        if not active:
            break
        train_seeds = [w.prune() for w in active]
        layer = active[0].perspective.layer_of(active[0].model)
        width = max(w.model.hidden_sizes[layer] for w in active)
        padded = [pad_units(w.model, layer, width) for w in active]
        stacked = StackedMLP([p for p, _ in padded]).to(device)
        stacked.masks[layer] = torch.stack([mask for _, mask in padded]).to(device)
        train_fused(stacked, *data["train"], config.retrain_epochs, seed=train_seeds[0], config=config.train)
        for w, trained in zip(active, stacked.unstack()):
            w.model = remove_units(trained, layer, range(w.model.hidden_sizes[layer], width))
            w.record()
        if on_step is not None:
            on_step([w.frame() for w in walks])
    return [w.frame() for w in walks]


def _record(walk_id, strategy, seed, step, before, after, pruned, removed, normalized, acc_before, acc,
            test_acc, epochs, wall, estimate, dead, parameters) -> dict:
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
        "dead_units": dead,
        "parameters": parameters,
    }
