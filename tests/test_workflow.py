"""The Snakemake workflow end to end on the tiny config: every stage, determinism, interrupted runs, reruns after
config edits and deleted files, bad configs, planning without torch, Slurm."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TABLES = ["strategies.csv", "walk_summaries.csv", "gridsearch.csv", "gridsearch_cost.csv"]

pytestmark = pytest.mark.slow


def workdir(tmp_path: Path, name: str) -> Path:
    """A copy of the workflow's files (not results) in a fresh directory."""
    dest = tmp_path / name
    dest.mkdir()
    for item in ("workflow", "config", "benchmarks/results"):
        src = REPO / item
        (dest / item).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / item)
    return dest


def run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def tables(cwd: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(cwd / "results" / "tiny" / "tables" / name) for name in TABLES}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    cwd = workdir(tmp_path_factory.mktemp("wf"), "first")
    mask = os.umask(0o022)  # the usual umask: outputs must then be readable by others
    try:
        proc = run(cwd, "--cores", "2", "--configfile", "config/tiny.yaml")
    finally:
        os.umask(mask)
    (cwd / "first_run.log").write_text(proc.stdout + proc.stderr)
    return cwd


def test_every_job_writes_a_timing_file(tiny_run):
    """One benchmark file (wall time, memory) per job of the run (all but the target rule `all`, which runs nothing)."""
    log = (tiny_run / "first_run.log").read_text()
    jobs = int(re.search(r"(\d+) of \1 steps \(100%\) done", log).group(1))
    timings = list((tiny_run / "results" / "tiny" / "benchmarks").rglob("*.tsv"))
    assert len(timings) == jobs - 1, (len(timings), jobs)


def test_dry_run_lists_every_stage(tmp_path):
    cwd = workdir(tmp_path, "dry")
    out = run(cwd, "-n", "--configfile", "config/tiny.yaml").stdout
    # walks: one job per strategy and group of seeds; grid: one job per size and group of repetitions
    for rule, count in [("prepare_data", 1), ("train_root", 2), ("prune_walk", 3), ("grid_run", 2),
                        ("walk_tables", 1), ("grid_tables", 1), ("plot_walks", 1), ("plot_grid", 1),
                        ("estimator_study", 2), ("estimator_tables", 1), ("train_block_root", 2), ("block_walk", 2),
                        ("block_tables", 1), ("plot_block_walks", 1)]:
        assert any(line.split() == [rule, str(count)] for line in out.splitlines()), (rule, out)


def test_the_inherited_settings_warning_names_only_what_changes_results(tmp_path):
    cwd = workdir(tmp_path, "inherits")
    (cwd / "mine.yaml").write_text("pruning: {theta: 0.8}\noutdir: results/mine\n")
    out = run(cwd, "-n", "--configfile", "mine.yaml")
    warning = next(line for line in (out.stdout + out.stderr).splitlines() if "The config inherits" in line)
    named = []
    for group in warning.split("does not set: ")[1].split(". Set them")[0].split("; "):
        section, _, keys = group.partition(": ")
        named += [f"{section}.{k}" for k in keys.split(", ")] if keys else [section]
    assert {"seed", "pruning.shapley.estimator", "pruning.strategies", "estimator_study.estimators"} <= set(named)
    assert "pruning: repetitions, retrain_epochs" in warning  # grouped by section
    assert not {"pruning.theta", "outdir"} & set(named)  # set by the file
    assert not [k for k in named if k.startswith(("training.threads", "pruning.figures", "resources"))]
    assert f"inherits {len(named)} setting(s) that change results" in warning
    # a file that sets everything that changes results is not warned about
    quiet = run(cwd, "-n", "--configfile", "config/paper.yaml")
    assert "The config inherits" not in quiet.stdout + quiet.stderr


