"""Error at equal wall time, svprune against shapiq, on network games.

For each game, shapiq's approximators run at the study's budgets (1,000, 5,000 and 20,000 coalition evaluations,
the game given to them as a plain function, as in ``peer_estimators.py``), and svprune's ``auto`` estimator at
budgets doubling from 1,000 until its mean time passes the slowest of them. At each of shapiq's points (its best
approximator at that budget, and the mean time it took), svprune's error at the same time is read off its own
error-time curve (interpolated linearly in log error against log time); the ratio of the two errors is the figure.

The reference values come from one long run of ``auto`` (``--reference-evaluations``; the per-sample walk where
the game has one), whose own standard errors are printed: an error below a few times their norm is not resolved, and the ratios say so ("at least").

    python benchmarks/equal_time.py [--games neuron40 neuron40_ce channels32] [--seeds 5]

One thread for every library by default (``torch.set_num_threads``, ``numba.set_num_threads``; ``--threads 2``
gives both libraries both cores of this machine: shapiq's sampling is single-threaded Python, the game it calls
runs on torch's threads), on this machine.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import numba
import numpy as np
import torch

from peer_estimators import run_shapiq
from svprune import shapley as sh
from svprune.study import make_game

PEERS = ["KernelSHAP", "kADDSHAP", "SVARM", "PermutationSamplingSV"]
"""shapiq's approximators that are its best somewhere in the estimator study (peers.csv)."""


def relative_error(values: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(values - reference) / np.linalg.norm(reference))


def timed(fn) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    values = fn()
    return values, time.perf_counter() - start


def svprune_curve(game, reference: np.ndarray, seeds: int, until: float, estimator: str) -> list[tuple[int, float, float]]:
    """(budget, mean seconds, mean relative error) at budgets doubling from 1,000 until the mean time passes
    ``until`` seconds."""
    sh.shapley_values(game, estimator, 1000, seed=0)  # warm: the kernels compile (or load) once
    curve, budget = [], 1000
    while True:
        runs = [timed(lambda s=s: sh.shapley_values(game, estimator, budget, seed=s).values) for s in range(seeds)]
        seconds = float(np.mean([t for _, t in runs]))
        curve.append((budget, seconds, float(np.mean([relative_error(v, reference) for v, _ in runs]))))
        if seconds > until or budget > 10**9:
            return curve
        budget *= 2


def at_time(curve: list[tuple[int, float, float]], seconds: float) -> float:
    """The curve's error at ``seconds``, interpolated in log-log (the first point's error below its time)."""
    t = np.log([c[1] for c in curve])
    e = np.log([c[2] for c in curve])
    return float(np.exp(np.interp(np.log(seconds), t, e)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", default=["neuron40", "neuron40_ce", "channels32"])
    parser.add_argument("--evaluations", nargs="+", type=int, default=[1000, 5000, 20000])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--estimator", default="auto")
    parser.add_argument("--reference-evaluations", type=int, default=40_000_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    print(f"{args.threads} thread(s); {args.seeds} seeds; svprune's {args.estimator!r} against shapiq 1.4.1's best of "
          f"{', '.join(PEERS)}")
    print("| game | shapiq budget | shapiq best | its error | its seconds | svprune's error in that time | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.games:
        game = make_game(name)
        reference = sh.shapley_values(game, "auto", args.reference_evaluations, seed=10**6)  # its most precise
        floor = float(np.linalg.norm(reference.stderr) / np.linalg.norm(reference.values))
        ref = reference.values
        points = []
        for budget in args.evaluations:
            best = None
            for peer in PEERS:
                runs = [timed(lambda s=s: run_shapiq(peer, game, budget, s)[0]) for s in range(args.seeds)]
                error = float(np.mean([relative_error(v, ref) for v, _ in runs]))
                seconds = float(np.mean([t for _, t in runs]))
                if best is None or error < best[1]:
                    best = (peer, error, seconds)
            points.append((budget, *best))
        curve = svprune_curve(game, ref, args.seeds, max(p[3] for p in points), args.estimator)
        for budget, peer, error, seconds in points:
            ours = at_time(curve, seconds)
            resolved = ours > 3 * floor
            ratio = f"{error / ours:.1f}" if resolved else f"at least {error / (3 * floor):.1f}"
            print(f"| {name} ({game.n_players}) | {budget:,} | {peer} | {error:.4f} | {seconds:.3f} | "
                  f"{ours:.4f} | {ratio} |", flush=True)
        print(f"<!-- {name}: reference {args.reference_evaluations:,} evaluations of {reference.extra['chose']}, standard errors "
              f"{floor:.2e} of the values (L2); svprune's curve (budget, s, error): "
              + "; ".join(f"{b:,} {s:.3f} {e:.4f}" for b, s, e in curve) + " -->", flush=True)


if __name__ == "__main__":
    main()
