def walk_pruning(section, **overrides):
    """What a walk reads of a pruning section: not the strategy list, figures or repetitions (those shape the
    job graph), and theta only where the walk stops below it."""
    keys = ["retrain_epochs", "eval_split", "measure", "shapley", "shapley_for_all", "stop_below_theta"]
    chosen = {k: config["pruning"][k] for k in keys if k in config["pruning"]}
    chosen.update(overrides)
    if chosen.get("stop_below_theta"):
        chosen["theta"] = section["theta"]
    return json.dumps(chosen, sort_keys=True)


rule prune_walk:
    input:
        data=OUT + "/data/splits.npz",
        root=OUT + "/roots/seed{seed}.pt",
    output:
        OUT + "/walks/{strategy}/seed{seed}.csv",
    params:
        strategy=lambda w: SLUG[w.strategy],
        training=pick("training", "root_epochs", *TRAINING_KEYS),
        pruning=walk_pruning(config["pruning"]),
    log:
        LOGS + "/walks/{strategy}/seed{seed}.log",
    benchmark:
        OUT + "/benchmarks/walks/{strategy}/seed{seed}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=res("walk", "mem_mb", 4000),
        runtime=res("walk", "runtime", 120),
        gpu=gpus(),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m svprune.cli --threads {threads} walk --data {input.data} --root {input.root} "
        "--strategy {params.strategy:q} --seed {wildcards.seed} --training {params.training:q} "
        "--pruning {params.pruning:q} --out {output} 2> {log}"
