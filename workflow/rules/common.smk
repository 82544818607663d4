import json


def pick(section, *keys, **extra):
    """The keys of a config section that a step reads, as JSON (the form the svprune command takes). A rule
    reruns when its params change, so each rule passes only what its step reads: editing a plot list or a
    thread count reruns nothing that does not use it."""
    chosen = {k: config[section][k] for k in keys if k in config[section]}
    return json.dumps({**chosen, **extra}, sort_keys=True)


# What training reads (not training.threads: a job's thread count is its `threads:`, no param).
TRAINING_KEYS = ("optimizer", "learning_rate", "batch_size", "device")


def res(stage, key, default):
    """A cluster resource of a stage from config['resources'][stage], else the default."""
    return RES.get(stage, {}).get(key, default)


def gpus():
    """GPUs a training job asks for: one when the config trains on CUDA."""
    return 1 if config["training"]["device"] == "cuda" else 0


def grid_outputs():
    return expand(OUT + "/gridsearch/h{hidden}/rep{rep}.csv", hidden=config["gridsearch"]["sizes"],
                  rep=range(config["gridsearch"]["repetitions"]))


def estimator_outputs():
    return expand(OUT + "/estimators/{game}.csv", game=config["estimators"]["games"])


def layer_outputs():
    return expand(OUT + "/layers/walks/{strategy}/seed{seed}.csv", strategy=LAYER_SLUG, seed=LAYER_SEEDS)
