"""Training and evaluation: cross-entropy, mini-batches shuffled by an explicit seed, configurable optimizer."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from svprune.checks import check_finite, check_labels, check_same_length
from svprune.settings import TrainConfig
from svprune.outputs import logits_of

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


def check_training_data(x: torch.Tensor, y: torch.Tensor, n_classes) -> None:
    """What training refuses before it starts: features and labels of different lengths, non-finite features,
    labels outside 0..n_classes-1 (``n_classes`` may be a function, called only when there is data)."""
    check_same_length(x, y, "training features", "training labels")
    check_finite(x, "training features")
    if len(x):
        check_labels(y, int(n_classes() if callable(n_classes) else n_classes), "training labels")


def minibatches(n: int, epochs: int, seed: int, batch_size: int, device) -> Iterator[tuple[int, torch.Tensor | None]]:
    """The minibatch order of a training run, a function of ``seed`` alone: (epoch, sample indices) for every
    minibatch, then (epoch, None) at the end of each epoch. One definition for single and fused training, so
    that a fused model sees exactly the batches it would see alone."""
    generator = torch.Generator().manual_seed(int(seed))
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, batch_size):
            yield epoch, order[start : start + batch_size]
        yield epoch, None


def diverged_error(epoch: int, config: TrainConfig, which: str = "") -> TrainingDiverged:
    return TrainingDiverged(
        f"training diverged: the loss{which} became NaN or infinite in epoch {epoch} (learning rate "
        f"{config.learning_rate}, optimizer {config.optimizer}); lower training.learning_rate"
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
    def outputs() -> int:
        with torch.no_grad():
            model.eval()
            return logits_of(model(x[:1])).shape[-1]

    check_training_data(x, y, outputs)
    params = [p for p in model.parameters() if p.numel()]
    optimizer = make_optimizer(params, config)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    diverged = torch.zeros((), dtype=torch.bool, device=x.device)
    for epoch, idx in minibatches(len(x), epochs, seed, config.batch_size, x.device):
        if idx is not None:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(logits_of(model(x[idx])), y[idx])
            loss.backward()
            optimizer.step()
            diverged = diverged | ~torch.isfinite(loss.detach())
            continue
        if bool(diverged):
            raise diverged_error(epoch, config)
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
        logits = logits_of(model(x[start : start + batch_size]))
        correct += int((logits.argmax(1) == y[start : start + batch_size]).sum())
    return correct / max(len(x), 1)
