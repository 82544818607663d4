rule train_root:
    input:
        OUT + "/data/splits.npz",
    output:
        OUT + "/roots/seed{seed}.pt",
    params:
        model=settings("model"),
        training=settings("training"),
        eval_split=config["pruning"]["eval_split"],
    log:
        LOGS + "/train_root/seed{seed}.log",
    benchmark:
        OUT + "/benchmarks/train_root/seed{seed}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=res("train", "mem_mb", 4000),
        runtime=res("train", "runtime", 60),
        gpu=gpus(),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m svprune.cli --threads {threads} train-root --data {input} --model {params.model:q} "
        "--training {params.training:q} --eval-split {params.eval_split} --seed {wildcards.seed} "
        "--out {output} 2> {log}"