def test_each_experiment_reads_its_own_section(tmp_path):
    """The blocks experiment's walks take eval_split, measure, stop_below_theta and shapley_for_all from the blocks
    section, never from pruning's (they once inherited pruning's settings)."""
    import json

    cwd = workdir(tmp_path, "own")
    (cwd / "mine.yaml").write_text("pruning: {eval_split: test, measure: neg_cross_entropy, stop_below_theta: true, "
                                   "shapley_for_all: false}\nblocks: {measure: balanced_accuracy}\n")
    out = run(cwd, "-n", "-p", "--configfile", "config/tiny.yaml", "mine.yaml").stdout

    def pruning_of(walk_dir):
        line = next(x for x in out.splitlines() if "svprune.cli" in x and f"{walk_dir}/walks/" in x and " walk " in x)
        return json.loads(line.split("--pruning ")[1].split(" --model")[0].strip("'"))

    blocks, neurons = pruning_of("results/tiny/blocks"), pruning_of("results/tiny")
    assert neurons["eval_split"] == "test" and neurons["measure"] == "neg_cross_entropy" and "theta" in neurons
    assert blocks["eval_split"] == "validation" and blocks["measure"] == "balanced_accuracy"
    assert blocks["stop_below_theta"] is False and "theta" not in blocks and blocks["shapley_for_all"] is True
    assert blocks["shapley"]["estimator"] == "exact" and blocks["retrain_epochs"] == 1


def test_tiny_workflow_produces_tables_plots_and_report(tiny_run):
    t = tables(tiny_run)
    strategies = t["strategies.csv"]
    assert list(strategies["strategy"]) == ["SVbucket(0.3)", "random(3)", "Wbottom(4)"]
    for col in ["avg # steps", "max # steps", "min # steps", "avg # epochs", "max # epochs", "min # epochs",
                "avg # found", "max # found", "min # found"]:
        assert col in strategies.columns
    # random(3) and Wbottom(4) from 12 players: 4 and 3 steps; epochs = T0 + T1 * steps = 5 + 1 * steps
    assert strategies.set_index("strategy").loc["random(3)", "avg # steps"] == 4
    assert strategies.set_index("strategy").loc["Wbottom(4)", "avg # epochs"] == 8
    steps = pd.read_csv(tiny_run / "results" / "tiny" / "walks" / "SVbucket-0.3" / "seeds0-1.csv")
    assert sorted(set(steps["seed"])) == [0, 1]  # both walks of the group, retrained together
    assert {"walk_id", "strategy", "seed", "step", "players_before", "players_after", "pruned", "removed_shapley",
            "accuracy", "epochs", "wall_time", "shapley_evaluations", "shapley_stderr_max"} <= set(steps.columns)
    assert (tiny_run / "results" / "tiny" / "plots" / "walks_0.png").stat().st_size > 10_000
    assert (tiny_run / "results" / "tiny" / "plots" / "gridsearch.png").stat().st_size > 10_000
    estimators = pd.read_csv(tiny_run / "results" / "tiny" / "tables" / "estimators.csv")
    assert {e for e in estimators["estimator"] if ":" not in e} == {"permutation", "stratified"}
    # the peers' rows (estimator_study.peers) on the same games sit beside svprune's
    assert {"shapiq:KernelSHAP", "captum:ShapleyValueSampling"} <= set(estimators["estimator"])
    assert (tiny_run / "results" / "tiny" / "plots" / "estimators.png").stat().st_size > 10_000
    layers = pd.read_csv(tiny_run / "results" / "tiny" / "blocks" / "tables" / "strategies.csv")
    assert list(layers["strategy"]) == ["SVbottom(1)", "random(1)"]
    assert (layers["avg # steps"] == 4).all()  # 4 blocks, one per step
    assert "seed 1 step 1" in (tiny_run / "results" / "tiny" / "logs" / "walks" / "SVbucket-0.3" / "seeds0-1.log").read_text()
    network = pd.read_csv(tiny_run / "results" / "tiny" / "network" / "tables" / "removal.csv")
    assert list(network["criterion"]) == ["shapley", "weight_norm", "random", "random (s.d. of draws)"]
    assert list(network.columns[1:]) == ["k = 0", "k = 1", "k = 3", "k = 6"]
    assert network["k = 0"].nunique() == 2  # the whole network's accuracy (and the draws' spread of it, 0)
    values = pd.read_csv(tiny_run / "results" / "tiny" / "network" / "values.csv")
    assert len(values) == 4 + 8 and values["name"].iloc[4] == "conv2:0"  # every channel of both convolutions
    assert (tiny_run / "results" / "tiny" / "network" / "plots" / "removal.png").stat().st_size > 10_000
    run(tiny_run, "--configfile", "config/tiny.yaml", "--report", "results/tiny/report.html")
    report = (tiny_run / "results" / "tiny" / "report.html").read_text()
    for heading in ("1. Pruning strategies", "2. Grid-search baseline", "3. Estimator study", "4. Blocks as players",
                    "5. Every channel as a player", "removing the most important channels",
                    "pruning walks of blocks", "error against coalition evaluations"):
        assert heading in report, heading
    # every table's label describes what the table holds: each of its words names columns that are there
    out = tiny_run / "results" / "tiny"
    labels = {
        "steps, epochs and neurons found": (out / "tables" / "strategies.csv", ["# steps", "# epochs", "# found"]),
        "steps, epochs and blocks found": (out / "blocks" / "tables" / "strategies.csv",
                                           ["# steps", "# epochs", "# found"]),
        "accuracy per cell and search cost": (out / "tables" / "gridsearch.csv", ["hidden", "epochs", "mean"]),
        "error, coverage and time per budget": (out / "tables" / "estimators.csv", ["error @", "coverage @", "ms @"]),
        "accuracy after removing the top-k channels": (out / "network" / "tables" / "removal.csv", ["criterion", "k = "]),
    }
    shown = re.findall(r'"table": ?"([^"]+)"', report.replace("\\\"", '"'))
    assert shown and set(shown) <= set(labels), set(shown) - set(labels)
    for label in shown:
        table, words = labels[label]
        columns = " | ".join(pd.read_csv(table).columns)
        for word in words:
            assert word in columns, (label, word, columns)
    cost = pd.read_csv(out / "tables" / "gridsearch_cost.csv")
    assert {"search", "avg # epochs"} <= set(cost.columns)  # the grid search's "search cost"


