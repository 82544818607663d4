rule prune_walk:
    input:
        data=f"{OUT}/data/splits.npz",
        root=f"{OUT}/roots/seed{{seed}}.pt",
    output:
        f"{OUT}/walks/{{strategy}}/seed{{seed}}.csv",
    params:
        strategy=lambda w: SLUG[w.strategy],
        training=pick("training", "root_epochs", *TRAINING_KEYS),
        pruning=walk_pruning(config["pruning"]),
    log:
        f"{LOGS}/walks/{{strategy}}/seed{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/walks/{{strategy}}/seed{{seed}}.tsv"
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
