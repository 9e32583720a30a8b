"""Determinism: recorded histories replay against the current workflow code.

The histories under ``histories/`` were recorded by ``test_workflow_runner_temporal`` (run it with
``STIGMER_RECORD_HISTORIES=1`` to record them again). A change to the interpreter that would make
running executions diverge from their history (a new activity, another order of timers) fails here;
then record new histories and keep the old code path for executions already running.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from stigmer.workflow_runner.worker import sandbox_runner
from stigmer.workflow_runner.workflow import WorkflowExecution

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=[WorkflowExecution], workflow_runner=sandbox_runner())
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 2
