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


def logits_on(model, x: torch.Tensor) -> torch.Tensor:
    """The model's logits for inputs x (no gradients); a model that cannot run on inputs of that shape gets an
    error naming the shape and the setting that changes it, instead of torch's own."""
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as err:  # noqa: BLE001 - a shape mismatch surfaces as many kinds of error
        raise ValueError(f"the model cannot run on the data's samples, of shape {tuple(x.shape[1:])} "
                         f"({type(err).__name__}: {err}); give inputs of the shape the model expects (in the "
                         "workflow, model.input_shape)") from err
    return logits_of(out)
