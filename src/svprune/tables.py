"""Aggregation of walk and grid-search records into the paper's tables (2-4) and the grid-search cost, and their
HTML form for the report. No torch here: records are read and checked by :mod:`svprune.records`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from svprune.records import summarize_walk

STAT_ORDER = ("avg", "max", "min")
QUANTITIES = ("steps", "epochs", "found", "found_test")


def walk_summaries(walks: pd.DataFrame, theta: float, root_epochs: int, retrain_epochs: int) -> pd.DataFrame:
    """One row per walk: strategy, seed, steps, epochs, found (payoff split), found_test (test split)."""
    rows = []
    for (strategy, seed), records in walks.groupby(["strategy", "seed"], sort=False):
        rows.append({"strategy": strategy, "seed": seed, **summarize_walk(records, theta, root_epochs, retrain_epochs)})
    return pd.DataFrame(rows)


def strategy_table(summaries: pd.DataFrame, order: Sequence[str] | None = None) -> pd.DataFrame:
    """The paper's tables 2-3: avg / max / min of steps, epochs and found per strategy (found on the payoff
    split, and on the test split as ``found_test``), plus the number of walks and of walks that found a model
    above theta. Rows in ``order`` (default: first appearance)."""
    table = {}
    for strategy, group in summaries.groupby("strategy", sort=False):
        row = {}
        for quantity in QUANTITIES:
            values = group[quantity].dropna()
            stats = {"avg": values.mean(), "max": values.max(), "min": values.min()} if len(values) else dict.fromkeys(STAT_ORDER, np.nan)
            for stat in STAT_ORDER:
                row[f"{stat} # {quantity}"] = stats[stat]
        row["walks"] = len(group)
        row["walks above theta"] = int(group["found"].notna().sum())
        table[strategy] = row
    out = pd.DataFrame.from_dict(table, orient="index")
    out.index.name = "strategy"
    if order is not None:
        out = out.reindex([s for s in order if s in out.index])
    return out


def root_table(walks: pd.DataFrame) -> pd.DataFrame:
    """One row per root model (repetition seed): its accuracy on the payoff and test splits and its dead units
    (never active on the payoff split), from the walks' step 0, which every strategy shares."""
    roots = walks[walks["step"] == 0].drop_duplicates("seed").sort_values("seed")
    return roots[["seed", "players_after", "accuracy", "test_accuracy", "dead_units"]].rename(
        columns={"players_after": "players"}).set_index("seed")


def grid_table(grid: pd.DataFrame, split: str = "accuracy") -> pd.DataFrame:
    """Accuracy per grid cell (hidden size x epochs) over repetitions: mean, std, min, max, count (figure 5)."""
    out = grid.groupby(["hidden", "epochs"])[split].agg(["mean", "std", "min", "max", "count"]).reset_index()
    return out


def grid_search_cost(grid: pd.DataFrame, theta: float, split: str = "accuracy") -> pd.DataFrame:
    """Epochs a grid search spends to find the smallest hidden size with accuracy >= theta, per epoch budget E:
    the search trains sizes in ascending order for E epochs each and stops at the first size that reaches theta
    (epochs spent = E x sizes tried). avg / max / min over repetitions of the size found and epochs spent; the
    last row is the exhaustive grid (every cell trained once)."""
    sizes = sorted(grid["hidden"].unique())
    rows = []
    for budget, by_budget in grid.groupby("epochs"):
        found, spent = [], []
        for _, rep in by_budget.groupby("repetition"):
            acc = rep.set_index("hidden")[split].reindex(sizes)
            reached = [h for h in sizes if acc[h] >= theta]
            first = reached[0] if reached else None
            found.append(first if first is not None else np.nan)
            spent.append(budget * (sizes.index(first) + 1 if first is not None else len(sizes)))
        found, spent = np.array(found, dtype=float), np.array(spent, dtype=float)
        rows.append(_cost_row(f"ascending, {budget} epochs", found, spent))
    # exhaustive: train every (size, epochs) cell once and take the smallest size above theta at any budget
    total = float(len(sizes) * sum(sorted(grid["epochs"].unique())))
    found = []
    for _, rep in grid.groupby("repetition"):
        above = rep.loc[rep[split] >= theta, "hidden"]
        found.append(float(above.min()) if len(above) else np.nan)
    rows.append(_cost_row("exhaustive grid", np.array(found), np.full(len(found), total)))
    return pd.DataFrame(rows).set_index("search")


