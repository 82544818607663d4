"""The plots show what their captions say: read back from the figure objects, not from file sizes."""

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from svprune.plots import walk_figure
from svprune.records import WALK_COLUMNS


def walk(strategy, seed, players, acc, removed, normalized):
    rows = []
    for k, (p, a) in enumerate(zip(players, acc)):
        rows.append({c: np.nan for c in WALK_COLUMNS} | {
            "strategy": strategy, "seed": seed, "step": k, "players_before": players[k - 1] if k else p,
            "players_after": p, "accuracy": a, "accuracy_before_retrain": a - 0.1, "test_accuracy": a,
            "removed_shapley": removed[k], "shapley_normalized": normalized[k]})
    return pd.DataFrame(rows)


WALKS = pd.concat([
    # two SVbucket walks that visit different sizes: only 6 and 0 are reached by both
    walk("SVbucket(0.2)", 0, [6, 4, 0], [0.95, 0.9, 0.1], [np.nan, 0.1, 0.9], [None, True, True]),
    walk("SVbucket(0.2)", 1, [6, 3, 0], [0.93, 0.8, 0.1], [np.nan, 0.15, -0.3], [None, True, False]),
    walk("random(2)", 0, [6, 4, 2, 0], [0.9, 0.7, 0.5, 0.1], [np.nan, 0.3, 0.3, 0.4], [None, True, True, True]),
])


def lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_walk_plot_means_walks_interpolated_at_every_size_within_their_band_and_names_theta():
    fig = walk_figure(WALKS, ["SVbucket(0.2)", "random(2)"], theta=0.85)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "theta = 0.85" in legend
    assert "SVbucket(0.2): mean of 2 walks" in legend and "random(2): mean of 1 walks" in legend
    mean = lines(ax)["SVbucket(0.2): mean of 2 walks"]
    assert list(mean.get_xdata()) == [0, 1, 2, 3, 4, 5, 6]  # every size, not only 6 and 0 (no straight gap)
    # walk 0 visits 6, 4, 0 and walk 1 visits 6, 3, 0; each interpolated between its own sizes, then averaged:
    # at 4 players walk 0 is at 0.9 and walk 1 at 0.8 + (0.93 - 0.8) / 3; at 3, walk 0 at 0.1 + 0.8 x 3/4 and walk 1 at 0.8
    y = dict(zip(mean.get_xdata(), mean.get_ydata()))
    np.testing.assert_allclose([y[6], y[4], y[3], y[0]],
                               [0.94, (0.9 + 0.8 + 0.13 / 3) / 2, (0.1 + 0.8 * 3 / 4 + 0.8) / 2, 0.1])
    # the band: minimum and maximum of the interpolated walks, and the mean always inside it
    band = ax.collections[0].get_paths()[0].vertices
    low_at_4 = band[(band[:, 0] == 4)][:, 1].min()
    high_at_4 = band[(band[:, 0] == 4)][:, 1].max()
    np.testing.assert_allclose([low_at_4, high_at_4], [0.8 + 0.13 / 3, 0.9])
    assert low_at_4 <= y[4] <= high_at_4
    # the raw removed value (v(U) <= 0) is kept apart from the normalised ones, and labelled
    assert "removed value, raw: v(U) <= 0 (right axis)" in legend
    right = fig.axes[1]
    raw = [line for line in right.get_lines() if line.get_marker() == "x"]
    assert len(raw) == 1 and list(raw[0].get_ydata()) == [-0.3]
    plt.close(fig)


def test_layer_plot_has_a_panel_before_retraining():
    fig = walk_figure(WALKS, ["random(2)"], theta=0.85, players="blocks",
                      panels=("accuracy", "accuracy_before_retrain"))
    titles = [ax.get_title() for ax in fig.axes]
    assert "Accuracy after retraining" in titles
    assert "Accuracy before retraining (what the game measures)" in titles
    before = next(ax for ax in fig.axes if ax.get_title().startswith("Accuracy before"))
    np.testing.assert_allclose(lines(before)["random(2): mean of 1 walks"].get_ydata(),
                               [0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8])
    assert before.get_xlabel() == "Number of players (blocks) in model"
    plt.close(fig)


def test_estimator_figure_keeps_panels_readable():
    from svprune.plots import estimator_figure

    rows = []
    names = ["permutation", "antithetic", "regression", "shapiq:KernelSHAP", "captum:ShapleyValueSampling"]
    for game in ("security_council", "neuron16"):
        for k, name in enumerate(names):
            for budget in (1000, 5000):
                for seed in range(3):
                    rows.append({"game": game, "estimator": name, "target_evaluations": budget,
                                 "evaluations": budget, "seed": seed,
                                 "relative_error": (k + 1) * 0.1 / np.sqrt(budget / 1000) * (1 + 0.01 * seed)})
    fig = estimator_figure(pd.DataFrame(rows))
    assert len(fig.axes) == 4  # a row per game: svprune's estimators, then the peers beside svprune's best
    left, right = fig.axes[0], fig.axes[1]
    assert {line.get_label() for line in left.get_lines()} >= {"permutation", "antithetic", "regression"}
    assert not any(":" in line.get_label() for line in left.get_lines())  # no peer on the left
    best = lines(right)["svprune's best at each budget"]
    np.testing.assert_allclose(best.get_ydata(), [0.101, 0.101 / np.sqrt(5)], rtol=1e-9)  # permutation's
    assert "Security Council" in left.get_title() and "peers" in right.get_title()
    for legend in fig.legends:
        assert legend.get_texts()[0].get_fontsize() >= 10  # legible at report size
    plt.close(fig)


def test_every_estimator_in_the_figure_has_its_own_colour():
    """The study compares eleven estimators of svprune; seaborn's tab10 cycles after ten, and the eleventh
    (antithetic_regression) drew permutation's colour."""
    from matplotlib.colors import to_hex

    from svprune.plots import estimator_figure

    names = [f"estimator{k}" for k in range(13)]
    rows = [{"game": "security_council", "estimator": name, "target_evaluations": b, "evaluations": b, "seed": 0,
             "relative_error": (k + 1) * 0.01} for k, name in enumerate(names) for b in (1000, 5000)]
    fig = estimator_figure(pd.DataFrame(rows))
    colours = {line.get_label(): to_hex(line.get_color()) for line in fig.axes[0].get_lines() if line.get_label() in names}
    assert len(colours) == 13 and len(set(colours.values())) == 13
    plt.close(fig)
