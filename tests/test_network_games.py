"""Games on trained networks: payoffs equal plain masked forward passes; the fast paths equal the plain one;
physical pruning equals masking."""

import numpy as np
import pytest
import torch

from svprune import shapley as sh
from svprune.games import LayerGame, NeuronGame
from svprune.models import MLP, ResidualMLP, remove_blocks, remove_units
from svprune.train import accuracy, as_tensors, train


def masked_accuracy(model, x, y, layer, mask):
    masks = {layer: torch.as_tensor(mask, dtype=torch.float32)}
    with torch.no_grad():
        return float((model(x, masks).argmax(1) == y).double().mean())


@pytest.mark.parametrize("layer", [0, 1])
def test_neuron_game_equals_masked_forward(deep_mlp, digits, rng, layer):
    x, y = as_tensors(digits.x_val, digits.y_val)
    game = NeuronGame(deep_mlp, x, y, layer=layer, max_batch_bytes=1 << 16)  # many small chunks
    coalitions = rng.random((50, game.n_players)) < 0.5
    empty = masked_accuracy(deep_mlp, x, y, layer, np.zeros(game.n_players))
    expected = [masked_accuracy(deep_mlp, x, y, layer, c) - empty for c in coalitions]
    np.testing.assert_allclose(game.value(coalitions), expected, atol=1e-12)
    assert game.value(np.zeros((1, game.n_players), dtype=bool))[0] == 0


def test_pruned_model_accuracy_equals_payoff_of_kept_coalition(trained_mlp, digits, rng):
    x, y = as_tensors(digits.x_val, digits.y_val)
    game = NeuronGame(trained_mlp, x, y)
    remove = rng.choice(40, size=15, replace=False)
    keep = np.ones((1, 40), dtype=bool)
    keep[0, remove] = False
    pruned = remove_units(trained_mlp, 0, remove)
    assert pruned.hidden_sizes == [25]
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in trained_mlp.parameters())
    assert accuracy(pruned, x, y) == pytest.approx(game.value(keep)[0] + game.empty_measure, abs=1e-12)
    with torch.no_grad():
        masked = trained_mlp(x, {0: torch.as_tensor(keep[0], dtype=torch.float32)})
        torch.testing.assert_close(pruned(x), masked, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_permutation_path_equals_plain(digits, seed):
    model = MLP(digits.n_features, [30], digits.n_classes, seed=seed)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=3, seed=seed)
    x, y = digits.x_val, digits.y_val
    fast = NeuronGame(model, x, y)
    plain = NeuronGame(model, x, y, fast=False)
    assert fast.fast and not plain.fast
    a = sh.shapley_values(fast, "permutation", 64 * 29 + 2, seed=seed)
    b = sh.shapley_values(plain, "permutation", 64 * 29 + 2, seed=seed)
    # identical coalitions; values may differ only where float rounding flips an arg-max tie
    assert np.abs(a.values - b.values).max() <= 2 / len(y)
    assert a.n_evaluations == b.n_evaluations


@pytest.mark.parametrize("measure", ["accuracy", "balanced_accuracy", "neg_cross_entropy"])
def test_every_incremental_path_equals_the_plain_batched_path(trained_mlp, digits, rng, measure):
    """The native kernels (CPU) and the batched cumulative sums (the CUDA path, run here on the CPU) against the
    plain evaluation of every prefix coalition, for each measure."""
    game = NeuronGame(trained_mlp, digits.x_val, digits.y_val, measure=measure)
    plain = NeuronGame(trained_mlp, digits.x_val, digits.y_val, measure=measure, fast=False)
    assert game.fast_prefixes and not plain.fast_prefixes
    perms = rng.permuted(np.tile(np.arange(40), (20, 1)), axis=1)
    reference = plain.prefix_values(perms)
    native = game.prefix_values(perms)
    batched = game._prefix_measure_torch(perms) - game.empty_measure
    # accuracy-like measures may differ by one sample where rounding flips an arg-max tie; log-likelihoods by
    # float32 rounding of the logits
    tol = 1e-5 if measure == "neg_cross_entropy" else 1 / len(digits.y_val) * (2 if measure == "accuracy" else 10)
    assert np.abs(native - reference).max() <= tol
    assert np.abs(batched - reference).max() <= tol


