"""Networks whose components are players: a feed-forward MLP (neurons of a hidden layer), a residual MLP
(hidden blocks), a small convolutional network for images, and any torchvision architecture (channels of any
layer); seeded initialisation, physical removal of units and channels, and checkpoints that keep the
architecture."""

from __future__ import annotations

import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from svprune.checks import error_summary
from svprune.files import atomic_path


def _init_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    """torch's default nn.Linear initialisation, but drawn from an explicit generator (no global RNG)."""
    fan_in = layer.in_features
    bound = 1.0 / fan_in**0.5 if fan_in > 0 else 0.0
    with torch.no_grad():
        if layer.weight.numel():
            layer.weight.uniform_(-bound, bound, generator=generator)
        if layer.bias is not None and layer.bias.numel():
            layer.bias.uniform_(-bound, bound, generator=generator)


class MLP(nn.Module):
    """Feed-forward network in -> hidden[0] -> ... -> hidden[-1] -> out with ReLU after every hidden layer.

    ``linears[k]`` produces hidden layer k (k < len(hidden)); ``linears[-1]`` is the linear read-out.
    """

    def __init__(self, n_in: int, hidden: Sequence[int], n_out: int, seed: int = 0):
        super().__init__()
        sizes = [n_in, *hidden, n_out]
        with warnings.catch_warnings():  # a layer pruned to zero units is legitimate here
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        generator = torch.Generator().manual_seed(int(seed))
        for layer in self.linears:
            _init_linear(layer, generator)

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.out_features for layer in self.linears[:-1]]

    def hidden(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """Activations of hidden layer ``layer`` (after its ReLU): the inputs a player game caches."""
        for k in range(layer + 1):
            x = torch.relu(self.linears[k](x))
        return x

    def head(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        """The network from hidden layer ``layer``'s activations to the logits."""
        for k in range(layer + 1, len(self.linears) - 1):
            h = torch.relu(self.linears[k](h))
        return self.linears[-1](h)

    def forward(self, x: torch.Tensor, masks: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits; ``masks[k]`` (0/1 per unit) multiplies hidden layer k's activations, the plain masked pass."""
        for k, layer in enumerate(self.linears[:-1]):
            x = torch.relu(layer(x))
            if masks is not None and k in masks:
                x = x * masks[k]
        return self.linears[-1](x)


class ResidualMLP(nn.Module):
    """x -> stem (Linear+ReLU to ``width``) -> blocks x + f_l(x) -> linear read-out.

    Each block f_l is Linear+ReLU (width -> width); a block outside a coalition is bypassed by its skip
    connection, which is what the layer game measures (the paper's figure 1b).
    """

    def __init__(self, n_in: int, width: int, n_blocks: int, n_out: int, seed: int = 0):
        super().__init__()
        self.stem = nn.Linear(n_in, width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(n_blocks))
        self.out = nn.Linear(width, n_out)
        generator = torch.Generator().manual_seed(int(seed))
        for layer in [self.stem, *self.blocks, self.out]:
            _init_linear(layer, generator)

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.stem(x))

    def forward(self, x: torch.Tensor, active: Sequence[bool] | torch.Tensor | None = None) -> torch.Tensor:
        """Logits; ``active[l]`` false bypasses block l."""
        h = self.embed(x)
        for i, block in enumerate(self.blocks):
            if active is None or bool(active[i]):
                h = h + torch.relu(block(h))
        return self.out(h)


class SmallCNN(nn.Sequential):
    """A small convolutional network for flattened images (for instance 28x28 Fashion-MNIST, 784 features):
    unflatten -> [conv 3x3 -> batch norm -> ReLU -> max-pool 2] x len(channels) -> flatten -> linear read-out.
    Layers are named ``conv1``, ``bn1``, ..., ``fc``; the last convolution (``conv{len(channels)}``) is the
    natural player layer."""

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), channels: Sequence[int] = (16, 32), n_out: int = 10,
                 seed: int = 0):
        c, h, w = (int(v) for v in image_shape)
        layers: list[tuple[str, nn.Module]] = [("unflatten", nn.Unflatten(1, (c, h, w)))]
        previous = c
        with torch.random.fork_rng(devices=[]):  # layers draw from the global generator: seed it, then restore it
            torch.manual_seed(int(seed))
            for k, width in enumerate(channels, start=1):
                layers += [(f"conv{k}", nn.Conv2d(previous, int(width), 3, padding=1)),
                           (f"bn{k}", nn.BatchNorm2d(int(width))), (f"relu{k}", nn.ReLU()), (f"pool{k}", nn.MaxPool2d(2))]
                previous, h, w = int(width), h // 2, w // 2
            layers += [("flatten", nn.Flatten()), ("fc", nn.Linear(previous * h * w, n_out))]
        super().__init__(OrderedDict(layers))
        self.image_shape = (c, int(image_shape[1]), int(image_shape[2]))
        self.example_input_shape = (c * self.image_shape[1] * self.image_shape[2],)

    @property
    def channels(self) -> list[int]:
        return [m.out_channels for m in self if isinstance(m, nn.Conv2d)]


