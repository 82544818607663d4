"""svprune: Shapley values of neural-network components, and pruning by them."""
__version__ = "0.1.0"
