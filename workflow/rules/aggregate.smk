rule walk_tables:
    input:
        expand(OUT + "/walks/{strategy}/seed{seed}.csv", strategy=SLUG, seed=SEEDS),
    output:
        steps=OUT + "/tables/walk_steps.csv",
        summaries=OUT + "/tables/walk_summaries.csv",
        table=OUT + "/tables/strategies.csv",
        html=report(
            OUT + "/tables/strategies.html",
            caption="../report/strategies.rst",
            category="Tables",
            labels={"table": "steps, epochs, found per strategy"},
        ),
    params:
        theta=config["pruning"]["theta"],
        root_epochs=config["training"]["root_epochs"],
        retrain_epochs=config["pruning"]["retrain_epochs"],
    log:
        LOGS + "/walk_tables.log",
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m svprune.cli walk-tables --walks {input} --theta {params.theta} --root-epochs {params.root_epochs} "
        "--retrain-epochs {params.retrain_epochs} --out-steps {output.steps} --out-summaries {output.summaries} "
        "--out-table {output.table} --out-html {output.html} 2> {log}"


rule grid_tables:
    input:
        expand(
            OUT + "/gridsearch/h{hidden}/rep{rep}.csv",
            hidden=config["gridsearch"]["sizes"],
            rep=range(config["gridsearch"]["repetitions"]),
        ),
    output:
        runs=OUT + "/tables/gridsearch_runs.csv",
        table=OUT + "/tables/gridsearch.csv",
        cost=OUT + "/tables/gridsearch_cost.csv",
        html=report(
            OUT + "/tables/gridsearch.html",
            caption="../report/gridsearch_table.rst",
            category="Tables",
            labels={"table": "grid search"},
        ),
    params:
        theta=config["pruning"]["theta"],
    log:
        LOGS + "/grid_tables.log",
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m svprune.cli grid-tables --grid {input} --theta {params.theta} --out-runs {output.runs} "
        "--out-table {output.table} --out-cost {output.cost} --out-html {output.html} 2> {log}"


rule plot_walks:
    input:
        OUT + "/tables/walk_steps.csv",
    output:
        report(
            OUT + "/plots/walks_{figure}.png",
            caption="../report/walks.rst",
            category="Pruning walks",
            labels=lambda w: {"figure": " vs ".join(FIGURES[int(w.figure)])},
        ),
    params:
        strategies=lambda w: " ".join(f"'{s}'" for s in FIGURES[int(w.figure)]),
        theta=config["pruning"]["theta"],
    log:
        LOGS + "/plot_walks/{figure}.log",
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m svprune.cli plot-walks --steps {input} --strategies {params.strategies} --theta {params.theta} "
        "--out {output} 2> {log}"


rule plot_grid:
    input:
        OUT + "/tables/gridsearch_runs.csv",
    output:
        report(OUT + "/plots/gridsearch.png", caption="../report/gridsearch.rst", category="Grid search"),
    params:
        theta=config["pruning"]["theta"],
    log:
        LOGS + "/plot_grid.log",
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m svprune.cli plot-grid --runs {input} --theta {params.theta} --out {output} 2> {log}"
