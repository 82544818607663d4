"""The workflow's plan of a configuration: validation against the schema, the checks the schema cannot express
(each error names the config field), and what the rules read of it (:class:`Plan`), all before any job. No torch
here: building the job graph needs neither torch nor numba."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from svprune.files import RERUN_COMMAND
from svprune.registry import DATASETS, PLUGINS_ENV, RegistryError, load_plugins
from svprune.schema import has_key
from svprune.strategies import parse


class ConfigError(ValueError):
    """A configuration value that the workflow cannot run with; the message names the field."""


def check_strategies(names: list[str], field: str = "pruning.strategies") -> list[str]:
    """Parse every strategy name; an error names the position of the bad entry, e.g. pruning.strategies[2]."""
    out = []
    for i, name in enumerate(names):
        try:
            out.append(parse(name).name)
        except ValueError as err:
            raise ConfigError(f"config {field}[{i}]: {err}") from None
    if len(set(out)) != len(out):
        raise ConfigError(f"config {field} lists a strategy twice: {out}")
    return out


def check_figures(figures: list[list[str]], strategies: list[str], field: str = "pruning.figures") -> list[list[str]]:
    """Each figure is a list of strategy names that ``strategies`` (already checked) lists; names are
    normalised (``SVbucket(.3)`` -> ``SVbucket(0.3)``) so that a plot finds its walks."""
    out = []
    for i, group in enumerate(figures):
        if not group:
            raise ConfigError(f"config {field}[{i}] is empty; list the strategies to plot together")
        names = check_strategies(group, field=f"{field}[{i}]")
        for j, name in enumerate(names):
            if name not in strategies:
                raise ConfigError(
                    f"config {field}[{i}][{j}] names {group[j]!r}, which pruning.strategies does not list "
                    f"({', '.join(strategies)})"
                )
        out.append(names)
    return out


def check_outdir(outdir: str, project: str | os.PathLike, field: str = "outdir") -> str:
    """The output directory: relative, below the project directory, not the project directory itself.
    Returns it normalised (``results/x/`` -> ``results/x``)."""
    if not isinstance(outdir, str) or not outdir.strip():
        raise ConfigError(f"config {field} is empty; give a directory below the project, e.g. results/myrun")
    if os.path.isabs(outdir):
        raise ConfigError(f"config {field} {outdir!r} is absolute; give a directory relative to the project "
                          f"({project}), e.g. results/myrun (a link there can point elsewhere)")
    norm = os.path.normpath(outdir)
    if norm == "." or norm == ".." or norm.startswith(".." + os.sep):
        raise ConfigError(f"config {field} {outdir!r} is not below the project directory ({project}); "
                          "give one such as results/myrun")
    if norm.split(os.sep)[0] in {"workflow", "config", "envs", "src", "tests", "profiles", ".snakemake", ".git"}:
        raise ConfigError(f"config {field} {outdir!r} would write into the project's own {norm.split(os.sep)[0]}/ "
                          "directory; give one such as results/myrun")
    return norm


def check_input_file(path, project: str | os.PathLike, field: str, what: str = "file") -> str:
    """A file the run reads: relative paths must stay inside the project, absolute ones are taken as written
    (explicitly elsewhere), and either must exist. Returns the path."""
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"config {field} is empty; name the {what}, or set it to null")
    if not os.path.isabs(path):
        norm = os.path.normpath(path)
        if norm == ".." or norm.startswith(".." + os.sep):
            raise ConfigError(f"config {field} {path!r} points outside the project ({project}); give a path inside it, "
                              "or an absolute path to read a file elsewhere on purpose")
    full = Path(path) if os.path.isabs(path) else Path(project, path)
    if not full.is_file():
        raise ConfigError(f"config {field}: {what} {path!r} not found (looked for {full})")
    return path


def load_companion(path, config: dict, project: str | os.PathLike, field: str = "companion") -> dict:
    """Read a companion overlay file: it must exist, hold a mapping, and set an outdir of its own."""
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"config {field} is empty; name an overlay file or set it to null")
    full = Path(project, path) if not os.path.isabs(path) else Path(path)
    if not full.is_file():
        raise ConfigError(f"config {field}: file {path!r} not found (looked for {full})")
    try:
        overlay = yaml.safe_load(full.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"config {field}: {path} is not valid YAML ({err})") from None
    if not isinstance(overlay, dict):
        raise ConfigError(f"config {field}: {path} must hold a mapping of config keys; "
                          f"it holds a {type(overlay).__name__}")
    own = overlay.get("outdir")
    if not own:
        raise ConfigError(f"config {field}: {path} sets no outdir; its results would overwrite this experiment's "
                          f"({config.get('outdir')!r}). Give it one, e.g. outdir: results/companion")
    if os.path.normpath(own) == os.path.normpath(config.get("outdir", "results")):
        raise ConfigError(f"config {field}: {path} has the same outdir as this experiment ({own!r}); "
                          "give it its own")
    check_outdir(own, project, field=f"{field} ({path}) outdir")
    return overlay


def leaf_keys(tree: dict, prefix: str = "") -> list[str]:
    """Dotted names of the leaves of a nested mapping (lists count as leaves)."""
    out = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        out += leaf_keys(value, name + ".") if isinstance(value, dict) and value else [name]
    return out


def inherited_keys(base: dict, overlays: list[dict]) -> list[str]:
    """The keys that ``base`` sets and none of ``overlays`` does: what a config given with --configfile
    silently inherits from the workflow's default config."""
    return [key for key in leaf_keys(base) if not any(has_key(o or {}, key) for o in overlays)]


