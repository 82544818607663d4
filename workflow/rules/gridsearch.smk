rule grid_run:
    priority: 50
    input:
        f"{OUT}/data/splits.npz",
    wildcard_constraints:
        hidden=r"\d+",
        first=r"\d+",
        last=r"\d+",
    output:
        f"{OUT}/gridsearch/h{{hidden}}/reps{{first}}-{{last}}.csv",
    params:
        training=pick("training", *TRAINING_KEYS),
        gridsearch=json.dumps(
            {"epochs": config["gridsearch"]["epochs"], "eval_split": config["pruning"]["eval_split"]}, sort_keys=True
        ),
        seed=config["seed"],
    log:
        f"{LOGS}/gridsearch/h{{hidden}}/reps{{first}}-{{last}}.log",
    benchmark:
        f"{OUT}/benchmarks/gridsearch/h{{hidden}}/reps{{first}}-{{last}}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=res("grid", "mem_mb", 4000),
        runtime=res("grid", "runtime", 120),
        gpu=gpus(),
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m svprune.cli --threads {threads} grid --data {input} --hidden {wildcards.hidden} "
        "--repetitions {wildcards.first} {wildcards.last} --seed {params.seed} --training {params.training:q} "
        "--gridsearch {params.gridsearch:q} --out {output} 2> {log}"
