"""Every example project synthesizes, and its output holds what tests/apply/expected says it declares."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf.json_format import Parse

from stigmer.api.json_values import message_to_dict
from stigmer.api.v1 import agent_pb2, workflow_pb2
from support.matching import subset_mismatches

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
EXPECTED = REPO_ROOT / "tests" / "apply" / "expected"
EXAMPLE_DIRS = sorted(p for p in EXAMPLES.iterdir() if (p / "Stigmer.yaml").is_file())


def _synthesize(example: Path, out: Path) -> subprocess.CompletedProcess[str]:
    # a clean environment: the examples' endpoints and model fall back to their public defaults
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO_ROOT), "STIGMER_SYNTH_DIR": str(out)}
    return subprocess.run(
        [sys.executable, "main.py"], cwd=example, env=env, capture_output=True, text=True, timeout=30, check=False
    )


def _load(out: Path) -> dict[str, dict[str, Any]]:
    """The synthesized resources as the API shows them (JSON fields decoded)."""
    agents = {
        p.stem: message_to_dict(Parse(p.read_text(), agent_pb2.Agent()))
        for p in sorted((out / "agents").glob("*.json"))
    }
    workflows = {}
    for path in sorted((out / "workflows").glob("*.json")):
        data = message_to_dict(Parse(path.read_text(), workflow_pb2.Workflow()))
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
            mismatches = subset_mismatches(actual[kind][name], want, f"{kind}[{name}]")
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
