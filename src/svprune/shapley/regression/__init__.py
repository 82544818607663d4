"""Regression estimators: KernelSHAP, Leverage SHAP and regression-adjusted Monte Carlo, on the shared paired
coalition design (:mod:`svprune.shapley.design`)."""

from svprune.shapley.regression.estimators import KernelSHAP, LeverageSHAP, RegressionMC

__all__ = ["KernelSHAP", "LeverageSHAP", "RegressionMC"]
