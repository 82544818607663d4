"""Command-line interface: one subcommand per workflow step, usable without Snakemake.

Settings come as JSON strings of the config file's sections (``--training '{"root_epochs": 20}'``), so a
rule passes exactly the part of the configuration its step depends on. Outputs are written atomically.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from svprune.files import atomic_path
from svprune.registry import DEFAULT_BUDGET, ESTIMATORS, GAMES, MEASURES, PLUGINS_ENV, RegistryError, load_plugins
from svprune.settings import REMOVALS, NetworkConfig

log = logging.getLogger("svprune")


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _setup(threads: int, needs_torch: bool) -> None:
    if threads < 1:
        raise ValueError(f"--threads must be >= 1; got {threads}")
    if not needs_torch:  # tables and plots run without the training stack
        return
    import numba
    import torch

    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def _write_csv(frame, path: str) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _write_text(text: str, path: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def cmd_prepare(args) -> None:
    from svprune.data import load_splits

    splits = load_splits(**args.dataset)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    splits.save(args.out)
    log.info("%s: %d train, %d validation, %d test samples of shape %s, %d classes", splits.name,
             len(splits.y_train), len(splits.y_val), len(splits.y_test), list(splits.sample_shape), splits.n_classes)


def _root_model(section: dict, splits, seed: int):
    """The root model a model section describes, and the splits shaped as its inputs."""
    from svprune.kinds import kind_of_section
    from svprune.models import model_from_config

    kind = kind_of_section(section)
    model = model_from_config(section, splits.n_features, splits.n_classes, seed=seed, sample_shape=splits.sample_shape)
    return model, splits.shaped(kind.input_shape(section, splits.sample_shape))


def _inputs_for(model, splits):
    """The splits shaped as ``model``'s inputs (its kind's rule; flat for svprune's own kinds)."""
    from svprune.kinds import KindError, kind_of_model

    try:
        kind = kind_of_model(model)
    except KindError:
        return splits
    return splits.shaped(kind.input_shape(kind.describe(model), splits.sample_shape))


def cmd_train_root(args) -> None:
    from svprune.settings import train_config
    from svprune.data import Splits
    from svprune.models import save_checkpoint
    from svprune.train import accuracy, as_tensors, train

    splits = Splits.load(args.data)
    t = args.training
    device = t.get("device", "cpu")
    model, splits = _root_model(args.model, splits, args.seed)
    model.to(device)
    x, y = as_tensors(*splits.split("train"), device=device)
    xv, yv = as_tensors(*splits.split("validation"), device=device)
    train(model, x, y, int(t.get("root_epochs", 20)), seed=args.seed, config=train_config(t),
          on_epoch=lambda e, mod: log.info("root seed %d epoch %d: validation accuracy %.4f", args.seed, e,
                                           accuracy(mod, xv, yv)))
    save_checkpoint(model.cpu(), args.out, seed=args.seed, epochs=int(t.get("root_epochs", 20)),
                    made_by={"model": args.model, "training": t})


def _check_roots(paths, models, section: dict, splits) -> None:
    """Each root checkpoint must hold the model the config's model section describes for these data."""
    import torch

    from svprune.kinds import kind_of_section
    from svprune.models import model_from_config, model_spec
    from svprune.files import rerun_command

    kind = kind_of_section(section)
    try:
        with torch.device("meta"):  # the description only: no memory, no initialisation
            reference = model_from_config(section, splits.n_features, splits.n_classes, 0, splits.sample_shape)
    except Exception:  # noqa: BLE001 - a builder that needs real tensors
        reference = model_from_config(section, splits.n_features, splits.n_classes, 0, splits.sample_shape)
    expected = kind.describe(reference)
    rerun = rerun_command()
    for path, model in zip(paths, models):
        got = model_spec(model)
        if got != expected:
            raise ValueError(f"{path} holds a {got.get('kind')} model {got}, but this run's config describes "
                             f"{expected}: it is not a root model of this configuration (a file copied from another "
                             f"run?). Delete it and run `{rerun}` again, which rebuilds it")


