"""Many small MLPs trained as one tensor program (fused training).

M MLPs of one architecture, each with its own initial weights and its own optimizer state, advance together
on a shared sequence of minibatches: the first layers of all models form one matrix product with the inputs,
the later layers batched matrix products over the models. The loss is the sum of the models' own mean
cross-entropies, so each model's gradient is exactly its own; Adam, AdamW and SGD update every weight
elementwise, so each model follows the path that :func:`svprune.train.train` gives it alone with the same
initialisation and the same minibatch order, up to float32 rounding (batched products sum in another order).

What the models share is the minibatch order (one seed per fused group): gathering a separate order per model
was slower than training the models one after another. A walk or grid search that fuses models therefore
records the order's seed beside each model's initial seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from svprune.models import MLP
from svprune.settings import TrainConfig
from svprune.train import check_training_data, diverged_error, make_optimizer, minibatches


class StackedMLP(nn.Module):
    """M MLPs of equal sizes as stacked weights: ``weights[k]`` has shape (M, out, in), ``biases[k]`` (M, out).
    ``masks`` (optional, per model and unit of one hidden layer) zero pruned units, so that models of one
    group can hold different subsets of a layer; a masked unit equals a removed one (its activation is 0, so
    neither its incoming nor its outgoing weights get a gradient)."""

    def __init__(self, models: Sequence[MLP]):
        super().__init__()
        if not models:
            raise ValueError("no models to stack")
        sizes = [(layer.in_features, layer.out_features) for layer in models[0].linears]
        for i, m in enumerate(models):
            if [(layer.in_features, layer.out_features) for layer in m.linears] != sizes:
                raise ValueError(f"model {i} has another architecture than model 0; stacked models must match")
        with torch.no_grad():
            self.weights = nn.ParameterList(
                nn.Parameter(torch.stack([m.linears[k].weight.detach() for m in models]).clone())
                for k in range(len(sizes))
            )
            self.biases = nn.ParameterList(
                nn.Parameter(torch.stack([m.linears[k].bias.detach() for m in models]).clone())
                for k in range(len(sizes))
            )
        self.n_models = len(models)
        self.masks: dict[int, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every model for shared inputs x (B, n_in): shape (M, B, classes)."""
        w0, b0 = self.weights[0], self.biases[0]
        m, width, n_in = w0.shape
        h = (x @ w0.reshape(m * width, n_in).T).reshape(x.shape[0], m, width).transpose(0, 1) + b0[:, None, :]
        for k in range(1, len(self.weights)):
            h = torch.relu(h)
            if k - 1 in self.masks:
                h = h * self.masks[k - 1][:, None, :]
            h = torch.baddbmm(self.biases[k][:, None, :], h, self.weights[k].transpose(1, 2))
        return h

    def unstack(self) -> list[MLP]:
        """The models as separate :class:`MLP` objects (copies of the current weights)."""
        n_in = self.weights[0].shape[2]
        hidden = [w.shape[1] for w in self.weights[:-1]]
        out = []
        for i in range(self.n_models):
            model = MLP(n_in, hidden, self.weights[-1].shape[1])
            model.to(device=self.weights[0].device, dtype=self.weights[0].dtype)
            with torch.no_grad():
                for k, layer in enumerate(model.linears):
                    layer.weight.copy_(self.weights[k][i])
                    layer.bias.copy_(self.biases[k][i])
            out.append(model)
        return out

    @torch.no_grad()
    def correct(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Correctly classified samples per model, shape (M,)."""
        total = torch.zeros(self.n_models, dtype=torch.long, device=x.device)
        for start in range(0, len(x), batch_size):
            logits = self(x[start : start + batch_size])
            total += (logits.argmax(-1) == y[start : start + batch_size]).sum(-1)
        return total

    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        """Accuracy of each model."""
        return (self.correct(x, y).double() / max(len(x), 1)).tolist()


def train_fused(
    stacked: StackedMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    seed: int,
    config: TrainConfig = TrainConfig(),
    on_epoch: Callable[[int, StackedMLP], None] | None = None,
) -> StackedMLP:
    """Train every model of ``stacked`` in place for ``epochs`` epochs of cross-entropy on one minibatch order
    drawn from ``seed`` (the order :func:`svprune.train.train` draws from the same seed), each with its own
    optimizer state. ``on_epoch(epoch, stacked)`` is called after each epoch."""
    check_training_data(x, y, stacked.weights[-1].shape[1])
    params = [p for p in stacked.parameters() if p.numel()]  # a layer pruned to zero units has no weights
    optimizer = make_optimizer(params, config)
    diverged = torch.zeros(stacked.n_models, dtype=torch.bool, device=x.device)
    for epoch, idx in minibatches(len(x), epochs, seed, config.batch_size, x.device):
        if idx is not None:
            optimizer.zero_grad(set_to_none=True)
            logits = stacked(x[idx])  # (M, B, C)
            # classes on dim 1, (M, C, B): torch's fast path for a small class count
            losses = nn.functional.cross_entropy(
                logits.transpose(1, 2), y[idx].expand(stacked.n_models, -1), reduction="none"
            ).mean(1)
            losses.sum().backward()
            optimizer.step()
            diverged |= ~torch.isfinite(losses.detach())
            continue
        if bool(diverged.any()):
            bad = torch.nonzero(diverged).flatten().tolist()
            raise diverged_error(epoch, config, f" of model(s) {bad} of the fused group")
        if on_epoch is not None:
            on_epoch(epoch, stacked)
    return stacked
