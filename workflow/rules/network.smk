# Every channel of a network as a player (Neuron Shapley's experiment): a CNN trained on the data, the Shapley
# values of the channels of all its layers by top-k identification, and the test accuracy after removing the
# top-k channels by Shapley value, by the other criteria and at random.
NETWORK = config["network"]
NETWORK_MODEL = json.dumps(NETWORK["model"], sort_keys=True)
NETWORK_ROOT = f"{OUT}/network/roots/seed{config['seed']}.pt"
NETWORK_TRAINING = pick("training", *TRAINING_KEYS, root_epochs=NETWORK["root_epochs"])


use rule train_root as train_network_root with:
    priority: 20  # after the main chain's
    input:
        data=f"{OUT}/data/splits.npz",
    output:
        f"{OUT}/network/roots/seed{{seed}}.pt",
    params:
        model=NETWORK_MODEL,
        training=NETWORK_TRAINING,
    log:
        f"{LOGS}/network/train_root/seed{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/network/train_root/seed{{seed}}.tsv"


rule network_values:
    priority: 20
    input:
        data=f"{OUT}/data/splits.npz",
        root=NETWORK_ROOT,
    output:
        values=f"{OUT}/network/values.csv",
        summary=f"{OUT}/network/values.json",
    params:
        network=network_params("layers", "samples", "eval_split", "measure", "shapley", "max_removed"),
        seed=config["seed"],
    log:
        f"{LOGS}/network/values.log",
    benchmark:
        f"{OUT}/benchmarks/network/values.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=res("network", "mem_mb", 8000),
        runtime=res("network", "runtime", 240),
        gpu=gpus(),
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m svprune.cli --threads {threads} network-values --data {input.data} --root {input.root} "
        "--network {params.network:q} --seed {params.seed} --out {output.values} "
        "--out-summary {output.summary} 2> {log}"


rule network_removal:
    priority: 20
    input:
        data=f"{OUT}/data/splits.npz",
        root=NETWORK_ROOT,
        values=f"{OUT}/network/values.csv",
    output:
        curves=f"{OUT}/network/removal.csv",
        scores=f"{OUT}/network/scores.csv",
    params:
        network=network_params("layers", "samples", "test_samples", "eval_split", "measure", "max_removed",
                               "criteria", "random_draws"),
        seed=config["seed"],
    log:
        f"{LOGS}/network/removal.log",
    benchmark:
        f"{OUT}/benchmarks/network/removal.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=res("network", "mem_mb", 8000),
        runtime=res("network", "runtime", 60),
        gpu=gpus(),
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m svprune.cli --threads {threads} network-removal --data {input.data} --root {input.root} "
        "--values {input.values} --network {params.network:q} --seed {params.seed} --out {output.curves} "
        "--out-scores {output.scores} 2> {log}"


rule network_tables:
    input:
        curves=f"{OUT}/network/removal.csv",
        summary=f"{OUT}/network/values.json",
    output:
        table=f"{OUT}/network/tables/removal.csv",
        html=report(
            f"{OUT}/network/tables/removal.html",
            caption="../report/network_table.rst",
            category="5. Every channel as a player",
            subcategory="Tables",
            labels={"table": "accuracy after removing the top-k channels"},
        ),
        plot=report(
            f"{OUT}/network/plots/removal.png",
            caption="../report/network.rst",
            category="5. Every channel as a player",
            subcategory="Figures",
            labels={"figure": "removing the most important channels"},
        ),
    params:
        ks=" ".join(str(k) for k in NETWORK["table_ks"]),
        expected=" ".join(["--criteria", *NETWORK["criteria"], "--draws", str(NETWORK["random_draws"]),
                           "--max-removed", str(NETWORK["max_removed"])]),
    log:
        f"{LOGS}/network/tables.log",
    benchmark:
        f"{OUT}/benchmarks/network/tables.tsv"
    conda:
        "../envs/analysis.yaml"
    shell:
        "python -m svprune.cli network-tables --removal {input.curves} --summary {input.summary} --ks {params.ks} "
        "{params.expected} --out-table {output.table} --out-html {output.html} --out-plot {output.plot} 2> {log}"
