"""Peak memory of building a network game, against the size of one activation matrix.

Builds a NeuronGame on N x 784 float32 inputs with H hidden units (fast path: the fused kernels' arrays too)
and prints the peak resident memory added by the game's construction, in activation matrices (N x H x 4 bytes).
The target (issue 14): at most one activation matrix beyond the inputs, plus the bounded working set of
max_batch_bytes. Run: python benchmarks/game_memory.py [--samples 200000] [--hidden 1000]
"""

from __future__ import annotations

import argparse
import resource
import time


def rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--hidden", type=int, default=1_000)
    parser.add_argument("--max-batch-mib", type=int, default=64)
    args = parser.parse_args()

    import numpy as np
    import torch

    from svprune.games import NeuronGame
    from svprune.models import MLP

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = rng.random((args.samples, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.samples)
    model = MLP(784, [args.hidden], 10, seed=0)
    activation = args.samples * args.hidden * 4 / 2**20
    before = rss_mib()
    start = time.perf_counter()
    game = NeuronGame(model, x, y, max_batch_bytes=args.max_batch_mib << 20)
    built = time.perf_counter() - start
    added = peak_mib() - before
    print(f"inputs: {x.nbytes / 2**20:,.0f} MiB; one activation matrix: {activation:,.0f} MiB; "
          f"max_batch_bytes: {args.max_batch_mib} MiB")
    print(f"game built in {built:.1f} s (fast path: {game.fast}); peak memory added: {added:,.0f} MiB "
          f"= {added / activation:.2f} activation matrices")
    print(f"beyond one activation matrix: {added - activation:,.0f} MiB (bounded by max_batch_bytes: "
          f"{args.max_batch_mib} MiB per slice, a few slices' temporaries)")


if __name__ == "__main__":
    main()