class ImageModel(nn.Sequential):
    """Any ``torchvision.models`` architecture by name, for flattened images: ``unflatten`` then ``net`` (the
    torchvision model, with ``num_classes`` outputs and its first convolution adapted to the images' channels).
    Player layers are named inside ``net``, e.g. ``net.layer4.1.conv1``."""

    def __init__(self, arch: str, image_shape: Sequence[int], n_out: int, seed: int = 0):
        import torchvision

        c, h, w = (int(v) for v in image_shape)
        names = torchvision.models.list_models(module=torchvision.models)
        if arch not in names:
            raise ValueError(f"unknown torchvision architecture {arch!r}; choose one of {', '.join(names)}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            net = torchvision.models.get_model(arch, weights=None, num_classes=int(n_out))
            first_name, first = next((n, m) for n, m in net.named_modules() if isinstance(m, nn.Conv2d))
            if first.in_channels != c:
                replacement = nn.Conv2d(c, first.out_channels, first.kernel_size, first.stride, first.padding,
                                        first.dilation, first.groups, first.bias is not None)
                parent = net.get_submodule(first_name.rpartition(".")[0]) if "." in first_name else net
                setattr(parent, first_name.rpartition(".")[2], replacement)
        super().__init__(OrderedDict([("unflatten", nn.Unflatten(1, (c, h, w))), ("net", net)]))
        self.arch, self.image_shape = arch, (c, h, w)
        self.example_input_shape = (c * h * w,)


def remove_units(model: MLP, layer: int, remove: Sequence[int]) -> MLP:
    """A new, smaller MLP without the given units of hidden layer ``layer``: the rows of the layer's weights
    and bias and the matching columns of the next layer go. Before retraining it computes exactly the masked
    model's outputs (a removed unit contributed only through those columns)."""
    if not 0 <= layer < len(model.hidden_sizes):
        raise ValueError(f"layer {layer} is not a hidden layer; the model has {len(model.hidden_sizes)}")
    width = model.hidden_sizes[layer]
    drop = {int(i) for i in remove}
    bad = [i for i in drop if not 0 <= i < width]
    if bad:
        raise ValueError(f"units {sorted(bad)} do not exist in hidden layer {layer} of width {width}")
    keep = torch.tensor([i for i in range(width) if i not in drop], dtype=torch.long)
    hidden = list(model.hidden_sizes)
    hidden[layer] = len(keep)
    first = model.linears[0]
    new = MLP(first.in_features, hidden, model.linears[-1].out_features)
    new.to(device=first.weight.device, dtype=first.weight.dtype)
    with torch.no_grad():
        for k, (src, dst) in enumerate(zip(model.linears, new.linears)):
            w, b = src.weight, src.bias
            if k == layer:
                w, b = w[keep], b[keep]
            if k == layer + 1:
                w = w[:, keep]
            dst.weight.copy_(w)
            dst.bias.copy_(b)
    return new


def pad_units(model: MLP, layer: int, width: int) -> tuple[MLP, torch.Tensor]:
    """A copy of ``model`` whose hidden layer ``layer`` is widened to ``width`` with zero units at the end, and
    the mask (1 for the model's own units, 0 for the padding): masked, the padding computes nothing, so the
    padded model equals the original and trains like it."""
    own = model.hidden_sizes[layer]
    if width < own:
        raise ValueError(f"cannot pad hidden layer {layer} of width {own} to {width}")
    hidden = list(model.hidden_sizes)
    hidden[layer] = width
    new = MLP(model.linears[0].in_features, hidden, model.linears[-1].out_features)
    first = model.linears[0].weight
    new.to(device=first.device, dtype=first.dtype)
    with torch.no_grad():
        for k, (src, dst) in enumerate(zip(model.linears, new.linears)):
            dst.weight.zero_()
            dst.bias.zero_()
            if k == layer:
                dst.weight[:own] = src.weight
                dst.bias[:own] = src.bias
            elif k == layer + 1:
                dst.weight[:, :own] = src.weight
                dst.bias.copy_(src.bias)
            else:
                dst.weight.copy_(src.weight)
                dst.bias.copy_(src.bias)
    mask = torch.zeros(width, dtype=first.dtype, device=first.device)
    mask[:own] = 1
    return new, mask


def remove_blocks(model: ResidualMLP, remove: Sequence[int]) -> ResidualMLP:
    """A new ResidualMLP without the given blocks: exactly the bypassed model's outputs."""
    drop = {int(i) for i in remove}
    keep = [i for i in range(model.n_blocks) if i not in drop]
    new = ResidualMLP(model.stem.in_features, model.stem.out_features, len(keep), model.out.out_features)
    new.to(device=model.stem.weight.device, dtype=model.stem.weight.dtype)
    with torch.no_grad():
        new.stem.load_state_dict(model.stem.state_dict())
        new.out.load_state_dict(model.out.state_dict())
        for dst, i in zip(new.blocks, keep):
            dst.load_state_dict(model.blocks[i].state_dict())
    return new


def incoming_weight_norms(model: MLP, layer: int) -> torch.Tensor:
    """L2 norm of each unit's incoming weights in hidden layer ``layer`` (the Wbottom criterion)."""
    return model.linears[layer].weight.detach().norm(dim=1)


def model_spec(model: nn.Module) -> dict:
    """The description that rebuilds ``model`` (saved next to its weights in checkpoints): its kind's."""
    from svprune.kinds import KindError, kind_of_model

    try:
        return kind_of_model(model).describe(model)
    except KindError as err:
        raise TypeError(f"cannot describe a {type(model).__name__}: {err}") from None


def build_model(spec: dict) -> nn.Module:
    """The model described by ``model_spec`` (weights freshly initialised)."""
    from svprune.kinds import kind_of_spec

    return kind_of_spec(spec).rebuild(spec)


def model_from_config(section: dict, n_features: int, n_classes: int, seed: int = 0,
                      sample_shape: Sequence[int] | None = None) -> nn.Module:
    """The root model a config's ``model`` section describes, for data of ``n_features`` and ``n_classes``
    (samples of ``sample_shape``, default flat): built by the section's kind (svprune.kinds)."""
    from svprune.kinds import kind_of_section

    kind = kind_of_section(section)
    return kind.build(section, n_features, n_classes, tuple(sample_shape or (n_features,)), seed)


def prune_channels(model: nn.Module, layer: str, positions: Sequence[int], example_inputs=None) -> nn.Module:
    """A new, smaller model without output channels ``positions`` of ``layer`` (a module path), removed through
    Torch-Pruning's DependencyGraph with everything coupled to them (see :mod:`svprune.channels`)."""
    from svprune.channels import prune_channels as prune

    return prune(model, layer, positions, example_inputs)


def non_finite_parameters(model: nn.Module) -> list[str]:
    """Names of the model's floating-point parameters and buffers that hold NaN or infinite values."""
    return [name for name, t in model.state_dict().items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def save_checkpoint(model: nn.Module, path, **meta) -> None:
    """Save weights, architecture and metadata in one file, written atomically (no half-written files).
    A model with NaN or infinite weights is refused: nothing downstream could use it."""
    bad = non_finite_parameters(model)
    if bad:
        raise ValueError(f"refusing to save a model with NaN or infinite weights (in {', '.join(bad)}) to {path}; "
                         "the training that produced it diverged (lower the learning rate)")
    with atomic_path(path) as tmp:
        torch.save({"spec": model_spec(model), "state_dict": model.state_dict(), "meta": meta}, tmp)


def load_weights(model: nn.Module, path) -> nn.Module:
    """Load weights of the user's into ``model``: a file of ``torch.save(model.state_dict())``, or an svprune
    checkpoint (its weights). Read with ``weights_only`` (no code in the file runs); a file that does not fit
    the model gets an error naming both."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"weights {path} are unreadable ({error_summary(err)}): save them with "
                         "torch.save(model.state_dict(), path)") from err
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"weights {path} hold no state_dict (found a {type(blob).__name__}): save them with "
                         "torch.save(model.state_dict(), path)")
    try:
        model.load_state_dict(state)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"weights {path} do not fit the model the config builds ({error_summary(err)}); check "
                         "model.factory and model.kwargs against the model that saved them") from err
    bad = non_finite_parameters(model)
    if bad:
        raise ValueError(f"weights {path} hold NaN or infinite values (in {', '.join(bad)})")
    return model


def _check_device(map_location) -> None:
    device = torch.device(map_location)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {map_location!r} was asked for, but CUDA is not available on this machine; "
                         "use device 'cpu' (the checkpoint itself is fine)")


def load_checkpoint(path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Load a checkpoint written by ``save_checkpoint``. A missing CUDA device, a data file given in its
    place, a damaged file and non-finite weights each get their own error."""
    _check_device(map_location)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if archive.namelist() and all(name.endswith(".npy") for name in archive.namelist()):
                raise ValueError(f"{path} is prepared data (.npz), not a model checkpoint; were --data and --model "
                                 "swapped?")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
        spec, state = blob["spec"], blob["state_dict"]
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises many kinds for truncated/corrupt files
        raise ValueError(
            f"checkpoint {path} is damaged or not an svprune checkpoint ({error_summary(err)}). "
            "Delete it and run snakemake again: it retrains the model and reruns everything that depends on it "
            "(or write it again with `svprune train-root`)."
        ) from err
    from svprune.kinds import KindError

    try:
        model = build_model(spec)
    except KindError as err:
        raise ValueError(f"checkpoint {path}: {err}") from None
    try:
        model.load_state_dict(state)
    except Exception as err:  # noqa: BLE001 - size mismatches and missing keys
        raise ValueError(f"checkpoint {path}: its weights do not fit the model its description rebuilds "
                         f"({spec.get('kind')}: {error_summary(err)}); a pruned model of your own cannot be rebuilt "
                         "from its factory: save the unpruned model, or load the weights yourself") from err
    model.to(map_location)
    bad = non_finite_parameters(model)
    if bad:
        raise ValueError(f"checkpoint {path} holds NaN or infinite weights (in {', '.join(bad)}); the training that "
                         "wrote it diverged: retrain it with a lower learning rate")
    return model, blob.get("meta", {})
