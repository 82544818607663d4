"""Fused against sequential training, in one process, on MNIST-shaped data (synthetic: 784 features, 10
classes; 50,000 training and 10,000 evaluation samples, the sizes of the paper's MNIST splits):

(a) the grid search: 200 repetitions of one hidden size (10 units) for 50 epochs, trained one after another
    (svprune.train.train) or as one fused program (svprune.gridsearch's way); timed on a part of the epochs
    and models and compared per model-epoch;
(b) the walks: the 20 seeds of one walk strategy (SVbucket(0.2), 500 permutations per step, T1 = 2), walked
    one after another (prune_walk) or together (prune_walks, fused retraining); timed on a part of the seeds
    and compared per walk.

Prints both ratios, the projected cost of paper.yaml's MNIST part (20 root models, 180 walks, 1,600 grid
runs), and last a line `fused vs sequential: <ratio>x` (the grid search's ratio, the bulk of the paper's cost).

    python benchmarks/training_speed.py [--quick] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from svprune.data import Splits
from svprune.fused import StackedMLP, train_fused
from svprune.models import MLP
from svprune.settings import ShapleyConfig, TrainConfig, WalkConfig
from svprune.train import train
from svprune.walk import prune_walk, prune_walks


def synthetic_splits(n_train: int, n_eval: int, seed: int = 0) -> Splits:
    """MNIST-shaped data with learnable labels (a random linear teacher), so that training and pruning behave
    as on real data: accuracy rises with epochs and falls as units go."""
    rng = np.random.default_rng(seed)
    teacher = rng.normal(size=(784, 10)).astype(np.float32)

    def part(n):
        x = rng.random((n, 784), dtype=np.float32)
        return x, np.argmax((x - 0.5) @ teacher + rng.normal(scale=2.0, size=(n, 10)), axis=1).astype(np.int64)

    (xt, yt), (xv, yv), (xs, ys) = part(n_train), part(n_eval), part(n_eval)
    return Splits("synthetic-mnist", xt, yt, xv, yv, xs, ys, 10)


def per_model_epoch(models: int, epochs: int, x, y, fused: bool, hidden: int, cfg: TrainConfig) -> float:
    nets = [MLP(784, [hidden], 10, seed=s) for s in range(models)]
    start = time.perf_counter()
    if fused:
        train_fused(StackedMLP(nets), x, y, epochs, seed=0, config=cfg)
    else:
        for net in nets:
            train(net, x, y, epochs, seed=0, config=cfg)
    return (time.perf_counter() - start) / (models * epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (under a minute), same last line")
    parser.add_argument("--threads", type=int, default=1, help="torch and numba threads (a job's default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    cfg = TrainConfig(learning_rate=1e-3, batch_size=64)
    n_train = 10_000 if args.quick else 50_000
    splits = synthetic_splits(n_train, 2_000 if args.quick else 10_000)
    x, y = torch.as_tensor(splits.x_train), torch.as_tensor(splits.y_train)
    print(f"data: {n_train:,} training samples x 784 features, {len(splits.y_val):,} evaluation samples; "
          f"{args.threads} thread(s)")

    per_model_epoch(1, 1, x, y, False, 10, cfg)  # warm-up: torch's first training step pays one-off costs
    per_model_epoch(4, 1, x, y, True, 10, cfg)
    # (a) grid search: 200 repetitions of hidden size 10
    seq_models, fused_models, epochs = (2, 200, 1) if args.quick else (4, 200, 2)
    seq = per_model_epoch(seq_models, epochs, x, y, False, 10, cfg)
    fus = per_model_epoch(fused_models, epochs, x, y, True, 10, cfg)
    grid_ratio = seq / fus
    print(f"(a) grid, hidden 10: sequential {seq * 1e3:.1f} ms per model-epoch ({seq_models} models), fused "
          f"{fus * 1e3:.2f} ms ({fused_models} models together): {grid_ratio:.1f}x")
    grid_seq_s, grid_fused_s = (200 * 50 * seq, 200 * 50 * fus)
    print(f"    200 repetitions x 50 epochs of one size: {grid_seq_s / 60:.1f} min sequential, "
          f"{grid_fused_s / 60:.1f} min fused" + (" (at the quick run's data size)" if args.quick else ""))

    # (b) walks: seeds of one strategy
    seeds_seq, seeds_fused = (2, 4) if args.quick else (4, 20)
    wcfg = WalkConfig(root_epochs=20, retrain_epochs=1 if args.quick else 2, theta=0.9,
                      shapley=ShapleyConfig(budget=100 if args.quick else 500), train=cfg)
    strategy = "SVbucket(0.3)" if args.quick else "SVbucket(0.2)"
    roots = StackedMLP([MLP(784, [40], 10, seed=s) for s in range(seeds_fused)])
    train_fused(roots, x, y, 2, seed=0, config=cfg)
    roots = roots.unstack()
    start = time.perf_counter()
    for s in range(seeds_seq):
        prune_walk(roots[s], splits, strategy, seed=s, config=wcfg)
    walk_seq = (time.perf_counter() - start) / seeds_seq
    start = time.perf_counter()
    prune_walks(roots, splits, strategy, seeds=list(range(seeds_fused)), config=wcfg)
    walk_fused = (time.perf_counter() - start) / seeds_fused
    walk_ratio = walk_seq / walk_fused
    print(f"(b) walks of {strategy}: sequential {walk_seq:.2f} s per walk ({seeds_seq} seeds), together "
          f"{walk_fused:.2f} s per walk ({seeds_fused} seeds): {walk_ratio:.1f}x")

    if not args.quick:
        # paper.yaml's MNIST part: 20 roots (20 epochs, not fused), 180 walks, 1,600 grid runs over sizes 3-10
        roots_s = 20 * 20 * per_model_epoch(1, 1, x, y, False, 40, cfg)
        sizes = range(3, 11)
        grid_fused = sum(200 * 50 * per_model_epoch(50, 1, x, y, True, h, cfg) for h in (3, 10)) / 2 * len(sizes)
        walks_fused = 180 * walk_fused
        total = roots_s + grid_fused + walks_fused
        seq_total = roots_s + len(sizes) * grid_seq_s + 180 * walk_seq
        print(f"projected paper.yaml MNIST part: roots {roots_s / 60:.1f} min + grid {grid_fused / 60:.1f} min + "
              f"walks {walks_fused / 60:.1f} min = {total / 3600:.2f} CPU-hours fused ({total / 7200:.2f} h wall on "
              f"2 cores), against {seq_total / 3600:.1f} CPU-hours sequential")
    print(f"fused vs sequential: {grid_ratio:.1f}x")


if __name__ == "__main__":
    main()
