"""Record files, summaries and tables, against hand-computed expectations: `found` on non-monotone accuracy, at
exactly theta and when no model reaches theta; truncated or foreign files named; the grid-search cost table."""

import numpy as np
import pandas as pd
import pytest

from svprune.records import RecordError, WALK_COLUMNS, read_grid, read_walks, summarize_walk
from svprune.tables import format_number, grid_search_cost, grid_table, strategy_table, walk_summaries


def walk(accuracies, players, strategy="SVbucket(0.2)", seed=0, test=None):
    """A synthetic walk record: step k has players[k] players and accuracy accuracies[k]."""
    n = len(players)
    rows = []
    for k in range(n):
        rows.append({c: np.nan for c in WALK_COLUMNS} | {
            "walk_id": f"{strategy}/seed{seed}", "strategy": strategy, "seed": seed, "step": k,
            "players_before": players[k - 1] if k else players[0], "players_after": players[k],
            "pruned": " ".join(str(u) for u in range(players[k], players[k - 1])) if k else "",
            "accuracy": accuracies[k], "accuracy_before_retrain": accuracies[k], "test_accuracy": (test or accuracies)[k],
            "epochs": 20 + 2 * k,
        })
    return pd.DataFrame(rows, columns=WALK_COLUMNS)


def test_found_is_the_fewest_players_at_or_above_theta_even_when_accuracy_is_not_monotone():
    # players 10 -> 7 -> 5 -> 3 -> 0 with accuracy dipping below theta at 7 and rising again at 5
    records = walk([0.95, 0.85, 0.91, 0.80, 0.10], [10, 7, 5, 3, 0], test=[0.94, 0.92, 0.88, 0.70, 0.1])
    summary = summarize_walk(records, theta=0.9, root_epochs=20, retrain_epochs=2)
    assert summary == {"steps": 4, "epochs": 28, "found": 5.0, "found_test": 7.0}


def test_found_counts_accuracy_equal_to_theta_and_is_nan_when_nothing_reaches_it():
    assert summarize_walk(walk([0.9, 0.9, 0.5], [4, 2, 0]), 0.9, 20, 2)["found"] == 2.0
    none = summarize_walk(walk([0.8, 0.7, 0.1], [4, 2, 0]), 0.9, 20, 2)
    assert np.isnan(none["found"]) and np.isnan(none["found_test"])


def test_strategy_table_averages_per_strategy_and_counts_walks_above_theta():
    walks = pd.concat([
        walk([0.95, 0.92, 0.5], [6, 3, 0], seed=0),       # found 3, steps 2
        walk([0.95, 0.8, 0.7, 0.1], [6, 4, 2, 0], seed=1),  # found 6, steps 3
        walk([0.8, 0.1], [6, 0], strategy="random(6)", seed=0),  # never above theta
    ])
    table = strategy_table(walk_summaries(walks, 0.9, 20, 2))
    bucket = table.loc["SVbucket(0.2)"]
    assert (bucket["avg # steps"], bucket["max # steps"], bucket["min # steps"]) == (2.5, 3, 2)
    assert (bucket["avg # epochs"], bucket["min # epochs"]) == (25.0, 24)
    assert (bucket["avg # found"], bucket["max # found"], bucket["min # found"]) == (4.5, 6, 3)
    assert bucket["walks"] == 2 and bucket["walks above theta"] == 2
    assert np.isnan(table.loc["random(6)", "avg # found"]) and table.loc["random(6)", "walks above theta"] == 0


def write(frame, path):
    frame.to_csv(path, index=False)
    return path


def test_truncated_walk_file_is_named_not_tabled(tmp_path):
    good = write(walk([0.95, 0.92, 0.91, 0.5], [6, 4, 2, 0]), tmp_path / "good.csv")
    read_walks([good])  # complete
    cut = tmp_path / "cut.csv"
    cut.write_text("\n".join(good.read_text().splitlines()[:3]) + "\n")  # header + steps 0, 1
    with pytest.raises(RecordError, match=r"cut\.csv.*ends at step 1 with 4 players left.*--forcerun"):
        read_walks([good, cut])
    half = tmp_path / "half.csv"
    half.write_text(good.read_text()[: len(good.read_text()) - 40])  # cut inside the last row
    with pytest.raises(RecordError, match="half.csv"):
        read_walks([half])
    header = tmp_path / "header.csv"
    header.write_text(good.read_text().splitlines()[0] + "\n")
    with pytest.raises(RecordError, match="header but no rows"):
        read_walks([header])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(RecordError, match="empty.csv"):
        read_walks([empty])
    gap = write(walk([0.95, 0.92, 0.5], [6, 4, 0]).drop(index=1), tmp_path / "gap.csv")
    with pytest.raises(RecordError, match="not 0, 1, 2"):
        read_walks([gap])


