rule estimator_study:
    output:
        f"{OUT}/estimators/{{game}}.csv",
    params:
        estimators=" ".join(config["estimator_study"]["estimators"]),
        budgets=" ".join(str(e) for e in config["estimator_study"]["budgets"]),
        seeds=config["estimator_study"]["seeds"],
    log:
        f"{LOGS}/estimators/{{game}}.log",
    benchmark:
        f"{OUT}/benchmarks/estimators/{{game}}.tsv"
    resources:
        mem_mb=res("estimators", "mem_mb", 4000),
        runtime=res("estimators", "runtime", 60),
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m svprune.cli estimator-study --game {wildcards.game} --estimators {params.estimators} "
        "--budgets {params.budgets} --seeds {params.seeds} --out {output} 2> {log}"


rule estimator_tables:
    input:
        results=estimator_outputs(),
        peers=peer_rows(),
    output:
        runs=f"{OUT}/tables/estimator_runs.csv",
        table=f"{OUT}/tables/estimators.csv",
        html=report(
            f"{OUT}/tables/estimators.html",
            caption="../report/estimators_table.rst",
            category="3. Estimator study",
            subcategory="Tables",
            labels={"table": "error, coverage and time per budget"},
        ),
        plot=report(
            f"{OUT}/plots/estimators.png",
            caption="../report/estimators.rst",
            category="3. Estimator study",
            subcategory="Figures",
            labels={"figure": "error against coalition evaluations"},
        ),
    log:
        f"{LOGS}/estimator_tables.log",
    benchmark:
        f"{OUT}/benchmarks/estimator_tables.tsv"
    conda:
        "../envs/analysis.yaml"
    shell:
        "python -m svprune.cli estimator-tables --results {input.results} "
        + ("--peers {input.peers} " if peer_rows() else "")
        + "--out-runs {output.runs} --out-table {output.table} "
        "--out-html {output.html} --out-plot {output.plot} 2> {log}"
