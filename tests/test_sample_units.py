"""The per-sample walk (``antithetic_samples``): every unit of 8 samples walks permutations of its own."""

import numba
import numpy as np
import pytest

import torch

from svprune import shapley as sh
from svprune.games import NeuronGame, WeightedVotingGame
from svprune.kernels import UNIT, MarginData, TermData
from svprune.models import MLP
from svprune.shapley.permutation import marginals
from svprune.study import channel_game, neuron_game


def _layouts(rng, n=7, classes=6):
    """One read-out as a rank-one and as a general layout, labels sorted, label groups of 1 to 40 samples."""
    y = np.repeat([0, 1, 2, 4, 5], [1, 3, 8, 9, 40])
    samples = len(y)
    h = np.maximum(rng.normal(size=(n, samples)), 0).astype(np.float32)
    w = rng.normal(size=(classes, n)).astype(np.float32)
    b = rng.normal(size=classes).astype(np.float32)
    terms = w.T[:, :, None] * h[:, None, :]
    at = np.arange(samples)
    general = TermData(terms - terms[:, y, at][:, None, :], np.repeat(b[:, None], samples, 1) - b[y][None, :], y)
    return MarginData(h, w, b, y), general


def _flags(data, members, log_likelihood=False):
    """Whether each sample's label is the first arg-max of the margins of the players ``members``, or the label's
    log-likelihood (float64)."""
    chosen = np.flatnonzero(members)
    if data.rank_one:
        margins = data.m0[data.y].T.astype(float) + np.einsum(
            "sjc,js->cs", data.d[data.y][:, chosen].astype(float), data.h[chosen].astype(float))
    else:
        margins = data.m0.astype(float) + data.d[chosen].astype(float).sum(0)
    if log_likelihood:  # margins: the label's row is 0
        return -np.log(np.exp(margins).sum(0))
    classes = np.arange(margins.shape[0])[:, None]
    lo = np.where(classes < data.y[None], margins, -np.inf).max(0)
    hi = np.where(classes > data.y[None], margins, -np.inf).max(0)
    return ((lo < 0) & (hi <= 0)).astype(float)


def _ends(data, weights, log_likelihood=False):
    """Each unit's part of the empty and of the full coalition."""
    lanes = data.unit_lanes
    n = data.n_players
    return np.stack([np.where(lanes >= 0, (weights * _flags(data, np.full(n, full), log_likelihood))[lanes], 0.0).sum(1)
                     for full in (False, True)], 1)


@pytest.mark.timeout(120)
def test_units_on_one_permutation_give_the_shared_walks_contributions():
    """With every unit on the same permutations, the units' contributions sum to the shared walk's, for both layouts
    and for equal and unequal sample weights (accuracy's and balanced accuracy's)."""
    rng = np.random.default_rng(3)
    for data in _layouts(rng):
        n, y = data.n_players, data.y
        perms = np.stack([rng.permutation(n) for _ in range(6)])
        counts = data.prefix_correct(perms)  # (P, n + 1, label groups)
        sizes = np.diff(data.starts).astype(float)
        for per_group in (np.full(len(sizes), 1 / len(y)), 1 / (len(sizes) * sizes)):
            weights = per_group[np.searchsorted(data.labels, y)]
            got = data.unit_marginals(weights, _ends(data, weights), perms=perms[None])
            np.testing.assert_allclose(got, marginals(perms, counts @ per_group), atol=1e-12)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("log_likelihood", [False, True])
