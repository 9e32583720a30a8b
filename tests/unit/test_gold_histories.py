"""The committed gold histories (tests/gold_histories): they cover every task kind and the cancellation
paths (computed from the histories by support.history_coverage, never taken from the index on trust),
they replay against the current runners, and a tampered one fails the replay."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stigmer.api.validation import TASK_KINDS
from support import history_coverage as hc
from support import replay

REPO = Path(__file__).resolve().parents[2]
GOLD = REPO / "tests" / "gold_histories"
HISTORIES = replay.find_histories([GOLD])
MAX_BYTES = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def covered() -> dict[str, hc.Coverage]:
    """What each gold history covers, computed from the history (file name -> coverage)."""
    return {path.name: hc.file_coverage(path) for path in HISTORIES}


def run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True, timeout=180)


def test_the_gold_set_covers_every_task_kind_and_the_cancellation_paths(covered: dict[str, hc.Coverage]) -> None:
    assert hc.missing(covered.values()) == [], "a kind or path without a gold history: see support/history_coverage.py"
    # spelled out, so that REQUIRED itself cannot quietly lose an entry
    have = set().union(*(c.items() for c in covered.values()))
    for kind in TASK_KINDS:
        assert (hc.WORKFLOW, f"kind:{kind}") in have, f"no gold history runs a {kind} task"
    for wanted in ("feature:try.catch", "feature:try.catch.retry", "feature:child-cancelled", "path:cancelled"):
        assert (hc.WORKFLOW, wanted) in have, wanted
    assert {(hc.AGENT, f"path:{path}") for path in ("completed", "failed", "cancelled")} <= have


def test_the_index_says_what_the_histories_cover(covered: dict[str, hc.Coverage]) -> None:
    index = {entry["file"]: entry for entry in hc.read_index(GOLD)}
    assert sorted(index) == sorted(covered), "index.json and the folder's histories differ"
    for name, found in covered.items():
        assert found.replay_failure == "", f"{name}: {found.replay_failure}"
        assert index[name] == {"file": name, "bytes": (GOLD / name).stat().st_size, **found.as_dict()}, name


def test_the_gold_set_stays_small() -> None:
    total = sum(path.stat().st_size for path in HISTORIES)
    assert 0 < total < MAX_BYTES, f"{total} bytes of gold histories"


def test_a_set_without_the_grpc_call_history_misses_that_kind(covered: dict[str, hc.Coverage]) -> None:
    without = [c for c in covered.values() if "grpc_call" not in c.kinds]
    assert hc.missing(without) == [(hc.WORKFLOW, "kind:grpc_call")]


def test_the_gold_histories_replay() -> None:
    result = run("support.replay", str(GOLD))
    assert result.returncode == replay.EXIT_OK, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"{len(HISTORIES)} replayed, 0 failed", result.stdout


def _rename_activity(data: dict[str, Any]) -> None:
    for event in data["events"]:
        attributes = event.get("activityTaskScheduledEventAttributes")
        if attributes and attributes["activityType"]["name"] == "grpc_call":
            attributes["activityType"]["name"] = "http_call"


def _swap_first_two_markers(data: dict[str, Any]) -> None:
    markers = [e for e in data["events"] if e["eventType"] == "EVENT_TYPE_MARKER_RECORDED"][:2]
    first, second = (m["markerRecordedEventAttributes"] for m in markers)
    markers[0]["markerRecordedEventAttributes"], markers[1]["markerRecordedEventAttributes"] = second, first


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (_rename_activity, "Activity type of scheduled event 'http_call' does not match"),
        (_swap_first_two_markers, "Nondeterminism"),
    ],
    ids=["activity-renamed", "commands-reordered"],
)
def test_a_tampered_gold_history_fails_the_replay(
    tmp_path: Path, tamper: Callable[[dict[str, Any]], None], says: str
) -> None:
    [source] = [path for path in HISTORIES if "grpc_call" in hc.file_coverage(path).kinds]
    data = json.loads(source.read_text())
    tamper(data)
    (tmp_path / source.name).write_text(json.dumps(data))

    result = run("support.replay", str(tmp_path))

    assert result.returncode == replay.EXIT_FAILED, result.stdout + result.stderr
    assert result.stdout.startswith(f"FAILED {tmp_path / source.name}: NondeterminismError"), result.stdout
    assert says in result.stdout, result.stdout


def test_select_from_the_gold_set_picks_it_again(tmp_path: Path) -> None:
    source = tmp_path / "histories"
    shutil.copytree(GOLD, source)
    (source / hc.INDEX).unlink()

    result = run("support.history_coverage", "select", "--from", str(source), "--to", str(tmp_path / "gold"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert hc.read_index(tmp_path / "gold") == hc.read_index(GOLD)


def test_select_refuses_a_set_that_misses_a_requirement(tmp_path: Path, covered: dict[str, hc.Coverage]) -> None:
    source = tmp_path / "histories"
    source.mkdir()
    for name, found in covered.items():
        if found.workflow_type == hc.AGENT:
            shutil.copy(GOLD / name, source / name)

    result = run("support.history_coverage", "select", "--from", str(source), "--to", str(tmp_path / "gold"))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "WorkflowExecution kind:grpc_call" in result.stderr, result.stderr
    assert not (tmp_path / "gold").exists()