def _check_made_for(paths, metas, seeds, training: dict) -> None:
    """Each root must have been made for its seed, with this walk's training settings (where it records them)."""
    from svprune.files import rerun_command

    rerun = rerun_command()
    for path, meta, seed in zip(paths, metas, seeds):
        made_by = meta.get("made_by") or {}
        problems = []
        if "seed" in meta and int(meta["seed"]) != int(seed):
            problems.append(f"seed {meta['seed']} where this walk's is {seed}")
        if "training" in made_by and training and made_by["training"] != training:
            problems.append(f"training {made_by['training']} where this run's is {training}")
        if problems:
            raise ValueError(f"{path} was made with {'; '.join(problems)}: it is not this run's root model (a file "
                             f"copied from another run?). Delete it and run `{rerun}` again, which rebuilds it")


def cmd_walk(args) -> None:
    import pandas as pd

    from svprune.data import Splits
    from svprune.models import load_checkpoint
    from svprune.settings import walk_config
    from svprune.strategies import parse
    from svprune.walk import prune_walks

    if len(args.root) != len(args.seed):
        raise ValueError(f"{len(args.root)} root checkpoints (--root) for {len(args.seed)} seeds (--seed); give one "
                         "seed per root model")
    strategy = parse(args.strategy)
    cfg = walk_config(args.training, args.pruning)
    splits = Splits.load(args.data)
    loaded = [load_checkpoint(path) for path in args.root]
    models = [model for model, _ in loaded]
    if args.model:
        _check_roots(args.root, models, args.model, splits)
    _check_made_for(args.root, [meta for _, meta in loaded], args.seed, args.training)
    splits = _inputs_for(models[0], splits)
    partial = f"{args.out}.partial.csv"

    def keep(frames):  # each step's records, so that a walk that fails loses none of them
        _write_csv(pd.concat(frames, ignore_index=True), partial)

    try:
        walks = prune_walks(models, splits, strategy, seeds=args.seed, config=cfg,
                            walk_ids=[f"{strategy.name}/seed{s}" for s in args.seed],
                            device=args.training.get("device", "cpu"), on_step=keep)
    except Exception as err:
        if Path(partial).exists():
            raise type(err)(f"{err} (the records of the steps before the failure are in {partial})") from err
        raise
    _write_csv(pd.concat(walks, ignore_index=True), args.out)
    Path(partial).unlink(missing_ok=True)


def _model_for_values(args):
    """The model of `svprune values`: a checkpoint, or a factory of the user's with --weights."""
    from svprune.kinds.python import FACTORY, build_from_factory
    from svprune.models import load_checkpoint, load_weights

    if FACTORY.match(args.model) and not Path(args.model).exists():
        if not args.weights:
            raise ValueError(f"--model {args.model} is a factory: give its trained weights with --weights FILE "
                             "(a torch.save(model.state_dict()) file)")
        model = build_from_factory(args.model, args.kwargs, 0, args.input_shape)
        return load_weights(model, args.weights).to(args.device)
    if args.weights:
        raise ValueError("--weights goes with a factory (--model package.module:function); a checkpoint holds its "
                         "own weights")
    return load_checkpoint(args.model, map_location=args.device)[0]


def cmd_values(args) -> None:
    import numpy as np
    import pandas as pd

    from svprune.data import Splits
    from svprune.perspectives import perspective_for
    from svprune.shapley import shapley_values
    from svprune.train import as_tensors

    splits = Splits.load(args.data)
    model = _model_for_values(args)
    splits = _inputs_for(model, splits)
    x, y = as_tensors(*splits.split(args.split), device=args.device)
    game = perspective_for(model, args.layer, example=x[:1], removal=args.removal).game(model, x, y, args.measure)
    est = shapley_values(game, args.estimator, args.budget, seed=args.seed, tolerance=args.tolerance)
    normalized, ok = est.normalized()
    frame = pd.DataFrame({
        "player": range(game.n_players), "shapley": est.values, "stderr": est.stderr,
        "normalized": normalized if ok else float("nan"),
    })
    log.info("%d players; %s of the whole model %.4f, with no player %.4f (v(U) = %.4f); %s with %d sampling units: %d "
             "coalition evaluations; values from %.4f to %.4f", game.n_players, game.measure,
             est.grand_value + game.empty_measure, game.empty_measure, est.grand_value, est.estimator, est.n_units,
             est.n_evaluations, est.values.min(initial=np.inf), est.values.max(initial=-np.inf))
    _write_csv(frame, args.out)


