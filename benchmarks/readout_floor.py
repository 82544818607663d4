"""How close are the games with an additive read-out to one matrix product? Per coalition evaluation, the time of
``value`` (batched coalitions) and of the permutation walk (``prefix_values``, n - 1 evaluations a permutation)
against the floor: one batched matrix product that computes the same logits (masked read-out weights times the
cached activations, or the coalitions times the players' cached logit terms), with no measure at all. Both in one
process, on the same coalitions; the ratios are the figures.

Games (untrained weights, labels from the model; throughput does not depend on training): a NeuronGame over the
100 hidden units of a 784-100-10 MLP, a ModuleGame over the same units (its additive-terms path), and a
ModuleGame over the 32 channels of a SmallCNN's last convolution (channels, pooling and a linear read-out: additive),
each with the accuracy and the cross-entropy payoff.

    python benchmarks/readout_floor.py [--threads 2] [--samples 10000] [--coalitions 512]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from svprune.games import ModuleGame, NeuronGame
from svprune.models import MLP, SmallCNN


def best_of(fn, repeat: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@torch.no_grad()
def floor_time(game, coalitions: np.ndarray) -> float:
    """One batched product per block of coalitions (the game's own block size) giving the logits."""
    masks = torch.as_tensor(coalitions, dtype=torch.float32)
    block = game._blocks(len(coalitions), game.n_samples, game._bytes_per_sample())[0]
    if isinstance(game, NeuronGame):
        weight, bias = game.model.linears[-1].weight.detach(), game.model.linears[-1].bias.detach()
        activations = game._ht

        def run():
            for start in range(0, len(masks), block):
                torch.matmul(masks[start : start + block, None, :] * weight, activations).add_(bias[:, None])
    else:
        terms = game._terms.reshape(game.n_players, -1)

        def run():
            for start in range(0, len(masks), block):
                masks[start : start + block] @ terms
    return best_of(run)


def report(name: str, game, n_coalitions: int, permutations: int) -> None:
    rng = np.random.default_rng(0)
    coalitions = rng.random((n_coalitions, game.n_players)) < 0.5
    perms = rng.permuted(np.tile(np.arange(game.n_players), (permutations, 1)), axis=1)
    value = best_of(lambda: game.value(coalitions)) / n_coalitions
    walk = best_of(lambda: game.prefix_values(perms)) / (permutations * (game.n_players - 1))
    floor = floor_time(game, coalitions) / n_coalitions
    print(f"{name}: value {value * 1e6:8.1f} us, walk {walk * 1e6:8.1f} us, one product {floor * 1e6:8.1f} us per "
          f"evaluation; value / product {value / floor:5.2f}, walk / product {walk / floor:5.2f}, "
          f"walk / value {walk / value:5.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--coalitions", type=int, default=512)
    parser.add_argument("--permutations", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    print(f"{args.samples:,} samples, {args.coalitions} coalitions, {args.permutations} permutations, "
          f"{args.threads} threads")
    mlp = MLP(784, [100], 10, seed=0).eval()
    x = torch.rand(args.samples, 784, generator=gen)
    with torch.no_grad():
        y = mlp(x).argmax(1)
    y[: args.samples // 4] = torch.randint(0, 10, (args.samples // 4,), generator=gen)  # some wrong: a real payoff
    cnn = SmallCNN((1, 28, 28), [16, 32], 10, seed=0).eval()
    xc = torch.rand(args.samples // 10, 784, generator=gen)
    with torch.no_grad():
        yc = cnn(xc).argmax(1)
    for measure in ("accuracy", "neg_cross_entropy"):
        report(f"NeuronGame, 100 units, {measure}", NeuronGame(mlp, x, y, measure=measure),
               args.coalitions, args.permutations)
        report(f"ModuleGame, 100 units, {measure}", ModuleGame(mlp, "linears.0", x, y, measure=measure),
               args.coalitions, args.permutations)
        last = [name for name, m in cnn.named_modules() if isinstance(m, torch.nn.Conv2d)][-1]
        report(f"ModuleGame, 32 channels of a CNN ({len(xc):,} images), {measure}",
               ModuleGame(cnn, last, xc, yc, measure=measure), args.coalitions, args.permutations)


if __name__ == "__main__":
    main()
