"""How fast are Shapley values of channels (ModuleGame)? Two settings, in one process:

1. One pruning step's valuation in the CNN experiment (config/fashion-mnist-cnn.yaml: svprune's SmallCNN, 32
   channels of conv2 as players, 3,000 validation images, antithetic permutations with 5,000 coalition
   evaluations) against one retraining epoch of the same model on its 57,000 training images in batches of 256
   (synthetic images of the same shape, so that no data set is needed).
2. A torchvision ResNet-18's layer4.1.conv1 (512 channels) on 512 images of 3x64x64: a 1,000-evaluation
   estimate with the cached prefix (torch.fx), and the whole model run per coalition block (hooks, the fallback
   for models torch.fx cannot trace), timed on --hooks-evaluations coalitions and extrapolated.

    python benchmarks/channel_game_speed.py [--threads 2] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from svprune import shapley as sh
from svprune.games import ModuleGame
from svprune.models import ImageModel, SmallCNN
from svprune.settings import TrainConfig
from svprune.train import train


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: str):
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def labelled(model, x):
    """Labels a trained model would give, with 10% noise (so that removing channels matters)."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        y = model(x).argmax(1).cpu()
    flip = torch.rand(len(y), generator=gen) < 0.1
    y[flip] = torch.randint(0, 10, (int(flip.sum()),), generator=gen)
    return y.to(x.device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--train-samples", type=int, default=57_000)
    parser.add_argument("--eval-samples", type=int, default=3_000)
    parser.add_argument("--budget", type=int, default=5_000)
    parser.add_argument("--hooks-evaluations", type=int, default=40,
                        help="coalitions timed with the whole model (extrapolated to 1,000)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = args.device
    gen = torch.Generator().manual_seed(0)
    print(f"device {dev}" + (f" ({torch.cuda.get_device_name()})" if dev == "cuda" else f", {args.threads} threads"))

    cnn = SmallCNN((1, 28, 28), (16, 32), 10, seed=0).to(dev)
    x_train = torch.rand(args.train_samples, 784, generator=gen).to(dev)
    y_train = labelled(cnn, x_train)
    epoch, _ = timed(lambda: train(cnn, x_train, y_train, 1, seed=0, config=TrainConfig(batch_size=256)), dev)
    x_eval = torch.rand(args.eval_samples, 784, generator=gen).to(dev)
    y_eval = labelled(cnn, x_eval)
    build, game = timed(lambda: ModuleGame(cnn, "conv2", x_eval, y_eval), dev)
    sh.shapley_values(game, "antithetic", 200, seed=1)  # warm up
    estimate_t, est = timed(lambda: sh.shapley_values(game, "antithetic", args.budget, seed=0), dev)
    print("\n1. one step of the CNN experiment (32 channels of conv2, "
          f"{args.eval_samples:,} evaluation images, {args.budget:,} evaluations, antithetic):")
    print(f"   game built in {build:.2f} s (mode {game.mode}, incremental path {game.fast}); estimate "
          f"{estimate_t:.2f} s; together {build + estimate_t:.2f} s")
    print(f"   one retraining epoch ({args.train_samples:,} images, batches of 256): {epoch:.2f} s; "
          f"valuation / epoch = {(build + estimate_t) / epoch:.2f}")

    resnet = ImageModel("resnet18", (3, 64, 64), 10, seed=0).to(dev).eval()
    x = torch.rand(512, 3 * 64 * 64, generator=gen).to(dev)
    y = labelled(resnet, x)
    built, cached = timed(lambda: ModuleGame(resnet, "net.layer4.1.conv1", x, y), dev)
    seconds, est = timed(lambda: sh.shapley_values(cached, "regression", 1000, seed=0), dev)
    hooks = ModuleGame(resnet, "net.layer4.1.conv1", x, y)
    hooks._suffix, hooks.mode = None, "hooks"  # the fallback path, as for a model torch.fx cannot trace
    hooks._cache = {"x": hooks._samples(x, hooks._order)}
    hooks._ndims, hooks._per_sample = hooks._inspect()
    probe = np.random.default_rng(0).random((args.hooks_evaluations, 512)) < 0.5
    per_eval, slow = timed(lambda: hooks.value(probe), dev)
    per_eval /= len(probe)
    diff = np.abs(slow - cached.value(probe)).max()
    print("\n2. ResNet-18 net.layer4.1.conv1 (512 channels), 512 images of 3x64x64, 1,000 evaluations (regression):")
    print(f"   cached prefix (torch.fx): game built in {built:.2f} s, estimate {seconds:.2f} s "
          f"({est.n_evaluations} evaluations)")
    print(f"   whole model per coalition block (hooks): {per_eval * 1000:.1f} ms per evaluation (timed on "
          f"{len(probe)}), {per_eval * 1000:.1f} s per 1,000 (extrapolated)")
    print(f"   cached-prefix speed-up over whole-model passes: {per_eval * 1000 / seconds:.1f}x; same payoffs: max "
          f"difference {diff:.1e}")


if __name__ == "__main__":
    main()
