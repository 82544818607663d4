# Before any training: build the configured model, run it on the data and, where its players are channels,
# build their game on a few samples (a layer whose channels cannot be players is refused here, naming the op).
rule check_model:
    input:
        f"{OUT}/data/splits.npz",
    output:
        f"{OUT}/model_check.json",
    params:
        model=pick("model", *MODEL_KEYS, "layer", "checkpoint"),
        pruning=json.dumps({**player_layer(), "shapley": config["pruning"]["shapley"]}, sort_keys=True),
    log:
        f"{LOGS}/check_model.log",
    priority: 100  # the first check of the configured model: before any other job that reads the data
    benchmark:
        f"{OUT}/benchmarks/check_model.tsv"
    resources:
        mem_mb=res("train", "mem_mb", 4000),
        runtime=res("train", "runtime", 60),
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m svprune.cli check-model --data {input} --model {params.model:q} --pruning {params.pruning:q} "
        "--out {output} 2> {log}"


rule train_root:
    priority: 90
    input:
        data=f"{OUT}/data/splits.npz",
        check=f"{OUT}/model_check.json",
    output:
        f"{OUT}/roots/seed{{seed}}.pt",
    params:
        model=pick("model", *MODEL_KEYS),
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
        "../envs/torch.yaml"
    shell:
        "python -m svprune.cli --threads {threads} train-root --data {input.data} --model {params.model:q} "
        "--training {params.training:q} --seed {wildcards.seed} --out {output} 2> {log}"


if config["model"].get("checkpoint"):

    ruleorder: import_root > train_root

    # model.checkpoint: every repetition starts from the user's trained weights (no root training).
    rule import_root:
        input:
            data=f"{OUT}/data/splits.npz",
            check=f"{OUT}/model_check.json",
            weights=config["model"]["checkpoint"],
        output:
            f"{OUT}/roots/seed{{seed}}.pt",
        params:
            model=pick("model", *MODEL_KEYS),
        log:
            f"{LOGS}/import_root/seed{{seed}}.log",
        benchmark:
            f"{OUT}/benchmarks/import_root/seed{{seed}}.tsv"
        resources:
            mem_mb=res("train", "mem_mb", 4000),
            runtime=res("train", "runtime", 60),
        conda:
            "../envs/torch.yaml"
        shell:
            "python -m svprune.cli import-root --data {input.data} --model {params.model:q} --weights {input.weights} "
            "--seed {wildcards.seed} --out {output} 2> {log}"