def _probe_model(model, splits, section: dict, pruning: dict) -> dict:
    """Run the model on a few samples and build its players' game there (a channel game refuses a layer whose
    channels cannot be players, and checks masking against removal); returns what it found."""
    from svprune.outputs import logits_on
    from svprune.perspectives import perspective_for
    from svprune.train import as_tensors

    x, y = as_tensors(*splits.split("validation"))
    x, y = x[:64], y[:64]
    out = logits_on(model.eval(), x[:2])
    if out.shape[1] != splits.n_classes:
        raise ValueError(f"the model returns {out.shape[1]} logits per sample, but the data have {splits.n_classes} "
                         "classes; set the number of outputs of the model (e.g. model.kwargs.num_classes)")
    layer = pruning.get("layer", section.get("layer"))
    perspective = perspective_for(model, layer, example=x[:1], removal=pruning.get("removal", "mask"))
    report = {"kind": section.get("kind", "mlp"), "classes": int(out.shape[1]),
              "players": int(perspective.n_players(model))}
    shapley = pruning.get("shapley")
    if shapley:  # the estimator's minimum budget for this many players, before any training
        from svprune.shapley import get_estimator

        estimator, budget = get_estimator(shapley.get("estimator", ESTIMATORS.default)), shapley.get("budget")
        if budget is not None:
            try:
                estimator.check_budget(report["players"], budget)
            except ValueError as err:
                raise ValueError(f"config pruning.shapley.budget: {err}") from None
    report.update(perspective.check(model, x, y))
    return report


def cmd_check_model(args) -> None:
    from svprune.data import Splits
    from svprune.models import load_weights

    splits = Splits.load(args.data)
    model, splits = _root_model(args.model, splits, seed=0)
    if args.model.get("checkpoint"):
        load_weights(model, args.model["checkpoint"])
    report = _probe_model(model, splits, args.model, args.pruning)
    log.info("model check: %s", report)
    _write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", args.out)


def cmd_import_root(args) -> None:
    from svprune.data import Splits
    from svprune.models import load_weights, save_checkpoint
    from svprune.train import accuracy, as_tensors

    splits = Splits.load(args.data)
    model, splits = _root_model(args.model, splits, seed=args.seed)
    load_weights(model, args.weights)
    log.info("root seed %d from %s: validation accuracy %.4f", args.seed, args.weights,
             accuracy(model, *as_tensors(*splits.split("validation"))))
    save_checkpoint(model, args.out, seed=args.seed, epochs=0, made_by={"model": args.model, "weights": str(args.weights)})


def _network_game(model, splits, split: str, net, samples: int | None = None):
    """The game over every player channel of the network experiment, on the first ``samples`` of a split."""
    from svprune.games import ModuleGame
    from svprune.train import as_tensors

    x, y = splits.split(split)
    if samples is not None:
        x, y = x[:samples], y[:samples]
    x, y = as_tensors(x, y, device=net.device)
    return ModuleGame(model, net.layers if net.layers == "all" else list(net.layers), x, y, measure=net.measure)


def _network_model(args):
    """The network experiment's settings and model, and the splits shaped as its inputs."""
    from svprune.data import Splits
    from svprune.models import load_checkpoint
    from svprune.settings import network_config

    net = network_config(args.network)
    model = load_checkpoint(args.root, map_location=net.device)[0].eval()
    return net, model, _inputs_for(model, Splits.load(args.data))


