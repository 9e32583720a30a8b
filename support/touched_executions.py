"""On a failing test: the final state of every execution it touched, and the Temporal history of each.

The executions are the IDs (``wex-…``, ``aex-…``) its CLI calls named in their arguments or output,
or its failure message named, and the children they started (``parent_execution_id``, at any depth).
Each is read from the API of the test's stacks (the one that knows it) as the CLI's JSON shows it,
and its history is exported from that stack's Temporal (when it runs one). Into the failure folder:
``executions/<id>.json``, ``histories/<id>.json``, and ``collection-errors.txt`` when something could
not be read. ``collect`` never raises: the test's own failure stays the one reported.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from support import executions
from support.cli import CliResult
from support.client import StackClient
from support.prereqs import TEMPORAL
from support.stack import Stack
from support.temporal_history import export_workflow_histories

EXECUTION_ID = re.compile(r"\b(?:wex|aex)-[0-9a-z]{6,}\b")
MAX_EXECUTIONS = 30
API_TIMEOUT = 5.0
ERRORS_FILE = "collection-errors.txt"


def execution_ids(texts: Iterable[str]) -> list[str]:
    """Every execution ID in ``texts``, once each, in the order they first appear."""
    return list(dict.fromkeys(match for text in texts for match in EXECUTION_ID.findall(text)))


def texts_of(calls: Sequence[CliResult], *more: str) -> list[str]:
    """What a test's CLI calls (arguments and output) and its failure message say."""
    return [part for call in calls for part in (" ".join(call.args), call.stdout, call.stderr)] + list(more)


@dataclass
class Found:
    """What one stack's API and Temporal said about the IDs."""

    stack: str
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    histories: dict[str, str] = field(default_factory=dict)


def _children(api: StackClient, parents: set[str]) -> list[str]:
    listed = [*api.list_workflow_executions(), *api.list_agent_executions()]
    found: list[str] = []
    frontier = set(parents)
    while frontier:
        step = [e.metadata.id for e in listed if e.spec.parent_execution_id in frontier]
        step = [i for i in step if i not in parents and i not in found]
        found += step
        frontier = set(step)
    return found


def _read_states(stack: Stack, ids: Sequence[str], errors: list[str]) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    with StackClient(stack.address, API_TIMEOUT, home=stack.client_home) as api:
        for execution_id in ids:
            try:
                states[execution_id] = executions.get(api, execution_id)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:  # another stack's execution
                    continue
                errors.append(f"stack {stack.name}: reading {execution_id}: {exc.code().name}: {exc.details()}")
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    return states  # the server is gone: every other read would wait as long
        if states:
            for child in _children(api, set(states))[:MAX_EXECUTIONS]:
                states[child] = executions.get(api, child)
    return states


def _from_stack(stack: Stack, ids: Sequence[str], dest: Path, errors: list[str]) -> Found:
    found = Found(stack.name)
    try:
        found.states = _read_states(stack, ids, errors)
    except Exception as exc:  # anything the API did is written down, never raised
        errors.append(f"stack {stack.name}: reading executions: {type(exc).__name__}: {exc}")
    for execution_id, state in found.states.items():
        target = dest / "executions" / f"{execution_id}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(state, indent=2, sort_keys=True, default=str) + "\n")
    if found.states and TEMPORAL in stack.components:
        try:
            found.histories = export_workflow_histories(stack.temporal_address, list(found.states), dest / "histories")
        except Exception as exc:  # the same for Temporal
            errors.append(f"stack {stack.name}: Temporal at {stack.temporal_address}: {type(exc).__name__}: {exc}")
    return found


def _line(execution_id: str, state: dict[str, Any], history: str) -> str:
    status = state.get("status") or {}
    phase = executions.phase(status.get("phase", 0))
    error = str(status.get("error") or "").strip().splitlines()
    tasks = executions.task_phases(state) if execution_id.startswith("wex-") else {}
    parts = [f"{execution_id}: {phase}"]
    if tasks:
        parts.append("tasks " + ", ".join(f"{path}={task_phase}" for path, task_phase in tasks.items()))
    if error:
        parts.append(f"error: {error[0][:200]}")
    if history:
        parts.append(f"history: {history}")
    return "; ".join(parts)


def collect(dest: Path, stacks: Iterable[object], texts: Sequence[str]) -> list[tuple[str, str]]:
    """Write the touched executions' states and histories under ``dest``; the report's section.

    Never raises: an error while collecting is written to ``dest/collection-errors.txt`` and named in
    the section.
    """
    errors: list[str] = []
    lines: list[str] = []
    read: set[str] = set()
    try:
        ids = execution_ids(texts)[:MAX_EXECUTIONS]
        if not ids:
            return []
        for stack in stacks:
            if not isinstance(stack, Stack):
                continue
            found = _from_stack(stack, ids, dest, errors)
            for execution_id, state in found.states.items():
                history = found.histories.get(execution_id, "")
                lines.append(f"{_line(execution_id, state, history)} (stack {found.stack})")
                read.add(execution_id)
        lines += [
            f"{execution_id}: not found on any stack of the test" for execution_id in ids if execution_id not in read
        ]
    except Exception:  # collecting must never hide the test's failure
        errors.append(traceback.format_exc())
    if errors:
        dest.mkdir(parents=True, exist_ok=True)
        (dest / ERRORS_FILE).write_text("\n".join(errors) + "\n")
        lines.append(f"errors while collecting: see {dest / ERRORS_FILE}")
    if lines:
        lines.append(f"states and histories in {dest}")
    return [("executions the test touched", "\n".join(lines))] if lines else []
