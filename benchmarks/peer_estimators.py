"""Peer estimators on the estimator study's games: shapiq's Shapley value approximators and captum's
ShapleyValueSampling, scored against the same reference values with the same measure as svprune's study.

    pip install -e .[benchmarks]        # shapiq and captum: benchmark extras, not dependencies of svprune
    python benchmarks/peer_estimators.py --out benchmarks/results/peers.csv

Each peer gets the game as a plain function of a boolean coalition matrix (what a user would write for it), at
the same budgets of coalition evaluations; every coalition it asks for is counted. The rows have the columns of
``svprune estimator-study``, with ``source`` naming the library; the workflow's study table shows them beside
svprune's estimators (config key ``estimator_study.peers``). Timings are of the machine that ran this.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import numpy as np
import pandas as pd
import torch

from svprune.registry import GAMES
from svprune.study import errors, study_game

SHAPIQ = {  # name: (class name, keyword arguments)
    "KernelSHAP": ("KernelSHAP", {"pairing_trick": True}),
    "kADDSHAP": ("kADDSHAP", {"max_order": 2, "pairing_trick": True}),
    "SVARM": ("SVARM", {"pairing_trick": False}),
    "UnbiasedKernelSHAP": ("UnbiasedKernelSHAP", {"pairing_trick": True}),
    "PermutationSamplingSV": ("PermutationSamplingSV", {}),
    "StratifiedSamplingSV": ("StratifiedSamplingSV", {}),
    "OwenSamplingSV": ("OwenSamplingSV", {}),
}


class Counted:
    """The game as a plain function, counting every coalition asked for."""

    def __init__(self, game):
        self.game, self.asked = game, 0

    def __call__(self, coalitions):
        coalitions = np.atleast_2d(np.asarray(coalitions, dtype=bool))
        self.asked += len(coalitions)
        return self.game.value(coalitions)


def run_shapiq(name: str, game, budget: int, seed: int):
    import shapiq.approximator as sa

    cls_name, kwargs = SHAPIQ[name]
    f = Counted(game)
    approximator = getattr(sa, cls_name)(n=game.n_players, random_state=seed, **kwargs)
    values = approximator.approximate(budget, f).get_n_order_values(1)
    return np.asarray(values, dtype=float), f.asked


def run_captum(game, budget: int, seed: int):
    from captum.attr import ShapleyValueSampling

    n = game.n_players
    f = Counted(game)
    forward = lambda masks: torch.as_tensor(f(masks.detach().cpu().numpy() > 0.5))  # noqa: E731
    torch.manual_seed(seed)
    sampler = ShapleyValueSampling(forward)
    permutations = max(1, (budget - 1) // n)  # captum evaluates n prefixes per permutation and the baseline
    attr = sampler.attribute(torch.ones(1, n, dtype=torch.float64), baselines=torch.zeros(1, n, dtype=torch.float64),
                             n_samples=permutations, perturbations_per_eval=n)
    return attr.detach().numpy().reshape(-1), f.asked


def peer_rows(game_name: str, study, peers, budgets, seeds: int) -> list[dict]:
    """One row per peer, budget and seed on a study game (``svprune.study.StudyGame``): its error against the
    study's reference, in the columns of ``svprune estimator-study``; progress logged per peer and budget."""
    rows = []
    for peer in peers:
        source = "captum" if peer == "ShapleyValueSampling" else "shapiq"
        for budget in budgets:
            found = []
            for seed in range(seeds):
                start = time.perf_counter()
                if source == "captum":
                    values, asked = run_captum(study.game, budget, seed)
                else:
                    values, asked = run_shapiq(peer, study.game, budget, seed)
                seconds = time.perf_counter() - start
                s = errors(values, np.full(len(values), np.nan), study.reference)
                found.append(s["relative_error"])
                rows.append({"game": game_name, "estimator": f"{source}:{peer}", "source": source,
                             "target_evaluations": budget, "seed": seed, "n_players": study.game.n_players,
                             "reference": study.reference_kind, "evaluations": asked, "seconds": seconds, **s})
            logging.info("%s %s:%s %d evaluations: relative L2 error %.4f (%.3f s)", game_name, source, peer,
                         budget, np.mean(found), seconds)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", default=list(GAMES), choices=GAMES.names())
    parser.add_argument("--evaluations", nargs="+", type=int, default=[1000, 5000, 20000])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--peers", nargs="+", default=[*SHAPIQ, "ShapleyValueSampling"])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    rows = []
    for game_name in args.games:
        rows += peer_rows(game_name, study_game(game_name), args.peers, args.evaluations, args.seeds)
    pd.DataFrame(rows).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
