"""Strategy selection (docs/definitions.md, "Strategies") on hand-made value vectors, and property-based checks
of every selection rule's invariants over random score vectors with ties, zeros, negative and non-normalised
values; and the scorers each reading their own input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svprune.scorers import RandomScorer, ScoreContext, ShapleyScorer, WeightNorm
from svprune.strategies import TOLERANCE, parse


def sv(name, values):
    return parse(name).select(np.asarray(values, dtype=float)).tolist()


def test_parse_names_round_trip():
    for name in ["SVbottom(2)", "SVbottomP(0.5)", "SVbucket(0.2)", "random(3)", "Wbottom(1)"]:
        assert parse(name).name == name
    assert parse(" SVbucket( 0.10 ) ").name == "SVbucket(0.1)"
    assert parse("SVbucket(.3)").name == "SVbucket(0.3)"


@pytest.mark.parametrize("bad", ["SVbucket(1.5)", "SVbucket(0)", "random(0)", "random(1.5)", "Foo(1)", "SVbottom", "Wbottom(x)"])
def test_bad_names_list_valid_forms(bad):
    with pytest.raises(ValueError, match=r"SVbottom\(k\), SVbottomP\(p\), SVbucket\(p\), random\(k\), Wbottom\(k\)"):
        parse(bad)


def test_svbottom_ties_and_fewer_than_k():
    v = [0.3, 0.1, 0.1, 0.5]
    assert sv("SVbottom(2)", v) == [1, 2]
    assert sv("SVbottom(1)", v) == [1]  # tie broken by position
    assert sv("SVbottom(9)", v) == [0, 1, 2, 3]


def test_svbottomp_threshold_and_none_below():
    assert sv("SVbottomP(0.5)", [0.05, 0.4, 0.1, 0.45]) == [0, 2]  # 1/|S| = 0.25; p = 0.5: below 0.125
    assert sv("SVbottomP(0.5)", [0.25] * 4) == [0]  # none below: the smallest one
    # exactly at the threshold p/|S| = 0.1 (0.5 x 1/5, computed with rounding) is not below it
    assert sv("SVbottomP(0.5)", [0.1, 0.1, 0.3, 0.25, 0.25]) == [0]


def test_svbucket_negative_values_and_empty_bucket():
    # ascending: -0.1, 0.05, 0.15, 0.4 ... prefix sums -0.1, -0.05, 0.1, 0.5: three fit below 0.2
    assert sv("SVbucket(0.2)", [0.5, -0.1, 0.15, 0.05, 0.4]) == [1, 2, 3]
    assert sv("SVbucket(0.01)", [0.3, 0.7]) == [0]  # nothing fits: the smallest one
    assert sv("SVbucket(0.2)", [0.15, 0.1, 0.25, 0.5]) == [1]  # 0.1 fits, 0.1 + 0.15 = 0.25 does not


def test_svbucket_one_never_prunes_all_of_normalised_values():
    # 0.1 x 10 sums to 0.9999999999999999 in floats: strictly below 1 without the tolerance
    values = np.full(10, 0.1)
    assert np.cumsum(values)[-1] < 1
    assert len(sv("SVbucket(1)", values)) == 9


class _Norms:
    def weight_norms(self, model):
        return np.array([0.1, 5.0, 5.0, 5.0, 5.0])


def _context(shapley=None, rng=None, count=None, n=5):
    return ScoreContext(model=None, perspective=_Norms(), train=(None, None), rng=rng, n_players=n, shapley=shapley,
                        count=count)


def test_each_scorer_reads_its_own_input():
    values = np.array([0.5, 0.1, 0.2, 0.15, 0.05])  # Shapley: smallest is position 4
    context = _context(shapley=values)  # ... but by weight norm the smallest is position 0
    assert parse("Wbottom(1)").select(WeightNorm().score(context)).tolist() == [0]
    assert parse("SVbottom(1)").select(ShapleyScorer().score(context)).tolist() == [4]
    assert parse("Wbottom(1)").scorer_name == "weight_norm" and parse("SVbucket(0.2)").scorer_name == "shapley"


def test_random_draws_from_the_generator():
    def draw(seed, n, k=3):
        return parse(f"random({k})").select(RandomScorer().score(_context(rng=np.random.default_rng(seed), count=k,
                                                                          n=n)))

    a, b = draw(0, 10), draw(0, 10)
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 3 and a.max() < 10
    # the draw is numpy's choice of k without replacement, as walks recorded before scorers existed
    assert a.tolist() == sorted(np.random.default_rng(0).choice(10, size=3, replace=False).tolist())
    assert len(draw(1, 2)) == 2
    assert draw(1, 0, k=1).tolist() == []


def test_missing_or_non_finite_inputs():
    with pytest.raises(ValueError, match="needs the step's Shapley values"):
        ShapleyScorer().score(_context())
    with pytest.raises(ValueError, match="NaN"):
        parse("SVbucket(0.2)").select(np.array([0.5, np.nan]))


# ---- properties ---------------------------------------------------------------------------------------
finite = st.floats(min_value=-2, max_value=2, allow_nan=False, allow_infinity=False)
grid = st.sampled_from([0.0, 0.1, -0.1, 0.25, 0.5, 1 / 3])  # ties and exact zeros
vectors = st.lists(st.one_of(finite, grid), min_size=1, max_size=30).map(np.array)
ks = st.integers(min_value=1, max_value=40)
ps = st.floats(min_value=1e-3, max_value=1.0)


def valid_selection(chosen, n):
    assert len(chosen) >= 1, "every step prunes at least one player"
    assert list(chosen) == sorted(set(chosen)), "positions sorted and distinct"
    assert 0 <= min(chosen) and max(chosen) < n


@settings(max_examples=300, deadline=None)
@given(vectors, ks)
def test_bottom_k_prunes_the_k_smallest(values, k):
    for family in ("SVbottom", "Wbottom"):
        chosen = parse(f"{family}({k})").select(values)
        valid_selection(chosen, len(values))
        assert len(chosen) == min(k, len(values))
        rest = np.delete(values, chosen)
        if len(rest):
            assert values[chosen].max() <= rest.min()


@settings(max_examples=300, deadline=None)
@given(vectors, ps)
def test_svbottomp_prunes_exactly_the_players_below_p_over_n(values, p):
    n = len(values)
    chosen = parse(f"SVbottomP({p})").select(values)
    valid_selection(chosen, n)
    tol = TOLERANCE * (1 + np.abs(values).sum())
    below = np.flatnonzero(values < p / n - tol)
    if len(below):
        assert chosen.tolist() == below.tolist()
    else:
        assert chosen.tolist() == [int(np.argmin(values))]


@settings(max_examples=300, deadline=None)
@given(vectors, ps)
def test_svbucket_takes_a_fitting_bucket_of_the_smallest_that_cannot_grow(values, p):
    chosen = parse(f"SVbucket({p})").select(values)
    valid_selection(chosen, len(values))
    rest = np.delete(values, chosen)
    if len(rest):  # the bucket holds the smallest players (ties aside)
        assert values[chosen].max() <= rest.min()
    tol = TOLERANCE * (1 + np.abs(values).sum())
    if len(chosen) > 1:  # a bucket of several fits below p; a bucket of one may be the forced smallest player
        assert values[chosen].sum() < p - tol
    if len(rest):  # the next smallest player does not fit
        assert values[chosen].sum() + rest.min() >= p - tol


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(finite, grid), min_size=2, max_size=30).map(np.array), st.sampled_from([1.0, 0.999999, 0.5]))
def test_svbucket_never_prunes_every_player_of_normalised_values(values, p):
    total = values.sum()
    if abs(total) < 1e-3:
        return  # not normalisable
    normalised = values / total
    assert len(parse(f"SVbucket({p})").select(normalised)) < len(values)
