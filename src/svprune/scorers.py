"""Importance criteria (scorers): one score per player, lower pruned first. They only score; removing is the
perspective's job, and which players a step takes is the selection rule's (svprune.strategies), as in
Torch-Pruning's split of importance from pruner.

A scorer is a class with ``score(context) -> array of n scores`` (and ``needs_shapley = True`` where it reads
the step's Shapley estimate), registered in svprune.registry.SCORERS with the strategy families that rank by it.
Torch is imported only by the criteria that need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TAYLOR_SAMPLES = 1024
"""Training samples whose loss gradient feeds the Taylor criterion (first-order change of the loss)."""


@dataclass
class ScoreContext:
    """What a scorer may read at one step of a walk: the model, its perspective (the players, how they are
    removed), the training data (x, y), the walk's random stream, the number of players, the step's Shapley
    values (normalised, or None where the walk did not value them) and ``count``, the number of lowest-scored
    players the selection rule takes (None for threshold rules)."""

    model: Any
    perspective: Any
    train: tuple
    rng: np.random.Generator
    n_players: int
    shapley: np.ndarray | None = None
    count: int | None = None


class Scorer:
    """Base of the importance criteria."""

    needs_shapley = False

    def score(self, context: ScoreContext) -> np.ndarray:
        raise NotImplementedError


class ShapleyScorer(Scorer):
    """The players' Shapley values, normalised to sum to 1 while v(U) > v(empty) (Stier et al. 2018)."""

    needs_shapley = True

    def score(self, context: ScoreContext) -> np.ndarray:
        if context.shapley is None:
            raise ValueError("the shapley criterion needs the step's Shapley values")
        return np.asarray(context.shapley, dtype=float)


class RandomScorer(Scorer):
    """A uniformly random order. Where the rule takes the ``count`` lowest, those are one draw of ``count``
    players without replacement (numpy's ``Generator.choice``), the rest tied above them."""

    def score(self, context: ScoreContext) -> np.ndarray:
        n = context.n_players
        if context.count is None:
            return context.rng.random(n)
        scores = np.ones(n)
        if n:
            scores[context.rng.choice(n, size=min(int(context.count), n), replace=False)] = 0.0
        return scores


class WeightNorm(Scorer):
    """The L2 norm of each player's incoming weights (the paper's Wbottom; the filter norm for channels)."""

    def score(self, context: ScoreContext) -> np.ndarray:
        return np.asarray(context.perspective.weight_norms(context.model), dtype=float)


class _TorchPruning(Scorer):
    """A Torch-Pruning importance computed on the player layer's whole dependency group."""

    def importance(self, group, context: ScoreContext):
        raise NotImplementedError

    def score(self, context: ScoreContext) -> np.ndarray:
        import torch

        from svprune.channels import _group, example_input, n_channels

        model, (x, _) = context.model, context.train
        module, _ = context.perspective.scored_layer(model)
        was_training = model.training
        model.eval()
        _, group = _group(model, module, example_input(model, x[:1]), list(range(n_channels(module))))
        importance = self.importance(group, context)
        with torch.no_grad():
            values = importance(group)
        model.zero_grad()
        model.train(was_training)
        if values is None:
            raise ValueError(f"Torch-Pruning's {type(self).__name__} criterion gave no scores for this layer")
        return values.detach().cpu().double().numpy()


class TPMagnitude(_TorchPruning):
    """Group L2 magnitude (Torch-Pruning's GroupMagnitudeImportance; Li et al. 2017's filter norm over the group)."""

    def importance(self, group, context):
        import torch_pruning as tp

        return tp.importance.GroupMagnitudeImportance(p=2)


class TPBNScale(_TorchPruning):
    """Batch-norm scale (Torch-Pruning's BNScaleImportance; Liu et al. 2017, network slimming)."""

    def importance(self, group, context):
        import torch
        import torch_pruning as tp

        if not any(isinstance(dep.target.module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for dep, _ in group.items):
            raise ValueError("the bn_scale criterion needs a batch norm after the player layer; this layer has none")
        return tp.importance.BNScaleImportance()


class TPTaylor(_TorchPruning):
    """First-order Taylor importance (Torch-Pruning's GroupTaylorImportance; Molchanov et al. 2019), from the loss
    gradient on up to TAYLOR_SAMPLES training samples."""

    def importance(self, group, context):
        import torch
        import torch_pruning as tp

        from svprune.outputs import logits_of

        model, (x, y) = context.model, context.train
        model.zero_grad()
        generator = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(x), generator=generator)[:TAYLOR_SAMPLES].to(x.device)
        torch.nn.functional.cross_entropy(logits_of(model(x[idx])), y[idx]).backward()
        return tp.importance.GroupTaylorImportance()
