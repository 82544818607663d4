"""Additive surrogate games for regression adjustment: f(S) = c + sum_i b_i [i in S] (+ sum_{i<j} g_ij [i,j in S]).

Their Shapley values are exact in closed form: phi_i(f) = b_i + 1/2 sum_j g_ij. Fitted by (slightly ridged)
least squares from sufficient statistics, so that cross-fitting subtracts a fold's rows instead of refitting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RIDGE = 1e-6
"""Ridge penalty relative to the mean diagonal of the Gram matrix: keeps under-determined fits finite."""
MAX_PAIRWISE_FLOPS = 2e10
"""Pairwise terms only while their Gram matrix (training rows x parameters^2) costs at most this many
multiply-adds (about a second on one core): beyond it, a linear surrogate, so time grows smoothly with the players
instead of jumping where pairwise terms would switch on (n = 60: 1,831 parameters)."""


@dataclass
class FittedSurrogate:
    n: int
    pairs: tuple[np.ndarray, np.ndarray] | None
    coef: np.ndarray  # intercept, linear terms, then pair terms

    def predict(self, coalitions: np.ndarray) -> np.ndarray:
        return AdditiveSurrogate.design(coalitions, self.pairs) @ self.coef

    def shapley(self) -> np.ndarray:
        phi = self.coef[1 : self.n + 1].copy()
        if self.pairs is not None:
            g = self.coef[self.n + 1 :]
            np.add.at(phi, self.pairs[0], 0.5 * g)
            np.add.at(phi, self.pairs[1], 0.5 * g)
        return phi


class AdditiveSurrogate:
    """Linear terms always; pairwise terms when at least twice as many coalitions as parameters train it and their
    fit costs at most MAX_PAIRWISE_FLOPS."""

    def __init__(self, n: int, n_train: int):
        self.n = n
        n_pairwise = 1 + n + n * (n - 1) // 2
        affordable = float(n_train) * n_pairwise**2 <= MAX_PAIRWISE_FLOPS
        self.pairs = np.triu_indices(n, 1) if n > 1 and n_train >= 2 * n_pairwise and affordable else None
        self.kind = "pairwise" if self.pairs is not None else "linear"

    @staticmethod
    def design(coalitions: np.ndarray, pairs) -> np.ndarray:
        coalitions = np.asarray(coalitions, dtype=bool)
        cols = [np.ones((len(coalitions), 1)), coalitions.astype(float)]
        if pairs is not None:
            cols.append((coalitions[:, pairs[0]] & coalitions[:, pairs[1]]).astype(float))
        return np.concatenate(cols, axis=1)

    def features(self, coalitions: np.ndarray) -> np.ndarray:
        return self.design(coalitions, self.pairs)

    @staticmethod
    def gram(features: np.ndarray) -> np.ndarray:
        return features.T @ features

    def moments(self, features, targets, empty: float, grand: float) -> tuple[np.ndarray, np.ndarray]:
        """Gram matrix and right-hand side of all rows, with the empty and grand coalitions added."""
        ends = self.features(np.stack([np.zeros(self.n, dtype=bool), np.ones(self.n, dtype=bool)]))
        x = features
        return x.T @ x + ends.T @ ends, x.T @ targets + ends.T @ np.array([empty, grand])

    def solve(self, gram: np.ndarray, rhs: np.ndarray) -> FittedSurrogate:
        ridge = RIDGE * max(np.trace(gram) / len(gram), 1e-12)
        coef = np.linalg.solve(gram + ridge * np.eye(len(gram)), rhs)
        return FittedSurrogate(self.n, self.pairs, coef)