def test_each_unit_walks_its_own_permutations(log_likelihood):
    """Given one permutation per unit, the contributions are the sum over units of each unit's own walk, computed
    here sample by sample in float64 (correctness, or the label's log-likelihood: the float32 walk's rounding);
    units hold samples k, k + K, ... (labels mixed), and padding lanes count nothing. Unequal weights take a log
    per sample, equal ones one log per unit."""
    rng = np.random.default_rng(4)
    for data in _layouts(rng):
        n, y = data.n_players, data.y
        lanes = data.unit_lanes
        assert lanes.shape == (-(-len(y) // UNIT), UNIT) and sorted(lanes[lanes >= 0]) == list(range(len(y)))
        # unequal weights, equal ones, and equal ones but for one sample of weight 0 (unit 0's first lane)
        for weights in (rng.random(len(y)), np.full(len(y), 0.25), np.where(np.arange(len(y)) == 0, 0.0, 0.25)):
            perms = np.stack([[rng.permutation(n) for _ in range(3)] for _ in lanes])  # (K, 3, n)
            expected = np.zeros((3, n))
            for k, unit in enumerate(lanes):
                members = unit[unit >= 0]
                for p in range(3):
                    before = 0.0
                    for t in range(n + 1):
                        coalition = np.isin(np.arange(n), perms[k, p, :t])
                        now = (weights * _flags(data, coalition, log_likelihood))[members].sum()
                        if t:
                            expected[p, perms[k, p, t - 1]] += now - before
                        before = now
            got = data.unit_marginals(weights, _ends(data, weights, log_likelihood), perms=perms,
                                      log_likelihood=log_likelihood)
            np.testing.assert_allclose(got, expected, atol=1e-4 if log_likelihood else 1e-12)


@pytest.mark.timeout(120)
def test_drawn_permutations_are_deterministic_and_in_antithetic_pairs():
    """The kernel draws each unit's permutations from its seed: the same seeds give the same contributions (also on
    another thread count, up to the order of the float64 sums); every row sums to v(U) - v(empty); an odd row walks
    the reverse of the row before it, so on an additive game (one sample, one class against another) the pair
    means are exact."""
    rng = np.random.default_rng(5)
    data = _layouts(rng)[0]
    weights = np.full(len(data.y), 1 / len(data.y))
    ends = _ends(data, weights)
    seeds = rng.integers(0, 2**63, len(data.unit_lanes), dtype=np.uint64)
    first = data.unit_marginals(weights, ends, seeds=seeds, count=40)
    np.testing.assert_array_equal(first, data.unit_marginals(weights, ends, seeds=seeds, count=40))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        np.testing.assert_allclose(first, data.unit_marginals(weights, ends, seeds=seeds, count=40), atol=1e-12)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_allclose(first.sum(1), ends[:, 1].sum() - ends[:, 0].sum(), atol=1e-12)
    other = data.unit_marginals(weights, ends, seeds=seeds + np.uint64(1), count=40)
    assert not np.array_equal(first, other)
    with pytest.raises(ValueError, match="even number"):
        data.unit_marginals(weights, ends, seeds=seeds, count=3)
    with pytest.raises(ValueError, match="one seed per unit"):
        data.unit_marginals(weights, ends, seeds=seeds[:-1], count=4)
    with pytest.raises(ValueError, match="every row must be a permutation"):
        data.unit_marginals(weights, ends, perms=np.zeros((1, 2, data.n_players), np.int64))


@pytest.fixture(scope="module")
def game16():
    game = neuron_game(16, 1)
    return game, sh.shapley_values(game, "exact", 1 << 16).values


@pytest.mark.timeout(300)
def test_antithetic_samples_is_unbiased_and_beats_shared_permutations(game16):
    """Against exact values (16 units of an MLP on digits, 20 seeds at 20,000 evaluations): the mean of the 20
    estimates is within a third of one estimate's error of the truth (unbiased), 2 standard errors cover at least
    0.9, and the error is below half antithetic's at the same evaluations (measured: 0.0081 against 0.031,
    coverage 0.95)."""
    game, exact = game16
    assert game.sample_units == -(-game.n_samples // UNIT)

    def runs(name):
        return [sh.shapley_values(game, name, 20_000, seed=s) for s in range(20)]

    def error(values):
        return np.linalg.norm(values - exact) / np.linalg.norm(exact)

    ours, shared = runs("antithetic_samples"), runs("antithetic")
    one = np.mean([error(e.values) for e in ours])
    assert error(np.mean([e.values for e in ours], 0)) < one / 3
    assert np.mean([np.abs(e.values - exact) <= 2 * e.stderr for e in ours]) >= 0.9
    assert one < 0.5 * np.mean([error(e.values) for e in shared])
    assert all(e.extra["sample_units"] == game.sample_units and 19_900 < e.n_evaluations <= 20_000 for e in ours)
    for e in ours:
        assert e.values.sum() == pytest.approx(e.grand_value - e.empty_value, abs=1e-12)


@pytest.mark.timeout(300)
def test_auto_takes_the_per_sample_walk_where_a_game_has_units(digits):
    """A channel game's accuracy and a neuron game's cross-entropy walk their units on the kernel, and auto takes
    them; logits beyond the kernel's cross-entropy range walk their units through the plain evaluation (one
    coalition per sample); a game that is not a sum over samples has no units, and antithetic_samples gives
    antithetic's own numbers there."""
    channels = channel_game([4, 12], "conv2", 0)
    assert channels.sample_units > 0 and channels._kernel_units
    assert sh.shapley_values(channels, "auto", 3000, seed=0).extra["chose"] == "antithetic_samples"
    entropy = neuron_game(16, 1, "neg_cross_entropy")
    assert entropy.sample_units > 0 and entropy._kernel_units
    assert sh.shapley_values(entropy, "auto", 3000, seed=0).extra["chose"] == "antithetic_samples"
    model = MLP(digits.n_features, [24], digits.n_classes, seed=2)
    with torch.no_grad():
        model.linears[-1].weight.mul_(1e4)
    far = NeuronGame(model, digits.x_val, digits.y_val, measure="neg_cross_entropy")
    assert far.fast and not far._kernel_units and far.sample_units == entropy.sample_units
    est = sh.shapley_values(far, "auto", 3000, seed=0)
    assert est.extra["chose"] == "antithetic_samples" and np.isfinite(est.stderr).all()
    assert est.values.sum() == pytest.approx(est.grand_value - est.empty_value, abs=1e-9)
    voting = WeightedVotingGame.random(30, seed=3)
    assert voting.sample_units == 0
    shared = sh.shapley_values(voting, "antithetic_samples", 3000, seed=2)
    np.testing.assert_array_equal(shared.values, sh.shapley_values(voting, "antithetic", 3000, seed=2).values)
    assert shared.extra["sample_units"] == 0


@pytest.mark.timeout(300)
def test_the_plain_per_sample_walk_equals_the_kernels_and_is_unbiased():
    """Where no kernel applies (the plain path, fast=False; a channel game of several layers), units walk through
    one coalition per sample: on one permutation for every unit it gives the kernel's contributions, and against
    exact values the mean of 10 estimates is within a third of one's error, which is below half antithetic's."""
    from svprune.study import _trained_on_digits

    model, splits = _trained_on_digits(lambda d: MLP(d.n_features, [16], d.n_classes, seed=1), 20, 1)
    kernel = NeuronGame(model, splits.x_val, splits.y_val)
    plain = NeuronGame(model, splits.x_val, splits.y_val, fast=False)
    assert kernel._kernel_units and not plain._kernel_units and plain.sample_units == kernel.sample_units
    weights = plain._sample_weights
    perms = np.stack([np.random.default_rng(1).permutation(16) for _ in range(3)])[None]
    np.testing.assert_allclose(plain._unit_walk(weights, plain._unit_ends, perms=perms),
                               kernel._unit_walk(weights, kernel._unit_ends, perms=perms), atol=1e-12)
    game = channel_game([4, 8], "all", 0)
    assert game.sample_units > 0 and not game._kernel_units
    exact = sh.shapley_values(game, "exact", 1 << game.n_players).values

    def error(values):
        return np.linalg.norm(values - exact) / np.linalg.norm(exact)

    ours = [sh.shapley_values(game, "antithetic_samples", 1500, seed=s) for s in range(10)]
    one = np.mean([error(e.values) for e in ours])
    assert error(np.mean([e.values for e in ours], 0)) < one / 2
    assert one < 0.5 * np.mean([error(sh.shapley_values(game, "antithetic", 1500, seed=s).values) for s in range(5)])
    assert np.mean([np.abs(e.values - exact) <= 2 * e.stderr for e in ours]) >= 0.9


@pytest.mark.timeout(300)
def test_the_cross_entropy_walk_per_sample_is_unbiased():
    """Cross-entropy (16 units, 20 seeds at 20,000 evaluations) against exact values: the mean of 20 estimates is
    within a third of one estimate's error, which is below a third of antithetic's (measured 0.0093 against 0.056);
    every permutation's contributions sum to v(U) - v(empty)."""
    game = neuron_game(16, 1, "neg_cross_entropy")
    exact = sh.shapley_values(game, "exact", 1 << 16).values

    def error(values):
        return np.linalg.norm(values - exact) / np.linalg.norm(exact)

    ours = [sh.shapley_values(game, "antithetic_samples", 20_000, seed=s) for s in range(20)]
    one = np.mean([error(e.values) for e in ours])
    assert error(np.mean([e.values for e in ours], 0)) < one / 3
    assert one < np.mean([error(sh.shapley_values(game, "antithetic", 20_000, seed=s).values) for s in range(5)]) / 3
    seeds = np.arange(game.sample_units, dtype=np.uint64)
    np.testing.assert_allclose(game.unit_marginals(seeds, 6).sum(1), exact.sum(), atol=1e-9)


@pytest.mark.timeout(120)
def test_a_per_sample_walk_that_disagrees_with_the_plain_evaluation_is_refused(game16):
    """The game checks the per-sample walk once (every unit on one permutation) against measure_of; a walk off by
    more than rounding is refused with advice, never used."""
    game = neuron_game(16, 1)
    data = game._kernel_data
    right = data.unit_marginals

    def wrong(*args, **kwargs):
        out = right(*args, **kwargs)
        out[:, 3] += 0.05
        return out

    data.unit_marginals = wrong
    seeds = np.arange(game.sample_units, dtype=np.uint64)
    with pytest.raises(RuntimeError, match="per-sample walk .* disagrees with its plain evaluation.*fast=False"):
        game.unit_marginals(seeds, 4)
    data.unit_marginals = right
    assert np.isfinite(game.unit_marginals(seeds, 4)).all()


@pytest.mark.timeout(60)
def test_a_duck_typed_game_with_units_is_used_and_checked():
    """An object with sample_units and unit_marginals is used by antithetic_samples (here an additive game whose
    every permutation gives each player its weight: exact values, zero spread); a wrong shape is refused."""

    class Additive:
        n_players = 25  # beyond exact enumeration
        sample_units = 3
        weights = np.arange(1.0, 26.0)

        def value(self, coalitions):
            return coalitions @ self.weights

        def unit_marginals(self, seeds, count):
            assert len(seeds) == 3
            return np.tile(self.weights, (count, 1))

    est = sh.shapley_values(Additive(), "antithetic_samples", 400, seed=0)
    np.testing.assert_allclose(est.values, Additive.weights)
    assert est.extra["sample_units"] == 3

    class Broken(Additive):
        def unit_marginals(self, seeds, count):
            return np.zeros((count, 4))

    with pytest.raises(ValueError, match=r"unit_marginals\(\) returned shape \(\d+, 4\).*must return"):
        sh.shapley_values(Broken(), "antithetic_samples", 400, seed=0)


@pytest.mark.timeout(300)
def test_standard_errors_are_never_below_the_payoffs_rounding():
    """The 16-unit MLP's cross-entropy has two dead units, whose exact values are 0. A walk's end rounding (its
    float32 sums against the plain evaluation) reaches them now and then: their estimates were about 1e-8 with
    standard errors of 2e-10, never covering 0 (coverage 0.84 over all players). The game's resolution (float32
    eps x sqrt(n) x the measure's scale) is a floor under the standard errors: every dead unit covered, and the
    floor is far below every other player's standard error."""
    game = neuron_game(16, 1, "neg_cross_entropy")
    enumerated = sh.shapley_values(game, "exact", 1 << 16)
    exact = enumerated.values
    dead = exact == 0
    assert dead.sum() == 2
    assert 0 < game.resolution < 1e-5
    runs = [sh.shapley_values(game, "antithetic_samples", 20_000, seed=s) for s in range(10)]
    covered = np.array([np.abs(e.values - exact) <= 2 * e.stderr for e in runs])
    assert covered[:, dead].all()
    assert covered.mean() >= 0.9
    assert all((e.stderr >= game.resolution).all() and np.median(e.stderr) > 100 * game.resolution for e in runs)
    assert (enumerated.stderr == 0).all()  # enumerated values stay exact


def test_a_duck_typed_games_resolution_is_used_and_checked():
    class Voting:
        n_players, resolution = 20, 0.25

        def __init__(self):
            self.game = WeightedVotingGame.random(20, seed=1)

        def value(self, coalitions):
            return self.game.value(coalitions)

    est = sh.shapley_values(Voting(), "permutation", 2_000, seed=0)
    assert (est.stderr >= 0.25).all()
    bad = Voting()
    bad.resolution = -1.0
    with pytest.raises(ValueError, match="resolution must be a finite number >= 0"):
        sh.shapley_values(bad, "permutation", 2_000, seed=0)
