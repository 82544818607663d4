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


PANELS = {
    "accuracy": "Accuracy after retraining",
    "accuracy_before_retrain": "Accuracy before retraining (what the game measures)",
}


def distinct_colors(names: Sequence[str], palette: str) -> dict:
    """One colour per name, all different: ``palette`` while it has enough colours (10 for "tab10" and
    "colorblind", 8 for "Dark2"; seaborn cycles a palette, so an 11th estimator drew the 1st one's colour), then
    the light tones of tab20 (a light blue after the blue), then evenly spaced hues."""
    names = list(names)
    colors = list(sns.color_palette(palette)) + list(sns.color_palette("tab20"))[1::2]
    if len(names) > len(colors):
        colors = sns.color_palette("husl", len(names))
    return dict(zip(names, colors))


def walk_curves(walks: pd.DataFrame, column: str = "accuracy") -> pd.DataFrame:
    """Per strategy and every player count from the largest model to the smallest: each walk's ``column``
    interpolated linearly between the sizes it visited (a walk that jumps from 40 to 6 players passes every count
    between), then their mean, minimum and maximum over the strategy's walks (``of``: how many). Counts outside
    a walk's range (a walk that stopped early) take no value from it; ``walks`` is how many walks cover each."""
    rows = []
    for strategy, group in walks.groupby("strategy", sort=False):
        per_walk = []
        for _, one in group.groupby("seed"):
            one = one.groupby("players_after")[column].mean().sort_index()
            grid = np.arange(int(one.index.min()), int(one.index.max()) + 1)
            per_walk.append(pd.Series(np.interp(grid, one.index.to_numpy(float), one.to_numpy(float)), index=grid))
        table = pd.concat(per_walk, axis=1)
        rows.append(pd.DataFrame({"strategy": strategy, "players_after": table.index, "mean": table.mean(axis=1),
                                  "low": table.min(axis=1), "high": table.max(axis=1),
                                  "walks": table.notna().sum(axis=1), "of": len(per_walk)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["strategy", "players_after", "mean", "low", "high", "walks", "of"])


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
    colors = distinct_colors(strategies, "colorblind")
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
            ax.fill_between(c["players_after"], c["low"], c["high"], color=color, alpha=0.12, linewidth=0)
            ax.plot(c["players_after"], c["mean"], color=color, linewidth=2.2, label=f"{strategy}: mean of {n} walks")
            low.append(float(c["low"].min()))
            for kind, style in (("normalised", dict(linestyle=":", marker=".")), ("raw", dict(linestyle="", marker="x"))):
                r = removed[(removed["strategy"] == strategy) & (removed["kind"] == kind)].sort_values("players_after")
                if len(r):
                    ax2.plot(r["players_after"], r["removed_shapley"], color=color, **style)
        if theta is not None:
            ax.axhline(theta, color="grey", linewidth=1, linestyle="--", label=f"theta = {theta:g}")
        ax.plot([], [], color="grey", alpha=0.4, linewidth=0.8, label="each walk (thin), min-max band shaded")
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
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize="medium", frameon=False)
        ax.set_title(PANELS.get(column, column) if len(panels) > 1 else (title or " vs ".join(strategies)))
    if len(panels) > 1:
        fig.suptitle(title or " vs ".join(strategies))
    fig.tight_layout()
    return fig


def plot_walks(walks: pd.DataFrame, strategies: Sequence[str], path: str | os.PathLike, theta: float | None = None,
               title: str = "", players: str = "neurons", panels: Sequence[str] = ("accuracy",)) -> None:
    """Accuracy against players for each strategy, as in the paper's figures 2-4: every walk as a thin line,
    their mean (bold) and minimum-maximum band with each walk interpolated between the sizes it visited
    (:func:`walk_curves`), theta, and on a second axis the mean Shapley value removed by the step that led to each
    size (normalised and raw steps apart). ``panels`` adds accuracy before retraining beside it."""
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
    colors = distinct_colors(strategies, "colorblind")
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
ERROR_TARGET = 0.05
"""The relative error the estimator figure marks (5%)."""


def _error_curve(sub: pd.DataFrame, metric: str) -> pd.DataFrame:
    return sub.groupby("target_evaluations").agg(
        x=("evaluations", "mean"), y=(metric, "mean"),
        lo=(metric, lambda v: np.quantile(v, 0.05)), hi=(metric, lambda v: np.quantile(v, 0.95)),
    ).sort_values("x")


def estimator_figure(errors: pd.DataFrame, metric: str = "relative_error"):
    """The figure of :func:`plot_estimator_errors`, returned for saving or inspection."""
    errors = errors.dropna(subset=[metric]).copy()
    errors[metric] = errors[metric].clip(lower=ERROR_FLOOR)
    games = list(dict.fromkeys(errors["game"]))
    ours = [e for e in dict.fromkeys(errors["estimator"]) if ":" not in e]
    peers = [e for e in dict.fromkeys(errors["estimator"]) if ":" in e]
    colors = {**distinct_colors(ours, "tab10"), **distinct_colors(peers, "Dark2")}
    columns = [("svprune's estimators", ours)] + ([("peers, beside svprune's best", peers)] if peers else [])
    fig, axes = plt.subplots(len(games), len(columns), figsize=(7.2 * len(columns), 3.6 * len(games) + 2.4),
                             squeeze=False)
    for row, game in enumerate(games):
        mine = errors[errors["game"] == game]
        for col, (heading, names) in enumerate(columns):
            ax = axes[row, col]
            for name in names:
                sub = mine[mine["estimator"] == name]
                if sub.empty:
                    continue
                g = _error_curve(sub, metric)
                ax.plot(g["x"], g["y"], marker="o", markersize=3.5, color=colors[name], linewidth=1.6,
                        linestyle="--" if ":" in name else "-", label=name)
                ax.fill_between(g["x"], g["lo"], g["hi"], color=colors[name], alpha=0.08, linewidth=0)
            if col == 1:  # svprune's best at each budget, the line the peers are measured against
                best = mine[mine["estimator"].isin(ours)].groupby(["target_evaluations", "estimator"]).agg(
                    x=("evaluations", "mean"), y=(metric, "mean")).reset_index()
                best = best.loc[best.groupby("target_evaluations")["y"].idxmin()].sort_values("x")
                ax.plot(best["x"], best["y"], color="black", linewidth=2.4, marker="D", markersize=4,
                        label="svprune's best at each budget")
            ax.axhline(ERROR_TARGET, color="grey", linewidth=0.8, linestyle=":", label=f"{ERROR_TARGET:.0%} error")
            ax.set_ylim(bottom=max(ERROR_FLOOR / 2, 0.5 * float(mine[metric].min())))
            ax.set_xscale("log")
            ax.set_yscale("log")
            title = GAMES.entry(game).description if game in GAMES else game.replace("_", " ")
            ax.set_title(f"{title}: {heading}", fontsize="medium")
            ax.set_xlabel("coalition evaluations")
            ax.set_ylabel(metric.replace("_", " "))
            ax.grid(alpha=0.3, which="both")
    for col in range(len(columns)):  # one legend per column, below the figure: every name any of its panels shows
        handles, labels = [], []
        for ax in axes[:, col]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=((col + 0.5) / len(columns), 0), ncol=2,
                   fontsize="medium", frameon=False)
    fig.tight_layout(rect=(0, 2.2 / (3.6 * len(games) + 2.4), 1, 1))
    return fig


