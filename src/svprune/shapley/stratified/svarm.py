"""Stratified SVARM (Kolpaczki, Bengs, Muschalik and Hüllermeier, AAAI 2024).

phi_i = 1/n sum_{l=1..n} E[v(S) | |S| = l, i in S] - 1/n sum_{l=0..n-1} E[v(S) | |S| = l, i not in S]: one
stratum per player, size and side. Every sampled coalition informs all n players (the strata it falls in),
without pairing marginal contributions. Sizes whose coalitions the budget covers are enumerated (exact strata
means); for the others, a warm-up partitions the players into coalitions of each size so that every stratum
has a sample, and the rest of the budget draws independent coalitions with every size equally likely (not
complementary pairs: v(S) and v(U minus S) enter a player's strata with opposite signs, and where they are
negatively correlated, as in an additive or a voting game, a pair adds their variances: paired draws had 1.2-1.5
times the error on voting, unanimity and neuron games, README, "The estimator study"). Strata means are sample
means; standard errors from the strata variances.
"""

from __future__ import annotations

import numpy as np

from svprune.shapley.base import Estimator, Oracle, Run
from svprune.shapley.design import draw_coalitions, enumerate_sizes, kernel_size_weights, plan_sizes, uniform_size_weights


def _warmup(rng: np.random.Generator, n: int, sizes: list[int]) -> np.ndarray:
    """For each size l <= n/2 among ``sizes``: a random partition of the players into ceil(n/l) coalitions of
    size l (the last one topped up), and their complements; every player is then inside and outside a
    coalition of sizes l and n-l."""
    rows = []
    for size in sizes:
        if size > n // 2:
            continue
        order = rng.permutation(n)
        for start in range(0, n, size):
            members = order[start : start + size]
            if len(members) < size:
                rest = np.setdiff1d(order, members)
                members = np.concatenate([members, rng.choice(rest, size - len(members), replace=False)])
            s = np.zeros(n, dtype=bool)
            s[members] = True
            rows += [s, ~s]
    return np.array(rows, dtype=bool).reshape(-1, n)


def _influence(payoffs: np.ndarray, mean: np.ndarray, count: np.ndarray, size_mean: float) -> np.ndarray:
    """Rows' influences on strata means of ``count`` samples: deviation / sqrt(count (count - 1)); in a stratum
    of one sample, its deviation from the mean of all samples of its size (the stratum's own mean is the sample
    itself)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 1, (payoffs - mean) / np.sqrt(count * (count - 1)), payoffs - size_mean)


def _side_moments(member: np.ndarray, payoffs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per player, the count, mean and unbiased variance of the ``payoffs`` of the rows that ``member`` marks (one
    side of the player's strata at one size): mean NaN where no row, variance NaN there and 0 below two rows."""
    count = member.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (payoffs @ member) / count
        var = np.maximum((payoffs**2 @ member) / count - mean**2, 0) * count / np.maximum(count - 1, 1)
    return count, mean, var


def _shrunk(var: np.ndarray, count: np.ndarray, pooled: float) -> np.ndarray:
    """Strata variances shrunk towards their size's pooled variance by one degree of freedom (a stratum of one
    sample takes its size's; one of a few samples that happen to agree, as a voting game's 0/1 payoffs often do,
    no longer claims a variance of 0)."""
    dof = np.maximum(count - 1, 0)
    return (dof * np.nan_to_num(var) + pooled) / (dof + 1)