def cmd_network_values(args) -> None:
    """Shapley values of every channel of the network experiment's model, found by top-k identification."""
    import time

    import numpy as np
    import pandas as pd

    from svprune.progress import duration
    from svprune.shapley import get_estimator, shapley_values, top_k

    net, model, splits = _network_model(args)
    game = _network_game(model, splits, net.eval_split, net, net.samples)
    estimator, budget, k = net.estimator, net.budget, min(net.k, game.n_players - 1)
    log.info("%d channels in %d layers (%s) on %d samples; %s of the whole model %.4f, with no channel %.4f; %s, "
             "budget %d", game.n_players, len(game.layers), ", ".join(game.layers), game.n_samples, game.measure,
             game.measure_of(np.ones((1, game.n_players), dtype=bool))[0], game.empty_measure, estimator, budget)
    start = time.perf_counter()
    if get_estimator(estimator, "network.shapley.estimator").has_stderr:
        found = top_k(game, k, budget, seed=args.seed, estimator=estimator)
        est, separated = found.estimate, found.separated
    else:
        est, separated = shapley_values(game, estimator, budget, seed=args.seed), False
    seconds = time.perf_counter() - start
    layer, channel = zip(*(name.rsplit(":", 1) for name in game.player_names))
    frame = pd.DataFrame({"player": range(game.n_players), "name": game.player_names, "layer": layer,
                          "channel": [int(c) for c in channel], "shapley": est.values, "stderr": est.stderr,
                          "lower": est.values - 2 * est.stderr, "upper": est.values + 2 * est.stderr})
    summary = {"players": game.n_players, "layers": game.layers, "samples": game.n_samples, "measure": game.measure,
               "estimator": est.estimator, "budget": budget, "evaluations": est.n_evaluations, "top_k": k,
               "separated": bool(separated), "seconds": round(seconds, 3), "grand_measure": est.grand_value + game.empty_measure,
               "empty_measure": game.empty_measure, "units": est.n_units}
    log.info("%s: %d coalition evaluations in %s (%.0f per second); the top %d %s", est.estimator,
             est.n_evaluations, duration(seconds), est.n_evaluations / max(seconds, 1e-9), k,
             "separated from the rest" if separated else "not separated within the budget")
    _write_csv(frame, args.out)
    _write_text(json.dumps(summary, indent=1) + "\n", args.out_summary)


def cmd_network_removal(args) -> None:
    """Removal curves of the network experiment: Shapley top-k against the other criteria and random draws."""
    import numpy as np
    import pandas as pd

    from svprune.removal import criterion_scores, negative_removal, ranking, removal_curves
    from svprune.train import as_tensors

    net, model, splits = _network_model(args)
    values = pd.read_csv(args.values)
    train = as_tensors(*splits.split("train"), device=net.device)
    game = _network_game(model, splits, "test", net, net.test_samples)
    if list(values["name"]) != game.player_names:
        raise ValueError(f"{args.values} values other players than the network's channels ({len(values)} rows, "
                         f"{game.n_players} channels): rerun the values step (delete the file)")
    shapley, upper = values["shapley"].to_numpy(), values["upper"].to_numpy()
    rankings = [ranking(shapley, "shapley")]
    scores = {"shapley": shapley}
    for criterion in net.criteria:
        scores[criterion] = criterion_scores(model, game, criterion, train, seed=args.seed)
        rankings.append(ranking(scores[criterion], criterion))
    rng = np.random.default_rng(args.seed)
    rankings += [ranking(rng.random(game.n_players), "random", draw) for draw in range(net.random_draws)]
    max_removed = net.max_removed
    curves = [removal_curves(game, rankings, max_removed, "test"),
              negative_removal(game, shapley, upper, "test")]
    valuation = _network_game(model, splits, net.eval_split, net, net.samples)
    curves += [removal_curves(valuation, rankings[:1], max_removed, "valuation"),
               negative_removal(valuation, shapley, upper, "valuation")]
    out = pd.concat(curves, ignore_index=True)
    log.info("test %s after removing the top 10 channels: %s", game.measure, ", ".join(
        f"{c} {out[(out.criterion == c) & (out.k == min(10, max_removed)) & (out.split == 'test')].measure.mean():.3f}"
        for c in dict.fromkeys(r.criterion for r in rankings)))
    _write_csv(out, args.out)
    _write_csv(pd.DataFrame({"name": game.player_names, **scores}), args.out_scores)


