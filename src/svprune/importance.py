"""Importance criteria for the baseline strategies: they only score players (lower = pruned first); removing
is the perspective's job. Wbottom's weight norm (the paper's), and Torch-Pruning's magnitude, Taylor and
batch-norm-scale criteria, computed on the layer's whole dependency group."""

from __future__ import annotations

import numpy as np
import torch

from svprune.perspectives import Perspective

CRITERIA = ("weight_norm", "magnitude", "taylor", "bn_scale")
TAYLOR_SAMPLES = 1024
"""Training samples whose loss gradient feeds the Taylor criterion (first-order change of the loss)."""


def score(criterion: str, perspective: Perspective, model, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per-player scores of ``criterion``; ``x``, ``y``: training data (the Taylor criterion's gradient)."""
    if criterion == "weight_norm":
        return np.asarray(perspective.weight_norms(model), dtype=float)
    if criterion not in CRITERIA:
        raise ValueError(f"unknown importance criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    import torch_pruning as tp

    from svprune.channels import _trace, example_input
    from svprune.outputs import logits_of

    module, kind = perspective.scored_layer(model)
    prune_fn = tp.prune_linear_out_channels if kind == "linear" else tp.prune_conv_out_channels
    n = module.out_features if kind == "linear" else module.out_channels
    example = example_input(model, x[:1])
    was_training = model.training
    model.eval()
    graph = _trace(model, example_inputs=example, verbose=False)
    group = graph.get_pruning_group(module, prune_fn, idxs=list(range(n)))
    if criterion == "magnitude":
        importance = tp.importance.GroupMagnitudeImportance(p=2)
    elif criterion == "bn_scale":
        if not any(isinstance(dep.target.module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for dep, _ in group.items):
            raise ValueError("the bn_scale criterion needs a batch norm after the player layer; this layer has none")
        importance = tp.importance.BNScaleImportance()
    else:
        importance = tp.importance.GroupTaylorImportance()
        model.zero_grad()
        generator = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(x), generator=generator)[:TAYLOR_SAMPLES].to(x.device)
        torch.nn.functional.cross_entropy(logits_of(model(x[idx])), y[idx]).backward()
    with torch.no_grad():
        values = importance(group)
    model.zero_grad()
    model.train(was_training)
    if values is None:
        raise ValueError(f"Torch-Pruning's {criterion} criterion gave no scores for this layer")
    return values.detach().cpu().double().numpy()
