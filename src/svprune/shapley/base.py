"""What every Shapley estimator shares: the estimate record, the counted game oracle, and the estimator base.

The budget is always counted in coalition evaluations (as in shapiq): every distinct coalition whose payoff an
estimator asks for costs one, v(empty) and v(U) included. The base evaluates v(empty) and v(U) once, for every
estimator; v(empty) may be any number. An estimator never spends more than its budget; one that needs more
than it is given says so, with its minimum. Where the budget covers all 2^n coalitions, the base enumerates
them and returns exact values (as shapiq does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import lgamma

import numpy as np
from scipy.stats import norm as normal
from scipy.stats import t as student_t

from svprune.checks import check_count, check_tolerance
from svprune.games.base import MAX_EXACT_PLAYERS, Game, as_game, check_exact_size, prefix_coalitions
from svprune.registry import DEFAULT_BUDGET, ESTIMATORS

RULE_OF_THREE = 1.5
"""Standard error of a never-seen contribution, in units of spread / count: 2 SE = 3 spread / count (the rule of
three)."""
COVERAGE_Z = 2.0
"""Reported standard errors are calibrated for intervals of +-COVERAGE_Z of them (0.954 for a normal mean)."""

PERMUTATION_BATCH = 256
"""Permutations evaluated per call of the game: bounds memory whatever the total number of permutations."""


@dataclass(frozen=True)
class ShapleyEstimate:
    """Estimated Shapley values of a game's players.

    ``values[i]``: phi(i); ``stderr[i]``: its standard error (0 for exact values, infinite where too few samples
    leave it unknown; never NaN); ``n_evaluations``: distinct coalitions evaluated, v(empty) and v(U) included, never more than the
    budget; ``estimator``: its name; ``n_units``: the estimator's own sampling units actually used (permutations,
    samples per player, sampled coalitions); ``grand_value``: v(U); ``empty_value``: v(empty).
    """

    values: np.ndarray
    stderr: np.ndarray
    n_evaluations: int
    estimator: str
    n_units: int
    grand_value: float
    extra: dict = field(default_factory=dict)
    empty_value: float = 0.0

    @property
    def total(self) -> float:
        """v(U) - v(empty): what the values share (efficiency)."""
        return self.grand_value - self.empty_value

    def normalized(self) -> tuple[np.ndarray, bool]:
        """phi / (v(U) - v(empty)) while that is > 0 (values then sum to 1), else the raw values; and whether it
        normalised."""
        if self.total > 0:
            return self.values / self.total, True
        return self.values.copy(), False


def log_weights(n: int) -> np.ndarray:
    """log of |S|!(n-|S|-1)!/n! for |S| = 0..n-1: the Shapley weight of one coalition of that size."""
    return np.array([lgamma(k + 1) + lgamma(n - k) - lgamma(n + 1) for k in range(n)])


def log_binom(n: int, k) -> np.ndarray:
    """log C(n, k), elementwise (C(n, k) itself overflows floats for large n)."""
    table = np.array([lgamma(n + 1) - lgamma(j + 1) - lgamma(n - j + 1) for j in range(n + 1)])
    return table[np.asarray(k, dtype=np.int64)]


def shapley_from_table(table: np.ndarray) -> np.ndarray:
    """Exact Shapley values from the payoffs of all 2^n coalitions (indexed by bitmask)."""
    n = int(np.log2(len(table)))
    masks = np.arange(len(table), dtype=np.int64)
    sizes = np.bitwise_count(masks.astype(np.uint64)).astype(np.int64)
    weights = np.exp(log_weights(n)) if n else np.zeros(0)
    phi = np.empty(n)
    for i in range(n):
        without = masks[((masks >> i) & 1) == 0]
        phi[i] = np.dot(weights[sizes[without]], table[without | (1 << i)] - table[without])
    return phi


def rare_event_floor(spread: float, count: int) -> float:
    """The variance of a player whose ``count`` units were all equal, given the ``spread`` of all players' units,
    by the rule of three: where a contribution of size ``spread`` was never seen in ``count`` draws, its
    probability may still be up to 3 / count (a 95% upper bound: (1 - p)^count <= e^-3 there), so the standard
    error is 1.5 spread / count and the 2-SE interval covers a true value up to 3 spread / count. Chosen by
    measured 2-SE coverage (README, "Standard errors"): with spread / (1.4 count) (a 76% bound) permutation
    sampling covered 0.84 of a 30-player voting game's values at 5,000 evaluations, where most players pivot
    about 1.5 times in its 172 orders."""
    with np.errstate(divide="ignore"):
        return RULE_OF_THREE**2 * spread**2 / np.asarray(count, dtype=float)


def unvaried(own_range, spread: float) -> np.ndarray:
    """Players whose own units all agree (up to rounding: within 1e-9 of the ``spread`` of all units), who get the
    rare-event floor: their sample shows nothing beyond one value."""
    return np.asarray(own_range) <= 1e-9 * spread


def rare_event_variance(squares, count, own_range, spread: float) -> np.ndarray:
    """The variance of one sampling unit, per player, of a player with no unit exactly zero (the others get
    :func:`~svprune.shapley.empirical_bayes.rare_jump_stderr`): the unbiased sample variance (``squares``, the
    squared deviations summed over its ``count`` units); a player whose units all agree (``own_range``, see
    :func:`unvaried`) gets :func:`rare_event_floor` of the ``spread`` of all units instead."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(unvaried(own_range, spread), rare_event_floor(spread, count),
                        np.asarray(squares) / (np.asarray(count, dtype=float) - 1))


