"""The estimator study (the paper's section 3.4, whose data it does not show): error, 2-SE coverage and time of
each estimator at equal numbers of coalition evaluations, over many seeds, on games with known values.

Games: the Security Council voting game (15 players, exact), a perturbed uniform game (12, exact), a sum of
unanimity games of 40 players (closed-form values), a weighted voting game of 60 players (exact by dynamic
programming), the hidden units of MLPs trained on digits: 16 units (exact by enumeration) and 40 units, and every
channel of a small CNN trained on digits (40 channels in 3 layers); the last two take their reference values from
one very long antithetic run (its own standard errors are logged and recorded; they bound how small an error the
study can resolve).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from svprune import shapley as sh
from svprune.games import Game, PerturbedUniformGame, SecurityCouncilGame, UnanimitySumGame, WeightedVotingGame
from svprune.progress import Progress
from svprune.registry import GAMES

log = logging.getLogger(__name__)

REFERENCE_EVALUATIONS = 2_000_000
"""Coalition evaluations of the reference run for games without exact values (neuron40), unless the game's
registry entry sets its own ``reference_evaluations``."""


@dataclass
class StudyGame:
    """A study game and its reference values; ``reference_stderr`` is 0 for exact values."""

    name: str
    game: Game
    reference: np.ndarray
    reference_stderr: np.ndarray
    reference_kind: str


def _trained_on_digits(build, epochs: int, seed: int):
    """The model ``build(splits)`` returns, trained on digits (validation split drawn with ``seed``; step 0.01,
    batches of 32), in eval mode, and the splits."""
    from svprune.data import load_splits
    from svprune.settings import TrainConfig
    from svprune.train import as_tensors, train

    splits = load_splits("digits", split_seed=seed)
    model = build(splits)
    train(model, *as_tensors(splits.x_train, splits.y_train), epochs=epochs, seed=seed,
          config=TrainConfig(learning_rate=0.01, batch_size=32))
    return model.eval(), splits


def neuron_game(hidden: int, seed: int, measure: str = "accuracy"):
    """The hidden units of an MLP with one layer of ``hidden`` units trained on digits (20 epochs), ``measure`` on
    the validation split."""
    from svprune.games import NeuronGame
    from svprune.models import MLP

    model, splits = _trained_on_digits(lambda d: MLP(d.n_features, [hidden], d.n_classes, seed=seed), 20, seed)
    return NeuronGame(model, splits.x_val, splits.y_val, measure=measure)


def channel_game(widths: list[int], layer: str, seed: int):
    """The channels of ``layer`` (or "all") of svprune's SmallCNN with convolutions of ``widths`` channels trained on
    digits (10 epochs), accuracy on the validation images."""
    from svprune.games import ModuleGame
    from svprune.models import SmallCNN
    from svprune.train import as_tensors

    model, splits = _trained_on_digits(lambda d: SmallCNN((1, 8, 8), widths, d.n_classes, seed=seed), 10, seed)
    return ModuleGame(model, layer, *as_tensors(splits.x_val, splits.y_val))


def channels32(seed: int = 0) -> Game:
    """The 32 channels of the last convolution of svprune's SmallCNN [16, 32] trained on digits, accuracy on the
    validation images: a one-layer channel game whose read-out (pooling and a linear layer) is additive in its
    players, so it has the fast permutation walk."""
    return channel_game([16, 32], "conv2", seed)


def channels40(seed: int = 0) -> Game:
    """Every channel of svprune's SmallCNN [8, 16, 16] trained on digits (40 channels in 3 layers), accuracy on the
    validation images: a many-layer channel game."""
    return channel_game([8, 16, 16], "all", seed)


def security_council(seed: int = 0) -> Game:
    return SecurityCouncilGame()


def perturbed_uniform(seed: int = 0) -> Game:
    return PerturbedUniformGame(12, noise=0.02, seed=seed)


def unanimity40(seed: int = 0) -> Game:
    return UnanimitySumGame(40, n_terms=50, max_size=8, seed=seed)


def voting60(seed: int = 0) -> Game:
    return WeightedVotingGame.random(60, seed=seed)


def neuron16(seed: int = 0) -> Game:
    return neuron_game(16, seed)


def neuron40(seed: int = 0) -> Game:
    return neuron_game(40, seed)


def neuron40_ce(seed: int = 0) -> Game:
    """neuron40's network with the mean log-likelihood (minus the cross-entropy) as the payoff."""
    return neuron_game(40, seed, "neg_cross_entropy")


def make_game(name: str, seed: int = 0) -> Game:
    """A study game by its registered name (svprune.registry.GAMES)."""
    return GAMES.get(name, "estimator_study.games")(seed)


def study_game(name: str, seed: int = 0) -> StudyGame:
    """The registered game with its reference values (:func:`with_reference`; the long run's length from its
    registry entry's ``reference_evaluations``)."""
    budget = GAMES.entry(name).meta.get("reference_evaluations", REFERENCE_EVALUATIONS)
    return with_reference(name, make_game(name, seed), budget)


