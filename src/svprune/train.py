"""Training and evaluation: cross-entropy, mini-batches shuffled by an explicit seed, configurable optimizer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer name (adam, sgd, adamw), learning rate, mini-batch size."""

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {sorted(OPTIMIZERS)}")
        if self.learning_rate <= 0 or self.batch_size < 1:
            raise ValueError("learning_rate must be > 0 and batch_size >= 1")


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
    """
    params = [p for p in model.parameters() if p.numel()]
    optimizer = OPTIMIZERS[config.optimizer](params, lr=config.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(int(seed))
    n = len(x)
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=generator).to(x.device)
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
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
