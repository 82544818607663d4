"""Standard errors for players whose sampling units are mostly exactly zero, by empirical Bayes across players.

A voting game's marginal contribution is 0 or 1; a player that matters in few coalitions contributes 0 in most
samples and now and then a jump. Its estimate is (k / m) times the mean jump, where k of its m units are not
zero, and k is a binomial count whose rate q is the player's unknown chance of a jump. A player's own k cannot
say how far its rate may be from k / m: a player seen jumping once in ten units may be one whose rate is 1 in
100 that was lucky, or one whose rate is 3 in 10 that was not. The game's other players can: they are a sample
of rates from the same game. So the rates of all players are pooled into a prior (``RatePrior``: Efron's
g-modeling, a smooth log-spline density on a logit grid fitted by penalized marginal likelihood; Efron 2016,
"Empirical Bayes deconvolution estimates", Biometrika 103), and each player's interval is the symmetric interval
around its own estimate that holds 95.4% of its rate's posterior (``halfwidths``). Empirical Bayes intervals
cover 95% on average over the players of a game (Armstrong, Kolesar and Plagborg-Moller 2022, "Robust empirical
Bayes confidence intervals", Econometrica 90), which is what 2-SE coverage measures.

Measured (benchmarks/coverage_limits.py, 200 seeds): on voting games of 30, 60 and 100 players, permutation
sampling's intervals from a player's own sample covered 0.978-1.0 of the values; +-2 true standard errors
(which need the values) 0.923-0.970; these intervals 0.936-0.968.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import BSpline
from scipy.optimize import minimize
from scipy.special import gammaln
from scipy.stats import norm as normal
from scipy.stats import t as student_t

LEVEL = float(2 * normal.cdf(2.0) - 1)
"""Posterior mass of a +-2 SE interval: that of a normal mean's (0.954), as the other standard errors are."""
GRID = 400
"""Points of the rate grid, evenly spaced in log-odds."""
SPLINE_DF = 8
"""Degrees of freedom of the prior's log-density (cubic B-splines on the logit grid)."""
BASE = "Jeffreys' Beta(1/2, 1/2)"
"""The prior where the players say nothing (the spline at 0), which the spline reshapes where they do. A prior
flat in log-odds instead put most of its mass on rates too small to tell from 0: where few players inform it, a
player never seen jumping got an interval too short (tmc covered 0.807 of the 15-player Security Council's values
at 5,000 evaluations, 0.987 now; elsewhere it moved coverage by at most 0.02)."""
PENALTY = 2.0
"""Efron's c0: the penalty on the norm of the spline coefficients, which keeps the prior smooth where few
players inform it. SPLINE_DF and PENALTY were chosen on benchmarks/coverage_limits.py's three voting games (a
prototype on binomial counts, 40 seeds: 5 and 1 covered 0.900-0.949, 8 and 1 0.908-0.966, 8 and 3 0.918-0.952; a
prior fitted without smoothing, the nonparametric maximum likelihood one, spikes at the players' own rates and
covered 0.73-0.92). With 8 and 2 (and BASE), permutation sampling covers 0.936-0.968 there over 200
seeds."""


