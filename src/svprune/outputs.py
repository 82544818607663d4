"""What svprune reads from a model's output: its logits, one row per sample and one column per class.

The rule, for models that return more than a tensor: a mapping or an object with a ``logits`` entry (Hugging
Face's ``ModelOutput``) gives that entry; a tuple or list gives its first element (torchvision's Inception and
GoogLeNet return ``(logits, aux_logits)`` in train mode). Anything else, or logits that are not a
(samples, classes) matrix, is an error that says what the model returned.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def _describe(out) -> str:
    if torch.is_tensor(out):
        return f"a tensor of shape {tuple(out.shape)}"
    return f"a {type(out).__name__}"


def logits_of(out, where: str = "the model") -> torch.Tensor:
    """The logits in a model's output ``out`` (see the module's rule)."""
    logits = out
    if isinstance(out, Mapping):
        logits = out.get("logits")
    elif not torch.is_tensor(out) and torch.is_tensor(getattr(out, "logits", None)):
        logits = out.logits
    elif isinstance(out, (tuple, list)) and out:
        logits = out[0]
    if not torch.is_tensor(logits) or logits.ndim != 2:
        raise ValueError(f"{where} returned {_describe(out)}; svprune needs logits of shape (samples, classes): a "
                         "tensor, a mapping or object with a 'logits' entry, or a tuple whose first element is them")
    return logits
