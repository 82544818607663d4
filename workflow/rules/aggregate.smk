rule walk_tables:
    priority: 80
    input:
        walk_outputs(OUT, SLUG, config["pruning"]["repetitions"]),
    output:
        steps=f"{OUT}/tables/walk_steps.csv",
        summaries=f"{OUT}/tables/walk_summaries.csv",
        table=f"{OUT}/tables/strategies.csv",
        roots=f"{OUT}/tables/roots.csv",
        html=report(
            f"{OUT}/tables/strategies.html",
            caption="../report/strategies.rst",
            category="1. Pruning strategies",
            subcategory="Tables",
            labels={"table": f"steps, epochs and {KIND.players} found"},
        ),
    params:
        theta=config["pruning"]["theta"],
        stops="--stopped-below-theta" if config["pruning"]["stop_below_theta"] else "",
        root_epochs=config["training"]["root_epochs"],
        retrain_epochs=config["pruning"]["retrain_epochs"],
        players=KIND.players,
        expected=" ".join(["--strategies", *(f"'{s}'" for s in STRATEGIES), "--seeds", *map(str, SEEDS)]),
    log:
        f"{LOGS}/walk_tables.log",
    benchmark:
        f"{OUT}/benchmarks/walk_tables.tsv"
    conda:
        "../envs/analysis.yaml"
    shell:
        "python -m svprune.cli walk-tables --walks {input} --theta {params.theta} {params.stops} "
        "--root-epochs {params.root_epochs} --retrain-epochs {params.retrain_epochs} --players {params.players} "
        "{params.expected} "
        "--out-steps {output.steps} --out-summaries {output.summaries} --out-table {output.table} "
        "--out-roots {output.roots} "
        "--out-html {output.html} 2> {log}"


rule grid_tables:
    input:
        grid_outputs(),
    output:
        runs=f"{OUT}/tables/gridsearch_runs.csv",
        table=f"{OUT}/tables/gridsearch.csv",
        cost=f"{OUT}/tables/gridsearch_cost.csv",
        html=report(
            f"{OUT}/tables/gridsearch.html",
            caption="../report/gridsearch_table.rst",
            category="2. Grid-search baseline",
            subcategory="Tables",
            labels={"table": "accuracy per cell and search cost"},
        ),
    params:
        theta=config["pruning"]["theta"],
        budgets=" ".join(str(e) for e in config["gridsearch"]["epochs"]),
        sizes=" ".join(str(h) for h in config["gridsearch"]["sizes"]),
        repetitions=config["gridsearch"]["repetitions"],
    log:
        f"{LOGS}/grid_tables.log",
    benchmark:
        f"{OUT}/benchmarks/grid_tables.tsv"
    conda:
        "../envs/analysis.yaml"
    shell:
        "python -m svprune.cli grid-tables --grid {input} --theta {params.theta} --budgets {params.budgets} "
        "--sizes {params.sizes} --repetitions {params.repetitions} "
        "--out-runs {output.runs} --out-table {output.table} --out-cost {output.cost} --out-html {output.html} "
        "2> {log}"


rule plot_walks:
    input:
        f"{OUT}/tables/walk_steps.csv",
    output:
        report(
            f"{OUT}/plots/walks_{{figure}}.png",
            caption="../report/walks.rst",
            category="1. Pruning strategies",
            subcategory="Figures",
            labels=lambda w: {"figure": " vs ".join(FIGURES[int(w.figure)])},
        ),
    params:
        strategies=lambda w: " ".join(f"'{s}'" for s in FIGURES[int(w.figure)]),
        theta=config["pruning"]["theta"],
        players=KIND.players,
        panels="",
    log:
        f"{LOGS}/plot_walks/{{figure}}.log",
    benchmark:
        f"{OUT}/benchmarks/plot_walks/{{figure}}.tsv"
    conda:
        "../envs/analysis.yaml"
    shell:
        "python -m svprune.cli plot-walks --steps {input} --strategies {params.strategies} --theta {params.theta} "
        "--players {params.players} {params.panels} --out {output} 2> {log}"


rule plot_parameters:
    input:
        f"{OUT}/tables/walk_steps.csv",
    output:
        report(
            f"{OUT}/plots/parameters.png",
            caption="../report/parameters.rst",
            category="1. Pruning strategies",
            subcategory="Figures",
            labels={"figure": "accuracy against parameters removed"},
        ),
    params:
        theta=config["pruning"]["theta"],
    log:
        f"{LOGS}/plot_parameters.log",
    benchmark:
        f"{OUT}/benchmarks/plot_parameters.tsv"
    conda:
        "../envs/analysis.yaml"
    shell:
        "python -m svprune.cli plot-parameters --steps {input} --theta {params.theta} --out {output} 2> {log}"


rule plot_grid:
    input:
        f"{OUT}/tables/gridsearch_runs.csv",
    output:
        report(
            f"{OUT}/plots/gridsearch.png",
            caption="../report/gridsearch.rst",
            category="2. Grid-search baseline",
            subcategory="Figures",
            labels={"figure": "accuracy per hidden size and epochs"},
        ),
    params:
        theta=config["pruning"]["theta"],
    log:
        f"{LOGS}/plot_grid.log",
    benchmark:
        f"{OUT}/benchmarks/plot_grid.tsv"
    conda:
        "../envs/analysis.yaml"
    shell:
        "python -m svprune.cli plot-grid --runs {input} --theta {params.theta} --out {output} 2> {log}"