class RatePrior:
    """The distribution of jump rates over a game's players, fitted to their counts: ``jumps[i]`` of ``units[i]``
    units not zero. Its log-density is a cubic spline in the rate's log-odds, fitted on a grid from
    1e-3 / max(units) to 1 - 1e-3 / max(units) (a rate below that is not told from 0 by any player's units);
    each player's posterior is evaluated on that grid and on a fine grid of its own around jumps / units, so
    that a player with many jumps, whose posterior is narrow, gets its interval to a small part of its width."""

    def __init__(self, jumps: np.ndarray, units: np.ndarray):
        jumps, units = np.asarray(jumps, dtype=np.int64), np.asarray(units, dtype=np.int64)
        if np.any(units < 1) or np.any(jumps < 0) or np.any(jumps > units):
            raise ValueError("RatePrior needs 0 <= jumps <= units and units >= 1 for every player")
        self.edge = float(np.log(1e-3 / max(int(units.max()), 1)))
        logit = np.linspace(self.edge, -self.edge, GRID)
        inner = np.linspace(self.edge, -self.edge, SPLINE_DF - 2)
        self._knots = np.concatenate([[inner[0]] * 3, inner, [inner[-1]] * 3])
        # players with the same (jumps, units) share a likelihood: fit on the distinct pairs, weighed by count
        pairs, index, counts = np.unique(np.stack([jumps, units], 1), axis=0, return_inverse=True,
                                         return_counts=True)
        self._index = index.ravel()
        self._k, self._m = pairs[:, 0], pairs[:, 1]
        rates = 1.0 / (1.0 + np.exp(-logit))
        basis = BSpline.design_matrix(logit, self._knots, 3).toarray()
        base = 0.5 * (np.log(rates) + np.log1p(-rates))  # Jeffreys' Beta(1/2, 1/2), as a density in log-odds
        self.coefficients = self._fit(basis, base, np.exp(binomial_log_likelihood(self._k, self._m, rates)),
                                      counts.astype(float))
        self._logit, self._log_weights = logit, basis @ self.coefficients + base  # the log-density in log-odds

    @staticmethod
    def _fit(basis: np.ndarray, base: np.ndarray, likelihood: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Spline coefficients a of the prior's log-density on the grid (weights exp(basis @ a + base), normalized;
        ``base``: BASE's log-density) that maximize the counts' marginal log-likelihood minus PENALTY * |a| (Efron's
        penalized g-modeling), from a = 0 (BASE itself) whatever was fitted before, so that a standard error does
        not depend on how often it was asked for."""
        scale = likelihood.max(1, keepdims=True)
        lik = likelihood / np.where(scale > 0, scale, 1.0)

        def objective(a):
            z = basis @ a + base
            w = np.exp(z - z.max())
            w /= w.sum()
            marginal = np.maximum(lik @ w, 1e-300)
            norm = np.sqrt(a @ a)
            post = lik * w / marginal[:, None]
            gradient = basis.T @ (counts @ post - counts.sum() * w) - PENALTY * a / max(norm, 1e-12)
            return -(counts @ np.log(marginal) - PENALTY * norm), -gradient

        return minimize(objective, np.zeros(basis.shape[1]), jac=True, method="L-BFGS-B").x

    def log_density(self, rates: np.ndarray) -> np.ndarray:
        """The prior's log-density over rates within the grid's ends (up to a constant; the spline interpolated
        linearly between the grid's points)."""
        logit = np.log(rates) - np.log1p(-rates)
        return np.interp(logit, self._logit, self._log_weights) - np.log(rates) - np.log1p(-rates)

    def _posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """Per distinct (jumps, units) pair (rows): rates (sorted) and their posterior masses."""
        k, m = self._k.astype(float), self._m.astype(float)
        spread = np.sqrt((k + 0.5) * (m - k + 0.5) / (m + 1.0) ** 3)
        local = (k / m)[:, None] + spread[:, None] * np.linspace(-8.0, 8.0, GRID)[None, :]
        grid = 1 / (1 + np.exp(-self._logit))  # the prior's support
        rates = np.sort(np.concatenate([np.broadcast_to(grid, local.shape), np.clip(local, grid[0], grid[-1])], 1), 1)
        cell = np.gradient(rates, axis=1)  # each point's share of the rate axis
        log_post = (self.log_density(rates) + binomial_log_likelihood(k, m, rates, rowwise=True)
                    + np.log(np.maximum(cell, 1e-300)))
        mass = np.exp(log_post - log_post.max(1, keepdims=True))
        return rates, mass / mass.sum(1, keepdims=True)

    def root_mean_squares(self) -> np.ndarray:
        """Per player, the posterior root mean square of its rate's distance from jumps / units."""
        rates, mass = self._posterior()
        distance = rates - (self._k / self._m)[:, None]
        return np.sqrt((mass * distance**2).sum(1))[self._index]

    def halfwidths(self) -> np.ndarray:
        """Per player, the half-width of the interval around jumps / units that holds LEVEL of its rate's
        posterior (interpolated between the grid's points)."""
        rates, mass = self._posterior()
        distance = np.abs(rates - (self._k / self._m)[:, None])
        order = np.argsort(distance, axis=1, kind="stable")
        distance = np.take_along_axis(distance, order, 1)
        held = np.cumsum(np.take_along_axis(mass, order, 1), 1)
        widths = np.array([np.interp(LEVEL, h, d) for h, d in zip(held, distance)])
        return widths[self._index]


def binomial_log_likelihood(k: np.ndarray, m: np.ndarray, rates: np.ndarray, rowwise: bool = False) -> np.ndarray:
    """log P(k of m | rate) for each (k, m) pair (rows) and rate (columns; ``rowwise``: each row its own rates)."""
    k, m = k[:, None].astype(float), m[:, None].astype(float)
    rates = rates if rowwise else rates[None, :]
    log_choose = gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1)
    return log_choose + k * np.log(rates) + (m - k) * np.log1p(-rates)


def rare_jump_stderr(count, zeros, total, squares, summed: bool = False) -> np.ndarray:
    """Standard errors of the means of players' units that are exactly zero in ``zeros`` of ``count`` units
    (per player, or per player and stratum: arrays of any one shape; ``total`` and ``squares``: the sums of its
    units and of their squares), for players with at least one zero unit (NaN for the others, whose units are
    continuous: the plain variance is theirs). ``summed``: the rate's part is twice its posterior root mean
    square (for standard errors that add up as variances, stratified sampling's strata), not the half-width
    of its interval.

    A player's k = count - zeros units that are not zero are its jumps, mean J and variance s^2. Its estimate
    (k / m) J misses its value q mu by (k / m - q) mu + (k / m)(J - mu): the first term is the rate's, whose
    interval is the rate posterior's (``RatePrior``, fitted to every player's counts), the second the jumps'
    own, k s^2 / m^2 with s^2 the player's jump variance shrunk by one pseudo-unit towards the pooled one of
    all players (Student's t for k degrees of freedom). A player that never jumped has the jump size of all
    players' jumps (their root mean square)."""
    shape = np.shape(count)
    count, zeros = np.asarray(count, dtype=np.int64).ravel(), np.asarray(zeros, dtype=np.int64).ravel()
    total, squares = np.asarray(total, dtype=float).ravel(), np.asarray(squares, dtype=float).ravel()
    stderr = np.full(count.shape, np.nan)
    point = (zeros > 0) & (count > 0)
    if not point.any():
        return stderr.reshape(shape)
    sampled = count > 0
    jumps = count - zeros
    prior = RatePrior(jumps[sampled], count[sampled])
    halfwidth = 2 * prior.root_mean_squares() if summed else prior.halfwidths()
    rate_half = np.zeros(count.shape)
    rate_half[sampled] = halfwidth
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.where(jumps > 0, total / jumps, 0.0)  # mean jump
        within = np.maximum(squares - jumps * size**2, 0.0)  # squared deviations of the jumps from their mean
    pooled_size = np.sqrt(squares[sampled].sum() / max(int(jumps[sampled].sum()), 1))
    dof_pool = np.maximum(jumps[sampled] - 1, 0).sum()
    pooled_var = within[sampled].sum() / dof_pool if dof_pool > 0 else 0.0
    size = np.where(jumps > 0, size, pooled_size)
    with np.errstate(divide="ignore", invalid="ignore"):
        jump_var = np.where(jumps > 0, (within + pooled_var) / np.maximum(jumps, 1), 0.0)
        factor = student_t.ppf(normal.cdf(2.0), np.maximum(jumps, 1)) / 2.0
        own = jumps * jump_var * factor**2 / count.astype(float) ** 2
    combined = np.sqrt((rate_half * np.abs(size) / 2.0) ** 2 + own)
    stderr[point] = combined[point]
    return stderr.reshape(shape)
