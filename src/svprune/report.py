"""The report's words: titles and notes of the HTML tables the workflow's report shows (the figures' captions are
in workflow/report/). No torch here."""

from __future__ import annotations

import pandas as pd

from svprune.registry import GAMES
from svprune.tables import to_html


def walk_tables(table: pd.DataFrame, roots: pd.DataFrame, theta: float, root_epochs: int, retrain_epochs: int,
                players: str) -> str:
    """The strategies table (steps, epochs, players found) and the root models' table."""
    note = (f"theta = {theta}; epochs = T0 + T1 x steps with T0 = {root_epochs}, T1 = {retrain_epochs}; "
            f"found = the fewest {players} among a walk's models with accuracy >= theta on the payoff split, "
            "found_test the same on the test split.")
    title = ("Steps, epochs and neurons found per strategy (as the paper's tables 2-3)" if players == "neurons"
             else f"Steps, epochs and {players} found per strategy")
    dead = (f" Dead units: {players} never active on the payoff split, per root model (below)."
            if roots["dead_units"].notna().any() else "")
    html = to_html(table, title, note + dead)
    return html + to_html(roots, "Root models: accuracy and dead units", "shared by every strategy's walks of that seed")


def grid_tables(cells: pd.DataFrame, cost: pd.DataFrame, theta: float) -> str:
    """The grid search's accuracy per cell and its search cost."""
    html = to_html(cells.set_index(["hidden", "epochs"]), "Grid search: accuracy per cell (paper figure 5, table 4)")
    return html + to_html(cost, "Epochs a grid search spends to find the smallest size with accuracy >= theta",
                          f"theta = {theta}")


ESTIMATOR_METRICS = {
    "error": ("Estimator study: relative L2 error per budget of coalition evaluations",
              "error = ||estimate - reference|| / ||reference||, mean over seeds. An empty cell: the estimator needs "
              "more evaluations than that budget."),
    "coverage": ("Estimator study: 2-SE coverage per budget",
                 "the share of players whose reference value lies within 2 reported standard errors (honest errors "
                 "give about 0.95; empty where an estimator reports none)."),
    "ms": ("Estimator study: milliseconds per estimate, per budget", "on the machine that ran the study."),
}


def estimator_tables(summary: pd.DataFrame) -> str:
    """The estimator study's summary as three narrow tables (error, coverage, time), each with one column per
    budget; the games by name, their descriptions in the notes."""
    games = "; ".join(f"{g} = {GAMES.entry(g).description if g in GAMES else g}" for g in dict.fromkeys(summary["game"]))
    common = (f" Games: {games}. Rows named shapiq: or captum: are the peer libraries on the same games "
              "(benchmarks/peer_estimators.py).")
    html = ""
    indexed = summary.set_index(["game", "estimator"])
    for metric, (title, note) in ESTIMATOR_METRICS.items():
        prefix = f"{metric} @ "
        part = indexed[[c for c in indexed.columns if c.startswith(prefix)]]
        html += to_html(part.rename(columns=lambda c: c[len(prefix):]), title, note + common)
    return html


def network_tables(table: pd.DataFrame, negatives: pd.DataFrame, summary: dict, lowest: list[int]) -> str:
    """The network experiment: the removal table, the negative channels' table, and how the values were found."""
    ks = [int(c.split("=")[1]) for c in table.columns[1:]]
    missed = [k for k in ks if k not in lowest]
    verdict = ("Removing the channels of largest Shapley value lowers the test "
               f"{summary['measure']} more than every other criterion at every k shown." if not missed else
               f"Removing the channels of largest Shapley value does not lower the test {summary['measure']} the most "
               f"at k = {', '.join(map(str, missed))}; it does at k = {', '.join(map(str, lowest)) or 'none'}.")
    how = (f"{summary['players']:,} channels of {len(summary['layers'])} layers ({', '.join(summary['layers'])}) as "
           f"players; values by {summary['estimator']} on {summary['samples']:,} samples of the valuation split, "
           f"{summary['evaluations']:,} coalition evaluations of a budget of {summary['budget']:,} in "
           f"{summary['seconds']:.1f} s; the top {summary['top_k']} "
           f"{'separated from the rest at 2 standard errors' if summary['separated'] else 'not separated within the budget'}.")
    html = to_html(table, f"Test {summary['measure']} after removing the k highest-ranked channels",
                   f"{verdict} k = 0: the whole network. Random: the mean of its draws. {how}")
    return html + to_html(negatives, "Removing the channels of negative Shapley value",
                          "negative: every channel whose estimate is below 0; upper bound < 0: only those whose value "
                          "plus 2 standard errors is below 0. The valuation split is where the values were "
                          "estimated (in-sample); the test split is held out.")