def test_cross_entropy_table_walk_equals_a_float64_log_softmax():
    """The table walk (products of exp of the players' margin terms, one log per block and step) against a float64
    log-softmax of the accumulated logits: to 1e-12 of the mean log-likelihood in float64, and to 1e-6 in float32
    (where the margins are within FLOAT32_RANGE, the rounding of float32 logits), with 300 players, so that the
    blocks are shortened to keep the table within TABLE_BYTES."""
    from scipy.special import log_softmax

    from svprune.kernels import MarginData

    rng = np.random.default_rng(5)
    n, samples, classes = 300, 700, 10
    h = np.maximum(rng.normal(size=(n, samples)), 0).astype(np.float32)
    w = (rng.normal(size=(classes, n)) * 0.3).astype(np.float32)
    b = rng.normal(size=classes).astype(np.float32)
    y = np.sort(rng.integers(0, classes, samples))
    wide, narrow = MarginData(h, w, b, y), MarginData(h * 0.1, w, b, y)
    assert wide.log_likelihood_dtype is np.float64 and narrow.log_likelihood_dtype is np.float32
    perms = np.stack([rng.permutation(n) for _ in range(3)])
    for margins, dtype, tol in ((wide, None, 1e-12), (narrow, np.float64, 1e-12), (narrow, None, 1e-6)):
        walked = margins.prefix_log_likelihood(perms, dtype) / samples
        for p, perm in enumerate(perms):
            logits = np.repeat(b.astype(float)[:, None], samples, 1)
            expected = [log_softmax(logits, 0)[y, np.arange(samples)].mean()]
            for j in perm:
                logits += w[:, j].astype(float)[:, None] * margins.h[j].astype(float)[None, :]
                expected.append(log_softmax(logits, 0)[y, np.arange(samples)].mean())
            np.testing.assert_allclose(walked[p], expected, rtol=0, atol=tol)
    with pytest.raises(ValueError, match="float64 walk"):
        wide.prefix_log_likelihood(perms, np.float32)


def test_logits_too_far_apart_for_the_cross_entropy_table_take_the_exact_path(digits):
    """A read-out scaled up 10,000-fold puts logit differences beyond LOG_RANGE nats: the game does not use the
    table walk (whose float64 products would underflow) and its prefix values equal the plain path's."""
    model = MLP(digits.n_features, [8], digits.n_classes, seed=2)
    with torch.no_grad():
        model.linears[-1].weight.mul_(1e4)
    game = NeuronGame(model, digits.x_val, digits.y_val, measure="neg_cross_entropy")
    plain = NeuronGame(model, digits.x_val, digits.y_val, measure="neg_cross_entropy", fast=False)
    assert game._kernel_data is not None and not game._kernel_data.log_likelihood_in_range
    perms = np.random.default_rng(1).permuted(np.tile(np.arange(8), (4, 1)), axis=1)
    np.testing.assert_allclose(game.prefix_values(perms), plain.prefix_values(perms), rtol=1e-8)  # float32 logits
    with pytest.raises(ValueError, match="exact path"):
        game._kernel_data.prefix_log_likelihood(perms)


def test_fast_exact_gray_code_equals_plain(digits):
    model = MLP(digits.n_features, [12], digits.n_classes, seed=3)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=3, seed=3)
    fast = NeuronGame(model, digits.x_val, digits.y_val)
    plain = NeuronGame(model, digits.x_val, digits.y_val, fast=False)
    tf, tp = fast.all_values(), plain.all_values()
    assert np.abs(tf - tp).max() <= 1 / len(digits.y_val) + 1e-12


def test_exact_values_equal_an_independent_enumeration(digits):
    """Shapley values by the textbook formula over masked forward passes of the torch model itself."""
    from itertools import combinations
    from math import factorial

    model = MLP(digits.n_features, [6], digits.n_classes, seed=5)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=3, seed=5)
    x, y = as_tensors(digits.x_val, digits.y_val)
    n = 6

    def v(coalition):
        mask = np.zeros(n)
        mask[list(coalition)] = 1
        return masked_accuracy(model, x, y, 0, mask) - masked_accuracy(model, x, y, 0, np.zeros(n))

    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            w = factorial(size) * factorial(n - size - 1) / factorial(n)
            for s in combinations(others, size):
                phi[i] += w * (v(s + (i,)) - v(s))
    for fast in (True, False):
        np.testing.assert_allclose(sh.exact(NeuronGame(model, x, y, fast=fast)).values, phi, atol=1e-12)


