"""The registries: the one place where each extensible name lives, with its default.

Estimators, scorers (importance criteria, with the strategy families they rank for), selection rules, measures,
data sets, model kinds (filled by :mod:`svprune.kinds`) and study games each have one :class:`Registry`. The
config schema's enums and defaults (:mod:`svprune.schema`), the config checks, the command line's choices and
help, and the docs' lists are read from here. No numpy or torch at import: an entry is a ``"module:attribute"``
path, loaded when first used, so the Snakefile can plan a workflow from the names alone.

Extending svprune is one class (or function) and one call, from your own module::

    from svprune.registry import ESTIMATORS
    ESTIMATORS.register("my_estimator", MyEstimator)         # or "mypackage.module:MyEstimator"

and naming that module under ``plugins:`` in the config (or ``svprune --plugins mypackage.module ...``), so that
the workflow's planning and every job import it. See docs/extending.md.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

PLUGINS_ENV = "SVPRUNE_PLUGINS"
"""Modules (comma-separated) that every svprune process imports first: the workflow sets it from ``plugins:``."""


class RegistryError(ValueError):
    """An unknown or doubly registered name; the message lists the registered names."""


@dataclass
class Entry:
    """One registered name: the object (or its ``"module:attribute"`` path, loaded on first use), a one-line
    description, and metadata the registry's users read (e.g. a scorer's strategy families)."""

    name: str
    target: Any
    description: str = ""
    meta: dict = field(default_factory=dict)

    def load(self) -> Any:
        if isinstance(self.target, str):
            module, _, attribute = self.target.partition(":")
            obj = importlib.import_module(module)
            for part in attribute.split("."):
                obj = getattr(obj, part)
            self.target = obj
        return self.target


class Registry:
    """Names of one kind of thing (``what``: "Shapley estimator", "measure"...), in registration order, with an
    optional default (one of the names)."""

    def __init__(self, what: str, default: str | None = None):
        self.what, self._default, self._entries = what, default, {}

    def register(self, name: str, target: Any = None, description: str = "", replace: bool = False, **meta):
        """Register ``target`` (an object or a ``"module:attribute"`` path) as ``name``; without a target, a
        decorator. A name already taken is refused unless ``replace``."""
        if target is None:
            def decorate(obj):
                self.register(name, obj, description, replace, **meta)
                return obj

            return decorate
        if not isinstance(name, str) or not name.strip():
            raise RegistryError(f"a {self.what} needs a non-empty name; got {name!r}")
        if name in self._entries and not replace:
            raise RegistryError(f"{self.what} {name!r} is registered already (pass replace=True to override it)")
        if not description and not isinstance(target, str):
            description = ((getattr(target, "__doc__", None) or "").strip().split("\n\n")[0]).replace("\n", " ")
        self._entries[name] = Entry(name, target, description, dict(meta))
        return self._entries[name]

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a plugin's tests clean up after themselves with it)."""
        self.check(name)
        del self._entries[name]

    @property
    def default(self) -> str:
        if self._default is None:
            raise RegistryError(f"{self.what}s have no default")
        return self._default

    @property
    def has_default(self) -> bool:
        return self._default is not None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def entries(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, name, field: str | None = None) -> str:
        """``name`` if registered; else an error naming the field and listing the registered names."""
        if name not in self._entries:
            where = f"config {field}: " if field else ""
            raise RegistryError(f"{where}unknown {self.what} {name!r}; choose one of {', '.join(self._entries)}")
        return name

    def entry(self, name, field: str | None = None) -> Entry:
        return self._entries[self.check(name, field)]

    def get(self, name, field: str | None = None) -> Any:
        """The registered object (loaded on first use)."""
        return self.entry(name, field).load()


ESTIMATORS = Registry("Shapley estimator", default="antithetic_samples")
"""Shapley estimators (subclasses of svprune.shapley.Estimator), by the name configs and the CLI use. The default,
antithetic permutations drawn per unit of samples (antithetic permutations where a game has no sample units), has
the lowest error at equal wall time on the games of a pruning walk's steps (benchmarks/default_estimator.py;
README, "Choosing the default estimator, and auto")."""
for _name, _path in [
    ("exact", "svprune.shapley.base:Exact"),
    ("permutation", "svprune.shapley.permutation:Permutation"),
    ("antithetic", "svprune.shapley.permutation:Antithetic"),
    ("antithetic_samples", "svprune.shapley.permutation:AntitheticSamples"),
    ("subset", "svprune.shapley.stratified:Subset"),
    ("stratified", "svprune.shapley.stratified:Stratified"),
    ("kernel", "svprune.shapley.regression:KernelSHAP"),
    ("leverage", "svprune.shapley.regression:LeverageSHAP"),
    ("svarm", "svprune.shapley.stratified:StratifiedSVARM"),
    ("svarm_kernel", "svprune.shapley.stratified:KernelSVARM"),
    ("svarm_adaptive", "svprune.shapley.stratified:AdaptiveSVARM"),
    ("regression", "svprune.shapley.regression:RegressionMC"),
    ("antithetic_regression", "svprune.shapley.permutation:AntitheticRegression"),
    ("tmc", "svprune.shapley.permutation:TruncatedMC"),
    ("tmab", "svprune.shapley.permutation:TopKBandit"),
    ("auto", "svprune.shapley.auto:Auto"),
]:
    ESTIMATORS.register(_name, _path)

DEFAULT_BUDGET = 20_000
"""Coalition evaluations of one estimate when none is given (an estimate enumerates all 2^n coalitions exactly
where 2^n is within the budget)."""

