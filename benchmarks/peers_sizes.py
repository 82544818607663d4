"""shapiq's approximators on the games of benchmarks/coverage_sizes.py (games of other sizes than the study's,
which svprune's estimators were not tuned on), against svprune's best there: mean relative L2 error per game and
budget, the same references and measure as coverage_sizes.

    python benchmarks/peers_sizes.py [--games voting30 ...] [--seeds 10] [--out benchmarks/results/peers_sizes.csv]
        [--svprune benchmarks/results/coverage_sizes.csv]

shapiq's KernelSHAP, kADDSHAP, SVARM and UnbiasedKernelSHAP (the ones that are ever its best in the study) run by
benchmarks/peer_estimators.py's peer_rows; svprune's errors are read from coverage_sizes' results. The voting and unanimity
games take about 25 minutes on one thread (shapiq's SVARM and kADDSHAP on 100 players most of it); the network
games are not in the default list (every coalition a forward pass).
"""

from __future__ import annotations

import argparse
import logging
import warnings

import numba
import pandas as pd
import torch
from coverage_sizes import GAMES
from peer_estimators import peer_rows

from svprune.study import with_reference

PEERS = ["KernelSHAP", "kADDSHAP", "SVARM", "UnbiasedKernelSHAP"]


def compare(peers: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """Per game and budget: each library's best estimator by mean relative L2 error, and their ratio."""
    theirs = peers.groupby(["game", "target_evaluations", "estimator"])["relative_error"].mean()
    ours = ours[ours["source"] == "svprune"].groupby(["game", "target_evaluations", "estimator"])["relative_error"].mean()
    rows = []
    for (game, budget), part in theirs.groupby(level=[0, 1]):
        mine = ours.loc[(game, budget)]
        part = part.droplevel([0, 1])
        rows.append({"game": game, "evaluations": budget, "svprune best": mine.idxmin(), "its error": mine.min(),
                     "shapiq best": part.idxmin().removeprefix("shapiq:"), "shapiq's error": part.min(),
                     "ratio": mine.min() / part.min()})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", default=["voting30", "voting100", "unanimity20", "unanimity100"],
                        choices=list(GAMES))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results/peers_sizes.csv")
    parser.add_argument("--svprune", default="benchmarks/results/coverage_sizes.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    rows = []
    for name in args.games:
        rows += peer_rows(name, with_reference(name, GAMES[name](), 4_000_000), PEERS, [1_000, 5_000, 20_000],
                          args.seeds)
    peers = pd.DataFrame(rows)
    peers.to_csv(args.out, index=False)
    table = compare(peers, pd.read_csv(args.svprune))
    print(table.round(4).to_string(index=False))
    print(f"svprune's best at or below shapiq's at {(table['ratio'] <= 1).sum()} of {len(table)} points; ratios "
          f"{table['ratio'].min():.2f}-{table['ratio'].max():.2f}")


if __name__ == "__main__":
    main()