def test_same_config_same_tables_and_interrupted_run_resumes(tiny_run, tmp_path):
    cwd = workdir(tmp_path, "interrupted")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # SIGINT restored to its default in the child: a signal ignored in the parent (something earlier in the suite
    # may ignore it) stays ignored across exec, and python then installs no KeyboardInterrupt handler
    proc = subprocess.Popen([*SNAKEMAKE, "--cores", "1", "--configfile", "config/tiny.yaml"], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not list((cwd / "results" / "tiny" / "logs").glob("walks/*/*.log")):
        time.sleep(0.2)
    # Ctrl-C in the middle of the walks, pressed again until snakemake stops, as a user would
    for _ in range(120):
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            continue
    proc.wait(timeout=60)
    assert not (cwd / "results" / "tiny" / "tables" / "strategies.csv").exists(), "the run should have been interrupted"
    run(cwd, "--cores", "2", "--configfile", "config/tiny.yaml", "--rerun-incomplete")
    first, resumed = tables(tiny_run), tables(cwd)
    for name in TABLES:
        pd.testing.assert_frame_equal(first[name], resumed[name], check_exact=True)


@pytest.mark.parametrize(
    "bad,field",
    [
        ("pruning: {strategies: ['SVmagic(0.2)']}", "strategies"),
        ("pruning: {strategies: ['SVbucket(1.5)']}", "strategies"),
        ("pruning: {theta: 1.2}", "theta"),
        ("pruning: {repetitions: -1}", "repetitions"),
        ("dataset: {name: cifar10}", "name"),
        ("gridsearch: {epochs: [0, 10]}", "epochs"),
        ("pruning: {figures: [['random(7)']]}", "figures"),
        ("blocks: {strategies: ['SVbucket(2)']}", "blocks.strategies"),
        ("estimator_study: {estimators: [montecarlo]}", "estimator_study.estimators"),
        ("estimators: {methods: [permutation]}", "estimators was renamed to estimator_study"),
        ("pruning: {shapley: {method: permutation}}", "pruning.shapley.method was renamed to pruning.shapley.estimator"),
        ("pruning: {walks_per_job: 2}", "renamed to pruning.repetitions_per_job"),
        ("pruning: {figures: [['SVbucket(.3)', 'SVbucket(0.7)']]}", "pruning.figures[0][1]"),
        ("pruning: {figures: [['SVmagic(1)']]}", "pruning.figures[0][0]"),
        ("outdir: ''", "outdir"),
        ("outdir: /", "outdir"),
        ("outdir: /tmp/elsewhere", "outdir"),
        ("outdir: ../outside", "outdir"),
        ("outdir: workflow/rules", "outdir"),
        ("companion: missing.yaml", "companion: file 'missing.yaml' not found"),
        ("companion: ''", "companion is empty"),
        ("companion: config/listy.yaml", "must hold a mapping"),
        ("companion: config/same.yaml", "same outdir"),
        ("companion: config/none.yaml", "sets no outdir"),
        ("model: {kind: cnn}\ngridsearch: {enabled: false}", "model.image_shape"),
        ("model: {kind: torchvision, image_shape: [1, 8, 8], layer: net.conv1}\ngridsearch: {enabled: false}",
         "model.arch"),
        ("model: {kind: torchvision, arch: resnet18, image_shape: [1, 8, 8]}\ngridsearch: {enabled: false}",
         "model.layer"),
        ("model: {kind: cnn, image_shape: [1, 8, 8]}", "gridsearch.enabled"),
        ("pruning: {shapley: {estimator: kernelshap}}", "estimator"),
        ("pruning: {strategies: ['TPmagic(2)']}", "strategies"),
        ("pruning: {repetitions: 100000000}", "repetitions"),
        ("gridsearch: {repetitions: 100000000}", "repetitions"),
        ("estimator_study: {peers: ../../../../etc/passwd}", "estimator_study.peers"),
        ("estimator_study: {peers: missing.csv}", "estimator_study.peers"),
        ("model: {kind: python, factory: 'x:y'}\ngridsearch: {enabled: false}", "model.layer"),
        ("model: {kind: python, factory: 'not a factory', layer: fc}\ngridsearch: {enabled: false}", "factory"),
        ("model: {kind: alien}", "config model.kind: 'alien' is not one of ['mlp', 'residual', 'cnn', 'torchvision', 'python']"),
        ("model: {kind: python, factory: 'x:y', layer: a, checkpoint: nothere.pt}\ngridsearch: {enabled: false}",
         "model.checkpoint"),
    ],
)
def test_bad_config_stops_before_any_job_naming_the_field(tmp_path, bad, field):
    cwd = workdir(tmp_path, "bad")
    (cwd / "bad.yaml").write_text(bad + "\n")
    (cwd / "config" / "listy.yaml").write_text("- outdir: results/x\n")
    (cwd / "config" / "same.yaml").write_text("outdir: results/\n")
    (cwd / "config" / "none.yaml").write_text("seed: 3\n")
    proc = run(cwd, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    assert field in message, message[-2000:]
    assert "Traceback" not in message
    assert not (cwd / "results").exists()


def _slurm_skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to install and start a one-node Slurm cluster"
    if not Path("/etc/debian_version").exists() or shutil.which("apt-get") is None:
        return "the test cluster script installs Slurm from Debian's packages; this is not a Debian machine"
    return None


@pytest.fixture(scope="module")
def slurm_cluster():
    reason = _slurm_skip_reason()
    if reason:
        pytest.skip(reason)
    script = REPO / "tests" / "slurm" / "cluster.sh"
    was_running = subprocess.run([script, "status"], capture_output=True).returncode == 0
    started = subprocess.run([script, "start"], capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        pytest.fail(f"could not start the test cluster:\n{started.stderr[-3000:]}")
    yield
    if not was_running:
        subprocess.run([script, "stop"], capture_output=True, timeout=120)


def slurm_env(tmp_path: Path) -> dict:
    """`snakemake --profile slurm` finds the test profile as an installed user profile."""
    xdg = tmp_path / "xdg"
    (xdg / "snakemake").mkdir(parents=True)
    (xdg / "snakemake" / "slurm").symlink_to(REPO / "tests" / "slurm" / "profile")
    return {**os.environ, "XDG_CONFIG_HOME": str(xdg),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.slurm
def test_slurm_profile_runs_every_job_through_sbatch_with_local_results(slurm_cluster, tiny_run, tmp_path):
    cwd = workdir(tmp_path, "slurm")
    proc = subprocess.run(["timeout", "1200", *SNAKEMAKE, "--profile", "slurm", "--configfile", "config/tiny.yaml"],
                          cwd=cwd, env=slurm_env(tmp_path), capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    job_ids = set(re.findall(r"SLURM jobid (\d+)", output))
    n_jobs = int(re.search(r"(\d+) of \1 steps \(100%\) done", output).group(1))
    assert len(job_ids) == n_jobs - 1, (job_ids, n_jobs)  # every job but the local target rule `all`
    known = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i %T"], capture_output=True, text=True).stdout
    completed = {line.split()[0] for line in known.splitlines() if line.endswith("COMPLETED")}
    assert job_ids <= completed
    local, remote = tables(tiny_run), tables(cwd)
    for name in TABLES:
        pd.testing.assert_frame_equal(local[name], remote[name], check_exact=True)


@pytest.mark.slurm
def test_failing_rule_under_slurm_exits_nonzero(slurm_cluster, tmp_path):
    cwd = workdir(tmp_path, "slurm-fail")
    (cwd / "broken.yaml").write_text("dataset: {name: mnist, root: /nonexistent/mnist}\n")
    proc = subprocess.run(["timeout", "600", *SNAKEMAKE, "--profile", "slurm", "--configfile", "config/tiny.yaml",
                           "broken.yaml"], cwd=cwd, env=slurm_env(tmp_path), capture_output=True, text=True)
    assert proc.returncode not in (0, 124), "snakemake should fail, not succeed or hang"
    log = (cwd / "results" / "tiny" / "logs" / "prepare_data.log").read_text()
    assert "train-images-idx3-ubyte" in log  # the data error reached the rule's log


def test_site_profile_asks_gpus_only_for_gpu_rules_when_config_says_cuda(tmp_path):
    if shutil.which("sbatch") is None:
        pytest.skip("the Slurm executor plugin needs Slurm's client commands (sbatch) to load")
    cwd = workdir(tmp_path, "gpu")
    (cwd / "cuda.yaml").write_text("training: {device: cuda}\n")
    out = run(cwd, "-n", "--profile", str(REPO / "workflow" / "profiles" / "slurm"), "--configfile", "config/tiny.yaml",
              "cuda.yaml").stdout
    resources = {}
    for block in out.split("\nrule ")[1:]:
        name = block.split(":", 1)[0]
        line = next((l for l in block.splitlines() if l.strip().startswith("resources:")), "")
        resources.setdefault(name, set()).add("gpu=1" in line)
    for rule in ("train_root", "prune_walk", "grid_run", "train_block_root", "block_walk"):
        assert resources[rule] == {True}, rule
    for rule in ("prepare_data", "walk_tables", "grid_tables", "plot_walks", "plot_grid", "estimator_study"):
        assert resources[rule] == {False}, rule
    cpu = run(cwd, "-n", "--profile", str(REPO / "workflow" / "profiles" / "slurm"), "--configfile", "config/tiny.yaml").stdout
    assert "gpu=1" not in cpu


def test_companion_experiment_runs_from_the_same_command(tmp_path):
    cwd = workdir(tmp_path, "companion")
    (cwd / "other.yaml").write_text("outdir: results/other\nseed: 7\ngridsearch: {enabled: false}\n"
                                    "estimator_study: {enabled: false}\nblocks: {enabled: false}\n")
    (cwd / "both.yaml").write_text("companion: other.yaml\n")
    out = run(cwd, "-n", "--configfile", "config/tiny.yaml", "both.yaml").stdout
    counts = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["prune_walk"] == 3 and counts["companion_prune_walk"] == 3
    assert counts["grid_run"] == 2 and "companion_grid_run" not in counts
    assert "results/other/walks/random-3/seeds7-8.csv" in out  # the companion's seeds and directory
    assert "results/other/logs/walks/random-3/seeds7-8.log" in out  # and its logs under its outdir


def planned(cwd: Path, *args: str) -> dict[str, int]:
    """Jobs per rule that `snakemake -n` would run."""
    out = run(cwd, "-n", "--configfile", "config/tiny.yaml", *args).stdout
    counts = {}
    for line in out.split("Job stats:")[-1].splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def test_config_edits_rerun_only_the_steps_that_read_them(tiny_run, tmp_path):
    """Each rule's params carry only what its step reads: a changed plot list, thread count or table theta
    reruns no training; a changed retraining budget reruns the walks, not the roots or the grid."""
    assert planned(tiny_run) == {}
    edit = tiny_run / "edit.yaml"
    heavy = {"train_root", "prune_walk", "grid_run", "train_block_root", "block_walk", "estimator_study"}
    edit.write_text("pruning: {figures: [[random(3), Wbottom(4)], [SVbucket(0.3)]]}\n")
    jobs = planned(tiny_run, str(edit))
    assert jobs.get("plot_walks") == 2 and not heavy & set(jobs), jobs
    edit.write_text("training: {threads: 2}\n")
    assert not heavy & set(planned(tiny_run, str(edit)))
    edit.write_text("pruning: {theta: 0.7}\n")
    jobs = planned(tiny_run, str(edit))
    assert jobs.get("walk_tables") == 1 and not heavy & set(jobs), jobs
    edit.write_text("pruning: {retrain_epochs: 2}\n")
    jobs = planned(tiny_run, str(edit))
    assert jobs.get("prune_walk") == 3 and "train_root" not in jobs and "grid_run" not in jobs, jobs
    edit.write_text("gridsearch: {repetitions: 3}\n")
    jobs = planned(tiny_run, str(edit))
    assert jobs.get("grid_run") == 2 and "prune_walk" not in jobs, jobs  # a new group (repetition 2), 2 sizes


def test_deleted_or_forced_outputs_are_rebuilt_with_what_follows(tiny_run):
    walk = tiny_run / "results" / "tiny" / "walks" / "random-3" / "seeds0-1.csv"
    saved = walk.read_bytes()
    walk.unlink()
    try:
        jobs = planned(tiny_run)
        assert jobs.get("prune_walk") == 1 and jobs.get("walk_tables") == 1 and jobs.get("plot_walks") == 1, jobs
        assert "train_root" not in jobs
    finally:
        walk.write_bytes(saved)
        os.utime(walk, (0, 0))  # older than the tables again
    # the documented way to redo one job and everything downstream: --forcerun <its output>
    jobs = planned(tiny_run, "--forcerun", "results/tiny/roots/seed0.pt")
    assert jobs.get("train_root") == 1 and jobs.get("prune_walk") == 3 and jobs.get("walk_tables") == 1, jobs


def test_planning_needs_neither_torch_nor_numba(tmp_path):
    """The Snakefile and everything it imports run on a login node without the training stack."""
    cwd = workdir(tmp_path, "no-torch")
    blocker = tmp_path / "blocker"
    for name in ("torch", "numba", "torchvision"):
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked for this test')\n")
    env = {**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    check = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert "blocked" in check.stderr  # the blocker works
    for config in ("config/config.yaml", "config/paper.yaml", "config/fashion-mnist.yaml"):
        proc = subprocess.run([*SNAKEMAKE, "-n", "--configfile", config], cwd=cwd, env=env, capture_output=True,
                              text=True)
        assert proc.returncode == 0, (config, proc.stdout[-2000:], proc.stderr[-2000:])
        assert "Job stats:" in proc.stdout


def test_lint_passes_and_every_rule_has_its_environment(tmp_path):
    cwd = workdir(tmp_path, "lint")
    proc = run(cwd, "--lint")
    assert "Congratulations" in proc.stdout + proc.stderr, proc.stdout[-3000:]
    import re as _re
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        text = rules.read_text()
        for block in _re.split(r"\n(?=rule |use rule )", text):
            if block.startswith("rule ") and "shell:" in block:
                assert "conda:" in block, (rules.name, block.splitlines()[0])


def test_a_failed_job_shows_its_cause_in_the_terminal(tmp_path):
    """The default workflow profile prints a failed job's log, where svprune writes the cause."""
    cwd = workdir(tmp_path, "fail")
    (cwd / "broken.yaml").write_text("dataset: {name: mnist, root: /nonexistent/mnist}\n")
    proc = run(cwd, "--cores", "1", "--configfile", "config/tiny.yaml", "broken.yaml", check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "train-images-idx3-ubyte" in output and "/nonexistent/mnist" in output, output[-3000:]
    assert "Traceback" not in output


# ---- fault injection: damaged records stop the next run with the file named, and the advice works as written --
def damaged_copy(tiny_run: Path, tmp_path: Path) -> Path:
    cwd = tmp_path / "damaged"
    shutil.copytree(tiny_run, cwd, ignore=shutil.ignore_patterns(".snakemake"))
    return cwd


def advice(log: str) -> list[str]:
    """The command an error's advice gives, as words (the first `...` quoted command that starts snakemake)."""
    command = next(m for m in re.findall(r"`([^`]+)`", log) if m.startswith("snakemake"))
    return command.split()[1:]


def cut_one_seed(path: Path):
    """A walk file cut at a line boundary, so that one seed's walk is gone: every line of seed 1 removed."""
    frame = pd.read_csv(path)
    frame[frame["seed"] == 0].to_csv(path, index=False)


def accuracy_of(value):
    def damage(path: Path):
        frame = pd.read_csv(path)
        frame.loc[frame.index[2], "accuracy" if value > 1 else "test_accuracy"] = value
        frame.to_csv(path, index=False)
    return damage


@pytest.mark.parametrize("damage,message", [
    (cut_one_seed, "the walk of random(3) seed 1 is missing"),
    (accuracy_of(1.7), "accuracy at step 2 is 1.7, not an accuracy in [0, 1]"),
    (accuracy_of(float("nan")), "test_accuracy at step 2 is nan"),
    (lambda p: p.write_text(p.read_text()[: len(p.read_text()) // 2]), "random-3/seeds0-1.csv"),
    (lambda p: pd.read_csv(p).drop(index=2).to_csv(p, index=False), "not 0, 1, 2, ...; the file is truncated or edited"),
], ids=["cut-at-a-line", "accuracy-1.7", "nan-test-accuracy", "cut-mid-line", "a-row-removed"])
def test_a_damaged_walk_file_stops_the_tables_and_the_advice_repairs_it(tiny_run, tmp_path, damage, message):
    cwd = damaged_copy(tiny_run, tmp_path)
    walk = cwd / "results" / "tiny" / "walks" / "random-3" / "seeds0-1.csv"
    damage(walk)  # newer than the tables now: the next run reads it again
    proc = run(cwd, "--cores", "2", "--configfile", "config/tiny.yaml", check=False)
    assert proc.returncode != 0
    log = (cwd / "results" / "tiny" / "logs" / "walk_tables.log").read_text()
    assert message in log and "random-3/seeds0-1.csv" in log, log
    assert "--configfile config/tiny.yaml" in log  # the advice names the run's config file
    run(cwd, *advice(log))  # followed literally
    pd.testing.assert_frame_equal(pd.read_csv(cwd / "results" / "tiny" / "tables" / "strategies.csv"),
                                  tables(tiny_run)["strategies.csv"], check_exact=True)


def test_a_grid_file_that_lost_a_repetition_stops_the_tables(tiny_run, tmp_path):
    cwd = damaged_copy(tiny_run, tmp_path)
    grid = cwd / "results" / "tiny" / "gridsearch" / "h3" / "reps0-1.csv"
    frame = pd.read_csv(grid)
    frame[frame["repetition"] == 0].to_csv(grid, index=False)
    assert run(cwd, "--cores", "2", "--configfile", "config/tiny.yaml", check=False).returncode != 0
    log = (cwd / "results" / "tiny" / "logs" / "grid_tables.log").read_text()
    assert "hidden 3 repetition 1 is missing" in log and "h3/reps0-1.csv" in log


def test_a_foreign_root_model_is_refused_naming_both_and_deleting_it_rebuilds_it(tiny_run, tmp_path):
    from svprune.models import MLP, save_checkpoint

    cwd = damaged_copy(tiny_run, tmp_path)
    root = cwd / "results" / "tiny" / "roots" / "seed0.pt"
    save_checkpoint(MLP(64, [20], 10, seed=0), root)  # a 20-unit MLP where the config's has 12
    proc = run(cwd, "--cores", "2", "--configfile", "config/tiny.yaml", check=False)
    assert proc.returncode != 0
    logs = "".join(p.read_text() for p in (cwd / "results" / "tiny" / "logs" / "walks").glob("*/*.log"))
    assert "results/tiny/roots/seed0.pt holds a mlp model" in logs and "'hidden': [20]" in logs and "'hidden': [12]" in logs
    assert "Delete it and run `snakemake --cores all --configfile config/tiny.yaml` again" in logs
    root.unlink()
    run(cwd, "--cores", "2", "--configfile", "config/tiny.yaml")  # as the advice says
    pd.testing.assert_frame_equal(pd.read_csv(cwd / "results" / "tiny" / "tables" / "strategies.csv"),
                                  tables(tiny_run)["strategies.csv"], check_exact=True)


def test_corrupt_prepared_data_is_rebuilt_by_following_the_advice(tiny_run, tmp_path):
    cwd = damaged_copy(tiny_run, tmp_path)
    splits = cwd / "results" / "tiny" / "data" / "splits.npz"
    splits.write_bytes(b"not a zip file")
    (cwd / "results" / "tiny" / "roots" / "seed0.pt").unlink()  # a job that reads the data must run
    proc = run(cwd, "--cores", "2", "--configfile", "config/tiny.yaml", check=False)
    assert proc.returncode != 0
    log = (cwd / "results" / "tiny" / "logs" / "check_model.log").read_text()
    assert "results/tiny/data/splits.npz is unreadable" in log and "delete it and run snakemake again" in log
    assert "allow_pickle" not in log and "unsafe" not in log
    splits.unlink()
    run(cwd, "--cores", "2", "--configfile", "config/tiny.yaml")
    assert (cwd / "results" / "tiny" / "roots" / "seed0.pt").exists()
    pd.testing.assert_frame_equal(pd.read_csv(cwd / "results" / "tiny" / "tables" / "strategies.csv"),
                                  tables(tiny_run)["strategies.csv"], check_exact=True)


def test_outputs_are_readable_by_others_under_umask_022(tiny_run):
    for path in [*(tiny_run / "results" / "tiny" / "tables").glob("*"), *(tiny_run / "results" / "tiny" / "walks").glob("*/*.csv"),
                 *(tiny_run / "results" / "tiny" / "roots").glob("*.pt"), *(tiny_run / "results" / "tiny" / "plots").glob("*.png")]:
        assert path.stat().st_mode & 0o044 == 0o044, (path, oct(path.stat().st_mode))