def _cost_row(name: str, found: np.ndarray, spent: np.ndarray) -> dict:
    ok = found[~np.isnan(found)]
    return {
        "search": name,
        "avg # found": ok.mean() if len(ok) else np.nan,
        "max # found": ok.max() if len(ok) else np.nan,
        "min # found": ok.min() if len(ok) else np.nan,
        "avg # epochs": spent.mean(),
        "max # epochs": spent.max(),
        "min # epochs": spent.min(),
        "repetitions": len(found),
        "repetitions above theta": len(ok),
    }


def format_number(value: float, digits: int = 3) -> str:
    """One style for every number in a table: whole numbers with thousands separators (20,010), others with
    ``digits`` significant digits in positional notation (0.0431, 409.9 -> 410), never exponents."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    value = float(value)
    if value == int(value) or abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    return np.format_float_positional(value, precision=digits, unique=True, fractional=False, trim="-")


def to_html(table: pd.DataFrame, title: str, note: str = "") -> str:
    """A small standalone HTML page with the table (for the Snakemake report): every number in one format,
    column headers that wrap instead of making the table scroll."""
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_numeric_dtype(shown[column]) and not pd.api.types.is_bool_dtype(shown[column]):
            shown[column] = shown[column].map(format_number)
    body = shown.to_html(na_rep="–", border=0, classes="svprune")
    style = (
        "body{font-family:sans-serif;margin:1em;font-size:14px}table{border-collapse:collapse}"
        "th,td{padding:4px 8px;text-align:right;border-bottom:1px solid #ddd}"
        "thead th{background:#f4f4f4;max-width:9em;white-space:normal;vertical-align:bottom}"
        "tbody th{text-align:left;white-space:nowrap}p{max-width:60em;color:#333}"
    )
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style></head>" \
           f"<body><h3>{title}</h3><p>{note}</p>{body}</body></html>"


def removal_table(curves: pd.DataFrame, ks: Sequence[int], split: str = "test") -> pd.DataFrame:
    """The network experiment's removal curves at some k: the measure after removing the k highest-ranked channels,
    one row per criterion (random: the mean over its draws, and a row with their standard deviation); k = 0 is the
    whole network. ks beyond the curves' largest k are left out."""
    ranked = curves[(curves["split"] == split) & ~curves["criterion"].str.startswith("negative")]
    ks = [0] + [k for k in ks if k in set(ranked["k"])]
    mean = ranked[ranked["k"].isin(ks)].groupby(["criterion", "k"], sort=False)["measure"].mean().unstack("k")
    spread = ranked[ranked["k"].isin(ks) & (ranked["draw"].groupby(ranked["criterion"]).transform("max") > 0)]
    table = mean[ks]
    if not spread.empty:
        sd = spread.groupby(["criterion", "k"], sort=False)["measure"].std().unstack("k")[ks]
        table = pd.concat([table, sd.rename(index=lambda c: f"{c} (s.d. of draws)")])
    table.columns = [f"k = {k}" for k in ks]
    return table.rename_axis("criterion")


def lowest_by(table: pd.DataFrame, criterion: str = "shapley") -> list[int]:
    """The ks (k > 0) of a removal table at which ``criterion`` leaves the lowest measure of all criteria (ties
    included); the rows of draws' spreads aside."""
    rows = table.loc[[c for c in table.index if "(s.d." not in c]]
    out = []
    for column in rows.columns[1:]:
        if rows.loc[criterion, column] <= rows[column].min():
            out.append(int(column.split("=")[1]))
    return out


def negative_table(curves: pd.DataFrame) -> pd.DataFrame:
    """The measure after removing the channels of negative value, per split, beside the whole network's."""
    rows = []
    for split, part in curves.groupby("split", sort=False):
        whole = part[(part["k"] == 0) & (part["criterion"] == "shapley")]["measure"]
        for _, r in part[part["criterion"].str.startswith("negative")].iterrows():
            rows.append({"removed": r["criterion"], "split": split, "channels removed": r["k"],
                         "whole network": float(whole.iloc[0]) if len(whole) else np.nan, "after removal": r["measure"]})
    return pd.DataFrame(rows).set_index(["removed", "split"])
