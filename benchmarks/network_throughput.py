"""How close is a game over every channel of a network to the hardware's floor? Coalition evaluations per second
of ``ModuleGame(model, "all", x, y)`` (its cached prefix, masks at every layer's mask points, coalitions x samples
batched within max_batch_bytes) against the floor: one plain batched forward pass of the same model over the same
coalitions x samples, each layer's output multiplied by its coalition's mask (forward hooks; no measure, no
checks), in blocks of the same size. Both in one process, on the same random coalitions; the ratio is the figure.

Models: svprune's SmallCNN [16, 32, 32] on 1x8x8 images (80 channels; the default study's network experiment, 288
samples), SmallCNN [32, 64, 128] on 1x28x28 images (224 channels; Fashion-MNIST's shape) and a torchvision ResNet-18
on 3x64x64 images (every channel that can be a player: 2,880 in 12 layers, each residual group one player),
untrained weights with labels from the model itself (throughput does not depend on training).

    python benchmarks/network_throughput.py [--threads 2] [--device cuda] [--samples 256] [--coalitions 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from svprune.games import ModuleGame
from svprune.models import ImageModel, SmallCNN


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: str, repeat: int = 3) -> float:
    """The best of ``repeat`` runs, in seconds (after one warm-up run)."""
    fn()
    best = np.inf
    for _ in range(repeat):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


@torch.no_grad()
def masked_forward(model, layers: list[str], bounds, coalitions: torch.Tensor, x: torch.Tensor, block: int):
    """The floor: model(x) for each coalition, each layer's output channels multiplied by the coalition's mask."""
    current = {}
    hooks = []
    for name, a, b in zip(layers, bounds[:-1], bounds[1:]):
        def hook(module, args, out, a=a, b=b):
            mask = current["masks"][:, a:b].repeat_interleave(current["span"], 0)
            return out * mask.reshape(*mask.shape, *([1] * (out.ndim - 2)))
        hooks.append(model.get_submodule(name).register_forward_hook(hook))
    try:
        for start in range(0, len(coalitions), block):
            masks = coalitions[start : start + block].to(x.dtype)
            current.update(masks=masks, span=len(x))
            model(x.repeat((len(masks),) + (1,) * (x.ndim - 1))).argmax(1)
    finally:
        for h in hooks:
            h.remove()


def measure(name: str, model, x, device: str, n_coalitions: int, threads: int) -> None:
    model = model.to(device).eval()
    with torch.no_grad():
        y = model(x).argmax(1)
    start = time.perf_counter()
    game = ModuleGame(model, "all", x, y)
    built = time.perf_counter() - start
    rng = np.random.default_rng(0)
    coalitions = rng.random((n_coalitions, game.n_players)) < 0.5
    step, span = game._blocks(n_coalitions, game.n_samples, game._bytes_per_sample())
    block = step if span >= game.n_samples else 1
    masks = torch.as_tensor(coalitions, device=device)
    ours = timed(lambda: game.value(coalitions), device)
    floor = timed(lambda: masked_forward(model, game.layers, game.bounds, masks, x, block), device)
    print(f"{name}: {game.n_players:,} channels in {len(game.layers)} layers, {game.n_samples} samples, "
          f"{n_coalitions} coalitions in blocks of {block} ({device}, {threads} threads; game built and self-checked "
          f"in {built:.1f} s)")
    print(f"  ModuleGame.value    {n_coalitions / ours:9.1f} evaluations/s")
    print(f"  masked forward      {n_coalitions / floor:9.1f} evaluations/s (the floor)")
    print(f"  ratio               {ours / floor:9.2f} x the floor's time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--coalitions", type=int, default=64)
    parser.add_argument("--resnet-samples", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    small = SmallCNN((1, 8, 8), [16, 32, 32], 10, seed=0)
    x = torch.randn(288, 64, generator=gen).to(args.device)
    measure("SmallCNN [16, 32, 32], 1x8x8", small, x, args.device, 4 * args.coalitions, args.threads)
    cnn = SmallCNN((1, 28, 28), [32, 64, 128], 10, seed=0)
    x = torch.randn(args.samples, 784, generator=gen).to(args.device)
    measure("SmallCNN [32, 64, 128], 1x28x28", cnn, x, args.device, args.coalitions, args.threads)
    resnet = ImageModel("resnet18", (3, 64, 64), 10, seed=0)
    x = torch.randn(args.resnet_samples, 3 * 64 * 64, generator=gen).to(args.device)
    measure("ResNet-18, 3x64x64", resnet, x, args.device, max(args.coalitions // 4, 4), args.threads)


if __name__ == "__main__":
    main()
