import json


def settings(section):
    """A config section as JSON, the form the svprune command takes (rules rerun when it changes)."""
    return json.dumps(config[section], sort_keys=True)


def res(stage, key, default):
    """A cluster resource of a stage from config['resources'][stage], else the default."""
    return RES.get(stage, {}).get(key, default)


def gpus():
    """GPUs a training job asks for: one when the config trains on CUDA."""
    return 1 if config["training"]["device"] == "cuda" else 0
