rule train_root:
    input:
        f"{OUT}/data/splits.npz",
    output:
        f"{OUT}/roots/seed{{seed}}.pt",
    params:
        model=pick("model", *MODEL_KEYS[config["model"]["kind"]]),
        training=pick("training", "root_epochs", *TRAINING_KEYS),
    log:
        f"{LOGS}/train_root/seed{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/train_root/seed{{seed}}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=res("train", "mem_mb", 4000),
        runtime=res("train", "runtime", 60),
        gpu=gpus(),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m svprune.cli --threads {threads} train-root --data {input} --model {params.model:q} "
        "--training {params.training:q} --seed {wildcards.seed} --out {output} 2> {log}"
