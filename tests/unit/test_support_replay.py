"""``python -m support.replay``: every exported history replays, a diverging one fails, none found fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import replay

REPO = Path(__file__).resolve().parents[2]
GOLD = Path(__file__).parent / "histories"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "support.replay", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def diverging_copy(source: Path, dest: Path) -> Path:
    """``source`` with its first scheduled activity renamed: current code schedules another one."""
    data = json.loads(source.read_text())
    for event in data["events"]:
        attributes = event.get("activityTaskScheduledEventAttributes")
        if attributes:
            attributes["activityType"]["name"] = "grpc_call"
            break
    else:
        pytest.fail(f"{source.name} schedules no activity to rename")
    dest.write_text(json.dumps(data))
    return dest


def test_the_gold_histories_replay_with_a_summary_by_workflow_type() -> None:
    result = run(str(GOLD))
    count = len(list(GOLD.glob("*.json")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"  WorkflowExecution: {count} replayed, 0 failed",
        f"{count} replayed, 0 failed",
    ]


def test_histories_are_found_in_every_module_folder(tmp_path: Path) -> None:
    for module in ("test_workflows", "test_agents"):
        shutil.copytree(GOLD, tmp_path / module)
    found = replay.find_histories([tmp_path])
    assert len(found) == 2 * len(list(GOLD.glob("*.json")))


def test_a_history_the_current_code_diverges_from_fails_the_run(tmp_path: Path) -> None:
    shutil.copy(GOLD / "example_07.json", tmp_path / "good.json")
    diverging_copy(GOLD / "example_07.json", tmp_path / "bad.json")
    result = run(str(tmp_path))
    assert result.returncode == replay.EXIT_FAILED, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"FAILED {tmp_path / 'bad.json'}: ")
    assert "Nondeterminism" in lines[0] or "nondeterminism" in lines[0]
    assert lines[1:] == ["  WorkflowExecution: 2 replayed, 1 failed", "2 replayed, 1 failed"]


def test_a_history_of_an_unknown_workflow_type_fails(tmp_path: Path) -> None:
    data = json.loads((GOLD / "example_07.json").read_text())
    data["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"] = "Gone"
    (tmp_path / "gone.json").write_text(json.dumps(data))
    summary = replay.replay(replay.find_histories([tmp_path]))
    [outcome] = summary.failed
    assert outcome.workflow_type == "Gone"
    assert outcome.failure.startswith("no workflow of this type in the runners")


def test_no_histories_at_all_fails_and_says_how_to_get_some(tmp_path: Path) -> None:
    result = run(str(tmp_path / "reports" / "histories"))
    assert result.returncode == replay.EXIT_NO_HISTORIES
    assert result.stdout == ""
    assert "no histories found under" in result.stderr
    assert "nox -s full" in result.stderr
