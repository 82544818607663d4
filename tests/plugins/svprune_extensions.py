"""Extensions of svprune written outside the package, as a user would: a Shapley estimator, an importance criterion
(with its strategy family), a model kind and a data set, each one class or function and one registration call.
tests/test_extension.py drives them through the config check, the command line and a walk."""

import numpy as np
import torch
from sklearn.datasets import make_blobs
from torch import nn

from svprune.data import Splits
from svprune.kinds import register
from svprune.kinds.base import ModelKind
from svprune.registry import DATASETS, ESTIMATORS, SCORERS
from svprune.scorers import Scorer
from svprune.shapley import Estimator, Run


class LeaveOneOut(Estimator):
    """Leave-one-out values v(U) - v(U without i): the Shapley value of additive games, n + 1 evaluations."""

    has_stderr = False
    enumerates_small_games = False

    def min_budget(self, n):
        return n + 2

    def _run(self, oracle, rng):
        without = ~np.eye(oracle.n, dtype=bool)
        return Run(oracle.grand - oracle.value(without), np.full(oracle.n, np.nan), oracle.n)


ESTIMATORS.register("leave_one_out", LeaveOneOut)


class L1Norm(Scorer):
    """The L1 norm of each player's incoming weights (the layer Torch-Pruning's criteria score)."""

    def score(self, context):
        module, _ = context.perspective.scored_layer(context.model)
        return module.weight.detach().abs().flatten(1).sum(1).double().cpu().numpy()


SCORERS.register("l1_norm", L1Norm, families={"L1bottom": "bottom_k"})


class TanhMLP(nn.Module):
    def __init__(self, n_in, hidden, n_out):
        super().__init__()
        self.hidden, self.out = nn.Linear(n_in, hidden), nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


class TanhMLPKind(ModelKind):
    """A one-hidden-layer MLP with tanh: its players are the channels of its layer "hidden"."""

    name = "tanh_mlp"
    keys = ("hidden", "layer")
    required = ("hidden", "layer")

    def build(self, section, n_features, n_classes, sample_shape, seed):
        torch.manual_seed(seed)
        return TanhMLP(n_features, int(section["hidden"]), n_classes)

    def describe(self, model):
        if type(model) is not TanhMLP:
            return None
        return {"kind": self.name, "n_in": model.hidden.in_features, "hidden": model.hidden.out_features,
                "n_out": model.out.out_features, "layer": "hidden"}

    def rebuild(self, spec):
        return self.build(spec, spec["n_in"], spec["n_out"], (spec["n_in"],), 0)


register(TanhMLPKind())


def blobs(section):
    """Gaussian blobs: 4 classes in 10 dimensions (options: centers, samples)."""
    options = section.get("options", {})
    x, y = make_blobs(n_samples=int(options.get("samples", 600)), centers=int(options.get("centers", 4)),
                      n_features=10, cluster_std=3.0, random_state=section["split_seed"])
    x, y = x.astype(np.float32), y.astype(np.int64)
    n = len(y) // 5
    return Splits("blobs", x[2 * n:], y[2 * n:], x[:n], y[:n], x[n : 2 * n], y[n : 2 * n], int(y.max()) + 1)


DATASETS.register("blobs", blobs)