def with_reference(name: str, game: Game, evaluations: int = REFERENCE_EVALUATIONS) -> StudyGame:
    """Any game with its reference values: exact (closed form or enumeration) where possible, else one run of
    ``evaluations`` of ``antithetic_samples`` (antithetic permutations, per unit of samples where the game has
    sample units: the most precise per evaluation there)."""
    if hasattr(game, "exact_values"):
        ref = np.asarray(game.exact_values(), dtype=float)
        return StudyGame(name, game, ref, np.zeros_like(ref), "closed form")
    if game.n_players <= 20:
        ref = sh.exact(game).values
        return StudyGame(name, game, ref, np.zeros_like(ref), "exact")
    est = sh.shapley_values(game, "antithetic_samples", evaluations, seed=10**6)
    kind = "antithetic_samples" if est.extra.get("sample_units") else "antithetic"
    log.info("%s: reference from %d evaluations (%s); largest standard error %.2e, relative L2 %.2e", name,
             est.n_evaluations, kind, est.stderr.max(), np.linalg.norm(est.stderr) / np.linalg.norm(est.values))
    return StudyGame(name, game, est.values, est.stderr, f"{kind}, {est.n_evaluations:,} evaluations")


def errors(estimate: np.ndarray, stderr: np.ndarray, exact: np.ndarray) -> dict:
    """Errors of one estimate against reference values: relative L2 error (||error|| / ||exact||, shapiq's
    measure), relative L1 error (sum |error| / sum |exact|), mean absolute error, Spearman rank correlation,
    and the share of players whose reference value lies within 2 standard errors (where the reference is a long
    run of its own, give the root sum of squares of both standard errors: the difference has both errors)."""
    err = np.abs(estimate - exact)
    rho = spearmanr(estimate, exact).statistic if np.ptp(exact) > 0 and np.ptp(estimate) > 0 else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        covered = np.where(np.isfinite(stderr), err <= 2 * stderr + 1e-12, False)
    return {
        "relative_error": float(np.linalg.norm(err) / np.linalg.norm(exact)),
        "relative_l1_error": float(err.sum() / np.abs(exact).sum()),
        "mean_abs_error": float(err.mean()),
        "spearman": float(rho),
        "coverage_2se": float(covered.mean()) if np.isfinite(stderr).any() else np.nan,
    }


def run_study(
    game_name: str,
    estimators: Sequence[str],
    budgets: Sequence[int],
    seeds: Sequence[int],
    study: StudyGame | None = None,
) -> pd.DataFrame:
    """One row per (estimator, evaluation budget, seed) on one game, scored against the reference values; an
    estimator that needs more than a budget gets a row without errors and its reason."""
    study = study or study_game(game_name)
    rows = []
    progress = Progress(len(estimators))
    for done, estimator in enumerate(estimators):
        for budget in budgets:
            for seed in seeds:
                base = {"game": game_name, "estimator": estimator, "source": "svprune", "target_evaluations": int(budget),
                        "seed": int(seed), "n_players": study.game.n_players, "reference": study.reference_kind}
                start = time.perf_counter()
                try:
                    est = sh.shapley_values(study.game, estimator, int(budget), seed=int(seed))
                except ValueError as err:
                    rows.append({**base, "note": str(err)})
                    break
                seconds = time.perf_counter() - start
                rows.append({**base, "evaluations": est.n_evaluations, "seconds": seconds,
                             **errors(est.values, np.hypot(est.stderr, study.reference_stderr), study.reference)})
        log.info("%s: %s done (%d of %d estimators, %s)", game_name, estimator, done + 1, len(estimators),
                 progress(done + 1))
    return pd.DataFrame(rows)


def summarize_study(results: pd.DataFrame) -> pd.DataFrame:
    """Per game and estimator (peers included), per budget: mean relative L2 error over seeds, 2-SE coverage,
    and milliseconds per estimate; one row per (game, estimator), budgets as column groups."""
    rows = []
    scored = results.dropna(subset=["relative_error"]) if "relative_error" in results else results.iloc[:0]
    for (game, estimator), group in results.groupby(["game", "estimator"], sort=False):
        row = {"game": game, "estimator": estimator}
        mine = scored[(scored["game"] == game) & (scored["estimator"] == estimator)]
        for budget in sorted(results["target_evaluations"].unique()):
            at = mine[mine["target_evaluations"] == budget]
            label = f"{int(budget):,}"
            row[f"error @ {label}"] = at["relative_error"].mean() if len(at) else np.nan
            row[f"coverage @ {label}"] = at["coverage_2se"].mean() if len(at) else np.nan
            row[f"ms @ {label}"] = 1000 * at["seconds"].mean() if len(at) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
