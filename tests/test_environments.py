"""The conda environments of the rules pin exactly the versions of pyproject.toml, which are the versions these
tests run with; the tables and plots environment carries no torch."""

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([0-9][A-Za-z0-9.\-+]*)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements) -> dict[str, str]:
    out = {}
    for req in requirements:
        match = PIN.match(req.strip())
        assert match, f"{req!r} is not an exact pin (name==version)"
        out[canonical(match.group(1))] = match.group(2)
    return out


PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
PROJECT_PINS = pins(PYPROJECT["dependencies"])
for extra in ("workflow", "test"):
    PROJECT_PINS |= pins(PYPROJECT["optional-dependencies"][extra])
ENVS = sorted((REPO / "workflow" / "envs").glob("*.yaml"))


def env_pins(path: Path) -> dict[str, str]:
    spec = yaml.safe_load(path.read_text())
    pip = [d for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, f"{path.name}: expected one pip section"
    assert "python=3.11" in spec["dependencies"], f"{path.name}: python must be pinned to 3.11 (pyproject's)"
    return pins(pip[0]["pip"])


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_environment_pins_equal_pyproject(path):
    for name, pinned in env_pins(path).items():
        assert name in PROJECT_PINS, f"{path.name} pins {name}, which pyproject.toml does not"
        assert pinned == PROJECT_PINS[name], f"{path.name}: {name}=={pinned}, pyproject.toml: {PROJECT_PINS[name]}"


def test_pins_are_the_versions_the_tests_run_with():
    for name, pinned in PROJECT_PINS.items():
        assert version(name) == pinned, f"installed {name} {version(name)} but pyproject.toml pins {pinned}"


def test_numpy_pin_admits_only_numpy_2():
    # np.bitwise_count (exact Shapley values) needs NumPy >= 2.0
    assert int(PROJECT_PINS["numpy"].split(".")[0]) >= 2


def test_environments_by_job_kind():
    envs = {p.stem: env_pins(p) for p in ENVS}
    assert {"torch", "data", "analysis"} <= set(envs)
    assert "torch" not in envs["analysis"], "tables and plots must not need torch"
    assert "torch" in envs["torch"] and "numba" in envs["torch"]
    assert {"torchvision", "torch-pruning"} <= set(envs["torch"]), "channel games and torchvision models need them"
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    for name in envs:
        assert f'envs/{name}.yaml"' in rules, f"no rule uses envs/{name}.yaml"
