"""Stratified and per-player sampling estimators: the paper's subset sampling, stratified sampling by coalition
size, and Stratified SVARM."""

from svprune.shapley.stratified.sampling import Stratified, Subset
from svprune.shapley.stratified.svarm import AdaptiveSVARM, KernelSVARM, StratifiedSVARM

__all__ = ["AdaptiveSVARM", "KernelSVARM", "Stratified", "StratifiedSVARM", "Subset"]
