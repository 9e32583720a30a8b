"""Temporal histories of a stack's executions, read through the Temporal API (``temporalio`` client).

``export_histories`` writes every workflow's history as JSON (Temporal's own format, the one
``WorkflowHistory.from_json`` and the replayer read), one file per workflow ID: the full tier keeps
them as artifacts, to replay against later workflow code. ``readable_text`` turns a history into
text where every payload is decoded, so a search for a value finds it whether or not it was encoded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from pathlib import Path
from typing import Any

NAMESPACE = "default"


async def _export(address: str, dest: Path, namespace: str, timeout: float) -> list[Path]:
    from temporalio.client import Client

    client = await asyncio.wait_for(Client.connect(address, namespace=namespace), timeout)
    written: list[Path] = []
    async for execution in client.list_workflows():
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await asyncio.wait_for(handle.fetch_history(), timeout)
        path = dest / f"{_file_safe(execution.id)}.json"
        path.write_text(history.to_json())
        written.append(path)
    return sorted(written)


def export_histories(address: str, dest: Path, *, namespace: str = NAMESPACE, timeout: float = 30.0) -> list[Path]:
    """Write the history of every workflow in ``namespace`` at ``address`` to ``dest/<workflow id>.json``.

    ``dest`` is emptied of earlier histories first. Returns the files written.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.json"):
        old.unlink()
    return asyncio.run(_export(address, dest, namespace, timeout))


async def _export_ids(address: str, ids: list[str], dest: Path, namespace: str, timeout: float) -> dict[str, str]:
    from temporalio.client import Client

    client = await asyncio.wait_for(Client.connect(address, namespace=namespace), timeout)
    outcomes: dict[str, str] = {}
    for workflow_id in ids:
        try:
            history = await asyncio.wait_for(client.get_workflow_handle(workflow_id).fetch_history(), timeout)
        except Exception as exc:  # one missing workflow must not hide the others' histories
            outcomes[workflow_id] = f"no history: {type(exc).__name__}: {exc}"
            continue
        path = dest / f"{_file_safe(workflow_id)}.json"
        path.write_text(history.to_json())
        outcomes[workflow_id] = f"{len(history.events)} events in {path.name}"
    return outcomes


def export_workflow_histories(
    address: str, workflow_ids: list[str], dest: Path, *, namespace: str = NAMESPACE, timeout: float = 10.0
) -> dict[str, str]:
    """Write the history of each workflow ID (its latest run) to ``dest/<workflow id>.json``.

    Returns, per ID, what was written (``N events in FILE``) or why nothing was (``no history: ...``);
    raises only when Temporal cannot be reached at all.
    """
    dest.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_export_ids(address, workflow_ids, dest, namespace, timeout))


def readable_text(history_json: str) -> str:
    """The history JSON with every payload's ``data`` (and metadata) decoded from base64, as text."""
    return json.dumps(_decode(json.loads(history_json)), ensure_ascii=False)


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        decoded = {key: _decode(item) for key, item in value.items()}
        if "data" in value and isinstance(value["data"], str):
            decoded["data"] = _b64_text(value["data"])
        if isinstance(value.get("metadata"), dict):
            decoded["metadata"] = {key: _b64_text(item) for key, item in value["metadata"].items()}
        return decoded
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def _b64_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return value


def _file_safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
