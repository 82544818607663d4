import json


def pick(section, *keys, **extra):
    """The keys of a config section that a step reads, as JSON (the form the svprune command takes). A rule
    reruns when its params change, so each one passes only what its step reads; editing a plot list or a
    thread count reruns nothing that does not use it."""
    chosen = {k: config[section][k] for k in keys if k in config[section]}
    return json.dumps({**chosen, **extra}, sort_keys=True)


# What building a root model reads: its kind's keys (svprune.kinds).
MODEL_KEYS = KIND.keys


def player_layer():
    """The player layer a walk reads (kinds other than mlp), and how its games remove channels where that is not
    the default, as overrides of the pruning section."""
    layer, removal = config["model"].get("layer"), config["model"].get("removal", "mask")
    return {**({"layer": layer} if layer else {}), **({"removal": removal} if removal != "mask" else {})}


# What training reads (not training.threads: a job's thread count is its `threads:`, no param).
TRAINING_KEYS = ("optimizer", "learning_rate", "batch_size", "device")


def res(stage, key, default):
    """A cluster resource of a stage from config['resources'][stage], else the default."""
    return RES.get(stage, {}).get(key, default)


def gpus():
    """GPUs a training job asks for: one when the config trains on CUDA."""
    return 1 if config["training"]["device"] == "cuda" else 0


def seed_groups(repetitions):
    """The walk jobs' groups of seeds, as (first, last) seeds: fixed-size groups of the repetitions."""
    return [(config["seed"] + a, config["seed"] + b)
            for a, b in repetition_groups(repetitions, config["pruning"]["repetitions_per_job"])]


def group_seeds(wildcards):
    return range(int(wildcards.first), int(wildcards.last) + 1)


def walk_outputs(prefix, slugs, repetitions):
    return [f"{prefix}/walks/{strategy}/seeds{first}-{last}.csv" for strategy in slugs
            for first, last in seed_groups(repetitions)]


def grid_outputs():
    """One file per hidden size and fixed-size group of repetitions (trained together in one job)."""
    groups = repetition_groups(config["gridsearch"]["repetitions"], config["gridsearch"]["repetitions_per_job"])
    return [f"{OUT}/gridsearch/h{hidden}/reps{first}-{last}.csv" for hidden in config["gridsearch"]["sizes"]
            for first, last in groups]


def estimator_outputs():
    return expand(f"{OUT}/estimators/{{game}}.csv", game=config["estimator_study"]["games"])


def peer_rows():
    """The peer estimators' rows on the study games (a committed benchmark output), where configured."""
    peers = config["estimator_study"].get("peers")
    return [peers] if peers else []


def block_outputs():
    return walk_outputs(f"{OUT}/blocks", BLOCK_SLUG, BLOCKS["repetitions"])


def block_roots():
    return [f"{OUT}/blocks/roots/seed{config['seed'] + r}.pt" for r in range(BLOCKS["repetitions"])]


WALK_KEYS = ("retrain_epochs", "eval_split", "measure", "shapley", "shapley_for_all", "stop_below_theta")
"""What a walk reads of its experiment's section (pruning or blocks): not the strategy list, figures or repetitions
(those shape the job graph), and theta only where the walk stops below it."""


def walk_pruning(section, **overrides):
    """What a walk reads of config[section], as JSON: each experiment's own settings, never another's."""
    chosen = {k: config[section][k] for k in WALK_KEYS if k in config[section]}
    chosen.update(overrides)
    if chosen.get("stop_below_theta"):
        chosen["theta"] = config[section]["theta"]
    return json.dumps(chosen, sort_keys=True)


def network_params(*keys):
    """What a network step reads of the network section, with the training device, as JSON."""
    chosen = {k: config["network"][k] for k in keys if k in config["network"]}
    return json.dumps({**chosen, "device": config["training"]["device"]}, sort_keys=True)


def final_outputs():
    """Everything `all` builds. Every per-job output is a target too: a deleted walk, grid run or root model is
    rebuilt, and the tables that read it follow."""
    out = [f"{OUT}/data/splits.npz", f"{OUT}/model_check.json", *expand(f"{OUT}/roots/seed{{seed}}.pt", seed=SEEDS),
           *walk_outputs(OUT, SLUG, config["pruning"]["repetitions"]), f"{OUT}/tables/strategies.html",
           *expand(f"{OUT}/plots/walks_{{figure}}.png", figure=range(len(FIGURES))), f"{OUT}/plots/parameters.png"]
    if config["gridsearch"]["enabled"]:
        out += grid_outputs() + [f"{OUT}/tables/gridsearch.html", f"{OUT}/plots/gridsearch.png"]
    if config["estimator_study"]["enabled"]:
        out += estimator_outputs() + [f"{OUT}/tables/estimators.html", f"{OUT}/plots/estimators.png"]
    if config["blocks"]["enabled"]:
        out += block_outputs() + block_roots() + [f"{OUT}/blocks/tables/strategies.html",
                                                  f"{OUT}/blocks/plots/walks.png"]
    if config["network"]["enabled"]:
        out += [NETWORK_ROOT, f"{OUT}/network/values.csv", f"{OUT}/network/removal.csv",
                f"{OUT}/network/tables/removal.html", f"{OUT}/network/plots/removal.png"]
    if PLAN.companion is not None:
        out += list(rules.companion_all.input)
    return out
