"""The pruning walk (docs/definitions.md, "The walk"): from a trained root model, repeatedly value the players, prune the
strategy's selection physically, retrain, evaluate and record, until no players remain (or, where
configured, accuracy falls below theta). Works on any perspective (svprune.perspectives): neurons of an MLP
layer, blocks of a residual MLP, channels of a layer of any model.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from svprune.data import Splits
from svprune.perspectives import perspective_for
from svprune.progress import Progress
from svprune.records import WALK_COLUMNS, StepRecord
from svprune.scorers import ScoreContext
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


@dataclass(frozen=True)
class Pruned:
    """What one step's pruning leaves for its record: the positions pruned, their summed normalised value, whether
    the values were normalised, the accuracy before retraining, the Shapley estimate (or None) and the seed of
    the retraining that follows."""

    chosen: np.ndarray
    removed: float
    normalized: bool | None
    before_retrain: float
    estimate: object
    train_seed: int


class _Walk:
    """The state of one pruning walk and its step, apart from how the pruned model is retrained: so that one
    walk (:func:`prune_walk`) and several walks retrained together (:func:`prune_walks`) share every rule. A step
    is ``pruned = walk.prune()``, retraining of ``walk.model``, then ``walk.record(pruned)``."""

    def __init__(self, model, data: dict, strategy: Strategy, seed: int, config: WalkConfig, walk_id: str, device):
        self.strategy, self.seed, self.config, self.walk_id, self.data = strategy, int(seed), config, walk_id, data
        self.scorer, self.rule = strategy.scorer, strategy.rule
        self.rng = np.random.default_rng(walk_seed(seed, strategy.name))
        example = data["train"][0][:1]  # Torch-Pruning traces the model with one sample of the data
        self.perspective = perspective_for(model, config.layer, example=example, removal=config.removal)
        self.model = self.perspective.remove(model.to(device), [])  # a private copy
        self.units = np.arange(self.perspective.n_players(self.model))  # original ids of the current players
        self.epochs = config.root_epochs
        self.start = time.perf_counter()
        self.progress = Progress(len(self.units))  # steps get cheaper as players go: the time left is an upper bound
        self.acc = accuracy(self.model, *data["eval"])
        n = len(self.units)
        self.records = [self._record(0, n, n, [], Pruned(np.zeros(0, int), np.nan, None, self.acc, None, 0))]
        self.step = 0
        log.info("%s seed %d: root model, %d players, accuracy %.4f", strategy.name, seed, n, self.acc)

    @property
    def done(self) -> bool:
        cfg = self.config
        return not len(self.units) or (cfg.stop_below_theta and cfg.theta is not None and self.acc < cfg.theta)

    def prune(self) -> Pruned:
        """Value the players, prune the rule's selection of the scorer's order physically."""
        cfg = self.config
        self.step += 1
        estimate, normalized, values = None, None, None
        if self.scorer.needs_shapley or cfg.shapley_for_all:
            game = self.perspective.game(self.model, *self.data["eval"], cfg.shapley.measure)
            estimate = shapley_values(game, cfg.shapley.estimator, cfg.shapley.budget,
                                      seed=int(self.rng.integers(2**31)), tolerance=cfg.shapley.tolerance)
            values, normalized = estimate.normalized()
        context = ScoreContext(self.model, self.perspective, self.data["train"], self.rng, len(self.units), values,
                               self.rule.count)
        chosen = self.rule.select(self.scorer.score(context), self.strategy.name)
        self.model = self.perspective.remove(self.model, chosen)
        removed = float(values[chosen].sum()) if values is not None else np.nan
        return Pruned(chosen, removed, normalized, accuracy(self.model, *self.data["eval"]), estimate,
                      int(self.rng.integers(2**31)))

    def record(self, pruned: Pruned) -> None:
        """Evaluate the retrained model and record the step ``pruned`` describes."""
        self.epochs += self.config.retrain_epochs
        self.acc = accuracy(self.model, *self.data["eval"])
        n, chosen = len(self.units), pruned.chosen
        self.records.append(self._record(self.step, n, n - len(chosen), self.units[chosen].tolist(), pruned))
        log.info("%s seed %d step %d: %d -> %d players (pruned %s), removed value %.3f, accuracy %.4f; players "
                 "removed: %s", self.strategy.name, self.seed, self.step, n, n - len(chosen),
                 self.units[chosen].tolist(), pruned.removed, self.acc, self.progress(self.records[0]["players_before"]
                                                                                      - n + len(chosen)))
        self.units = np.delete(self.units, chosen)

    def _record(self, step: int, before: int, after: int, ids: list, pruned: Pruned) -> dict:
        estimate = pruned.estimate
        stderr = estimate.stderr if estimate is not None else np.zeros(0)
        return asdict(StepRecord(
            walk_id=self.walk_id, strategy=self.strategy.name, seed=self.seed, step=step, players_before=before,
            players_after=after, pruned=" ".join(str(u) for u in ids), removed_shapley=pruned.removed,
            shapley_normalized=pruned.normalized, accuracy_before_retrain=pruned.before_retrain, accuracy=self.acc,
            test_accuracy=accuracy(self.model, *self.data["test"]), epochs=self.epochs,
            wall_time=time.perf_counter() - self.start if step else 0.0,
            shapley_method=estimate.estimator if estimate is not None else None,
            shapley_samples=estimate.n_units if estimate is not None else 0,
            shapley_evaluations=estimate.n_evaluations if estimate is not None else 0,
            shapley_stderr_mean=float(np.mean(stderr)) if len(stderr) else np.nan,
            shapley_stderr_max=float(np.max(stderr)) if len(stderr) else np.nan,
            dead_units=self.perspective.dead_units(self.model, self.data["eval"][0]),
            parameters=n_parameters(self.model),
        ))

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
    """Run one pruning walk from ``model`` (left unchanged) and return one record per step (docs/definitions.md); step 0
    is the root model. Randomness (Shapley sampling, random selection, retraining order) comes from
    ``seed`` and the strategy name alone. The library's reference walk: the pruned model is a physically
    smaller network, retrained on its own. ``on_step([records])`` is called after every step (to keep them)."""
    strategy = parse(strategy) if isinstance(strategy, str) else strategy
    data = _walk_data(splits, config, device)
    walk = _Walk(model, data, strategy, seed, config, walk_id, device)
    while not walk.done:
        pruned = walk.prune()
        train(walk.model, *data["train"], config.retrain_epochs, seed=pruned.train_seed, config=config.train)
        walk.record(pruned)
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
    walk values and prunes its own model exactly as :func:`prune_walk` does, and the pruned models of a step are
    retrained as one program where their perspective can (``retrain_together``: the units of an MLP, fused by
    :mod:`svprune.fused`). What the walks share is the minibatch order of each step's retraining: the seed that
    the first unfinished walk draws. A group of one walk is :func:`prune_walk`, up to float32 rounding. Other
    perspectives (blocks, channels) are walked one after another."""
    strategy = parse(strategy) if isinstance(strategy, str) else strategy
    if len(models) != len(seeds):
        raise ValueError(f"{len(models)} root models for {len(seeds)} seeds")
    walk_ids = list(walk_ids) if walk_ids is not None else [f"{strategy.name}/seed{s}" for s in seeds]
    if not all(perspective_for(m, config.layer, removal=config.removal).retrains_together for m in models):
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
        steps = [w.prune() for w in active]
        retrained = active[0].perspective.retrain_together([w.model for w in active], *data["train"],
                                                           config.retrain_epochs, steps[0].train_seed, config.train,
                                                           device)
        for w, model, pruned in zip(active, retrained, steps):
            w.model = model
            w.record(pruned)
        if on_step is not None:
            on_step([w.frame() for w in walks])
    return [w.frame() for w in walks]