def cmd_network_tables(args) -> None:
    from svprune.plots import plot_removal
    from svprune.records import read_removal
    from svprune.report import network_tables
    from svprune.tables import lowest_by, negative_table, removal_table

    summary = json.loads(Path(args.summary).read_text())
    curves = read_removal(args.removal, args.criteria, args.draws, min(args.max_removed, summary["players"]))
    table = removal_table(curves, args.ks)
    with atomic_path(args.out_table) as tmp:
        table.to_csv(tmp)
    _write_text(network_tables(table, negative_table(curves), summary, lowest_by(table)), args.out_html)
    with atomic_path(args.out_plot) as tmp:
        plot_removal(curves, tmp, measure=summary.get("measure", "accuracy"))


def cmd_grid(args) -> None:
    from svprune.settings import train_config
    from svprune.data import Splits
    from svprune.gridsearch import grid_runs

    splits = Splits.load(args.data)
    g = args.gridsearch
    first, last = args.repetitions
    if last < first:
        raise ValueError(f"--repetitions {first} {last}: the last repetition comes before the first")
    rows = grid_runs(splits, args.hidden, g["epochs"], range(first, last + 1), seed=args.seed,
                     config=train_config(args.training), eval_split=g.get("eval_split", "validation"),
                     device=args.training.get("device", "cpu"))
    _write_csv(rows, args.out)


def cmd_walk_tables(args) -> None:
    from svprune import report
    from svprune.records import read_walks
    from svprune.tables import root_table, strategy_table, walk_summaries

    walks = read_walks(args.walks, theta=args.theta if args.stopped_below_theta else None,
                       strategies=args.strategies, seeds=args.seeds)
    roots = root_table(walks)
    summaries = walk_summaries(walks, args.theta, args.root_epochs, args.retrain_epochs)
    table = strategy_table(summaries, order=list(dict.fromkeys(walks["strategy"])))
    _write_csv(walks, args.out_steps)
    _write_csv(summaries, args.out_summaries)
    _write_csv(table.reset_index(), args.out_table)
    _write_csv(roots.reset_index(), args.out_roots)
    html = report.walk_tables(table, roots, args.theta, args.root_epochs, args.retrain_epochs, args.players)
    _write_text(html, args.out_html)


def cmd_grid_tables(args) -> None:
    from svprune import report
    from svprune.records import read_grid
    from svprune.tables import grid_search_cost, grid_table

    grid = read_grid(args.grid, budgets=args.budgets, sizes=args.sizes, repetitions=args.repetitions)
    _write_csv(grid, args.out_runs)
    cells = grid_table(grid)
    _write_csv(cells, args.out_table)
    cost = grid_search_cost(grid, args.theta)
    _write_csv(cost.reset_index(), args.out_cost)
    html = report.grid_tables(cells, cost, args.theta)
    _write_text(html, args.out_html)


def cmd_plot_walks(args) -> None:
    from svprune.plots import plot_walks
    from svprune.records import WALK_COLUMNS, read_csv

    walks = read_csv(args.steps, WALK_COLUMNS)
    with atomic_path(args.out) as tmp:
        panels = ("accuracy", "accuracy_before_retrain") if args.before_retrain else ("accuracy",)
        plot_walks(walks, args.strategies, tmp, theta=args.theta, players=args.players, panels=panels)


def cmd_plot_parameters(args) -> None:
    from svprune.plots import plot_parameters
    from svprune.records import WALK_COLUMNS, read_csv

    with atomic_path(args.out) as tmp:
        plot_parameters(read_csv(args.steps, WALK_COLUMNS), tmp, theta=args.theta)


def cmd_plot_grid(args) -> None:
    from svprune.plots import plot_grid
    from svprune.records import GRID_COLUMNS, read_csv

    with atomic_path(args.out) as tmp:
        plot_grid(read_csv(args.runs, GRID_COLUMNS), tmp, theta=args.theta)


