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

from svprune.registry import GAMES  # noqa: E402
from svprune.study import ERROR_TARGET  # noqa: E402


PANELS = {
    "accuracy": "Accuracy after retraining",
    "accuracy_before_retrain": "Accuracy before retraining (what the game measures)",
}


def walk_curves(walks: pd.DataFrame, column: str = "accuracy") -> pd.DataFrame:
    """Per strategy and player count: mean, min and max of ``column`` over the walks that have a model of that
    size, how many walks that is (``walks``) and how many walks the strategy has (``of``)."""
    total = walks.groupby("strategy")["seed"].nunique().rename("of")
    out = walks.groupby(["strategy", "players_after"]).agg(
        mean=(column, "mean"), low=(column, "min"), high=(column, "max"), walks=("seed", "nunique"),
    ).reset_index()
    return out.join(total, on="strategy")


def removed_curves(walks: pd.DataFrame) -> pd.DataFrame:
    """Mean removed Shapley value per strategy and player count, normalised steps (phi / v(U)) and raw steps
    (v(U) <= 0) kept apart: they are on different scales."""
    steps = walks[walks["step"] > 0].dropna(subset=["removed_shapley"]).copy()
    steps["kind"] = np.where(steps["shapley_normalized"].astype(str).str.lower() == "true", "normalised", "raw")
    return steps.groupby(["strategy", "kind", "players_after"])["removed_shapley"].mean().reset_index()


def walk_figure(walks: pd.DataFrame, strategies: Sequence[str], theta: float | None = None, title: str = "",
                players: str = "neurons", panels: Sequence[str] = ("accuracy",)):
    """The figure of :func:`plot_walks`, returned for saving or inspection."""
    walks = walks[walks["strategy"].isin(strategies)]
    fig, axes = plt.subplots(1, len(panels), figsize=(8.5 * len(panels), 5.8), squeeze=False)
    colors = dict(zip(strategies, sns.color_palette("colorblind", len(strategies))))
    removed = removed_curves(walks)
    low = [theta] if theta is not None else []
    for ax, column in zip(axes[0], panels):
        curves = walk_curves(walks, column)
        ax2 = ax.twinx()
        for strategy in strategies:
            c = curves[curves["strategy"] == strategy].sort_values("players_after")
            if c.empty:
                continue
            color, n = colors[strategy], int(c["of"].iloc[0])
            for _, one in walks[walks["strategy"] == strategy].groupby("seed"):
                one = one.sort_values("players_after")
                ax.plot(one["players_after"], one[column], color=color, alpha=0.3, linewidth=0.8)
            full = c[c["walks"] == n]
            ax.plot(full["players_after"], full["mean"], color=color, linewidth=2.2, marker="o", markersize=3.5,
                    label=f"{strategy}: mean of {n} walks")
            low.append(float(c["low"].min()))
            for kind, style in (("normalised", dict(linestyle=":", marker=".")), ("raw", dict(linestyle="", marker="x"))):
                r = removed[(removed["strategy"] == strategy) & (removed["kind"] == kind)].sort_values("players_after")
                if len(r):
                    ax2.plot(r["players_after"], r["removed_shapley"], color=color, **style)
        if theta is not None:
            ax.axhline(theta, color="grey", linewidth=1, linestyle="--", label=f"theta = {theta:g}")
        ax.plot([], [], color="grey", alpha=0.4, linewidth=0.8, label="each walk (thin)")
        ax.plot([], [], color="grey", linestyle=":", marker=".", label="removed value, normalised (right axis)")
        if (removed["kind"] == "raw").any():
            ax.plot([], [], color="grey", linestyle="", marker="x", label="removed value, raw: v(U) <= 0 (right axis)")
        ax.set_xlim(walks["players_before"].max() + 0.5, -0.5)  # pruning goes right to left, as in the paper
        ax.set_xlabel(f"Number of players ({players}) in model")
        ax.set_ylabel(PANELS.get(column, column))
        bottom = max(0.0, min(low) - 0.05) if low else 0.0
        ax.set_ylim(bottom, 1.0)
        ax2.set_ylabel("Removed Shapley value of the step")
        if removed["removed_shapley"].notna().any():
            ax2.set_ylim(bottom=min(0.0, float(removed["removed_shapley"].min())))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize="small", frameon=False)
        ax.set_title(PANELS.get(column, column) if len(panels) > 1 else (title or " vs ".join(strategies)))
    if len(panels) > 1:
        fig.suptitle(title or " vs ".join(strategies))
    fig.tight_layout()
    return fig


