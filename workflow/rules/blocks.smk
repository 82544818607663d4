# Blocks as players (the paper's figure 1b, layers as players, sketched there, measured here): the hidden blocks
# of a residual MLP; a block outside a coalition is bypassed by its skip connection; pruning removes whole
# blocks. The rules are the neuron experiment's, with the blocks section's own settings.
BLOCKS = config["blocks"]
BLOCK_STRATEGIES = PLAN.block_strategies
BLOCK_SLUG = PLAN.slugs(BLOCK_STRATEGIES)
BLOCK_TRAINING = pick("training", *TRAINING_KEYS, root_epochs=BLOCKS["root_epochs"])
BLOCK_MODEL = json.dumps({"kind": "residual", "width": BLOCKS["width"], "blocks": BLOCKS["blocks"]}, sort_keys=True)


use rule train_root as train_block_root with:
    priority: 20  # after the main chain's
    input:
        data=f"{OUT}/data/splits.npz",
    output:
        f"{OUT}/blocks/roots/seed{{seed}}.pt",
    params:
        model=BLOCK_MODEL,
        training=BLOCK_TRAINING,
    log:
        f"{LOGS}/blocks/train_root/seed{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/blocks/train_root/seed{{seed}}.tsv"


use rule prune_walk as block_walk with:
    priority: 20
    input:
        data=f"{OUT}/data/splits.npz",
        roots=lambda w: [f"{OUT}/blocks/roots/seed{s}.pt" for s in group_seeds(w)],
    output:
        f"{OUT}/blocks/walks/{{strategy}}/seeds{{first}}-{{last}}.csv",
    params:
        strategy=lambda w: BLOCK_SLUG[w.strategy],
        seeds=lambda w: " ".join(str(s) for s in group_seeds(w)),
        training=BLOCK_TRAINING,
        pruning=walk_pruning("blocks"),
        model=BLOCK_MODEL,
    log:
        f"{LOGS}/blocks/walks/{{strategy}}/seeds{{first}}-{{last}}.log",
    benchmark:
        f"{OUT}/benchmarks/blocks/walks/{{strategy}}/seeds{{first}}-{{last}}.tsv"


use rule walk_tables as block_tables with:
    input:
        block_outputs(),
    output:
        steps=f"{OUT}/blocks/tables/walk_steps.csv",
        summaries=f"{OUT}/blocks/tables/walk_summaries.csv",
        table=f"{OUT}/blocks/tables/strategies.csv",
        roots=f"{OUT}/blocks/tables/roots.csv",
        html=report(
            f"{OUT}/blocks/tables/strategies.html",
            caption="../report/blocks_table.rst",
            category="4. Blocks as players",
            subcategory="Tables",
            labels={"table": "steps, epochs and blocks found"},
        ),
    params:
        theta=BLOCKS["theta"],
        stops="--stopped-below-theta" if BLOCKS["stop_below_theta"] else "",
        root_epochs=BLOCKS["root_epochs"],
        retrain_epochs=BLOCKS["retrain_epochs"],
        players="blocks",
        expected=" ".join(["--strategies", *(f"'{s}'" for s in BLOCK_STRATEGIES), "--seeds",
                           *(str(config["seed"] + r) for r in range(BLOCKS["repetitions"]))]),
    log:
        f"{LOGS}/blocks/walk_tables.log",
    benchmark:
        f"{OUT}/benchmarks/blocks/walk_tables.tsv"


use rule plot_walks as plot_block_walks with:
    input:
        f"{OUT}/blocks/tables/walk_steps.csv",
    output:
        report(
            f"{OUT}/blocks/plots/walks.png",
            caption="../report/blocks.rst",
            category="4. Blocks as players",
            subcategory="Figures",
            labels={"figure": "pruning walks of blocks"},
        ),
    params:
        strategies=" ".join(f"'{s}'" for s in BLOCK_STRATEGIES),
        theta=BLOCKS["theta"],
        players="blocks",
        panels="--before-retrain",
    log:
        f"{LOGS}/blocks/plot_walks.log",
    benchmark:
        f"{OUT}/benchmarks/blocks/plot_walks.tsv"
