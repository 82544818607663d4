"""How fast are Shapley values of a layer's neurons? Times, in one process, on the paper's setting (a 784-40-10
MLP, 10,000 evaluation samples of synthetic MNIST-shaped data, 500 permutations = 20,000 coalitions):

- naive: a full masked forward pass per coalition (timed on a sample of coalitions and extrapolated);
- cached-batched: the player layer's inputs cached, many coalitions per tensor op (NeuronGame(fast=False));
- incremental torch: the same walk as batched eager tensor operations (the path used on CUDA);
- fast: the fused incremental kernel (NeuronGame, automatic), one rank-one update per added player;

checks that they agree, and prints seconds per 500-permutation estimate, coalition evaluations per second and
ratios to naive; then exact values (Gray-code kernel) for n = 10, 16, 20, and peak memory.

    python benchmarks/shapley_speed.py [--samples 10000] [--permutations 500] [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import torch

from svprune import shapley as sh
from svprune.games import NeuronGame
from svprune.models import MLP


def synthetic_model(n_in: int, hidden: int, n_out: int, samples: int, seed: int = 0):
    """A 'trained-looking' MLP and data: labels are the model's own predictions with 10% noise, so the
    accuracy of the full model is about 0.9 and removing units matters."""
    gen = torch.Generator().manual_seed(seed)
    model = MLP(n_in, [hidden], n_out, seed=seed)
    x = torch.rand(samples, n_in, generator=gen)
    with torch.no_grad():
        y = model(x).argmax(1)
    flip = torch.rand(samples, generator=gen) < 0.1
    y[flip] = torch.randint(0, n_out, (int(flip.sum()),), generator=gen)
    return model, x, y


def naive_seconds_per_coalition(model: MLP, x: torch.Tensor, y: torch.Tensor, coalitions: np.ndarray) -> float:
    """A full forward pass from the inputs for each coalition, one at a time."""
    start = time.perf_counter()
    with torch.no_grad():
        for c in coalitions:
            (model(x, {0: torch.as_tensor(c, dtype=torch.float32)}).argmax(1) == y).double().mean()
    return (time.perf_counter() - start) / len(coalitions)


def timed(fn, repeat: int = 3):
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--permutations", type=int, default=500)
    parser.add_argument("--hidden", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--naive-sample", type=int, default=200, help="coalitions timed for the naive path")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))

    model, x, y = synthetic_model(784, args.hidden, 10, args.samples)
    n = args.hidden
    coalitions_per_estimate = args.permutations * n
    print(f"setting: 784-{n}-10 MLP, {args.samples:,} samples, {args.permutations} permutations "
          f"({coalitions_per_estimate:,} coalitions), {args.threads} threads\n")

    rng = np.random.default_rng(0)
    sample = rng.random((args.naive_sample, n)) < 0.5
    naive_per = naive_seconds_per_coalition(model, x, y, sample)
    naive = naive_per * coalitions_per_estimate

    plain_game = NeuronGame(model, x, y, fast=False)
    fast_game = NeuronGame(model, x, y)
    sh.permutation(fast_game, 4, seed=1)  # compile (numba caches machine code on disk)
    plain_t, plain = timed(lambda: sh.permutation(plain_game, args.permutations, seed=0), repeat=1)
    fast_t, fast = timed(lambda: sh.permutation(fast_game, args.permutations, seed=0))
    perms = np.random.default_rng(0).permuted(np.tile(np.arange(n), (args.permutations, 1)), axis=1)
    torch_t, torch_counts = timed(lambda: fast_game._prefix_correct_torch(perms), repeat=1)
    kernel_counts = fast_game._margins.prefix_correct(perms)
    torch_diff = int(np.abs(torch_counts - kernel_counts).max())
    diff = np.abs(plain.values - fast.values).max()
    naive_check = np.abs(plain_game.value(sample[:20]) - np.array([
        float((model(x, {0: torch.as_tensor(c, dtype=torch.float32)}).argmax(1) == y).double().mean()) for c in sample[:20]
    ]) + plain_game.empty_measure).max()

    rows = [
        ("naive masked forward (extrapolated from %d coalitions)" % args.naive_sample, naive),
        ("cached-batched", plain_t),
        ("incremental walk in eager torch (the GPU path, on CPU)", torch_t),
        ("fast incremental kernel", fast_t),
    ]
    print(f"{'path':58s} {'s / estimate':>13s} {'coalitions/s':>14s} {'vs naive':>10s}")
    for name, seconds in rows:
        print(f"{name:58s} {seconds:13.4f} {coalitions_per_estimate / seconds:14,.0f} {naive / seconds:9.0f}x")
    print(f"\nagreement: max |phi_fast - phi_plain| = {diff:.2e} (1 sample = {1 / args.samples:.0e}); "
          f"cached vs naive payoffs: max diff {naive_check:.1e}; torch vs kernel correct counts: max diff "
          f"{torch_diff} samples")

    print(f"\nexact values (Gray-code kernel), {args.samples:,} samples:")
    print(f"{'n':>4s} {'coalitions':>12s} {'seconds':>9s} {'coalitions/s':>14s} {'efficiency error':>17s}")
    for k in (10, 16, 20):
        m, xk, yk = synthetic_model(784, k, 10, args.samples, seed=k)
        game = NeuronGame(m, xk, yk)
        sh.exact(NeuronGame(m, xk[:64], yk[:64]))  # compile outside the timing
        seconds, est = timed(lambda: sh.exact(game), repeat=1)
        print(f"{k:4d} {2**k:12,d} {seconds:9.3f} {2**k / seconds:14,.0f} {abs(est.values.sum() - est.grand_value):17.1e}")

    print("\npeak memory of the fast permutation estimate (Python-side allocations, tracemalloc):")
    for perms in (500, 5000):
        tracemalloc.start()
        sh.permutation(fast_game, perms, seed=0)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"  {perms:6d} permutations: {peak / 2**20:7.2f} MiB")
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
