"""Durable progress of an agent run: what earlier attempts recorded, and how a retry resumes from it.

The execution's status (stored by stigmer-server) is the run's journal. Every model turn that asks for
tools is recorded before any of them runs (its text as message ``agent-<turn>`` and every requested
call as ``PENDING``, in one update), and every call's result is recorded (``COMPLETED`` or ``FAILED``)
before the next model turn. A retried attempt loads the status and, turn by turn:

- a turn with recorded calls is not asked again: the model's request is rebuilt from the record;
- a recorded call that finished is not run again: its recorded result is fed back to the model;
- a recorded call that did not finish runs again under the same call ID (the tool gets the same
  idempotency key); a sub-agent call that did not finish resumes its own recorded turns likewise;
- the first turn without recorded calls is asked of the model again.

What the earlier attempt left beyond that point (a half-streamed ``agent-<turn>`` message, calls of a
sub-agent turn it will not resume) is dropped in the attempt's first update (``drop_message_ids``,
``drop_tool_call_ids``), so the final status never mixes two attempts' paths. Recorded arguments and
results are the redacted ones: a resumed conversation never holds a secret the record does not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stigmer.agent_runner.reporting import agent_message_id, tool_call_id
from stigmer.api.v1 import execution_pb2 as pb

FINISHED = (pb.EXECUTION_PHASE_COMPLETED, pb.EXECUTION_PHASE_FAILED)


def finished(call: pb.ToolCall) -> bool:
    return call.phase in FINISHED


def arguments(call: pb.ToolCall) -> dict[str, Any]:
    """A recorded call's arguments (``{}`` when they are not a JSON object)."""
    try:
        value = json.loads(call.arguments_json or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class Progress:
    """The agent messages and tool calls an execution's status holds, by ID."""

    messages: dict[str, pb.Message] = field(default_factory=dict)
    calls: dict[str, pb.ToolCall] = field(default_factory=dict)

    @classmethod
    def of(cls, status: pb.ExecutionStatus) -> Progress:
        return cls(
            {m.id: m for m in status.messages if m.type == pb.MESSAGE_TYPE_AGENT},
            {c.id: c for c in status.tool_calls},
        )

    def turn(self, turn: int, prefix: str = "") -> list[pb.ToolCall]:
        """The calls recorded for ``turn`` of the loop whose call IDs start with ``prefix``, by index."""
        found: list[pb.ToolCall] = []
        while (call := self.calls.get(tool_call_id(turn, len(found), prefix))) is not None:
            found.append(call)
        return found

    def text(self, turn: int) -> str:
        """The text the top agent's model gave with ``turn`` ("" when none was recorded)."""
        message = self.messages.get(agent_message_id(turn))
        return message.content if message else ""

    def stale(self) -> tuple[list[str], list[str]]:
        """IDs of the messages and tool calls a resumed attempt will not reproduce (to drop)."""
        kept_messages: set[str] = set()
        kept_calls: set[str] = set()
        self._keep("", kept_messages, kept_calls)
        return (
            sorted(set(self.messages) - kept_messages),
            sorted(set(self.calls) - kept_calls),
        )

    def _keep(self, prefix: str, messages: set[str], calls: set[str]) -> None:
        turn = 1
        while recorded := self.turn(turn, prefix):
            if not prefix:
                messages.add(agent_message_id(turn))
            for call in recorded:
                calls.add(call.id)
                if finished(call):
                    calls.update(_under(call.id, self.calls))
                else:
                    self._keep(call.id, messages, calls)
            turn += 1


def _under(call_id: str, ids: Iterable[str]) -> set[str]:
    return {other for other in ids if other.startswith(call_id + "/")}