def cmd_estimator_study(args) -> None:
    from svprune.study import run_study

    results = run_study(args.game, args.estimators, args.budgets, range(args.seeds))
    for (estimator, target), g in results.groupby(["estimator", "target_evaluations"], sort=False):
        log.info("%s %s %d evaluations: relative error %.4f", args.game, estimator, target, g["relative_error"].mean())
    _write_csv(results, args.out)


def cmd_estimator_tables(args) -> None:
    import pandas as pd

    from svprune import report
    from svprune.plots import plot_estimator_errors
    from svprune.study import summarize_study

    results = pd.concat([pd.read_csv(p) for p in args.results], ignore_index=True)
    if args.peers:
        try:
            peers = pd.read_csv(args.peers)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise ValueError(f"peer results {args.peers} are not a readable CSV ({type(err).__name__}); write them "
                             "with benchmarks/peer_estimators.py, or set estimator_study.peers: null") from None
        results = pd.concat([results, peers[peers["game"].isin(results["game"].unique())]], ignore_index=True)
    _write_csv(results, args.out_runs)
    summary = summarize_study(results)
    _write_csv(summary, args.out_table)
    _write_text(report.estimator_tables(summary), args.out_html)
    with atomic_path(args.out_plot) as tmp:
        plot_estimator_errors(results, tmp, metric="relative_error")


@dataclass(frozen=True)
class Command:
    """One subcommand: its function, help, options (``(flags, argparse keyword arguments)``) and whether it needs
    the training stack (torch, numba); tables and plots do not."""

    func: Callable
    help: str
    options: tuple
    needs_torch: bool = True


def opt(*flags, **kwargs) -> tuple:
    return flags, kwargs


def _choices(registry) -> dict:
    """argparse keywords for a registered name: the registry's names as choices, its default where it has one."""
    default = registry.default if registry.has_default else None
    return {"choices": registry.names(), "default": default,
            "help": f"one of {', '.join(registry.names())}" + (f" (default {default})" if default else "")}


DATA = opt("--data", required=True, help="prepared splits (.npz, from `svprune prepare`)")
OUT = opt("--out", required=True)
MODEL = opt("--model", type=_json, required=True, help="the config's model section as JSON")
TRAINING = opt("--training", type=_json, default={}, help="the config's training section as JSON")
THETA = opt("--theta", type=float, help="the accuracy threshold theta")
STEPS = opt("--steps", required=True, help="all walk steps (CSV from walk-tables)")
PLAYERS = opt("--players", default="neurons", help="what the players are, for titles and axis labels")


