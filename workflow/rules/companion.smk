# A companion experiment (e.g. the paper's 20newsgroups run beside its MNIST run): this same workflow again,
# with the config overlaid by the companion file, as a Snakemake module; `all` then builds both.
if PLAN.companion is not None:
    import copy

    from snakemake.utils import update_config

    companion_config = copy.deepcopy({k: v for k, v in config.items() if k != "companion"})
    update_config(companion_config, {**PLAN.companion, "companion": None})

    module companion:
        snakefile:
            "../Snakefile"
        config:
            companion_config

    use rule * from companion as companion_*