def slug(strategy: str) -> str:
    """A file-name-safe form of a strategy name: ``SVbucket(0.2)`` -> ``SVbucket-0.2``."""
    return strategy.replace("(", "-").replace(")", "").replace(" ", "")


def check_model(model: dict, gridsearch: dict, project: str | os.PathLike = ".") -> None:
    """What each model kind needs (svprune.kinds), and what it cannot do, before any job: an error names the field.
    What only building the model can tell (a layer whose channels cannot be players, a model that does not run
    on the data) is the first job's to check (`svprune check-model`), before any training."""
    from svprune.kinds import KindError, kind_of_section

    try:
        kind = kind_of_section(model)
        kind.check(model)
    except KindError as err:
        raise ConfigError(str(err)) from None
    if not kind.trains_grid and gridsearch.get("enabled", True):
        raise ConfigError(f"config gridsearch.enabled: the grid search trains MLPs of each hidden size; set it to "
                          f"false for model.kind {kind.name}")
    checkpoint = model.get("checkpoint")
    if checkpoint is not None:
        try:
            check_input_file(checkpoint, project, "model.checkpoint", "weights file")
        except ConfigError as err:
            raise ConfigError(f"{err}; give a file written by torch.save(model.state_dict(), path), or leave it unset "
                              "to train the root models") from None


def check_network(network: dict) -> None:
    """The network experiment's model section (its kind's checks) and criteria, before any job."""
    from svprune.kinds import KindError, kind_of_section

    try:
        kind = kind_of_section(network["model"])
        kind.check(network["model"])
    except KindError as err:
        raise ConfigError(str(err).replace("config model.", "config network.model.")) from None
    if kind.name in ("mlp", "residual"):
        raise ConfigError(f"config network.model.kind: the network experiment values channels; a {kind.name} model "
                          "has units or blocks as players (use kind cnn, torchvision or python)")
    for name, why in (("shapley", "the experiment ranks by the Shapley values already"),
                      ("random", "random rankings are drawn by network.random_draws")):
        if name in network["criteria"]:
            raise ConfigError(f"config network.criteria: remove {name!r}: {why}")


NOT_RESULTS = ("outdir", "companion", "training.threads", "pruning.figures", "resources")
"""Config keys (or sections) that change no number (where results go, threads, which plots group what, cluster
resources): the inherited-settings warning leaves them out and names only what changes results."""


@dataclass
class Plan:
    """What the workflow's rules read of a checked configuration."""

    out: str
    strategies: list[str]
    figures: list[list[str]]
    block_strategies: list[str]
    kind: object
    companion: dict | None
    seeds: list[int]
    rerun: str
    warnings: list[str] = field(default_factory=list)

    def slugs(self, strategies: list[str]) -> dict[str, str]:
        return {slug(s): s for s in strategies}