def student_stderr(stderr, dof) -> np.ndarray:
    """Standard errors of means of few units, widened so that +-COVERAGE_Z of them is Student's t interval with
    ``dof`` degrees of freedom (of the normal interval's coverage, 0.954): by t(dof) / COVERAGE_Z, 1.43 for 4
    degrees of freedom (five antithetic pairs), 1.06 for 30, 1.0 in the limit. Without a degree of freedom the
    error is unknown: infinite."""
    dof = np.asarray(dof, dtype=float)
    with np.errstate(invalid="ignore"):
        factor = student_t.ppf(normal.cdf(COVERAGE_Z), np.maximum(dof, 1.0)) / COVERAGE_Z
    return np.where(dof >= 1, np.asarray(stderr) * factor, np.inf)


def fold_stderr(folds: list[np.ndarray], n: int, floor=None) -> np.ndarray:
    """Standard error of the mean of K fold means, each fold's sampling units (m_f x n) independent: the square
    root of sum_f var_f / m_f, divided by K, widened for its sum_f (m_f - 1) degrees of freedom
    (:func:`student_stderr`). A fold of fewer than two units borrows the pooled within-fold variance of all folds;
    with no degree of freedom at all the error is unknown: infinite, never NaN. ``floor(m)``, where given, is a
    lower bound of a fold's variance of m units (e.g. the rare-event floor of the permutation family)."""
    k = len(folds)
    sizes = np.array([len(f) for f in folds])
    dof = int(sizes.sum()) - k
    pooled = (sum(((f - f.mean(0)) ** 2).sum(0) for f in folds if len(f)) / dof) if dof > 0 else np.full(n, np.inf)
    total = np.zeros(n)
    for fold, m in zip(folds, sizes):
        if m == 0:
            continue
        var = fold.var(0, ddof=1) if m > 1 else pooled
        total = total + (np.maximum(var, floor(m)) if floor is not None else var) / m
    return student_stderr(np.sqrt(total) / max(k, 1), dof)


class BudgetExceeded(RuntimeError):
    """An estimator asked for more evaluations than its budget (a bug in the estimator, never the user's)."""


def _finite(values: np.ndarray, coalitions: np.ndarray | None = None) -> np.ndarray:
    """Payoffs as returned, refused where any is NaN or infinite (no estimate can be built on them)."""
    bad = ~np.isfinite(values)
    if bad.any():
        where = ""
        if coalitions is not None:
            first = np.flatnonzero(bad.reshape(len(coalitions), -1).any(1))[0]
            where = f"; the first is the coalition of players {np.flatnonzero(coalitions[first]).tolist()[:20]}"
        raise ValueError(f"the game returned {int(bad.sum())} NaN or infinite payoffs{where}: its value() must "
                         "give a finite number for every coalition")
    return values


