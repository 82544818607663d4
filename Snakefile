# svprune: Shapley values of neural-network components, and pruning by them.
# Reproduces Stier et al. 2018 end to end:
#   data -> root models -> pruning walks per (strategy, seed) -> grid search -> tables and plots -> report.
# Run:  snakemake --cores all            (then: snakemake --report results/report.html)
#       snakemake --profile slurm        (on a cluster; see profiles/slurm and the README)
import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")

configfile: "config/config.yaml"

validate(config, "workflow/schemas/config.schema.yaml")

# Rules run `python -m svprune.cli` with this repository's src/ on PYTHONPATH: the python of the environment
# snakemake runs in, or of the rule's conda environment (envs/*.yaml, with --sdm conda), which activation puts
# first on PATH. Jobs inherit both variables, on a cluster too.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in [os.path.join(workflow.basedir, "src"), os.environ.get("PYTHONPATH", "")] if p
)

sys.path.insert(0, os.path.join(workflow.basedir, "src"))  # the package, also where snakemake lacks it
from svprune.config import check_strategies, slug

try:
    STRATEGIES = check_strategies(config["pruning"]["strategies"])
    for i, group in enumerate(config["pruning"]["figures"]):
        unknown = [s for s in check_strategies(group) if s not in STRATEGIES]
        if unknown:
            raise ValueError(f"config pruning.figures[{i}] names {unknown}, which pruning.strategies does not list")
except ValueError as err:
    raise WorkflowError(str(err))

try:
    LAYER_STRATEGIES = check_strategies(config["layers"]["strategies"])
except ValueError as err:
    raise WorkflowError(str(err).replace("pruning.strategies", "layers.strategies"))

SLUG = {slug(s): s for s in STRATEGIES}
SEEDS = [config["seed"] + r for r in range(config["pruning"]["repetitions"])]
FIGURES = config["pruning"]["figures"] or [STRATEGIES]
RES = config["resources"]
OUT = config["outdir"].rstrip("/")
LOGS = os.path.join("logs", os.path.relpath(OUT, "results")).rstrip("/.") if OUT != "results" else "logs"

report: "workflow/report/workflow.rst"

include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/gridsearch.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/estimators.smk"
include: "workflow/rules/layers.smk"


# A companion experiment (e.g. the paper's 20newsgroups run beside its MNIST run): this same workflow again,
# with the config overlaid by the companion file, as a Snakemake module; `all` then builds both.
COMPANION = config.get("companion")
if COMPANION:
    import copy

    import yaml
    from snakemake.utils import update_config

    companion_config = copy.deepcopy({k: v for k, v in config.items() if k != "companion"})
    with open(COMPANION) as handle:
        update_config(companion_config, yaml.safe_load(handle))

    module companion:
        snakefile:
            "Snakefile"
        config:
            companion_config

    use rule * from companion as companion_*


rule all:
    default_target: True
    input:
        rules.companion_all.input if COMPANION else [],
        OUT + "/tables/strategies.html",
        expand(OUT + "/plots/walks_{figure}.png", figure=range(len(FIGURES))),
        [OUT + "/tables/gridsearch.html", OUT + "/plots/gridsearch.png"] if config["gridsearch"]["enabled"] else [],
        [OUT + "/tables/estimators.html", OUT + "/plots/estimators.png"] if config["estimators"]["enabled"] else [],
        [OUT + "/layers/tables/strategies.html", OUT + "/layers/plots/walks.png"] if config["layers"]["enabled"] else [],
