"""The agent loop: ask the model, run the tools it calls, feed back the results, until it answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stigmer.agent_runner.llm import ChatOptions, LlmError, ToolRequest, Turn, chat_turn
from stigmer.agent_runner.progress import Progress, arguments, finished
from stigmer.agent_runner.reporting import Reporter, agent_message_id, tool_call, tool_call_id
from stigmer.agent_runner.tools import ToolBox, ToolError
from stigmer.api.v1 import execution_pb2 as pb

log = logging.getLogger(__name__)

MAX_TURNS = 10


class MaxTurnsError(Exception):
    pass


@dataclass
class Answer:
    text: str
    message_id: str
    turns: int


@dataclass
class Loop:
    """One agent's conversation. ``stream`` reports its text as it comes (the top agent, not sub-agents);
    ``call_prefix`` scopes tool call IDs (a sub-agent's calls live under its parent's call ID);
    ``progress`` is what earlier attempts recorded: the loop resumes from it (see ``progress``)."""

    chat: ChatOptions
    toolbox: ToolBox
    reporter: Reporter
    redact: Callable[[str], str]
    max_turns: int = MAX_TURNS
    stream: bool = True
    call_prefix: str = ""
    label: str = "the agent"
    progress: Progress | None = None

    async def run(self, messages: list[dict[str, Any]]) -> Answer:
        for turn in range(1, self.max_turns + 1):
            message_id = agent_message_id(turn)
            recorded = self.progress.turn(turn, self.call_prefix) if self.progress else []
            if recorded:
                result = self._recorded_turn(turn, recorded)
            else:
                result = await self._ask(message_id, messages)
                if not result.tool_requests:
                    return Answer(result.text, message_id, turn)
                await self._record(turn, message_id, result)
            messages.append(result.assistant_message())
            for index, request in enumerate(result.tool_requests):
                done = recorded[index] if recorded and finished(recorded[index]) else None
                if done is not None:
                    output = done.result  # a finished call never runs twice
                else:
                    call_id = tool_call_id(turn, index, self.call_prefix)
                    output = await self._call(call_id, request.name, request.arguments)
                messages.append({"role": "tool", "content": output, "tool_name": request.name})
        raise MaxTurnsError(
            f"{self.label} gave no final answer within {self.max_turns} turns (it kept calling tools); "
            "make its instructions say when to stop, or check the tools' results in the tool calls"
        )

    def _recorded_turn(self, turn: int, recorded: list[pb.ToolCall]) -> Turn:
        text = self.progress.text(turn) if self.progress and self.stream else ""
        return Turn(text, [ToolRequest(call.name, arguments(call)) for call in recorded])

    async def _record(self, turn: int, message_id: str, result: Turn) -> None:
        """Record the turn's text and every requested call (PENDING) before any of them runs."""
        calls = []
        for index, request in enumerate(result.tool_requests):
            tool = self.toolbox.get(request.name)
            source = tool.source if tool else "unknown"
            call_id = tool_call_id(turn, index, self.call_prefix)
            calls.append(tool_call(call_id, request.name, source, request.arguments, pb.EXECUTION_PHASE_PENDING))
        await self.reporter.turn(message_id if self.stream else "", result.text, calls)

    async def _ask(self, message_id: str, messages: list[dict[str, Any]]) -> Turn:
        if not self.stream:

            async def ignore(text: str) -> None:
                return None

            return await chat_turn(self.chat, messages, self.toolbox.schemas(), ignore)
        stream = self.reporter.stream(message_id)
        return await chat_turn(self.chat, messages, self.toolbox.schemas(), stream.update)

    async def _call(self, call_id: str, name: str, arguments: dict[str, Any]) -> str:
        tool = self.toolbox.get(name)
        source = tool.source if tool else "unknown"
        await self.reporter.tool_call(call_id, name, source, arguments, pb.EXECUTION_PHASE_IN_PROGRESS)
        failed = True
        try:
            if tool is None:
                raise ToolError(f"there is no tool named {name!r}; the tools are: {', '.join(self.toolbox.names())}")
            output = await tool.handler(arguments, call_id)
            failed = False
        except ToolError as exc:
            output = f"error: {exc}"
        except asyncio.CancelledError:
            raise
        except LlmError as exc:  # a sub-agent's LLM call
            if exc.retryable:
                raise  # transient: the attempt is retried and resumes inside the sub-agent, not a failed call
            output = f"error: LlmError: {exc}"
            log.warning("tool %s (%s) failed: %s", name, source, self.redact(output))
        except Exception as exc:  # a tool's crash is the model's problem to work around, not the run's
            output = f"error: {type(exc).__name__}: {exc}"
            log.warning("tool %s (%s) failed: %s", name, source, self.redact(output))
        output = self.redact(output)
        phase = pb.EXECUTION_PHASE_FAILED if failed else pb.EXECUTION_PHASE_COMPLETED
        await self.reporter.tool_call(call_id, name, source, arguments, phase, result=output, error=failed)
        return output
