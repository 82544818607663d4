"""Training and evaluation: cross-entropy, mini-batches shuffled by an explicit seed, configurable optimizer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from svprune.checks import check_finite, check_labels, check_same_length
from svprune.settings import TrainConfig

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}


class TrainingDiverged(ValueError):
    """The training loss became NaN or infinite; nothing trained from it is saved."""


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """The configured optimizer, in torch's fused implementation (one kernel per step for all parameters: about
    ten times faster than the per-tensor loops on many stacked models, the same update rule)."""
    return OPTIMIZERS[config.optimizer](params, lr=config.learning_rate, fused=True)


def as_tensors(x: np.ndarray, y: np.ndarray, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Features as float32 and labels as int64 tensors on ``device``."""
    return (
        torch.as_tensor(np.asarray(x, dtype=np.float32), device=device),
        torch.as_tensor(np.asarray(y, dtype=np.int64), device=device),
    )


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    seed: int,
    config: TrainConfig = TrainConfig(),
    on_epoch: Callable[[int, nn.Module], None] | None = None,
) -> nn.Module:
    """Train ``model`` in place for ``epochs`` epochs of cross-entropy; shuffling comes from ``seed`` alone.

    ``on_epoch(epoch, model)`` is called after each epoch (1-based), e.g. to evaluate intermediate models.
    Non-finite inputs or labels outside the model's classes are refused before training; a loss that becomes
    NaN or infinite (divergence) stops training with :class:`TrainingDiverged` instead of saving such a model.
    """
    check_same_length(x, y, "training features", "training labels")
    check_finite(x, "training features")
    if len(x):
        with torch.no_grad():
            model.eval()
            check_labels(y, int(model(x[:1]).shape[-1]), "training labels")
    params = [p for p in model.parameters() if p.numel()]
    optimizer = make_optimizer(params, config)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(int(seed))
    n = len(x)
    model.train()
    diverged = torch.zeros((), dtype=torch.bool, device=x.device)
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=generator).to(x.device)
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            diverged = diverged | ~torch.isfinite(loss.detach())
        if bool(diverged):
            raise TrainingDiverged(
                f"training diverged: the loss became NaN or infinite in epoch {epoch} (learning rate "
                f"{config.learning_rate}, optimizer {config.optimizer}); lower training.learning_rate"
            )
        if on_epoch is not None:
            model.eval()
            on_epoch(epoch, model)
            model.train()
    model.eval()
    return model


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 8192) -> float:
    """Fraction of samples whose arg-max logit is the label."""
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        correct += int((model(x[start : start + batch_size]).argmax(1) == y[start : start + batch_size]).sum())
    return correct / max(len(x), 1)