def commands() -> dict[str, Command]:
    """The command table (built after plugins registered their names, so that choices include them)."""
    return {
        "prepare": Command(cmd_prepare, "load a data set and write its train/validation/test splits (.npz)", (
            opt("--dataset", type=_json, required=True, help="the config's dataset section as JSON"), OUT)),
        "train-root": Command(cmd_train_root, "train a root model and save its checkpoint", (
            DATA, opt("--model", type=_json, default={}), TRAINING, opt("--seed", type=int, required=True), OUT)),
        "walk": Command(cmd_walk, "pruning walks of a strategy from root models (one per seed), advanced together; "
                        "writes one CSV row per walk and step", (
            DATA, opt("--root", nargs="+", required=True, help="root model checkpoints, one per seed"),
            opt("--strategy", required=True, help="e.g. 'SVbucket(0.2)'"),
            opt("--seed", type=int, nargs="+", required=True, help="the walks' seeds, one per root"),
            TRAINING, opt("--pruning", type=_json, default={}, help="the walk's section (pruning or blocks) as JSON"),
            opt("--model", type=_json, default=None, help="the config's model section as JSON: every root must "
                "hold the model it describes"), OUT)),
        "values": Command(cmd_values, "Shapley values of a model's players (hidden units, residual blocks or the "
                          "channels of a layer), as CSV", (
            DATA,
            opt("--model", required=True, help="a checkpoint (from `svprune train-root` or save_checkpoint), or your "
                "own model's factory, package.module:function (importable from PYTHONPATH), with --weights"),
            opt("--weights", default=None, help="trained weights for a factory: a torch.save(model.state_dict()) file"),
            opt("--kwargs", type=_json, default={}, help="keyword arguments of the factory, as JSON"),
            opt("--input-shape", type=int, nargs="+", default=None,
                help="shape of one model input (default: the data's sample shape)"),
            opt("--removal", default="mask", choices=REMOVALS,
                help="channels: mask them where they are read (exact, refused where it is not) or prune each "
                "coalition physically (slow; for GroupNorm(1, C) or LayerNorm after the layer)"),
            opt("--split", default="validation", choices=["train", "validation", "test"]),
            opt("--layer", default=None, help="the player layer: a hidden-layer index of an MLP (default: the last), "
                "or a module path such as conv2 or net.layer4.1.conv1 for other models"),
            opt("--measure", **_choices(MEASURES)), opt("--estimator", **_choices(ESTIMATORS)),
            opt("--budget", type=int, default=None, help="coalition evaluations, v(empty) and v(U) included "
                f"(default: 2^n for exact, else {DEFAULT_BUDGET:,})"),
            opt("--tolerance", type=float, default=None), opt("--seed", type=int, default=0),
            opt("--device", default="cpu"), OUT)),
        "check-model": Command(cmd_check_model, "build the configured model, run it on the data and, where its "
                               "players are channels, build their game (refusing a layer whose channels cannot be "
                               "players): before any training", (
            DATA, MODEL, opt("--pruning", type=_json, default={}, help="the walk's layer and removal, as JSON"),
            opt("--out", required=True, help="a JSON report of what was found"))),
        "import-root": Command(cmd_import_root, "a root model from weights of your own (model.checkpoint) instead "
                               "of training one", (
            DATA, MODEL, opt("--weights", required=True), opt("--seed", type=int, required=True), OUT)),
        "grid": Command(cmd_grid, "grid-search runs of one hidden size, a group of repetitions trained together, "
                        "every epoch budget", (
            DATA, opt("--hidden", type=int, required=True),
            opt("--repetitions", type=int, nargs=2, required=True, metavar=("FIRST", "LAST"),
                help="the group's repetitions, inclusive"),
            opt("--seed", type=int, default=0), TRAINING, opt("--gridsearch", type=_json, required=True), OUT)),
        "walk-tables": Command(cmd_walk_tables, "aggregate walk CSVs into the steps/epochs/found table", (
            opt("--walks", nargs="+", required=True), opt("--theta", type=float, required=True),
            opt("--stopped-below-theta", action="store_true",
                help="the walks stop once accuracy falls below theta (stop_below_theta)"),
            opt("--root-epochs", type=int, required=True), opt("--retrain-epochs", type=int, required=True), PLAYERS,
            opt("--strategies", nargs="+", help="the strategies expected: every one's walks must be there"),
            opt("--seeds", nargs="+", type=int, help="the seeds expected: one walk per strategy and seed"),
            *(opt(f"--out-{name}", required=True) for name in ("steps", "summaries", "table", "roots", "html"))),
            needs_torch=False),
        "grid-tables": Command(cmd_grid_tables, "aggregate grid-search CSVs into per-cell accuracy and search cost", (
            opt("--grid", nargs="+", required=True), opt("--theta", type=float, required=True),
            opt("--budgets", nargs="+", type=int, help="the grid's epoch budgets: every run must have each"),
            opt("--sizes", nargs="+", type=int, help="the grid's hidden sizes expected"),
            opt("--repetitions", type=int, help="the repetitions expected per size"),
            *(opt(f"--out-{name}", required=True) for name in ("runs", "table", "cost", "html"))), needs_torch=False),
        "plot-walks": Command(cmd_plot_walks, "pruning-walk plot of some strategies (figures 2-4)", (
            STEPS, opt("--strategies", nargs="+", required=True), THETA, PLAYERS,
            opt("--before-retrain", action="store_true", help="a second panel: accuracy before retraining"), OUT),
            needs_torch=False),
        "plot-parameters": Command(cmd_plot_parameters, "accuracy before and after retraining against parameters "
                                   "removed", (STEPS, THETA, OUT), needs_torch=False),
        "plot-grid": Command(cmd_plot_grid, "grid-search plot (figure 5)", (
            opt("--runs", required=True), THETA, OUT), needs_torch=False),
        "network-values": Command(cmd_network_values, "Shapley values of every channel of a network (the network "
                                  "experiment), by top-k identification; CSV and a JSON summary", (
            DATA, opt("--root", required=True, help="the network's checkpoint"),
            opt("--network", type=_json, required=True, help="the config's network section as JSON"),
            opt("--seed", type=int, default=0), OUT, opt("--out-summary", required=True))),
        "network-removal": Command(cmd_network_removal, "accuracy after removing the top-k channels by Shapley value "
                                   "and by other criteria, and after removing the channels of negative value", (
            DATA, opt("--root", required=True), opt("--values", required=True, help="from network-values"),
            opt("--network", type=_json, required=True), opt("--seed", type=int, default=0), OUT,
            opt("--out-scores", required=True, help="every criterion's score of every channel (CSV)"))),
        "network-tables": Command(cmd_network_tables, "table and plot of the network experiment's removal curves", (
            opt("--removal", required=True), opt("--summary", required=True, help="from network-values"),
            opt("--criteria", nargs="*", default=[], help="the criteria expected beside shapley and random"),
            opt("--draws", type=int, required=True, help="the random draws expected"),
            opt("--max-removed", type=int, required=True, help="the curves' largest k expected"),
            opt("--ks", type=int, nargs="+", default=list(NetworkConfig.table_ks), help="the table's numbers of channels "
                "removed"),
            *(opt(f"--out-{name}", required=True) for name in ("table", "html", "plot"))), needs_torch=False),
        "estimator-study": Command(cmd_estimator_study, "error against budget of Shapley estimators on a game with "
                                   "reference values", (
            opt("--game", required=True, choices=GAMES.names(), help=f"one of {', '.join(GAMES.names())}"),
            opt("--estimators", nargs="+", required=True, choices=ESTIMATORS.names(),
                help=f"of {', '.join(ESTIMATORS.names())}"),
            opt("--budgets", nargs="+", type=int, required=True, help="coalition-evaluation budgets"),
            opt("--seeds", type=int, default=20), OUT)),
        "estimator-tables": Command(cmd_estimator_tables, "summary table and error plot of the estimator study", (
            opt("--results", nargs="+", required=True),
            opt("--peers", default=None, help="peer estimators' rows (benchmarks/peer_estimators.py), optional"),
            *(opt(f"--out-{name}", required=True) for name in ("runs", "table", "html", "plot"))), needs_torch=False),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="svprune", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch and numba (default 1: deterministic)")
    parser.add_argument("--plugins", default="", metavar="MODULE[,MODULE...]",
                        help=f"modules that register extensions (svprune.registry), imported first; also read from "
                        f"the {PLUGINS_ENV} environment variable")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in commands().items():
        p = sub.add_parser(name, help=command.help)
        for flags, kwargs in command.options:
            p.add_argument(*flags, **kwargs)
        p.set_defaults(command_entry=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--plugins", default="")
    try:
        load_plugins(early.parse_known_args(argv)[0].plugins.split(","))  # before the parser: their names become choices
    except RegistryError as err:
        print(f"svprune: error: {err}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        _setup(args.threads, args.command_entry.needs_torch)
        args.command_entry.func(args)
    except KeyboardInterrupt:
        log.error("interrupted; outputs not written completely were removed")
        return 130
    except Exception as err:  # every failure ends in one message, never a traceback (-v shows it)
        log.debug("traceback", exc_info=True)
        kind = "" if isinstance(err, (ValueError, FileNotFoundError, RuntimeError)) else f"{type(err).__name__}: "
        log.error("%s%s", kind, err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
