"""Surrogate games for regression adjustment: f(S) = g(|S|) + sum_i b_i [i in S] (+ sum_{i<j} g_ij [i,j in S]),
with g a polynomial in the coalition's size (Legendre polynomials of 2|S|/n - 1 of degree 0 and 2..SIZE_DEGREE;
degree 1 is the sum of the linear terms, which a surrogate of the size alone has as one column, b_i all equal).

Their Shapley values are exact in closed form: phi_i(f) = b_i + 1/2 sum_j g_ij + (g(n) - g(0)) / n (a function of
the size alone is a symmetric game). Fitted by (slightly ridged) least squares from sufficient statistics, so that
cross-fitting subtracts a fold's rows instead of refitting.

The size terms cost a handful of parameters whatever the number of players, and take out of the residual what
depends on the size alone, which in most games is most of it: a network's accuracy rises with the units it keeps,
a sum of unanimity games with the size to the power of their orders. Without them, at a thousand players the
residual's variance swamped the estimate (`benchmarks/estimator_scaling.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

RIDGE = 1e-6
"""Ridge penalty relative to the mean diagonal of the Gram matrix: keeps under-determined fits finite."""
SIZE_DEGREE = 8
"""Degree of the surrogate's polynomial in the coalition's size."""
MAX_PAIRWISE_FLOPS = 2e10
"""Pairwise terms only while their Gram matrix (training rows x parameters^2) costs at most this many
multiply-adds (about a second on one core): beyond it, a linear surrogate, so time grows smoothly with the players
instead of jumping where pairwise terms would switch on (n = 60: 1,831 parameters)."""


SIZE_TERMS = [0, *range(2, SIZE_DEGREE + 1)]


def legendre_of_size(sizes, n: int, degree: int = SIZE_DEGREE) -> np.ndarray:
    """Legendre polynomials of degree 0..``degree`` of 2 size / n - 1, one row per size: the regression
    estimators' terms in the coalition's size."""
    return np.polynomial.legendre.legvander(2.0 * np.asarray(sizes, dtype=float) / max(n, 1) - 1.0, degree)


def size_basis(sizes: np.ndarray, n: int) -> np.ndarray:
    """Legendre polynomials of degree 0 and 2..SIZE_DEGREE of 2 size / n - 1, one row per size."""
    return legendre_of_size(sizes, n)[:, SIZE_TERMS]


@dataclass
class FittedSurrogate:
    n: int
    members: bool
    pairs: tuple[np.ndarray, np.ndarray] | None
    coef: np.ndarray  # size polynomial (degree 0, 2..SIZE_DEGREE), linear terms (or their sum), then pair terms

    def predict(self, coalitions: np.ndarray) -> np.ndarray:
        return AdditiveSurrogate.design(coalitions, self.members, self.pairs) @ self.coef

    def shapley(self) -> np.ndarray:
        k = len(SIZE_TERMS)
        ends = size_basis(np.array([0, self.n]), self.n)
        linear = self.coef[k : k + self.n] if self.members else np.full(self.n, self.coef[k])
        phi = linear + (ends[1] - ends[0]) @ self.coef[:k] / self.n
        if self.pairs is not None:
            g = self.coef[k + self.n :]
            np.add.at(phi, self.pairs[0], 0.5 * g)
            np.add.at(phi, self.pairs[1], 0.5 * g)
        return phi


class AdditiveSurrogate:
    """Size terms always; linear terms when at least twice as many coalitions as parameters train them (fewer
    leave an under-determined fit whose residuals on held-out coalitions swamp the estimate: at 600 evaluations of
    500 players the error was 1.7); pairwise terms likewise, when their fit costs at most MAX_PAIRWISE_FLOPS."""

    def __init__(self, n: int, n_train: int):
        self.n = n
        n_linear = len(SIZE_TERMS) + n
        n_pairwise = n_linear + n * (n - 1) // 2
        affordable = float(n_train) * n_pairwise**2 <= MAX_PAIRWISE_FLOPS
        self.members = n_train >= 2 * n_linear
        self.pairs = np.triu_indices(n, 1) if self.members and n > 1 and n_train >= 2 * n_pairwise and affordable \
            else None
        self.kind = "pairwise" if self.pairs is not None else "linear" if self.members else "size"

    @staticmethod
    def design(coalitions: np.ndarray, members: bool, pairs) -> np.ndarray:
        coalitions = np.asarray(coalitions, dtype=bool)
        sizes = coalitions.sum(1)
        linear = coalitions.astype(float) if members else sizes[:, None].astype(float)
        cols = [size_basis(sizes, coalitions.shape[1]), linear]
        if pairs is not None:
            cols.append((coalitions[:, pairs[0]] & coalitions[:, pairs[1]]).astype(float))
        return np.concatenate(cols, axis=1)

    def features(self, coalitions: np.ndarray) -> np.ndarray:
        return self.design(coalitions, self.members, self.pairs)

    @staticmethod
    def gram(features: np.ndarray) -> np.ndarray:
        """features' Gram matrix. The columns after the size terms are whole numbers (memberships, or the size),
        so their block is a matrix of integers, exact in single precision while below 2^24 and twice as fast (at
        2,000 players this block is most of an estimate's time)."""
        k = len(SIZE_TERMS)
        basis, members = features[:, :k], features[:, k:]
        out = np.empty((features.shape[1],) * 2)
        out[:k] = basis.T @ features
        out[k:, :k] = out[:k, k:].T
        largest = float(members.max()) if members.size else 0.0
        if len(features) * largest**2 < 1 << 24:
            single = members.astype(np.float32)
            out[k:, k:] = single.T @ single
        else:
            out[k:, k:] = members.T @ members
        return out

    def end_moments(self, empty: float, grand: float) -> tuple[np.ndarray, np.ndarray]:
        """Gram matrix and right-hand side of the empty and grand coalitions (to which the rows' add up)."""
        ends = self.features(np.stack([np.zeros(self.n, dtype=bool), np.ones(self.n, dtype=bool)]))
        return ends.T @ ends, ends.T @ np.array([empty, grand])

    def solve(self, gram: np.ndarray, rhs: np.ndarray) -> FittedSurrogate:
        ridge = RIDGE * max(np.trace(gram) / len(gram), 1e-12)
        coef = cho_solve(cho_factor(gram + ridge * np.eye(len(gram))), rhs)  # symmetric positive definite
        return FittedSurrogate(self.n, self.members, self.pairs, coef)
