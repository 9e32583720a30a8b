"""Progress reports to stigmer-server: idempotent ``UpdateStatus`` calls with stable IDs, redacted.

Streamed text is reported under the message's final ID with growing content, at most once per
``interval`` seconds unless ``chars`` new characters piled up, then once more with the final text
(with the turn's tool calls, or with the terminal phase).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from stigmer.api.error_types import ERROR_TYPES, STANDARD_STATUS
from stigmer.api.v1 import execution_pb2 as pb

STREAM_INTERVAL_SECONDS = 0.1
STREAM_CHARS = 200
RUNNER_ERROR_MESSAGE_ID = "runner-error"
ERROR_TITLES = {"timeout": "Agent timed out"}
RUNNER_RETRY_MESSAGE_ID = "runner-retry"


def agent_message_id(turn: int) -> str:
    return f"agent-{turn}"


def tool_call_id(turn: int, index: int, parent: str = "") -> str:
    own = f"call-{turn}-{index}"
    return f"{parent}/{own}" if parent else own


def response_output(text: str) -> str:
    return json.dumps({"response": text}, ensure_ascii=False)


def tool_call(
    call_id: str,
    name: str,
    source: str,
    arguments: dict[str, Any],
    phase: pb.ExecutionPhase,
    result: str = "",
    error: bool = False,
) -> pb.ToolCall:
    return pb.ToolCall(
        id=call_id,
        name=name,
        source=source,
        arguments_json=json.dumps(arguments, ensure_ascii=False),
        phase=phase,
        result=result,
        error=error,
    )


class Updates(Protocol):
    async def update(self, request: pb.UpdateStatusRequest) -> pb.AgentExecution | None: ...


class Throttle:
    """Says when streamed text is due for a report."""

    def __init__(
        self,
        interval: float = STREAM_INTERVAL_SECONDS,
        chars: int = STREAM_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval, self._chars, self._clock = interval, chars, clock
        self._last_time: float | None = None
        self._last_length = 0

    def due(self, length: int) -> bool:
        if length <= self._last_length:
            return False
        if self._last_time is None or length - self._last_length >= self._chars:
            return True
        return self._clock() - self._last_time >= self._interval

    def mark(self, length: int) -> None:
        self._last_time, self._last_length = self._clock(), length


class Reporter:
    """Reports one execution's progress; every text passes through ``redact`` first.

    ``attempt`` (the run activity's attempt, 0 outside it) goes with every update: the server refuses
    updates of an attempt that a later one superseded.
    """

    def __init__(self, api: Updates, execution_id: str, redact: Callable[[str], str], attempt: int = 0) -> None:
        self._api, self._id, self._redact, self._attempt = api, execution_id, redact, attempt

    async def _send(self, **fields: Any) -> pb.AgentExecution | None:
        return await self._api.update(pb.UpdateStatusRequest(execution_id=self._id, attempt=self._attempt, **fields))

    def _message(self, message_id: str, text: str, kind: pb.MessageType = pb.MESSAGE_TYPE_AGENT) -> pb.Message:
        return pb.Message(id=message_id, type=kind, content=self._redact(text))

    async def started(self, drop_messages: list[str] | None = None, drop_calls: list[str] | None = None) -> None:
        """The run (attempt) started; it drops what an earlier attempt left and it will not reproduce."""
        await self._send(
            phase=pb.EXECUTION_PHASE_IN_PROGRESS,
            drop_message_ids=drop_messages or [],
            drop_tool_call_ids=drop_calls or [],
        )

    async def turn(self, message_id: str, text: str, calls: list[pb.ToolCall]) -> None:
        """A model turn that asks for tools: its text (when ``message_id``) and every call, in one update."""
        messages = [self._message(message_id, text)] if message_id and text else []
        await self._send(messages=messages, tool_calls=[self._call(call) for call in calls])

    async def message(self, message_id: str, text: str) -> None:
        await self._send(messages=[self._message(message_id, text)])

    def stream(self, message_id: str, throttle: Throttle | None = None) -> MessageStream:
        return MessageStream(self, message_id, throttle or Throttle())

    async def tool_call(
        self,
        call_id: str,
        name: str,
        source: str,
        arguments: dict[str, Any],
        phase: pb.ExecutionPhase,
        result: str = "",
        error: bool = False,
    ) -> None:
        await self._send(tool_calls=[self._call(tool_call(call_id, name, source, arguments, phase, result, error))])

    def _call(self, call: pb.ToolCall) -> pb.ToolCall:
        redacted = pb.ToolCall()
        redacted.CopyFrom(call)
        redacted.arguments_json = self._redact(call.arguments_json)
        redacted.result = self._redact(call.result)
        return redacted

    async def completed(self, message_id: str, text: str) -> int:
        """Report the answer; the phase the server recorded (CANCELLED when a cancel came first)."""
        stored = await self._send(
            phase=pb.EXECUTION_PHASE_COMPLETED,
            messages=[self._message(message_id, text)],
            output_json=self._redact(response_output(text)),
        )
        return stored.status.phase if stored is not None else pb.EXECUTION_PHASE_COMPLETED

    async def failed(self, error: str, kind: str = "") -> None:
        """Report FAILED; ``kind`` names a standard error type (``"timeout"``) sent as ``error_info``."""
        error = self._redact(error)
        fields: dict[str, Any] = {}
        if kind:
            title = ERROR_TITLES.get(kind, kind.capitalize())
            fields["error_info"] = pb.ErrorInfo(
                type=ERROR_TYPES[kind], status=STANDARD_STATUS[kind], title=title, detail=error
            )
        await self._send(
            phase=pb.EXECUTION_PHASE_FAILED,
            error=error,
            messages=[self._message(RUNNER_ERROR_MESSAGE_ID, error, pb.MESSAGE_TYPE_SYSTEM)],
            **fields,
        )

    async def retrying(self, error: str, attempt: int) -> None:
        """A system note that this attempt failed and Temporal will run it again (one note, updated)."""
        text = f"attempt {attempt} failed, retrying: {error}"
        await self._send(messages=[self._message(RUNNER_RETRY_MESSAGE_ID, text, pb.MESSAGE_TYPE_SYSTEM)])

    async def cancelled(self) -> None:
        await self._send(phase=pb.EXECUTION_PHASE_CANCELLED)


class MessageStream:
    """One streamed agent message: ``update(text so far)`` reports when due. The rest is reported with
    the turn (``Reporter.turn``) or, for the final answer, with the terminal phase."""

    def __init__(self, reporter: Reporter, message_id: str, throttle: Throttle) -> None:
        self._reporter, self.message_id, self._throttle = reporter, message_id, throttle

    async def update(self, text: str) -> None:
        if self._throttle.due(len(text)):
            self._throttle.mark(len(text))
            await self._reporter.message(self.message_id, text)
