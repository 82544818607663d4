# Layers as players (the paper's figure 1b, sketched there, measured here): the hidden blocks of a residual
# MLP; a block outside a coalition is bypassed by its skip connection; pruning removes whole blocks. The
# rules are the neuron experiment's, with the layers section's settings.
LAYERS = config["layers"]
LAYER_SLUG = {slug(s): s for s in LAYER_STRATEGIES}
LAYER_TRAINING = pick("training", *TRAINING_KEYS, root_epochs=LAYERS["root_epochs"])


use rule train_root as train_layer_root with:
    input:
        data=f"{OUT}/data/splits.npz",
    output:
        f"{OUT}/layers/roots/seed{{seed}}.pt",
    params:
        model=json.dumps({"kind": "residual", "width": LAYERS["width"], "blocks": LAYERS["blocks"]}, sort_keys=True),
        training=LAYER_TRAINING,
    log:
        f"{LOGS}/layers/train_root/seed{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/layers/train_root/seed{{seed}}.tsv"


use rule prune_walk as layer_walk with:
    input:
        data=f"{OUT}/data/splits.npz",
        roots=lambda w: [f"{OUT}/layers/roots/seed{s}.pt" for s in group_seeds(w)],
    output:
        f"{OUT}/layers/walks/{{strategy}}/seeds{{first}}-{{last}}.csv",
    params:
        strategy=lambda w: LAYER_SLUG[w.strategy],
        seeds=lambda w: " ".join(str(s) for s in group_seeds(w)),
        training=LAYER_TRAINING,
        pruning=walk_pruning(LAYERS, retrain_epochs=LAYERS["retrain_epochs"], shapley=LAYERS["shapley"]),
        model=json.dumps({"kind": "residual", "width": LAYERS["width"], "blocks": LAYERS["blocks"]}, sort_keys=True),
    log:
        f"{LOGS}/layers/walks/{{strategy}}/seeds{{first}}-{{last}}.log",
    benchmark:
        f"{OUT}/benchmarks/layers/walks/{{strategy}}/seeds{{first}}-{{last}}.tsv"


use rule walk_tables as layer_tables with:
    input:
        layer_outputs(),
    output:
        steps=f"{OUT}/layers/tables/walk_steps.csv",
        summaries=f"{OUT}/layers/tables/walk_summaries.csv",
        table=f"{OUT}/layers/tables/strategies.csv",
        roots=f"{OUT}/layers/tables/roots.csv",
        html=report(
            f"{OUT}/layers/tables/strategies.html",
            caption="../report/layers_table.rst",
            category="4. Layers as players",
            subcategory="Tables",
            labels={"table": "steps, epochs and blocks found"},
        ),
    params:
        theta=LAYERS["theta"],
        stops="--stopped-below-theta" if config["pruning"]["stop_below_theta"] else "",
        root_epochs=LAYERS["root_epochs"],
        retrain_epochs=LAYERS["retrain_epochs"],
        players="blocks",
        expected=" ".join(["--strategies", *(f"'{s}'" for s in LAYER_STRATEGIES), "--seeds",
                           *(str(config["seed"] + r) for r in range(LAYERS["repetitions"]))]),
    log:
        f"{LOGS}/layers/walk_tables.log",


use rule plot_walks as plot_layer_walks with:
    input:
        f"{OUT}/layers/tables/walk_steps.csv",
    output:
        report(
            f"{OUT}/layers/plots/walks.png",
            caption="../report/layers.rst",
            category="4. Layers as players",
            subcategory="Figures",
            labels={"figure": "pruning walks of blocks"},
        ),
    params:
        strategies=" ".join(f"'{s}'" for s in LAYER_STRATEGIES),
        theta=LAYERS["theta"],
        players="blocks",
        panels="--before-retrain",
    log:
        f"{LOGS}/layers/plot_walks.log",