def test_exact_agrees_with_permutation_as_permutations_grow(digits):
    model = MLP(digits.n_features, [10], digits.n_classes, seed=4)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=3, seed=4)
    game = NeuronGame(model, digits.x_val, digits.y_val)
    truth = sh.exact(game).values
    errors = [np.abs(sh.shapley_values(game, "permutation", m * 9 + 2, seed=0).values - truth).mean()
              for m in (4, 16, 110)]  # 110 x 9 + 2 = 992 evaluations < 2^10 (which would be enumerated)
    assert errors[2] < errors[0]
    assert errors[2] < 0.01


def test_other_measures_equal_their_definitions(deep_mlp, digits, rng):
    from sklearn.metrics import balanced_accuracy_score

    x, y = as_tensors(digits.x_val, digits.y_val)
    coalitions = rng.random((10, 16)) < 0.5
    coalitions[0] = False

    def logits(c):
        with torch.no_grad():
            return deep_mlp(x, {1: torch.as_tensor(c, dtype=torch.float32)})

    bal = NeuronGame(deep_mlp, x, y, measure="balanced_accuracy")
    ce = NeuronGame(deep_mlp, x, y, measure="neg_cross_entropy")
    assert bal.fast and ce.fast  # incremental paths serve every measure (tested above); measure_of is the plain one
    expected_bal = [balanced_accuracy_score(y.numpy(), logits(c).argmax(1).numpy()) for c in coalitions]
    expected_ce = [float(-torch.nn.functional.cross_entropy(logits(c).double(), y)) for c in coalitions]
    np.testing.assert_allclose(bal.measure_of(coalitions), expected_bal, atol=1e-12)
    # the plain path takes the log-sum-exp in the logits' own precision (float32; six times faster than in float64)
    np.testing.assert_allclose(ce.measure_of(coalitions), expected_ce, atol=1e-6)
    np.testing.assert_allclose(ce.value(coalitions), np.array(expected_ce) - expected_ce[0], atol=1e-6)
    with pytest.raises(ValueError, match="unknown measure"):
        NeuronGame(deep_mlp, digits.x_val, digits.y_val, measure="f1")


