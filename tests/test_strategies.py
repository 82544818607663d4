"""Strategy selection on hand-made value vectors (SPEC 3)."""

import numpy as np
import pytest

from svprune.strategies import parse


def sel(name, values=None, **kw):
    return parse(name).select(shapley=values, weight_norms=values, **kw).tolist()


def test_parse_names_round_trip():
    for name in ["SVbottom(2)", "SVbottomP(0.5)", "SVbucket(0.2)", "random(3)", "Wbottom(1)"]:
        assert parse(name).name == name
    assert parse(" SVbucket( 0.10 ) ").name == "SVbucket(0.1)"


@pytest.mark.parametrize("bad", ["SVbucket(1.5)", "SVbucket(0)", "random(0)", "random(1.5)", "Foo(1)", "SVbottom", "Wbottom(x)"])
def test_bad_names_list_valid_forms(bad):
    with pytest.raises(ValueError, match=r"SVbottom\(k\), SVbottomP\(p\), SVbucket\(p\), random\(k\), Wbottom\(k\)"):
        parse(bad)


def test_svbottom_ties_and_fewer_than_k():
    v = np.array([0.3, 0.1, 0.1, 0.5])
    assert sel("SVbottom(2)", v) == [1, 2]
    assert sel("SVbottom(1)", v) == [1]  # tie broken by position
    assert sel("SVbottom(9)", v) == [0, 1, 2, 3]


def test_svbottomp_threshold_and_none_below():
    v = np.array([0.05, 0.4, 0.1, 0.45])  # 1/|S| = 0.25; p=0.5 -> below 0.125
    assert sel("SVbottomP(0.5)", v) == [0, 2]
    flat = np.full(4, 0.25)
    assert sel("SVbottomP(0.5)", flat) == [0]  # none below: the smallest one


def test_svbucket_negative_values_and_empty_bucket():
    v = np.array([0.5, -0.1, 0.15, 0.05, 0.4])
    # ascending: -0.1, 0.05, 0.15, 0.4 ... prefix sums -0.1, -0.05, 0.1, 0.5 -> three fit below 0.2
    assert sel("SVbucket(0.2)", v) == [1, 2, 3]
    assert sel("SVbucket(0.01)", np.array([0.3, 0.7])) == [0]  # nothing fits: the smallest one
    # only the smallest fits: 0.1, then 0.1 + 0.15 = 0.25 is over
    assert sel("SVbucket(0.2)", np.array([0.15, 0.1, 0.25, 0.5])) == [1]


def test_random_and_wbottom():
    rng = np.random.default_rng(0)
    chosen = parse("random(3)").select(rng=rng, n_players=10)
    assert len(set(chosen.tolist())) == 3 and chosen.max() < 10
    assert len(parse("random(3)").select(rng=rng, n_players=2)) == 2
    assert sel("Wbottom(2)", np.array([3.0, 1.0, 2.0])) == [1, 2]
    assert parse("random(1)").select(rng=rng, n_players=0).tolist() == []


def test_missing_inputs():
    with pytest.raises(ValueError, match="needs shapley"):
        parse("SVbucket(0.2)").select()