def plot_estimator_errors(errors: pd.DataFrame, path: str | os.PathLike, metric: str = "relative_error") -> None:
    """Error against coalition evaluations, one row per game: svprune's estimators on the left, the peers (dashed)
    on the right beside svprune's best at each budget (black); y = mean error over seeds, band = 5th-95th
    percentile (log-log). Errors below ``ERROR_FLOOR`` (exact values: the budget covered every coalition) are
    drawn at the floor. Time per estimate is in the study's table."""
    fig = estimator_figure(errors, metric)
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


def removal_figure(curves: pd.DataFrame, measure: str = "accuracy"):
    """The figure of :func:`plot_removal`, returned for saving or inspection."""
    test = curves[(curves["split"] == "test") & ~curves["criterion"].str.startswith("negative")]
    criteria = list(dict.fromkeys(test["criterion"]))
    colors = distinct_colors(criteria, "tab10")
    fig, ax = plt.subplots(figsize=(10.5, 4.8))
    for criterion in criteria:
        sub = test[test["criterion"] == criterion].groupby("k")["measure"]
        mean = sub.mean()
        style = dict(color=colors[criterion], linewidth=2.6 if criterion == "shapley" else 1.6)
        if sub.size().max() > 1:  # random draws: their mean and the band of 5th-95th percentiles
            ax.fill_between(mean.index, sub.quantile(0.05), sub.quantile(0.95), color=colors[criterion], alpha=0.15,
                            linewidth=0)
            label = f"{criterion} (mean of {sub.size().max()} draws, 5-95% band)"
        else:
            label = "Shapley value" if criterion == "shapley" else criterion.replace("_", " ")
        ax.plot(mean.index, mean.values, label=label, **style)
    negative = curves[(curves["split"] == "test") & (curves["criterion"] == "negative")]
    if not negative.empty:
        row = negative.iloc[0]
        ax.scatter([row["k"]], [row["measure"]], marker="*", s=140, color="black", zorder=5,
                   label=f"the {int(row['k'])} channels of negative value removed")
    ax.set_xlabel("channels removed (highest-ranked first)")
    ax.set_ylabel(f"test {measure.replace('_', ' ')}")
    right = max(test["k"].max(), negative["k"].max() if not negative.empty else 0, 1)
    ax.set_xlim(left=0, right=right + 0.02 * right)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title("Removing the most important channels, by each criterion", fontsize="medium")
    fig.tight_layout()
    return fig


def plot_removal(curves: pd.DataFrame, path: str | os.PathLike, measure: str = "accuracy") -> None:
    """Test measure against channels removed, highest-ranked first, one line per criterion (Shapley thick; random:
    mean and band over draws), and the measure after removing the channels of negative value (a star)."""
    fig = removal_figure(curves, measure)
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)
