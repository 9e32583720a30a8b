"""Every example project synthesizes, and its output holds what tests/apply/expected says it declares."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
EXPECTED = REPO_ROOT / "tests" / "apply" / "expected"
EXAMPLE_DIRS = sorted(p for p in EXAMPLES.iterdir() if (p / "Stigmer.yaml").is_file())


def subset_mismatches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where ``actual`` does not contain ``expected``: dict keys recursively, lists element-wise with
    the same length, numbers numerically, anything else by equality."""
    where = path or "<root>"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += subset_mismatches(value, actual[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected a list of {len(expected)}, got {actual!r}"]
        problems = []
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            problems += subset_mismatches(want, got, f"{path}[{index}]")
        return problems
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(actual, numbers) and not isinstance(expected, bool):
        return [] if not isinstance(actual, bool) and float(expected) == float(actual) else [f"{where}: {actual!r}"]
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]


def test_subset_matcher_finds_what_differs() -> None:
    actual = {"a": 1.0, "b": [{"c": "x", "d": True}], "e": "extra"}
    assert subset_mismatches({"a": 1, "b": [{"c": "x"}]}, actual) == []
    assert subset_mismatches({"a": 2}, actual) == [".a: 1.0"]
    assert subset_mismatches({"z": 1}, actual) == [".z: missing"]
    assert subset_mismatches({"b": [{"c": "x"}, {"c": "y"}]}, actual)
    assert subset_mismatches({"b": [{"c": "y"}]}, actual) == [".b[0].c: expected 'y', got 'x'"]
    assert subset_mismatches({"b": [{"d": 1}]}, actual)


def _synthesize(example: Path, out: Path) -> subprocess.CompletedProcess[str]:
    # a clean environment: the examples' endpoints and model fall back to their public defaults
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO_ROOT), "STIGMER_SYNTH_DIR": str(out)}
    return subprocess.run(
        [sys.executable, "main.py"], cwd=example, env=env, capture_output=True, text=True, timeout=30, check=False
    )


def _load(out: Path) -> dict[str, dict[str, Any]]:
    agents = {p.stem: json.loads(p.read_text()) for p in sorted((out / "agents").glob("*.json"))}
    workflows = {}
    for path in sorted((out / "workflows").glob("*.json")):
        data = json.loads(path.read_text())
        workflows[f"{data['spec']['namespace']}/{data['metadata']['name']}"] = data
    return {"agents": agents, "workflows": workflows}


def test_there_are_19_examples_each_with_its_expected_document() -> None:
    assert len(EXAMPLE_DIRS) == 19
    assert sorted(p.stem for p in EXPECTED.glob("*.yaml")) == [p.name for p in EXAMPLE_DIRS]


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=lambda p: p.name)
def test_example_synthesizes_what_it_declares(example: Path, tmp_path: Path) -> None:
    project = yaml.safe_load((example / "Stigmer.yaml").read_text())
    assert project["runtime"] == "python"
    assert project["main"] == "main.py"
    assert project["name"] and project["version"]
    assert (example / "main.py").read_text().startswith('"""'), "main.py starts with a docstring"
    expected = yaml.safe_load((EXPECTED / f"{example.name}.yaml").read_text())

    result = _synthesize(example, tmp_path)

    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["agents"]) == sorted(expected.get("agents", {}))
    assert sorted(manifest["workflows"]) == sorted(expected.get("workflows", {}))
    actual = _load(tmp_path)
    for kind in ("agents", "workflows"):
        for name, want in expected.get(kind, {}).items():
            mismatches = subset_mismatches(want, actual[kind][name], f"{kind}[{name}]")
            assert not mismatches, "\n".join(mismatches)
    if "skipped_message" in expected:
        assert expected["skipped_message"] in result.stdout


def test_resource_names_are_unique_across_all_examples() -> None:
    seen: dict[str, str] = {}
    duplicates = []
    for path in sorted(EXPECTED.glob("*.yaml")):
        expected = yaml.safe_load(path.read_text())
        workflow_names = [ref.split("/", 1)[1] for ref in expected.get("workflows", {})]
        for key in [f"agent {n}" for n in expected.get("agents", {})] + [f"workflow {n}" for n in workflow_names]:
            if key in seen:
                duplicates.append(f"{key} in {seen[key]} and {path.stem}")
            seen[key] = path.stem
    assert not duplicates
