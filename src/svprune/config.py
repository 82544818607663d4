"""Turn the workflow's configuration sections (plain dicts, as in config/config.yaml) into the library's
settings objects. The workflow validates the whole file against workflow/schemas/config.schema.yaml first."""

from __future__ import annotations

from svprune.strategies import parse
from svprune.train import TrainConfig
from svprune.walk import ShapleyConfig, WalkConfig


def train_config(training: dict) -> TrainConfig:
    """TrainConfig from the ``training`` section."""
    return TrainConfig(
        optimizer=training.get("optimizer", "adam"),
        learning_rate=float(training.get("learning_rate", 1e-3)),
        batch_size=int(training.get("batch_size", 64)),
    )


def walk_config(training: dict, pruning: dict) -> WalkConfig:
    """WalkConfig from the ``training`` and ``pruning`` sections."""
    shapley = pruning.get("shapley", {})
    return WalkConfig(
        root_epochs=int(training.get("root_epochs", 20)),
        retrain_epochs=int(pruning.get("retrain_epochs", 2)),
        theta=pruning.get("theta"),
        stop_below_theta=bool(pruning.get("stop_below_theta", False)),
        eval_split=pruning.get("eval_split", "validation"),
        shapley=ShapleyConfig(
            method=shapley.get("method", "permutation"),
            budget=int(shapley.get("budget", 100)),
            tolerance=shapley.get("tolerance"),
            measure=pruning.get("measure", "accuracy"),
        ),
        train=train_config(training),
        shapley_for_all=bool(pruning.get("shapley_for_all", True)),
    )


def check_strategies(names: list[str]) -> list[str]:
    """Parse every strategy name; an error names the position of the bad entry in pruning.strategies."""
    out = []
    for i, name in enumerate(names):
        try:
            out.append(parse(name).name)
        except ValueError as err:
            raise ValueError(f"config pruning.strategies[{i}]: {err}") from None
    if len(set(out)) != len(out):
        raise ValueError(f"config pruning.strategies lists a strategy twice: {out}")
    return out


def slug(strategy: str) -> str:
    """A file-name-safe form of a strategy name: ``SVbucket(0.2)`` -> ``SVbucket-0.2``."""
    return strategy.replace("(", "-").replace(")", "").replace(" ", "")
