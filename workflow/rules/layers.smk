# Layers as players (the paper's figure 1b, sketched there, measured here): the hidden blocks of a residual
# MLP; a block outside a coalition is bypassed by its skip connection; pruning removes whole blocks.
LAYERS = config["layers"]
LAYER_SLUG = {slug(s): s for s in LAYER_STRATEGIES}
LAYER_SEEDS = [config["seed"] + r for r in range(LAYERS["repetitions"])]
LAYER_TRAINING = json.dumps({**config["training"], "root_epochs": LAYERS["root_epochs"]}, sort_keys=True)
LAYER_PRUNING = json.dumps(
    {**config["pruning"], "retrain_epochs": LAYERS["retrain_epochs"], "theta": LAYERS["theta"],
     "shapley": LAYERS["shapley"]},
    sort_keys=True,
)


rule train_layer_root:
    input:
        OUT + "/data/splits.npz",
    output:
        OUT + "/layers/roots/seed{seed}.pt",
    params:
        model=json.dumps({"kind": "residual", "width": LAYERS["width"], "blocks": LAYERS["blocks"]}),
        training=LAYER_TRAINING,
        eval_split=config["pruning"]["eval_split"],
    log:
        LOGS + "/layers/train_root/seed{seed}.log",
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


rule layer_walk:
    input:
        data=OUT + "/data/splits.npz",
        root=OUT + "/layers/roots/seed{seed}.pt",
    output:
        OUT + "/layers/walks/{strategy}/seed{seed}.csv",
    params:
        strategy=lambda w: LAYER_SLUG[w.strategy],
        training=LAYER_TRAINING,
        pruning=LAYER_PRUNING,
    log:
        LOGS + "/layers/walks/{strategy}/seed{seed}.log",
    benchmark:
        OUT + "/benchmarks/layers/walks/{strategy}/seed{seed}.tsv"
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


rule layer_tables:
    input:
        expand(OUT + "/layers/walks/{strategy}/seed{seed}.csv", strategy=LAYER_SLUG, seed=LAYER_SEEDS),
    output:
        steps=OUT + "/layers/tables/walk_steps.csv",
        summaries=OUT + "/layers/tables/walk_summaries.csv",
        table=OUT + "/layers/tables/strategies.csv",
        html=report(
            OUT + "/layers/tables/strategies.html",
            caption="../report/layers_table.rst",
            category="Layers as players",
            labels={"table": "steps, epochs, found per strategy (blocks)"},
        ),
    params:
        theta=LAYERS["theta"],
        root_epochs=LAYERS["root_epochs"],
        retrain_epochs=LAYERS["retrain_epochs"],
    log:
        LOGS + "/layers/walk_tables.log",
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m svprune.cli walk-tables --walks {input} --theta {params.theta} --root-epochs {params.root_epochs} "
        "--retrain-epochs {params.retrain_epochs} --out-steps {output.steps} --out-summaries {output.summaries} "
        "--out-table {output.table} --out-html {output.html} 2> {log}"


rule plot_layer_walks:
    input:
        OUT + "/layers/tables/walk_steps.csv",
    output:
        report(
            OUT + "/layers/plots/walks.png",
            caption="../report/layers.rst",
            category="Layers as players",
            labels={"figure": "pruning walks of blocks"},
        ),
    params:
        strategies=" ".join(f"'{s}'" for s in LAYER_STRATEGIES),
        theta=LAYERS["theta"],
    log:
        LOGS + "/layers/plot_walks.log",
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m svprune.cli plot-walks --steps {input} --strategies {params.strategies} --theta {params.theta} "
        "--players blocks --out {output} 2> {log}"
