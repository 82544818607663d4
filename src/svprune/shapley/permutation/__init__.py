"""Permutation estimators: permutation sampling, antithetic permutations, and antithetic permutations with a
regression adjustment, on one shared sampler; truncated Monte Carlo and its top-k bandit."""

from svprune.shapley.permutation.bandit import TopKBandit
from svprune.shapley.permutation.control_variates import AntitheticRegression
from svprune.shapley.permutation.estimators import Antithetic, AntitheticSamples, Permutation
from svprune.shapley.permutation.sampler import PermutationSampler, marginals, random_permutations
from svprune.shapley.permutation.truncated import TruncatedMC

__all__ = ["Antithetic", "AntitheticRegression", "AntitheticSamples", "Permutation", "PermutationSampler", "TopKBandit", "TruncatedMC", "marginals",
           "random_permutations"]
