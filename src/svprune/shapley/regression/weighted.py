"""KernelSHAP's regression: weighted least squares over 0/1 coalition rows, with the efficiency constraint, and
with unpenalised terms in the coalition's size.

The model is v(S) - v(empty) = z(S).phi + q(|S|).c, q the Legendre polynomials of 2|S|/n - 1 of degree 2 to
SIZE_DEGREE minus their values at size 0 (degree 0 and 1 are already in the model: the intercept is v(empty) and
|S| is the sum of the members). A function of the size alone is a symmetric game, so its Shapley values are
(g(n) - g(0)) / n for every player: the estimate is phi + q(n).c / n. The size terms take out of the residual what
depends on the size alone (a network's accuracy rises with the units it keeps), which KernelSHAP's linear model
otherwise leaves as noise on every player: at a thousand players and 20,000 evaluations they cut its error from
0.81 to 0.14 (benchmarks/estimator_scaling.py).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from svprune.shapley.regression.surrogate import SIZE_DEGREE, legendre_of_size

RIDGE = 0.01
"""The members' ridge, relative to the Gram matrix's mean diagonal: this times (players / pairs)^3. It shrinks the
values towards an equal split where pairs are as few as players (at 2n evaluations of 100-500 players, Leverage
SHAP's error 0.57-0.61 without it, 0.40 with it: least squares with about as many equations as unknowns
amplifies noise) and fades fast with more pairs (1e-6 at 20 pairs a player, where a game the regression
represents exactly is still valued to 1e-5)."""
ROWS_PER_SIZE_TERM = 20
"""Coalitions per degree of the size polynomial: fewer rows, a lower degree (below 2: no size terms)."""


class WeightedLeastSquares:
    """Solves (Z' diag(w) Z + ridge I) x = b for 0/1 rows Z and positive weights w. The Gram matrix is formed in
    single precision (twice as fast; at 2,000 players it is most of an estimate's time) and factored once; a
    solve is refined twice against the double-precision product Z' (w (Z x)), which costs two passes over Z, so
    the result is as accurate as a double-precision solve. The ridge is ``relative`` times the mean diagonal,
    raised a hundredfold at a time where single-precision rounding leaves a design of fewer coalitions than players
    indefinite."""

    def __init__(self, rows: np.ndarray, weights: np.ndarray, relative: float = 1e-9):
        self.rows, self.weights = rows, weights
        scaled = (rows * np.sqrt(weights)[:, None]).astype(np.float32)
        gram = (scaled.T @ scaled).astype(float)
        scale = max(np.trace(gram) / max(len(gram), 1), 1e-300)
        for factor in (1, 1e2, 1e4, 1e6):
            self.ridge = min(relative * factor, 1.0) * scale
            try:
                self.factor = cho_factor(gram + self.ridge * np.eye(len(gram)))
                break
            except np.linalg.LinAlgError:
                continue
        else:
            raise np.linalg.LinAlgError("the coalitions' Gram matrix is not positive definite even with a ridge")

    def _product(self, x: np.ndarray) -> np.ndarray:
        weights = self.weights.reshape(-1, *([1] * (x.ndim - 1)))  # broadcast over a matrix's columns
        return self.rows.T @ (weights * (self.rows @ x)) + self.ridge * x

    def solve(self, b: np.ndarray, refine: bool = True) -> np.ndarray:
        x = cho_solve(self.factor, b)
        for _ in range(2 if refine else 0):
            x = x + cho_solve(self.factor, b - self._product(x))
        return x


def size_terms(sizes: np.ndarray, n: int, degree: int) -> np.ndarray:
    """q(|S|): Legendre polynomials of 2|S|/n - 1 of degree 2..``degree``, minus their values at size 0."""
    return legendre_of_size(sizes, n, degree)[:, 2:] - legendre_of_size([0], n, degree)[:, 2:]


class KernelRegression:
    """The constrained weighted regression of the module's docstring, for one design: ``rows`` (0/1, m x n) and
    their kernel ``weights``. The size terms' block is eliminated through the factored members' Gram matrix (a
    Schur complement of at most SIZE_DEGREE - 1 columns), so they cost a few solves."""

    def __init__(self, rows: np.ndarray, weights: np.ndarray):
        self.n = n = rows.shape[1]
        degree = min(SIZE_DEGREE, len(rows) // ROWS_PER_SIZE_TERM)
        self.terms = size_terms(rows.sum(1), n, degree) if degree >= 2 else np.zeros((len(rows), 0))
        self.at_grand = size_terms([n], n, degree)[0] if degree >= 2 else np.zeros(0)
        self.rows, self.weights = rows, weights
        self.members = WeightedLeastSquares(rows, weights, max(RIDGE * (n / max(len(rows) / 2, 1)) ** 3, 1e-9))
        weighted_terms = weights[:, None] * self.terms
        self.cross = rows.T @ weighted_terms  # Z' W Q
        self.solved_cross = self.members.solve(self.cross)  # (Z' W Z)^-1 Z' W Q
        self.schur = self.terms.T @ weighted_terms - self.cross.T @ self.solved_cross
        self.constraint = np.concatenate([np.ones(n), self.at_grand])
        self.solved_constraint = self._solve(self.constraint)
        self.denominator = self.constraint @ self.solved_constraint

    def _solve(self, rhs: np.ndarray, refine: bool = True) -> np.ndarray:
        """G^-1 rhs, G the Gram matrix of [Z, Q] under the weights, by block elimination."""
        top, bottom = rhs[: self.n], rhs[self.n :]
        first = self.members.solve(top, refine)
        if not len(bottom):
            return first
        second = np.linalg.lstsq(self.schur, bottom - self.cross.T @ first, rcond=None)[0]  # k x k: robust
        return np.concatenate([first - self.solved_cross @ second, second])

    def constrained(self, rhs: np.ndarray, refine: bool = True) -> np.ndarray:
        """M rhs, M = G^-1 - G^-1 e e' G^-1 / (e' G^-1 e) (e: the efficiency constraint), for a vector or the
        columns of a matrix."""
        solved = self._solve(rhs, refine)
        return solved - np.multiply.outer(self.solved_constraint, self.constraint @ solved) / self.denominator

    def moments(self, values: np.ndarray) -> np.ndarray:
        """[Z, Q]' W values, for a vector or the columns of a matrix (one column per row group)."""
        weighted = self.weights.reshape(-1, *([1] * (values.ndim - 1))) * values
        return np.concatenate([self.rows.T @ weighted, self.terms.T @ weighted])

    def fit(self, target: np.ndarray, total: float) -> np.ndarray:
        """[phi, c] of the constrained fit to ``target`` (v(S) - v(empty) per row), total = v(U) - v(empty)."""
        return self.constrained(self.moments(target)) + self.solved_constraint * total / self.denominator

    def shapley(self, coefficients: np.ndarray) -> np.ndarray:
        """phi + q(n).c / n: the members' coefficients plus the size polynomial's equal share (works on the rows
        of a matrix of coefficients too)."""
        phi, c = coefficients[..., : self.n], coefficients[..., self.n :]
        return phi + (c @ self.at_grand)[..., None] / self.n

    def predict(self, coefficients: np.ndarray) -> np.ndarray:
        return self.rows @ coefficients[: self.n] + self.terms @ coefficients[self.n :]
