# One job per strategy and fixed-size group of seeds: the group's walks advance together, their retraining
# one fused program (svprune.walk.prune_walks).
rule prune_walk:
    priority: 80
    input:
        data=f"{OUT}/data/splits.npz",
        roots=lambda w: [f"{OUT}/roots/seed{s}.pt" for s in group_seeds(w)],
    output:
        f"{OUT}/walks/{{strategy}}/seeds{{first}}-{{last}}.csv",
    wildcard_constraints:
        first=r"\d+",
        last=r"\d+",
    params:
        strategy=lambda w: SLUG[w.strategy],
        seeds=lambda w: " ".join(str(s) for s in group_seeds(w)),
        training=pick("training", "root_epochs", *TRAINING_KEYS),
        pruning=walk_pruning("pruning", **player_layer()),
        model=pick("model", *MODEL_KEYS),
    log:
        f"{LOGS}/walks/{{strategy}}/seeds{{first}}-{{last}}.log",
    benchmark:
        f"{OUT}/benchmarks/walks/{{strategy}}/seeds{{first}}-{{last}}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=res("walk", "mem_mb", 4000),
        runtime=res("walk", "runtime", 120),
        gpu=gpus(),
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m svprune.cli --threads {threads} walk --data {input.data} --root {input.roots} "
        "--strategy {params.strategy:q} --seed {params.seeds} --training {params.training:q} "
        "--pruning {params.pruning:q} --model {params.model:q} --out {output} 2> {log}"
