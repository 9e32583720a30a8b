"""The full tier's readers: Temporal history payloads decoded, the MCP fixture's record, execution views."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from support.executions import Followed, messages, started_order, task_outputs, task_phases, tool_calls
from support.fixtures.mcp_process import McpRecord
from support.temporal_history import readable_text


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_readable_history_decodes_payload_data_and_metadata() -> None:
    history = {
        "events": [
            {
                "input": {"payloads": [{"metadata": {"encoding": _b64("json/plain")}, "data": _b64('"wex-1"')}]},
                "identity": "worker@host",
            }
        ]
    }
    text = readable_text(json.dumps(history))
    assert '\\"wex-1\\"' in text and "json/plain" in text and "worker@host" in text
    assert _b64('"wex-1"') not in text
    # a value that is not base64 stays as it is
    assert "not base64!" in readable_text(json.dumps({"data": "not base64!"}))


def test_mcp_record_reads_calls_and_starts_after_a_mark(tmp_path: Path) -> None:
    record = McpRecord(tmp_path / "calls.jsonl")
    assert record.entries() == [] and record.mark() == 0
    record.path.write_text(json.dumps({"event": "start", "env": {"A": "d1"}}) + "\n")
    mark = record.mark()
    with record.path.open("a") as out:
        out.write(json.dumps({"event": "start", "transport": "stdio", "env": {"A": "d2"}}) + "\n")
        out.write(json.dumps({"event": "call", "tool": "web_search", "arguments": {"query": "q"}}) + "\n")
    assert record.calls(mark) == [("web_search", {"query": "q"})]
    assert [start["env"] for start in record.starts(mark)] == [{"A": "d2"}]
    assert len(record.starts()) == 2


def _state(phase: str, *tasks: tuple[str, str, str]) -> dict[str, object]:
    return {
        "status": {
            "phase": f"EXECUTION_PHASE_{phase}",
            "tasks": [
                {"name": p.rpartition("/")[2], "path": p, "phase": f"EXECUTION_PHASE_{ph}", "started_at": at}
                for p, ph, at in tasks
            ],
            "messages": [{"type": "MESSAGE_TYPE_HUMAN", "content": "Hi"}],
            "tool_calls": [{"name": "t", "phase": "EXECUTION_PHASE_COMPLETED"}],
        }
    }


def test_execution_views() -> None:
    followed = Followed(
        (
            _state("PENDING"),
            _state("IN_PROGRESS", ("b", "IN_PROGRESS", "2")),
            _state("IN_PROGRESS", ("b", "COMPLETED", "2"), ("a", "COMPLETED", "1")),
            _state("COMPLETED", ("b", "COMPLETED", "2"), ("a", "COMPLETED", "1")),
        ),
        0.1,
    )
    assert followed.phases == ["PENDING", "IN_PROGRESS", "COMPLETED"]
    last = followed.last
    assert task_phases(last) == {"b": "COMPLETED", "a": "COMPLETED"}
    assert started_order(last) == ["a", "b"]
    assert task_outputs(last) == {}
    assert messages(last) == [("HUMAN", "Hi")]
    assert tool_calls(last) == [{"name": "t", "phase": "COMPLETED", "arguments": {}}]
