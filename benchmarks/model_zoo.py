"""The zoo as acceptance: every classification model of torchvision, with random weights (batch norms given random
statistics, so that a zeroed channel does not stay zero after them) and small inputs, three or four layers each
(the first convolution, the middle layer, a depthwise convolution near the middle where the model has one, the
last layer before the head). For each layer a ModuleGame is built (which refuses, naming the operation, or checks
itself against the physically pruned model); a built game is then checked once more, independently: its payoffs
on two random coalitions must equal the accuracy of the model `prune_channels` returns. Where masking is refused
for a channel-mixing normalisation, the exact mode (removal="prune") is tried.

    python benchmarks/model_zoo.py --out benchmarks/results/model_zoo.csv     # resumable: done rows are kept

Prints the table of counts: built / exact mode / refused / mismatched / failed (an error that is not a refusal).
"""

from __future__ import annotations

import argparse
import inspect
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchvision
from torch import nn

from svprune.channels import ChannelError, player_layers, prune_channels
from svprune.games import ModuleGame
from svprune.outputs import logits_of

warnings.filterwarnings("ignore")
N_SAMPLES = 16
CLASSES = 10


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.data.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
    return model.eval()


def build(name: str):
    """The model with random weights and the smallest input of (64, 96, 224) pixels it runs on."""
    builder = torchvision.models.get_model_builder(name)
    accepts_size = "image_size" in inspect.signature(getattr(torchvision.models, name)).parameters or name.startswith("vit")
    last = None
    for size in (64, 96, 224):
        kwargs = {"weights": None, "num_classes": CLASSES}
        if accepts_size:
            kwargs["image_size"] = size
        if name == "inception_v3" or name == "googlenet":
            kwargs["aux_logits"] = False
            kwargs["init_weights"] = False
        torch.manual_seed(0)
        try:
            model = randomize_norms(builder(**kwargs))
            x = torch.rand(N_SAMPLES, 3, size, size, generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                out = logits_of(model(x))
            return model, x, out
        except Exception as err:  # noqa: BLE001 - try the next size
            last = err
    raise RuntimeError(f"{name} runs on none of 64, 96, 224 pixels: {last}")


def choose_layers(model: nn.Module) -> dict[str, str]:
    layers = player_layers(model)
    modules = dict(model.named_modules())
    convs = [n for n in layers if isinstance(modules[n], nn.Conv2d)]
    head = layers[-1]
    before_head = [n for n in layers if n != head]
    chosen = {"first": convs[0] if convs else layers[0], "middle": before_head[len(before_head) // 2],
              "last": before_head[-1]}
    depthwise = [n for n in convs if modules[n].groups > 1 and modules[n].groups == modules[n].in_channels
                 == modules[n].out_channels]
    if depthwise:
        middle = layers.index(chosen["middle"])
        chosen["depthwise"] = min(depthwise, key=lambda n: abs(layers.index(n) - middle))
    return chosen


def independent_check(model, layer, x, y, game, rng) -> float:
    """Largest |payoff - accuracy of the pruned model| over two random coalitions."""
    worst = 0.0
    for _ in range(2):
        keep = rng.random(game.n_players) < 0.5
        keep[rng.integers(game.n_players)] = True
        if keep.all():
            keep[rng.integers(game.n_players)] = False
        pruned = prune_channels(model, layer, np.flatnonzero(~keep), example_inputs=x[:1]).eval()
        with torch.no_grad():
            accuracy = float((logits_of(pruned(x)).argmax(1) == y).double().mean())
        worst = max(worst, abs(game.value(keep[None])[0] + game.empty_measure - accuracy))
    return worst


def try_layer(model, layer, x, y) -> dict:
    start = time.perf_counter()
    row = {"layer": layer, "players": np.nan, "coupled": np.nan, "mode": "", "max_diff": np.nan,
           "payoff_error": np.nan, "message": ""}
    try:
        try:
            game = ModuleGame(model, layer, x, y)
            row["status"] = "built"
        except ChannelError as err:
            if "removal='prune'" not in str(err):
                raise
            game = ModuleGame(model, layer, x, y, removal="prune")
            row["status"], row["message"] = "exact mode", str(err)[:300]
        row.update(players=game.n_players, coupled=len(game.coupled_layers), mode=game.mode, max_diff=game.max_diff)
        row["payoff_error"] = independent_check(model, layer, x, y, game, np.random.default_rng(0))
        if row["payoff_error"] > 1e-9:
            row["status"] = "mismatched"
    except ChannelError as err:
        row["status"], row["message"] = "refused", str(err)[:300]
    except Exception as err:  # noqa: BLE001 - counted, never hidden
        row["status"], row["message"] = "failed", f"{type(err).__name__}: {str(err)[:300]}"
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/model_zoo.csv")
    parser.add_argument("--models", nargs="*", help="only these (default: every classification model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--summary", action="store_true", help="only print the tables of an existing --out file")
    args = parser.parse_args()
    if args.summary:
        print_tables(pd.read_csv(args.out))
        return
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    done = pd.read_csv(out) if out.exists() else pd.DataFrame()
    names = args.models or torchvision.models.list_models(module=torchvision.models)
    for name in names:
        if len(done) and name in set(done["model"]):
            continue
        start = time.perf_counter()
        rows = []
        try:
            model, x, out_logits = build(name)
            y = out_logits.argmax(1)
            y[: N_SAMPLES // 4] = (y[: N_SAMPLES // 4] + 1) % CLASSES  # accuracies away from 0 and 1
            for role, layer in choose_layers(model).items():
                rows.append({"model": name, "role": role, "input": x.shape[-1], **try_layer(model, layer, x, y)})
        except Exception as err:  # noqa: BLE001
            rows.append({"model": name, "role": "build", "status": "failed", "message": str(err)[:300]})
        done = pd.concat([done, pd.DataFrame(rows)], ignore_index=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        done.to_csv(out, index=False)
        summary = ", ".join(f"{r.get('role')}={r['status']}" for r in rows)
        print(f"{name}: {summary} ({time.perf_counter() - start:.0f} s)", flush=True)
    print_tables(done)


def family(name: str) -> str:
    """resnet18 -> resnet, efficientnet_v2_s -> efficientnet_v2, vit_b_16 -> vit, regnet_y_400mf -> regnet_y."""
    import re

    for prefix in ("efficientnet_v2", "efficientnet", "regnet_x", "regnet_y", "mobilenet_v2", "mobilenet_v3",
                   "swin_v2", "swin", "wide_resnet", "resnext", "shufflenet_v2", "squeezenet", "mnasnet", "convnext",
                   "densenet", "vgg", "vit", "maxvit", "resnet"):
        if name.startswith(prefix):
            return prefix
    return re.sub(r"[\d_].*$", "", name) or name


def print_tables(done: pd.DataFrame) -> None:
    """Counts per status, the refusals by reason, and a markdown table per model family."""
    counts = done["status"].value_counts()
    print(f"\n{done['model'].nunique()} models, {len(done)} layers: " + ", ".join(
        f"{counts.get(s, 0)} {s}" for s in ("built", "exact mode", "refused", "mismatched", "failed", "not finished")))
    refused = done[done["status"] == "refused"]
    if len(refused):
        print("refusals by reason:")
        print(refused["message"].str.extract(r"pass through ([^,]*?)(?:,| \()")[0].fillna(refused["message"].str[:80])
              .value_counts().to_string())
    statuses = ["built", "exact mode", "refused", "mismatched", "failed", "not finished"]
    table = done.assign(family=done["model"].map(family)).groupby("family", sort=False)
    print("\n| family | models | layers | " + " | ".join(statuses) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in statuses) + " |")
    for name, rows in table:
        cells = [str(int((rows["status"] == s).sum())) for s in statuses]
        print(f"| {name} | {rows['model'].nunique()} | {len(rows)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