class Oracle:
    """A game with its evaluations counted against a budget. v(empty) and v(U) are evaluated once, here;
    ``value`` evaluates each distinct coalition of a batch once and never re-evaluates the empty or grand
    coalition; ``prefixes`` uses the game's fast permutation walk where it offers one (``fast_prefixes``)."""

    def __init__(self, game: Game, budget: int, spent: int = 0, ends: tuple[float, float] | None = None):
        self.game, self.n, self.budget = game, game.n_players, int(budget)
        self.spent = int(spent)
        if ends is None:
            both = np.stack([np.zeros(self.n, dtype=bool), np.ones(self.n, dtype=bool)])
            ends = tuple(float(v) for v in _finite(np.asarray(game.value(both[: 1 if self.n == 0 else 2]), float)))
            self._spend(len(ends))
            ends = ends if self.n else (ends[0], ends[0])
        self.empty, self.grand = ends

    @property
    def left(self) -> int:
        return self.budget - self.spent

    def _spend(self, count: int) -> None:
        self.spent += int(count)
        if self.spent > self.budget:
            raise BudgetExceeded(f"spent {self.spent} coalition evaluations of a budget of {self.budget}")

    def value(self, coalitions: np.ndarray) -> np.ndarray:
        """Payoffs of a stack of boolean coalitions; each distinct one is evaluated (and counted) once."""
        coalitions = np.asarray(coalitions, dtype=bool)
        out = np.empty(len(coalitions))
        if not len(coalitions):
            return out
        sizes = coalitions.sum(1)
        out[sizes == 0], out[sizes == self.n] = self.empty, self.grand
        inner = (sizes > 0) & (sizes < self.n)
        if inner.any():
            packed = np.packbits(coalitions[inner], axis=1)
            unique, inverse = np.unique(packed, axis=0, return_inverse=True)
            self._spend(len(unique))
            distinct = np.unpackbits(unique, axis=1, count=self.n).astype(bool)
            out[inner] = _finite(np.asarray(self.game.value(distinct), float), distinct)[inverse.reshape(-1)]
        return out

    def prefixes(self, perms: np.ndarray) -> np.ndarray:
        """out[p, t] = v(first t players of perms[p]); costs n-1 evaluations per permutation."""
        perms = np.asarray(perms, dtype=np.int64)
        n_perm, n = perms.shape
        self._spend(n_perm * max(n - 1, 0))
        if getattr(self.game, "fast_prefixes", False):
            out = _finite(np.asarray(self.game.prefix_values(perms), dtype=float))
        else:
            out = np.empty((n_perm, n + 1))
            if n > 1:
                flat = prefix_coalitions(perms).reshape(-1, n)
                out[:, 1:n] = _finite(np.asarray(self.game.value(flat), float), flat).reshape(n_perm, n - 1)
        out[:, 0], out[:, n] = self.empty, self.grand
        return out

    def unit_marginals(self, seeds: np.ndarray, count: int) -> np.ndarray:
        """The game's per-sample walk (``unit_marginals``): marginal contributions summed over its units, (count,
        n); costs n-1 evaluations per permutation (each unit evaluates its share of the samples)."""
        self._spend(count * max(self.n - 1, 0))
        out = _finite(np.asarray(self.game.unit_marginals(seeds, count), dtype=float))
        if out.shape != (count, self.n):
            raise ValueError(f"unit_marginals returned shape {out.shape}; expected ({count}, {self.n})")
        return out

    def enumerate_all(self) -> np.ndarray:
        """Payoffs of all 2^n coalitions, indexed by bitmask (the game's fast enumeration where it has one)."""
        check_exact_size(self.n)
        self._spend((1 << self.n) - min(self.spent, 2))
        table = np.asarray(self.game.all_values(), dtype=float)
        table[0], table[-1] = self.empty, self.grand
        return table


@dataclass(frozen=True)
class Run:
    """What one run of an estimator returns: values, standard errors, the sampling units it used, and extra
    information (recorded in the estimate's ``extra``)."""

    values: np.ndarray
    stderr: np.ndarray
    n_units: int
    extra: dict = field(default_factory=dict)


