rule prune_walk:
    input:
        data=OUT + "/data/splits.npz",
        root=OUT + "/roots/seed{seed}.pt",
    output:
        OUT + "/walks/{strategy}/seed{seed}.csv",
    params:
        strategy=lambda w: SLUG[w.strategy],
        training=settings("training"),
        pruning=settings("pruning"),
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
