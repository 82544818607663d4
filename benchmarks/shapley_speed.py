"""How fast are Shapley values of a layer's neurons? Times, in one process, on the paper's setting (a 784-40-10
MLP, 10,000 evaluation samples of synthetic MNIST-shaped data, 500 permutations = 19,502 coalition
evaluations), for each measure (accuracy, balanced accuracy, negative cross-entropy):

- naive: a full masked forward pass per coalition (timed on a sample of coalitions and extrapolated);
- TorchPruner's algorithm (re-implemented here, as its ShapleyAttributionMetric with a user-written
  ``forward_partial``): the player layer's activations cached, one coalition at a time;
- cached-batched: the same cache, many coalitions per tensor operation (NeuronGame(fast=False)), at several
  ``max_batch_bytes``;
- incremental torch: every prefix's logits as a cumulative sum of rank-one terms in batched tensor operations
  (the path NeuronGame takes on CUDA), here on the chosen device;
- fast: the fused incremental native kernels (NeuronGame on CPU, automatic), one rank-one update per player;

checks that they agree, and prints seconds per estimate and ratios; then exact values (Gray-code kernel) for
n = 10, 16, 20, and peak memory.

    python benchmarks/shapley_speed.py [--samples 10000] [--permutations 500] [--threads 2] [--device cuda]
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

MEASURES = ("accuracy", "balanced_accuracy", "neg_cross_entropy")


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


def measure_of(logits: torch.Tensor, y: torch.Tensor, measure: str) -> float:
    """The measure as a user would write it for TorchPruner (float32 cross-entropy, as its criterion)."""
    if measure == "accuracy":
        return float((logits.argmax(1) == y).float().mean())
    if measure == "balanced_accuracy":
        hits = torch.bincount(y[logits.argmax(1) == y], minlength=logits.shape[1]).float()
        counts = torch.bincount(y, minlength=logits.shape[1]).float()
        return float((hits[counts > 0] / counts[counts > 0]).mean())
    return float(-torch.nn.functional.cross_entropy(logits, y))


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def naive_seconds_per_coalition(model, x, y, coalitions, measure, device) -> float:
    """A full forward pass from the inputs for each coalition, one at a time."""
    sync(device)
    start = time.perf_counter()
    for c in coalitions:
        measure_of(model(x, {0: torch.as_tensor(c, dtype=torch.float32, device=device)}), y, measure)
    sync(device)
    return (time.perf_counter() - start) / len(coalitions)


@torch.no_grad()
def torchpruner_style(model, x, y, perms, measure) -> np.ndarray:
    """TorchPruner's ShapleyAttributionMetric with forward_partial, re-implemented: activations of the player
    layer computed once; for each permutation, units are switched on one at a time and the rest of the network
    (here the read-out) runs on the whole evaluation set for each coalition; marginals averaged."""
    h = torch.relu(model.linears[0](x))
    head = model.linears[-1]
    n = h.shape[1]
    phi = np.zeros(n)
    for perm in perms:
        mask = torch.zeros(n, device=h.device)
        last = measure_of(head(h * mask), y, measure)
        for j in perm:
            mask[j] = 1.0
            now = measure_of(head(h * mask), y, measure)
            phi[j] += now - last
            last = now
    return phi / len(perms)


def timed(fn, device="cpu", repeat: int = 3):
    best, out = np.inf, None
    for _ in range(repeat):
        sync(device)
        start = time.perf_counter()
        out = fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--permutations", type=int, default=500)
    parser.add_argument("--hidden", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--naive-sample", type=int, default=200, help="coalitions timed for the naive path")
    parser.add_argument("--torchpruner-permutations", type=int, default=25,
                        help="permutations timed for TorchPruner's algorithm (extrapolated to --permutations)")
    parser.add_argument("--chunks", nargs="+", type=int, default=[1, 4, 16, 64, 256],
                        help="max_batch_bytes (MiB) of the cached-batched path to compare")
    parser.add_argument("--skip-exact", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    dev = args.device
    model, x, y = synthetic_model(784, args.hidden, 10, args.samples)
    model, x, y = model.to(dev), x.to(dev), y.to(dev)
    n = args.hidden
    budget = args.permutations * (n - 1) + 2
    print(f"setting: 784-{n}-10 MLP, {args.samples:,} samples, {args.permutations} permutations ({budget:,} "
          f"coalition evaluations), {args.threads} threads, device {dev}"
          + (f" ({torch.cuda.get_device_name()})" if dev == "cuda" else "") + "\n")
    perms = np.random.default_rng(0).permuted(np.tile(np.arange(n), (args.permutations, 1)), axis=1)
    sample = np.random.default_rng(0).random((args.naive_sample, n)) < 0.5

    for measure in MEASURES:
        naive = naive_seconds_per_coalition(model, x, y, sample, measure, dev) * budget
        tp_perms = perms[: args.torchpruner_permutations]
        tp_t, _ = timed(lambda: torchpruner_style(model, x, y, tp_perms, measure), dev, repeat=1)
        tp = tp_t * args.permutations / len(tp_perms)
        fast_game = NeuronGame(model, x, y, measure=measure)
        rows = [(f"naive masked forward (extrapolated from {args.naive_sample} coalitions)", naive),
                (f"TorchPruner's algorithm, re-implemented (extrapolated from {len(tp_perms)} permutations)", tp)]
        chunk_times = {}
        plain = None
        for mib in args.chunks:
            game = NeuronGame(model, x, y, measure=measure, fast=False, max_batch_bytes=mib << 20)
            t, est = timed(lambda: sh.shapley_values(game, "permutation", budget, seed=0), dev, repeat=1)
            chunk_times[mib], plain = t, est if mib == args.chunks[-1] else plain
            rows.append((f"cached-batched, max_batch_bytes {mib} MiB", t))
        fast_game._prefix_measure_torch(perms[:2])  # warm up
        torch_t, torch_prefix = timed(lambda: fast_game._prefix_measure_torch(perms), dev, repeat=1)
        rows.append(("incremental torch: cumulative rank-one sums, batched (the CUDA path)", torch_t))
        if dev == "cpu":
            sh.shapley_values(fast_game, "permutation", 4 * (n - 1) + 2, seed=1)  # compile (cached on disk)
            fast_t, fast = timed(lambda: sh.shapley_values(fast_game, "permutation", budget, seed=0))
            rows.append(("fast incremental native kernel", fast_t))
            kernel_prefix = fast_game.prefix_values(perms) + fast_game.empty_measure
        else:
            fast_t, fast = timed(lambda: sh.shapley_values(fast_game, "permutation", budget, seed=0), dev)
            kernel_prefix = torch_prefix
        print(f"measure: {measure}")
        print(f"  {'path':78s} {'s / estimate':>12s} {'vs naive':>9s} {'vs TorchPruner':>15s}")
        for name, seconds in rows:
            print(f"  {name:78s} {seconds:12.4f} {naive / seconds:8.0f}x {tp / seconds:14.1f}x")
        best = min(chunk_times, key=chunk_times.get)
        print(f"  fastest cached-batched chunk: {best} MiB; fast vs cached-batched (256 MiB): "
              f"{chunk_times[args.chunks[-1]] / fast_t:.0f}x; incremental torch vs cached-batched (fastest chunk): "
              f"{chunk_times[best] / torch_t:.2f}x")
        print(f"  agreement: max |phi_fast - phi_plain| = {np.abs(plain.values - fast.values).max():.2e}; "
              f"torch vs kernel prefix measures: max diff {np.abs(torch_prefix - kernel_prefix).max():.1e}\n")

    if not args.skip_exact and dev == "cpu":
        print(f"exact values (Gray-code kernel), accuracy, {args.samples:,} samples:")
        print(f"{'n':>4s} {'coalitions':>12s} {'seconds':>9s} {'coalitions/s':>14s} {'efficiency error':>17s}")
        for k in (10, 16, 20):
            m, xk, yk = synthetic_model(784, k, 10, args.samples, seed=k)
            game = NeuronGame(m, xk, yk)
            sh.exact(NeuronGame(m, xk[:64], yk[:64]))  # compile outside the timing
            seconds, est = timed(lambda: sh.exact(game), repeat=1)
            print(f"{k:4d} {2**k:12,d} {seconds:9.3f} {2**k / seconds:14,.0f} "
                  f"{abs(est.values.sum() - est.total):17.1e}")

        print("\npeak memory of the fast permutation estimate (Python-side allocations, tracemalloc):")
        game = NeuronGame(model, x, y)
        for count in (500, 5000):
            tracemalloc.start()
            sh.shapley_values(game, "permutation", count * (n - 1) + 2, seed=0)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"  {count:6d} permutations: {peak / 2**20:7.2f} MiB")
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