class Estimator:
    """One Shapley estimator: ``estimate(game, budget, seed, tolerance)``. Subclasses set ``name`` and
    implement ``_run(oracle, rng) -> Run`` within ``oracle.left`` evaluations, and ``min_budget(n)`` where they
    need more than v(empty) and v(U). Each cites the paper it implements."""

    name = ""
    has_stderr = True
    enumerates_small_games = True
    """Where the budget covers all 2^n coalitions (n <= 20), return exact values by enumeration."""

    def min_budget(self, n: int) -> int:
        return 2

    def _run(self, oracle: Oracle, rng: np.random.Generator):
        raise NotImplementedError

    def check_budget(self, n: int, budget: int) -> None:
        need = self.min_budget(n)
        if budget < need:
            raise ValueError(f"the {self.name} estimator needs at least {need:,} coalition evaluations for {n} "
                             f"players; the budget is {budget:,}. Raise the budget or choose another estimator")

    def estimate(self, game, budget: int | None, seed: int = 0, tolerance: float | None = None) -> ShapleyEstimate:
        game = as_game(game)
        n = game.n_players
        budget = self.default_budget(n) if budget is None else check_count(budget, "budget", minimum=1)
        tolerance = check_tolerance(tolerance)
        if tolerance is not None and not self.has_stderr:
            raise ValueError(f"tolerance (adaptive budget) needs standard errors, which {self.name!r} does not give")
        if n == 0 or (self.enumerates_small_games and n <= MAX_EXACT_PLAYERS and budget >= 1 << n):
            oracle = Oracle(game, budget)
            table = oracle.enumerate_all() if n else np.array([oracle.empty])
            values = shapley_from_table(table)
            return self._record(oracle, Run(values, np.zeros(n), 1 << n, {"enumerated": True}))
        self.check_budget(n, budget)
        rng = np.random.default_rng(seed)
        if tolerance is None:
            oracle = Oracle(game, budget)
            return self._record(oracle, self._run(oracle, rng))
        return self._adaptive(game, budget, rng, tolerance)

    def default_budget(self, n: int) -> int:
        """The budget when none is given: svprune.registry.DEFAULT_BUDGET (all 2^n coalitions where fewer)."""
        return DEFAULT_BUDGET

    def _adaptive(self, game, budget: int, rng, tolerance: float) -> ShapleyEstimate:
        """Pooled rounds (:meth:`pooled_rounds`, b = budget/32) until every pooled standard error is at most
        ``tolerance`` or the budget is spent."""
        estimate = self.pooled_rounds(game, budget, rng, budget // 32,
                                      lambda values, stderr: np.max(stderr, initial=0.0) <= tolerance)
        estimate.extra.update(tolerance=tolerance)
        return estimate

    def pooled_rounds(self, game, budget: int, rng, first: int, done) -> ShapleyEstimate:
        """Independent estimates with budgets b, b, 2b, 4b, ... (b = ``first``, at least the estimator's minimum),
        pooled with weights proportional to their evaluations (so the pool stays unbiased and uses every
        evaluation), until ``done(values, stderr)`` of the pool or the budget is spent. v(empty) and v(U) are
        evaluated once. The estimate's ``extra`` has the last round's, and ``rounds``."""
        n = game.n_players
        need = self.min_budget(n) - 2  # v(empty) and v(U) are known after the first round
        step = max(need, first)
        oracle = Oracle(game, budget)
        spent, ends = oracle.spent, (oracle.empty, oracle.grand)
        rounds = []
        while budget - spent >= need:
            step = min(step, budget - spent)
            oracle = Oracle(game, spent + step, spent, ends)
            before = oracle.spent
            run = self._run(oracle, rng)
            rounds.append((oracle.spent - before, run.values, run.stderr, run.n_units))
            spent = oracle.spent
            weights = np.array([r[0] for r in rounds], dtype=float)
            weights /= weights.sum()
            pooled = sum(w * r[1] for w, r in zip(weights, rounds))
            pooled_se = np.sqrt(sum(w**2 * r[2] ** 2 for w, r in zip(weights, rounds)))
            if done(pooled, pooled_se):
                break
            step = step if len(rounds) == 1 else 2 * step
        if not rounds:
            raise ValueError(f"the budget ({budget:,}) is below the {self.name} estimator's minimum for {n} players "
                             f"({self.min_budget(n):,})")
        return self._record(oracle, Run(pooled, pooled_se, sum(r[3] for r in rounds),
                                        {**run.extra, "rounds": len(rounds)}))

    def _record(self, oracle: Oracle, run: Run) -> ShapleyEstimate:
        stderr = np.asarray(run.stderr, dtype=float)
        if not run.extra.get("enumerated"):  # never finer than the payoffs' rounding (Game.resolution)
            stderr = np.maximum(stderr, float(getattr(oracle.game, "resolution", 0.0)))
        return ShapleyEstimate(
            values=np.asarray(run.values, dtype=float), stderr=stderr,
            n_evaluations=oracle.spent, estimator=self.name, n_units=int(run.n_units),
            grand_value=oracle.grand, extra=dict(run.extra), empty_value=oracle.empty,
        )


def get_estimator(estimator: str, field: str | None = None) -> Estimator:
    """An instance of the estimator registered as ``estimator`` (its name is the registered one)."""
    instance = ESTIMATORS.get(estimator, field)()
    instance.name = estimator
    return instance


class Exact(Estimator):
    """Exact Shapley values by enumeration of all 2^n coalitions (n <= 20; Shapley 1953's definition); needs a
    budget of 2^n."""

    name = "exact"

    def min_budget(self, n: int) -> int:
        check_exact_size(n)
        return 1 << n

    def default_budget(self, n: int) -> int:
        return self.min_budget(n)

    def _run(self, oracle, rng):  # pragma: no cover - the base enumerates whenever the budget allows
        raise AssertionError("unreachable")
