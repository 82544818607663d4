"""Settings records of the library (training, Shapley estimation, the walk) and their construction from the
workflow's configuration sections (plain dicts, as in config/config.yaml). No torch here: the Snakefile and
the table and plot steps import this without the training stack."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from svprune.registry import DEFAULT_BUDGET, ESTIMATORS, MEASURES

OPTIMIZER_NAMES = ("adam", "adamw", "sgd")
REMOVALS = ("mask", "prune")
"""How a channel game removes a coalition's absent channels: zeroed at the inputs of the layers that read them
(fast; refused where that is not exact), or pruned physically for every coalition (slow; exact wherever
Torch-Pruning can prune). See docs/masking.md."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer name (adam, sgd, adamw), learning rate, mini-batch size."""

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZER_NAMES:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {sorted(OPTIMIZER_NAMES)}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a finite number > 0; got {self.learning_rate}")
        if isinstance(self.batch_size, bool) or int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1; got {self.batch_size}")


@dataclass(frozen=True)
class ShapleyConfig:
    """How Shapley values are estimated at each step: estimator name (svprune.registry.ESTIMATORS), budget in
    coalition evaluations (None: the estimator's default, 2^n for exact), an optional tolerance on the standard
    errors, and the measure the games pay."""

    estimator: str = ESTIMATORS.default
    budget: int | None = DEFAULT_BUDGET
    tolerance: float | None = None
    measure: str = MEASURES.default

    def __post_init__(self) -> None:
        ESTIMATORS.check(self.estimator)
        MEASURES.check(self.measure)


@dataclass(frozen=True)
class WalkConfig:
    """Settings of one walk: T0 (root epochs, for the epoch count), T1 (retraining epochs per step), theta,
    whether to stop below theta, the evaluation split, Shapley estimation, training, and whether to value
    the players for strategies that do not need it (for the removed-value curve of random and Wbottom)."""

    root_epochs: int = 20
    retrain_epochs: int = 2
    theta: float | None = None
    stop_below_theta: bool = False
    eval_split: str = "validation"
    layer: int | str | None = None  # MLP: hidden-layer index (default the last); other models: a module path
    removal: str = "mask"  # channel games: "mask" (exact masks only) or "prune" (each coalition pruned physically)
    shapley: ShapleyConfig = field(default_factory=ShapleyConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    shapley_for_all: bool = True

    def __post_init__(self) -> None:
        if self.theta is not None and not (isinstance(self.theta, (int, float)) and 0 <= self.theta <= 1):
            raise ValueError(f"theta is an accuracy threshold in [0, 1]; got {self.theta!r}")
        for name in ("root_epochs", "retrain_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0; got {value!r}")
        if self.removal not in REMOVALS:
            raise ValueError(f"removal must be one of {', '.join(REMOVALS)}; got {self.removal!r}")


@dataclass(frozen=True)
class NetworkConfig:
    """The network experiment (every channel as a player): the layers whose channels are players ("all", or module
    paths), the first samples of the valuation split and of the test split used (None: all), the measure, the
    estimator (with standard errors: the top ``top_k`` are sought until separated; None: ``max_removed``) and its
    budget, the curves' largest k, the criteria ranked against the Shapley values, the random draws, the table's
    ks, and the device."""

    layers: str | tuple = "all"
    samples: int | None = None
    test_samples: int | None = None
    eval_split: str = "validation"
    measure: str = MEASURES.default
    estimator: str = "tmab"
    budget: int = DEFAULT_BUDGET
    top_k: int | None = None
    max_removed: int = 50
    criteria: tuple = ("weight_norm", "taylor", "magnitude")
    random_draws: int = 10
    table_ks: tuple = (1, 5, 10, 20, 30, 50)
    device: str = "cpu"

    def __post_init__(self) -> None:
        ESTIMATORS.check(self.estimator)
        MEASURES.check(self.measure)

    @property
    def k(self) -> int:
        """The top channels sought."""
        return self.max_removed if self.top_k is None else self.top_k


def network_config(network: dict) -> NetworkConfig:
    """NetworkConfig from the ``network`` section (its ``shapley`` subsection flattened)."""
    shapley = network.get("shapley", {})
    layers = network.get("layers")
    return NetworkConfig(**_given(network, {"samples": int, "test_samples": int, "eval_split": str, "measure": str,
                                            "max_removed": int, "criteria": tuple, "random_draws": int,
                                            "table_ks": tuple, "device": str}),
                         **_given(shapley, {"estimator": str, "budget": int, "top_k": int}),
                         **({"layers": layers if layers == "all" else tuple(layers)} if layers else {}))


def _given(section: dict, casts: dict) -> dict:
    """The keys of a config section that are set, cast; the rest take the dataclass's defaults (defined once)."""
    return {key: cast(section[key]) for key, cast in casts.items() if section.get(key) is not None}


def train_config(training: dict) -> TrainConfig:
    """TrainConfig from the ``training`` section."""
    return TrainConfig(**_given(training, {"optimizer": str, "learning_rate": float, "batch_size": int}))


def walk_config(training: dict, pruning: dict) -> WalkConfig:
    """WalkConfig from the ``training`` section and a walk's section (``pruning`` or ``blocks``)."""
    shapley = pruning.get("shapley", {})
    unknown = set(shapley) - {"estimator", "budget", "tolerance"}
    if unknown:
        hint = " (method was renamed to estimator)" if "method" in unknown else ""
        raise ValueError(f"unknown key(s) {sorted(unknown)} in the shapley settings{hint}; they are estimator, budget "
                         "and tolerance")
    estimate = ShapleyConfig(**_given(shapley, {"estimator": str, "tolerance": float}),
                             **_given(pruning, {"measure": str}), budget=_budget(shapley))
    return WalkConfig(**_given(training, {"root_epochs": int}),
                      **_given(pruning, {"retrain_epochs": int, "theta": float, "stop_below_theta": bool,
                                         "eval_split": str, "layer": lambda v: v, "removal": str,
                                         "shapley_for_all": bool}),
                      shapley=estimate, train=train_config(training))


def _budget(shapley: dict) -> int | None:
    """The configured budget; a key set to null (or absent) means the estimator's default (2^n for exact)."""
    return None if shapley.get("budget") is None else int(shapley["budget"])


def repetition_groups(repetitions: int, repetitions_per_job: int) -> list[tuple[int, int]]:
    """The groups [first, last] (inclusive) of repetitions 0..repetitions-1 trained together."""
    if repetitions_per_job < 1:
        raise ValueError(f"repetitions_per_job must be >= 1; got {repetitions_per_job}")
    per_job = repetitions_per_job
    return [(a, min(a + per_job, repetitions) - 1) for a in range(0, repetitions, per_job)]