def test_walk_that_stops_below_theta_is_complete_only_where_configured(tmp_path):
    stopped = write(walk([0.95, 0.92, 0.85], [6, 4, 2]), tmp_path / "stopped.csv")
    assert len(read_walks([stopped], theta=0.9)) == 3
    with pytest.raises(RecordError, match="truncated"):
        read_walks([stopped])


def grid_rows(hidden, rep, budgets, acc=0.9):
    return pd.DataFrame([{"hidden": hidden, "epochs": e, "repetition": rep, "seed": 1, "order_seed": 2, "accuracy": acc,
                          "test_accuracy": acc} for e in budgets])


def test_grid_file_needs_every_budget(tmp_path):
    ok = write(grid_rows(3, 0, [10, 20, 30]), tmp_path / "ok.csv")
    assert len(read_grid([ok], budgets=[10, 20, 30])) == 3
    short = write(grid_rows(3, 0, [10, 20]), tmp_path / "short.csv")
    with pytest.raises(RecordError, match=r"short\.csv.*epochs \[10, 20\], expected \[10, 20, 30\]"):
        read_grid([short], budgets=[10, 20, 30])
    foreign = write(walk([0.9, 0.1], [2, 0]), tmp_path / "walk.csv")
    with pytest.raises(RecordError, match="columns .* missing"):
        read_grid([foreign])


def test_grid_search_cost_by_hand():
    # repetition 0: accuracy >= 0.9 from size 5 on at 10 epochs, from size 4 on at 20 epochs
    # repetition 1: never at 10 epochs, from size 5 at 20 epochs
    acc = {(0, 10): {3: 0.5, 4: 0.8, 5: 0.9}, (0, 20): {3: 0.7, 4: 0.91, 5: 0.95},
           (1, 10): {3: 0.5, 4: 0.6, 5: 0.7}, (1, 20): {3: 0.6, 4: 0.85, 5: 0.92}}
    grid = pd.DataFrame([{"hidden": h, "epochs": e, "repetition": r, "seed": 0, "order_seed": 0, "accuracy": a,
                          "test_accuracy": a}
                         for (r, e), cells in acc.items() for h, a in cells.items()])
    cost = grid_search_cost(grid, theta=0.9)
    at10, at20, full = cost.loc["ascending, 10 epochs"], cost.loc["ascending, 20 epochs"], cost.loc["exhaustive grid"]
    # at 10 epochs: rep 0 tries 3, 4, 5 (30 epochs) and finds 5; rep 1 tries all three and finds nothing (30)
    assert (at10["avg # found"], at10["avg # epochs"], at10["repetitions above theta"]) == (5, 30, 1)
    # at 20 epochs: rep 0 finds 4 after 2 sizes (40 epochs); rep 1 finds 5 after 3 (60)
    assert (at20["avg # found"], at20["min # found"], at20["avg # epochs"]) == (4.5, 4, 50)
    # the whole grid: 3 sizes x (10 + 20) epochs; smallest size above theta at any budget: 4 and 5
    assert (full["avg # epochs"], full["avg # found"]) == (90, 4.5)
    cells = grid_table(grid).set_index(["hidden", "epochs"])
    assert cells.loc[(4, 20), "mean"] == pytest.approx((0.91 + 0.85) / 2)
    assert cells.loc[(4, 20), "count"] == 2


@pytest.mark.parametrize("value,text", [(20010.0, "20,010"), (409.93, "410"), (0.04312, "0.0431"), (1.0, "1"),
                                        (0.000012345, "0.0000123"), (np.nan, "–"), (12.3456, "12.3")])
def test_one_number_format_in_every_table(value, text):
    assert format_number(value) == text


def test_a_group_file_checks_each_of_its_walks(tmp_path):
    both = pd.concat([walk([0.95, 0.9, 0.1], [6, 3, 0], seed=0), walk([0.95, 0.9, 0.1], [6, 3, 0], seed=1)])
    ok = write(both, tmp_path / "seeds0-1.csv")
    assert sorted(set(read_walks([ok])["seed"])) == [0, 1]
    cut = write(both.iloc[:-1], tmp_path / "cut.csv")  # the second walk lost its last step
    with pytest.raises(RecordError, match="cut.csv: the walk ends at step 1 with 3 players left"):
        read_walks([cut])