def _unread(config: dict, key: str) -> bool:
    """Whether the run never reads ``key``: a key of a disabled section, or a model key the model's kind does not
    read."""
    section, _, rest = key.partition(".")
    if isinstance(config.get(section), dict) and config[section].get("enabled") is False:
        return True
    if section == "model" and rest:
        from svprune.kinds import kind_of_section

        kind = kind_of_section(config["model"])
        return rest.split(".")[0] not in {*kind.keys, *kind.required, "kind", "layer", "removal", "checkpoint"}
    return False


def _inherited_warning(project, overlays: list, config: dict) -> str | None:
    with open(os.path.join(project, "config", "config.yaml")) as handle:
        base = yaml.safe_load(handle)
    loaded = []
    for path in overlays:
        with open(path) as handle:
            loaded.append(yaml.safe_load(handle))
    inherited = [k for k in inherited_keys(base, loaded)
                 if not any(k == r or k.startswith(r + ".") for r in NOT_RESULTS) and not _unread(config, k)]
    if not inherited:
        return None
    sections: dict[str, list[str]] = {}
    for key in inherited:
        section, _, rest = key.partition(".")
        sections.setdefault(section, []).append(rest)
    grouped = "; ".join(section if rest == [""] else f"{section}: {', '.join(rest)}" for section, rest in sections.items())
    return (f"The config inherits {len(inherited)} setting(s) that change results from config/config.yaml (the "
            f"digits study), which --configfile does not set: {grouped}. Set them in your file, or pass "
            "--replace-workflow-config to start from the schema's defaults instead.")


def plan(config: dict, project, schema_path, overlays=(), replace_workflow_config: bool = False,
         is_module: bool = False) -> Plan:
    """Validate ``config`` (defaults filled in place), import its plugins, check what the schema cannot, and
    return the plan; ``overlays``: the files given with --configfile (for the inherited-settings warning and the
    rerun command). Errors are ConfigError, naming the field."""
    from svprune.kinds import kind_of_section
    from svprune.schema import SchemaError, validate

    try:
        load_plugins(config.get("plugins") or [])
        validate(config, schema_path)
    except (SchemaError, RegistryError) as err:
        raise ConfigError(str(err)) from None
    out = check_outdir(config["outdir"], project)
    strategies = check_strategies(config["pruning"]["strategies"])
    figures = check_figures(config["pruning"]["figures"], strategies) or [strategies]
    block_strategies = check_strategies(config["blocks"]["strategies"], field="blocks.strategies")
    check_model(config["model"], config["gridsearch"], project)
    if config["network"]["enabled"]:
        check_network(config["network"])
    study = config["estimator_study"]
    if study.get("peers") and study["enabled"]:
        check_input_file(study["peers"], project, "estimator_study.peers", "peer results (CSV)")
    for key, what in DATASETS.entry(config["dataset"]["name"]).meta.get("files", {}).items():
        check_input_file(config["dataset"].get(key), project, f"dataset.{key}", what)
    companion = config.get("companion")
    overlay = load_companion(companion, config, project) if companion is not None else None
    warnings = []
    if overlays and not replace_workflow_config and not is_module:
        warning = _inherited_warning(project, overlays, config)
        warnings += [warning] if warning else []
    files = [os.path.relpath(p) if not os.path.relpath(p).startswith("..") else str(p) for p in overlays]
    rerun = " ".join(["snakemake", "--cores", "all", *(x for p in files for x in ("--configfile", shlex.quote(p)))])
    seeds = [config["seed"] + r for r in range(config["pruning"]["repetitions"])]
    return Plan(out, strategies, figures, block_strategies, kind_of_section(config["model"]), overlay, seeds, rerun,
                warnings)


def job_environment(project, plan_: Plan, config: dict) -> dict:
    """The environment every job inherits: this repository's src/ on PYTHONPATH, the plugins to import, and the
    command that reruns the workflow (for advice in job errors)."""
    src = os.path.join(project, "src")
    return {
        "PYTHONPATH": os.pathsep.join(p for p in [src, os.environ.get("PYTHONPATH", "")] if p),
        PLUGINS_ENV: ",".join(config.get("plugins") or []),
        RERUN_COMMAND: plan_.rerun,
    }