def warmup_cost(n: int, sizes) -> int:
    return sum(2 * -(-n // s) for s in sizes if s <= n // 2)


class StratifiedSVARM(Estimator):
    """Stratified SVARM (Kolpaczki, Bengs, Muschalik and Hüllermeier, "Approximating the Shapley value without
    marginal contributions", AAAI 2024): strata means by coalition size and side, every sampled coalition
    informing every player; see the module's docstring."""

    name = "svarm"

    def size_weights(self, n: int) -> np.ndarray:
        """How the coalitions after the warm-up draw their sizes: every size equally likely (the paper's)."""
        return uniform_size_weights(n)

    def min_budget(self, n: int) -> int:
        return 2 + warmup_cost(n, range(1, n))

    def _draw(self, oracle: Oracle, rng, p: np.ndarray, first: np.ndarray, first_payoffs: np.ndarray):
        """The coalitions after the enumerated sizes and the warm-up (``first``), and their payoffs: the rest of
        the budget, independent coalitions with sizes drawn from ``p``."""
        extra = draw_coalitions(rng, oracle.n, p, oracle.left, paired=False) if p.any() else np.zeros((0, oracle.n), dtype=bool)
        return extra, oracle.value(extra)

    def _run(self, oracle: Oracle, rng):
        n = oracle.n
        sample_sizes = [s for s in range(1, n) if s <= n // 2]
        complete, p = plan_sizes(n, max(oracle.left - warmup_cost(n, sample_sizes), 0), self.size_weights(n))
        sampled_sizes = [s for s in range(1, n) if s not in complete]
        enumerated = enumerate_sizes(n, complete)
        warm = _warmup(rng, n, sampled_sizes)
        first = np.concatenate([enumerated, warm])
        first_payoffs = oracle.value(first)
        extra, extra_payoffs = self._draw(oracle, rng, p, first, first_payoffs)
        rows = np.concatenate([first, extra])
        payoffs = np.concatenate([first_payoffs, extra_payoffs])
        sizes = rows.sum(1)
        # strata sums over (size, player, inside/outside); the empty and grand coalitions are exact
        z = rows.astype(float)
        count_in, count_out = np.zeros((n + 1, n)), np.zeros((n + 1, n))
        mean_in, mean_out, var_in, var_out = (np.full((n + 1, n), np.nan) for _ in range(4))
        for size in np.unique(sizes):
            at = sizes == size
            zs, vs = z[at], payoffs[at]
            count_in[size], mean_in[size], var_in[size] = _side_moments(zs, vs)
            count_out[size], mean_out[size], var_out[size] = _side_moments(1 - zs, vs)
        exact = np.zeros(n + 1, dtype=bool)
        exact[complete] = True
        mean_in[n], mean_out[0] = oracle.grand, oracle.empty
        values = (mean_in[1:].sum(0) - mean_out[:n].sum(0)) / n
        # variance of the strata means of sampled sizes: each stratum's variance shrunk towards its size's (_shrunk)
        pooled = {size: payoffs[sizes == size].var(ddof=1) if (sizes == size).sum() > 1 else 0.0
                  for size in sampled_sizes}
        strata = {}  # (size, inside): the variance of that stratum's mean, per player
        for size in sampled_sizes:
            for inside, mean_var, count in ((True, var_in[size], count_in[size]), (False, var_out[size], count_out[size])):
                strata[size, inside] = _shrunk(mean_var, count, pooled[size]) / np.maximum(count, 1)
        # a size that, with its complement's, only its warm-up partition sampled: that partition's four strata
        # (inside and outside, at the size and at its complement's) come from one set of disjoint coalitions and
        # their complements, correlated in a way one partition cannot show (in a vote at most one of them wins);
        # their sum's variance is bounded by (sum of standard deviations)^2 whatever the correlation
        drawn_sizes = set(sizes[len(first):].tolist())
        var, bounded = np.zeros(n), set()
        for size in sampled_sizes:
            if size <= n // 2 and not {size, n - size} & drawn_sizes:
                partition = {size, n - size} & set(sampled_sizes)
                var += sum(np.sqrt(strata[s, inside]) for s in partition for inside in (True, False)) ** 2
                bounded |= partition
        for size in set(sampled_sizes) - bounded:
            var += strata[size, True] + strata[size, False]
        # the same variance from the rows' influences, summed within each warm-up partition first (it holds every
        # coalition's complement: v(S) and v(N \ S) feed strata of the same player with opposite signs and are
        # correlated, in a voting game when S wins its complement loses), which the strata sums above leave out;
        # the larger of the two is kept.
        # A row's influence on a stratum mean of c samples is its deviation / sqrt(c (c - 1)), whose squares sum
        # to the mean's unbiased variance (the plain deviation / c underestimated it by (c - 1) / c, and coverage
        # of a 60-player voting game's values was 0.87 at 1,000 evaluations); a row alone in its stratum counts
        # its deviation from the mean of its size, within its unit, so that a warm-up partition's disjoint
        # coalitions (in a voting game at most one of them wins) keep what correlation the units show (adding the
        # size's variance as if independent covered 0.83 of a 100-player voting game's values at 1,000 evaluations,
        # this 0.86, and with the bound on sizes drawn only in their partition, above, 0.98)
        influence = np.zeros((len(rows), n))
        for size in sampled_sizes:
            at = sizes == size
            zs, vs = z[at], payoffs[at][:, None]
            centre = float(vs.mean())
            influence[at] = zs * _influence(vs, mean_in[size], count_in[size], centre) \
                - (1 - zs) * _influence(vs, mean_out[size], count_out[size], centre)
        # independent units: each warm-up partition (its coalitions are disjoint, so dependent), each drawn coalition
        blocks = np.cumsum([0] + [2 * -(-n // size) for size in sampled_sizes if size <= n // 2])  # as _warmup
        warmed = influence[len(enumerated) : len(first)]
        warm_units = [warmed[a:b].sum(0) for a, b in zip(blocks[:-1], blocks[1:])]
        units = np.concatenate([np.reshape(warm_units, (-1, n)), influence[len(first):]])
        if len(units) > 1:
            var = np.maximum(var, (units**2).sum(0) * len(units) / (len(units) - 1))
        return Run(values, np.sqrt(var) / n, len(rows), {"complete_sizes": complete})


class KernelSVARM(StratifiedSVARM):
    """Stratified SVARM drawing its coalitions' sizes by the Shapley kernel's weight of each size, 1/(k (n - k)), as
    shapiq's SVARM samples (and enumerating the border sizes that weight covers first): more coalitions where
    few or many players are present, which is where a game with veto players (the Security Council's permanent
    members) is decided; the paper's uniform sizes (``svarm``) spread them evenly."""

    name = "svarm_kernel"

    def size_weights(self, n: int) -> np.ndarray:
        return kernel_size_weights(n)


def size_variances(rows: np.ndarray, payoffs: np.ndarray, sizes, spread: float) -> dict[int, float]:
    """For each of ``sizes``, what the coalitions of that size contribute to the summed variance of the n players'
    strata means, per coalition: sum_i s_in(l, i)^2 n / l + s_out(l, i)^2 n / (n - l) (a coalition of size l falls
    inside the strata of l players and outside those of n - l), the strata's sample variances shrunk towards their
    size's pooled variance by one degree of freedom (as SVARM's own, :func:`_shrunk`). The pooled variance counts
    one pseudo-coalition ``spread`` away from the size's mean (Agresti and Coull's idea, as the permutation family's rare-event floor): a size
    whose few coalitions all paid the same may still have rare ones that do not, and keeps a share of the budget
    that shrinks as its sample grows. NaN for a size with fewer than 2 coalitions."""
    n = rows.shape[1]
    counts = rows.sum(1)
    out = {}
    for size in sizes:
        at = counts == size
        z, v = rows[at].astype(float), payoffs[at]
        if len(v) < 2:
            out[size] = np.nan
            continue
        pooled = np.append(v, v.mean() + spread).var(ddof=1)
        total = 0.0
        for member, share in ((z, n / size), (1 - z, n / (n - size))):
            count, _, var = _side_moments(member, v)
            total += share * float(_shrunk(var, count, pooled).sum())
        out[size] = total
    return out


class AdaptiveSVARM(KernelSVARM):
    """Stratified SVARM with the sizes of its later coalitions allocated by what they measure (Neyman allocation).
    A ``pilot`` share of the coalitions after the warm-up draws its sizes by the Shapley kernel's weight, as
    ``svarm_kernel``; the rest draws size l with probability proportional to the square root of the variance its
    coalitions carry (:func:`size_variances`, from the warm-up and the pilot), mixed with the kernel's weights by
    ``defensive`` so that no size goes unsampled. Sizes at which the pilot's coalitions all paid the same (the
    Security Council's coalitions of fewer than 9 members never pass; a voting game's small coalitions rarely win)
    keep a small share, and the budget goes where the strata differ. The strata means and their standard errors
    are SVARM's: the allocation changes how many coalitions each stratum gets, not how they are averaged. The
    pilot's payoffs, which steer the allocation, stay in the means; the bias that could bring is below what 100
    estimates resolve (tests/test_shapley_reference.py)."""

    name = "svarm_adaptive"
    pilot = 0.3
    defensive = 0.2

    def _draw(self, oracle: Oracle, rng, p: np.ndarray, first: np.ndarray, first_payoffs: np.ndarray):
        n = oracle.n
        if not p.any():
            return np.zeros((0, n), dtype=bool), np.zeros(0)
        pilot = draw_coalitions(rng, n, p, int(oracle.left * self.pilot), paired=False)
        pilot_payoffs = oracle.value(pilot)
        sizes = np.flatnonzero(p)
        seen = np.concatenate([first_payoffs, pilot_payoffs, [oracle.empty, oracle.grand]])
        variances = size_variances(np.concatenate([first, pilot]), np.concatenate([first_payoffs, pilot_payoffs]),
                                   sizes, float(np.ptp(seen)))
        root = np.sqrt(np.array([variances[s] for s in sizes]))
        q = p.copy()
        if np.isfinite(root).all() and root.sum() > 0:  # else a size the pilot barely saw: the kernel's weights
            q[sizes] = (1 - self.defensive) * root / root.sum() + self.defensive * p[sizes]
        rest = draw_coalitions(rng, n, q, oracle.left, paired=False)
        return np.concatenate([pilot, rest]), np.concatenate([pilot_payoffs, oracle.value(rest)])
