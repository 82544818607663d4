rule prepare_data:
    priority: 100  # the main chain first: data, model check, roots, walks, tables
    output:
        f"{OUT}/data/splits.npz",
    params:
        dataset=pick("dataset", *config["dataset"]),
    log:
        f"{LOGS}/prepare_data.log",
    benchmark:
        f"{OUT}/benchmarks/prepare_data.tsv"
    resources:
        mem_mb=res("data", "mem_mb", 8000),
        runtime=res("data", "runtime", 30),
    conda:
        "../envs/data.yaml"
    shell:
        "python -m svprune.cli prepare --dataset {params.dataset:q} --out {output} 2> {log}"