RULES = Registry("selection rule")
"""How a strategy turns one score per player into the players pruned in a step (svprune.strategies). ``param``:
the rule's parameter, an integer count ``k`` >= 1 or a fraction ``p`` in (0, 1]."""
RULES.register("bottom_k", "svprune.strategies:BottomK", "the k players of lowest score", param="k")
RULES.register("bottom_p", "svprune.strategies:BottomP", "every player of score < p/|S|; if none, the lowest one",
               param="p")
RULES.register("bucket", "svprune.strategies:Bucket",
               "the largest set of lowest-scored players whose scores sum below p; if empty, the lowest one", param="p")

SCORERS = Registry("importance criterion")
"""Importance criteria (svprune.scorers): one score per player, lower pruned first; each names the strategy
families that rank by it, as ``families={name: rule}``, which become the strategy names configs use."""
SCORERS.register("shapley", "svprune.scorers:ShapleyScorer", "the players' Shapley values (normalised)",
                 families={"SVbottom": "bottom_k", "SVbottomP": "bottom_p", "SVbucket": "bucket"})
SCORERS.register("random", "svprune.scorers:RandomScorer", "a uniformly random order", families={"random": "bottom_k"})
SCORERS.register("weight_norm", "svprune.scorers:WeightNorm",
                 "the L2 norm of each player's incoming weights (filter norm for channels)",
                 families={"Wbottom": "bottom_k"})
SCORERS.register("magnitude", "svprune.scorers:TPMagnitude", "group L2 magnitude (Torch-Pruning)",
                 families={"TPmagnitude": "bottom_k"})
SCORERS.register("taylor", "svprune.scorers:TPTaylor", "first-order Taylor importance (Torch-Pruning)",
                 families={"TPtaylor": "bottom_k"})
SCORERS.register("bn_scale", "svprune.scorers:TPBNScale", "batch-norm scale (Torch-Pruning)",
                 families={"TPbnscale": "bottom_k"})

MEASURES = Registry("measure", default="accuracy")
"""What a game on a network pays: a measure of the masked model's predictions on the evaluation data
(svprune.measures)."""
MEASURES.register("accuracy", "svprune.measures:Accuracy", "share of samples classified correctly")
MEASURES.register("balanced_accuracy", "svprune.measures:BalancedAccuracy", "mean of the per-class recalls")
MEASURES.register("neg_cross_entropy", "svprune.measures:NegCrossEntropy",
                  "mean log-likelihood of the true labels (minus the cross-entropy)")

DATASETS = Registry("data set", default="digits")
"""Data sets: functions of the config's ``dataset`` section that return svprune.data.Splits; ``files``: the section's
keys that name files the loader reads (checked to exist before any job)."""
DATASETS.register("digits", "svprune.data:load_digits", "scikit-learn's embedded 8x8 digits (offline)")
DATASETS.register("mnist", "svprune.data:load_mnist", "MNIST, from local IDX files or downloaded")
DATASETS.register("fashion-mnist", "svprune.data:load_fashion_mnist", "Fashion-MNIST, from local IDX files or downloaded")
DATASETS.register("20newsgroups", "svprune.data:load_newsgroups", "20 Newsgroups as TF-IDF features")
DATASETS.register("arrays", "svprune.data:load_arrays", "your own arrays: an .npz of x_train, y_train, x_test, y_test",
                  files={"path": "data arrays (.npz)"})
DATASETS.register("imagefolder", "svprune.data:load_imagefolder", "your own images: root/train/<class>/, root/test/")

KINDS = Registry("model kind", default="mlp")
"""Model kinds (svprune.kinds.ModelKind instances), filled by svprune.kinds on import."""

GAMES = Registry("study game")
"""The estimator study's games (svprune.study): functions of a seed that return a game."""
GAMES.register("security_council", "svprune.study:security_council", "Security Council voting game (15 players)")
GAMES.register("perturbed_uniform", "svprune.study:perturbed_uniform", "Perturbed uniform game (12 players)")
GAMES.register("unanimity40", "svprune.study:unanimity40", "Sum of 50 unanimity games (40 players)")
GAMES.register("neuron16", "svprune.study:neuron16", "16 hidden units of an MLP on digits")
GAMES.register("neuron40", "svprune.study:neuron40", "40 hidden units of an MLP on digits")
GAMES.register("voting60", "svprune.study:voting60", "Weighted voting game (60 players)")
GAMES.register("channels40", "svprune.study:channels40", "Every channel of a small CNN on digits (40 in 3 layers)",
               reference_evaluations=400_000)
GAMES.register("neuron40_ce", "svprune.study:neuron40_ce", "40 hidden units of an MLP on digits, cross-entropy")
GAMES.register("channels32", "svprune.study:channels32", "32 channels of a small CNN's last convolution on digits")


def strategy_families() -> dict[str, tuple[str, str, str]]:
    """Every strategy family: name -> (scorer, rule, description), from the scorers' registrations."""
    out = {}
    for entry in SCORERS.entries():
        for family, rule in entry.meta.get("families", {}).items():
            RULES.check(rule)
            out[family] = (entry.name, rule, f"{RULES.entry(rule).description}, by {entry.description}")
    return out


def load_plugins(modules=None) -> list[str]:
    """Import the plugin modules (which register their extensions): ``modules`` and those named in the
    SVPRUNE_PLUGINS environment variable. An unimportable module is an error that names it."""
    names = [m for m in (modules or []) if m]
    names += [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
    loaded = []
    for name in dict.fromkeys(names):
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise RegistryError(f"plugin module {name!r} cannot be imported ({err}); put its directory on "
                                "PYTHONPATH, or install its package") from None
        loaded.append(name)
    return loaded