def test_layer_game_bypasses_blocks(digits, rng):
    model = ResidualMLP(digits.n_features, 32, 5, digits.n_classes, seed=0)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=3, seed=0)
    x, y = as_tensors(digits.x_val, digits.y_val)
    game = LayerGame(model, x, y, max_batch_bytes=1 << 16)
    coalitions = rng.random((12, 5)) < 0.5
    with torch.no_grad():
        def acc(active):
            return float((model(x, active).argmax(1) == y).double().mean())
        expected = [acc(c) - acc([False] * 5) for c in coalitions]
    np.testing.assert_allclose(game.value(coalitions), expected, atol=1e-12)
    keep = coalitions[0]
    pruned = remove_blocks(model, np.flatnonzero(~keep))
    assert pruned.n_blocks == keep.sum()
    assert accuracy(pruned, x, y) == pytest.approx(expected[0] + acc([False] * 5), abs=1e-12)
    # exact values against the table of all 32 bypass patterns run through the model itself
    table = np.array([acc([(m >> i) & 1 for i in range(5)]) - acc([False] * 5) for m in range(32)])
    np.testing.assert_allclose(sh.exact(game).values, sh.shapley_from_table(table), atol=1e-12)
    # the per-sample walk's rows (one coalition per sample) are the model's own logits of those samples
    picked = rng.integers(0, len(y), 36)  # positions in the game's label order; game._order: the samples there
    with torch.no_grad():
        rows = game._row_logits(torch.as_tensor(np.repeat(coalitions, 3, 0)), torch.as_tensor(picked))
        direct = torch.stack([model(x[game._order[s] : game._order[s] + 1], list(c))[0]
                              for c, s in zip(np.repeat(coalitions, 3, 0), picked)])
    np.testing.assert_allclose(rows.detach().numpy(), direct.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("measure", ["accuracy", "balanced_accuracy", "neg_cross_entropy"])
def test_max_batch_bytes_bounds_one_coalition_too(deep_mlp, measure):
    """A budget smaller than one coalition over all samples splits the samples; the measure is a sum over
    samples, so the payoffs equal the unsplit ones (exactly for counts; cross-entropy to the float32 rounding
    of logits computed in batches of another shape)."""
    x = torch.rand(3_000, 64)
    y = torch.randint(0, 10, (3_000,))
    coalitions = np.random.default_rng(0).random((64, 16)) < 0.5
    whole = NeuronGame(deep_mlp, x, y, fast=False, measure=measure)
    tiny = NeuronGame(deep_mlp, x, y, fast=False, measure=measure, max_batch_bytes=20_000)
    assert tiny._blocks(64, 3_000, tiny._bytes_per_sample()) [0] == 1  # one coalition at a time ...
    assert tiny._blocks(64, 3_000, tiny._bytes_per_sample())[1] < 3_000  # ... over a slice of the samples
    atol = 1e-7 if measure == "neg_cross_entropy" else 1e-12
    np.testing.assert_allclose(tiny.value(coalitions), whole.value(coalitions), rtol=0, atol=atol)


def test_permutation_memory_is_bounded_by_batches(trained_mlp, digits):
    """The estimator hands the game at most PERMUTATION_BATCH permutations at once, however many are asked."""
    game = NeuronGame(trained_mlp, digits.x_val, digits.y_val)
    seen = []
    original = game.prefix_values

    def spy(perms):
        seen.append(len(perms))
        return original(perms)

    game.prefix_values = spy
    sh.shapley_values(game, "permutation", 2000 * 39 + 2, seed=0)
    assert max(seen) <= sh.PERMUTATION_BATCH and sum(seen) == 2000


def test_fast_path_handles_ties_like_torch_argmax():
    """A read-out with equal biases and zero weights ties every class: the first class wins, as in torch."""
    model = MLP(4, [3], 3, seed=0)
    with torch.no_grad():
        model.linears[-1].weight.zero_()
        model.linears[-1].bias.fill_(0.5)
    x = torch.rand(50, 4)
    y = torch.tensor([0] * 20 + [1] * 20 + [2] * 10)
    fast, plain = NeuronGame(model, x, y), NeuronGame(model, x, y, fast=False)
    assert fast.empty_measure == plain.empty_measure == pytest.approx(0.4)
    np.testing.assert_array_equal(fast.all_values(), plain.all_values())


@pytest.fixture(scope="module")
def game10(digits):
    model = MLP(digits.n_features, [10], digits.n_classes, seed=4)
    train(model, *as_tensors(digits.x_train, digits.y_train), epochs=3, seed=4)
    game = NeuronGame(model, digits.x_val, digits.y_val)
    return game, sh.exact(game).values


@pytest.mark.parametrize("method,max_error,coverage", [
    ("permutation", 0.22, (0.88, 0.99)),
    ("antithetic", 0.13, (0.88, 0.99)),
    ("antithetic_samples", 0.075, (0.88, 0.99)),
    ("stratified", 0.25, (0.85, 0.99)),
    ("kernel", 0.06, (0.88, 0.99)),
    ("leverage", 0.06, (0.88, 0.99)),
    ("svarm", 0.13, (0.88, 0.99)),
    ("regression", 0.06, (0.88, 0.99)),
    ("antithetic_regression", 0.13, (0.88, 0.99)),
    # the paper's self-normalised subset estimator is biased and its delta-method errors under-cover
    ("subset", 0.6, (0.7, 0.9)),
])
def test_every_estimator_against_exact_values_on_a_network_game(game10, method, max_error, coverage):
    """Mean relative error over 30 seeds at 400 evaluations (of the 1,024 coalitions), and how often the exact
    value lies within 2 reported standard errors; the bounds hold with margin on this game (measured, in the
    order above: error 0.16 / 0.091 / 0.051 / 0.18 / 0.035 / 0.034 / 0.090 / 0.032 / 0.090 / 0.44, coverage 0.92 /
    0.95 / 0.97 / 0.91 / 0.95 / 0.95 / 0.95 / 0.97 / 0.94 / 0.79)."""
    budget = 400
    game, exact = game10
    errors, covered = [], []
    for seed in range(30):
        est = sh.shapley_values(game, method, budget, seed=seed)
        errors.append(np.abs(est.values - exact).sum() / np.abs(exact).sum())
        covered.append(np.abs(est.values - exact) <= 2 * est.stderr)
    assert np.mean(errors) < max_error
    assert coverage[0] <= np.mean(covered) <= coverage[1]


def test_labels_outside_the_models_classes_are_refused_before_any_kernel(trained_mlp, digits):
    y = digits.y_val.copy()
    y[3] = 10  # the model has 10 outputs: classes 0..9
    with pytest.raises(ValueError, match=r"y \(labels\) range over \[0, 10\].*10 outputs"):
        NeuronGame(trained_mlp, digits.x_val, y)
    with pytest.raises(ValueError, match="labels range"):
        from svprune.kernels import MarginData
        MarginData(np.zeros((2, 3), np.float32), np.zeros((4, 2)), np.zeros(4), np.array([0, 1, 7]))


def test_non_finite_inputs_and_weights_are_refused(trained_mlp, digits):
    x = digits.x_val.copy()
    x[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"x \(features\) holds 1 NaN"):
        NeuronGame(trained_mlp, x, digits.y_val)
    broken = MLP(digits.n_features, [4], digits.n_classes)
    with torch.no_grad():
        broken.linears[1].weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match="linears.1.weight"):
        NeuronGame(broken, digits.x_val, digits.y_val)
    with pytest.raises(ValueError, match=r"x \(features\) has 288 samples but y \(labels\) has 287"):
        NeuronGame(trained_mlp, digits.x_val, digits.y_val[:-1])