def plot_walks(walks: pd.DataFrame, strategies: Sequence[str], path: str | os.PathLike, theta: float | None = None,
               title: str = "", players: str = "neurons", panels: Sequence[str] = ("accuracy",)) -> None:
    """Accuracy against players for each strategy, as in the paper's figures 2-4: every walk as a thin line,
    their mean (bold) at the player counts that all walks of the strategy reach, theta, and on a second axis the
    mean Shapley value removed by the step that led to each size (normalised and raw steps apart). ``panels``
    adds accuracy before retraining beside it."""
    fig = walk_figure(walks, strategies, theta, title, players, panels)
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def plot_parameters(walks: pd.DataFrame, path: str | os.PathLike, theta: float | None = None) -> None:
    """Accuracy against the share of the root model's parameters removed, before retraining (left) and after
    (right), per strategy: every walk as a thin line, and the strategy's mean at each step where every walk of
    the strategy has that step (no mean across walks that end at different steps)."""
    walks = walks.copy()
    root = walks[walks["step"] == 0].set_index("walk_id")["parameters"]
    walks["removed"] = 1 - walks["parameters"] / walks["walk_id"].map(root)
    strategies = list(dict.fromkeys(walks["strategy"]))
    colors = dict(zip(strategies, sns.color_palette("colorblind", len(strategies))))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for ax, column, label in ((axes[0], "accuracy_before_retrain", "before retraining"),
                              (axes[1], "accuracy", "after retraining")):
        for strategy in strategies:
            sub = walks[walks["strategy"] == strategy]
            for _, one in sub.groupby("walk_id"):
                ax.plot(one["removed"], one[column], color=colors[strategy], alpha=0.25, linewidth=0.8)
            n_walks = sub["walk_id"].nunique()
            per_step = sub.groupby("step").agg(x=("removed", "mean"), y=(column, "mean"), n=("walk_id", "nunique"))
            per_step = per_step[per_step["n"] == n_walks]
            ax.plot(per_step["x"], per_step["y"], color=colors[strategy], linewidth=2, marker="o", markersize=3,
                    label=f"{strategy} (mean of {n_walks})")
        if theta is not None:
            ax.axhline(theta, color="grey", linewidth=0.8, linestyle="--", label=f"theta = {theta}")
        ax.set_xlabel("share of the root model's parameters removed")
        ax.set_title(f"accuracy {label}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (payoff split)")
    axes[1].legend(fontsize="medium", loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
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
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)




ERROR_FLOOR = 1e-4


def plot_estimator_errors(errors: pd.DataFrame, path: str | os.PathLike, metric: str = "relative_error") -> None:
    """Error against cost, one column per game, one line per estimator (peers dashed): top row x = mean
    coalition evaluations actually spent at each budget, bottom row x = mean seconds per estimate; y = mean
    error over seeds, band = 5th-95th percentile (log-log). Errors below ``ERROR_FLOOR`` (exact values: the budget
    covered every coalition) are drawn at the floor."""
    errors = errors.dropna(subset=[metric]).copy()
    errors[metric] = errors[metric].clip(lower=ERROR_FLOOR)
    games = list(dict.fromkeys(errors["game"]))
    methods = list(dict.fromkeys(errors["estimator"]))
    palette = sns.color_palette("tab20", len(methods)) if len(methods) > 10 else sns.color_palette("colorblind", len(methods))
    colors = dict(zip(methods, palette))
    fig, axes = plt.subplots(2, len(games), figsize=(4.8 * len(games), 8.5), squeeze=False)
    for col, game in enumerate(games):
        for row, (x, label) in enumerate((("evaluations", "coalition evaluations"), ("seconds", "seconds per estimate"))):
            ax = axes[row, col]
            for method in methods:
                sub = errors[(errors["game"] == game) & (errors["estimator"] == method)]
                if sub.empty:
                    continue
                g = sub.groupby("target_evaluations").agg(
                    x=(x, "mean"), y=(metric, "mean"),
                    lo=(metric, lambda v: np.quantile(v, 0.05)), hi=(metric, lambda v: np.quantile(v, 0.95)),
                ).sort_values("x")
                peer = ":" in method
                ax.plot(g["x"], g["y"], marker="s" if peer else "o", markersize=3, color=colors[method],
                        linestyle="--" if peer else "-", label=method)
                ax.fill_between(g["x"], g["lo"], g["hi"], color=colors[method], alpha=0.1, linewidth=0)
            ax.axhline(ERROR_TARGET, color="grey", linewidth=0.8, linestyle=":", label=f"{ERROR_TARGET:.0%} error")
            ax.set_ylim(bottom=ERROR_FLOOR / 2)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(GAMES.entry(game).description if game in GAMES else game.replace("_", " "), fontsize="medium")
            ax.set_xlabel(label)
            ax.set_ylabel(metric.replace("_", " "))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes.flat:  # one legend for the figure, with every estimator any panel shows
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize="small")
    fig.tight_layout(rect=(0, 0.04 + 0.02 * (len(labels) // 6), 1, 1))
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
