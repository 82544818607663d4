"""Plots: pruning walks (the paper's figures 2-4), the grid search (figure 5), estimator error curves."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def walk_curves(walks: pd.DataFrame) -> pd.DataFrame:
    """Per strategy and player count: mean, min and max accuracy and mean removed Shapley value over walks."""
    grouped = walks.groupby(["strategy", "players_after"])
    out = grouped.agg(
        accuracy_mean=("accuracy", "mean"),
        accuracy_min=("accuracy", "min"),
        accuracy_max=("accuracy", "max"),
        removed_mean=("removed_shapley", "mean"),
        walks=("seed", "nunique"),
    )
    return out.reset_index()


def plot_walks(walks: pd.DataFrame, strategies: Sequence[str], path: str | os.PathLike, theta: float | None = None,
               title: str = "", players: str = "neurons") -> None:
    """Accuracy against players (mean line, min-max band over repetitions) for each strategy, with the mean
    removed Shapley value per step on a second axis (dotted), as in the paper's figures 2-4."""
    curves = walk_curves(walks[walks["strategy"].isin(strategies)])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax2 = ax.twinx()
    colors = sns.color_palette("colorblind", len(strategies))
    for color, strategy in zip(colors, strategies):
        c = curves[curves["strategy"] == strategy].sort_values("players_after")
        if c.empty:
            continue
        n = int(walks.loc[walks["strategy"] == strategy, "seed"].nunique())
        ax.plot(c["players_after"], c["accuracy_mean"], color=color, label=f"{strategy} ({n})")
        ax.fill_between(c["players_after"], c["accuracy_min"], c["accuracy_max"], color=color, alpha=0.2, linewidth=0)
        removed = c.dropna(subset=["removed_mean"])
        ax2.plot(removed["players_after"], removed["removed_mean"], color=color, linestyle=":", marker=".")
    if theta is not None:
        ax.axhline(theta, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlim(walks["players_before"].max() + 0.5, -0.5)  # pruning goes right to left, as in the paper
    ax.set_xlabel(f"Number of players ({players}) in model")
    ax.set_ylabel("Accuracy of model (mean, min-max band)")
    ax2.set_ylabel("Removed Shapley value (dotted, mean)")
    ax.set_ylim(0, 1)
    ax2.set_ylim(bottom=min(0.0, float(np.nanmin(curves["removed_mean"])) if curves["removed_mean"].notna().any() else 0.0))
    ax.legend(loc="center left")
    ax.set_title(title or " vs ".join(strategies))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_grid(grid: pd.DataFrame, path: str | os.PathLike, theta: float | None = None, split: str = "accuracy") -> None:
    """Accuracy per hidden size and training epochs over repetitions (box plots), as in figure 5."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    sns.boxplot(data=grid, x="hidden", y=split, hue="epochs", ax=ax, palette="viridis", fliersize=2)
    if theta is not None:
        ax.axhline(theta, color="grey", linewidth=0.8, linestyle="--", label=f"theta = {theta}")
    ax.set_xlabel("Number of players (hidden neurons)")
    ax.set_ylabel("Accuracy")
    ax.legend(title="epochs", loc="lower right", fontsize="small")
    ax.set_title(f"Grid search: {grid['repetition'].nunique()} repetitions per cell")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_estimator_errors(errors: pd.DataFrame, path: str | os.PathLike, metric: str = "relative_error") -> None:
    """Error against budget, one panel per game, one line per estimator: x = mean coalition evaluations
    actually spent at each budget, y = mean error over seeds, band = 5th-95th percentile (log-log)."""
    games = list(dict.fromkeys(errors["game"]))
    methods = list(dict.fromkeys(errors["estimator"]))
    colors = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    fig, axes = plt.subplots(1, len(games), figsize=(4.5 * len(games), 4), squeeze=False)
    for ax, game in zip(axes[0], games):
        for method in methods:
            sub = errors[(errors["game"] == game) & (errors["estimator"] == method)]
            if sub.empty:
                continue
            g = sub.groupby("target_evaluations").agg(
                x=("evaluations", "mean"), y=(metric, "mean"),
                lo=(metric, lambda v: np.quantile(v, 0.05)), hi=(metric, lambda v: np.quantile(v, 0.95)),
            ).sort_values("x")
            ax.plot(g["x"], g["y"], marker="o", color=colors[method], label=method)
            ax.fill_between(g["x"], g["lo"], g["hi"], color=colors[method], alpha=0.15, linewidth=0)
        ax.axhline(0.05, color="grey", linewidth=0.8, linestyle="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(game)
        ax.set_xlabel("coalition evaluations")
        ax.set_ylabel(metric.replace("_", " "))
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