def test_kernel_refuses_malformed_permutations(trained_mlp, digits):
    game = NeuronGame(trained_mlp, digits.x_val, digits.y_val)
    bad = np.tile(np.arange(40), (2, 1))
    bad[1, 0] = 40  # indexes past the players
    with pytest.raises(ValueError, match="permutation of the players 0..39"):
        game.prefix_values(bad)


def test_the_game_keeps_one_activation_matrix(trained_mlp, digits):
    """The fused kernels read the game's own activation matrix: no second copy (benchmarks/game_memory.py
    measures the peak)."""
    game = NeuronGame(trained_mlp, digits.x_val, digits.y_val)
    assert game.fast
    assert game._ht.shape == (40, len(digits.y_val))
    assert np.shares_memory(game._ht.numpy(), game._kernel_data.h)


def test_a_fast_walk_that_disagrees_with_the_plain_evaluation_is_refused_at_run_time(trained_mlp, digits):
    """Each game checks its fast walk once, on the first permutation's prefixes, against measure_of; a walk off by
    more than rounding (here: one prefix of the kernel shifted by 0.05) is refused with advice, never used."""
    for measure in ("accuracy", "neg_cross_entropy"):
        game = NeuronGame(trained_mlp, digits.x_val, digits.y_val, measure=measure)
        right = game._measure.prefix_kernel

        def wrong(margins, perms, right=right):
            out = right(margins, perms)
            out[:, 10] += 0.05
            return out

        game._measure.prefix_kernel = wrong
        perms = np.stack([np.random.default_rng(0).permutation(40)])
        with pytest.raises(RuntimeError, match="disagrees with its plain evaluation.*fast=False"):
            game.prefix_values(perms)
        game._measure.prefix_kernel = right
        assert np.isfinite(game.prefix_values(perms)).all() and game._walk_checked


def test_kernels_on_label_groups_of_any_size_equal_a_direct_evaluation():
    """The kernels pad each block of one label to whole vectors of 8 samples; groups of 1, 3, 8, 9 and 300 samples
    (and a class with none) give the counts of a direct arg-max and the log-likelihoods of a float64 log-softmax,
    for the rank-one and the general layout, along permutations and (accuracy) over all coalitions."""
    from scipy.special import log_softmax

    from svprune.kernels import MarginData, TermData

    rng = np.random.default_rng(11)
    n, classes = 7, 6
    y = np.repeat([0, 1, 2, 4, 5], [1, 3, 8, 9, 300])
    samples = len(y)
    h = np.maximum(rng.normal(size=(n, samples)), 0).astype(np.float32)
    w = rng.normal(size=(classes, n)).astype(np.float32)
    b = rng.normal(size=classes).astype(np.float32)
    terms = w.T[:, :, None] * h[:, None, :]  # (n, C, N) float32
    at = np.arange(samples)
    rank_one = MarginData(h, w, b, y)
    general = TermData(terms - terms[:, y, at][:, None, :], np.repeat(b[:, None], samples, 1) - b[y][None, :], y)
    perms = np.stack([rng.permutation(n) for _ in range(5)])

    def logits_of(members):
        return b.astype(float)[:, None] + terms[list(members)].astype(float).sum(0)

    for data in (rank_one, general):
        counts = data.prefix_correct(perms).sum(-1)
        loglik = data.prefix_log_likelihood(perms)
        for p, perm in enumerate(perms):
            for t in range(n + 1):
                z = logits_of(perm[:t])
                assert abs(counts[p, t] - (z.argmax(0) == y).sum()) <= 1  # an arg-max tie may round either way
                assert loglik[p, t] == pytest.approx(log_softmax(z, 0)[y, at].sum(), abs=1e-4)
        table = data.all_correct(low_bits=3).sum(-1)
        for mask in rng.choice(1 << n, size=20, replace=False):
            z = logits_of([i for i in range(n) if (mask >> i) & 1])
            assert abs(table[mask] - (z.argmax(0) == y).sum()) <= 1
