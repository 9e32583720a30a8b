"""llama.cpp's streamed answer (OpenAI chunks) turned into Ollama's NDJSON chunks.

Text streams as it comes: a chunk per token, or, for a constrained reply, a chunk per piece of the
``answer`` string as its JSON arrives. Tool calls come in one chunk before the last one; the last chunk
(``done: true``) carries ``done_reason`` and the counters from llama.cpp's ``timings``. Reads the same
way whether the Ollama client streams or not (``whole`` merges the chunks).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from support.llm_local import constrained
from support.llm_standin.wire import created_at

_MS_TO_NS = 1_000_000
_DONE_REASONS = {"stop": "stop", "length": "length", "tool_calls": "stop"}


def chunk(model: str, content: str, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One ``done: false`` chunk."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"model": model, "created_at": created_at(), "message": message, "done": False}


def final(model: str, done_reason: str, timings: Mapping[str, Any]) -> dict[str, Any]:
    """The ``done: true`` chunk, with llama.cpp's counters and durations in Ollama's units (ns)."""
    prompt_ns = round(float(timings.get("prompt_ms", 0)) * _MS_TO_NS)
    eval_ns = round(float(timings.get("predicted_ms", 0)) * _MS_TO_NS)
    return {
        "model": model,
        "created_at": created_at(),
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": done_reason,
        "total_duration": prompt_ns + eval_ns,
        "load_duration": 0,
        "prompt_eval_count": int(timings.get("prompt_n", 0)),
        "prompt_eval_duration": prompt_ns,
        "eval_count": int(timings.get("predicted_n", 0)),
        "eval_duration": eval_ns,
    }


def sse_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON events of a server-sent event stream (``data: {...}`` lines, up to ``data: [DONE]``)."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            return
        event = json.loads(data)
        if isinstance(event, dict) and "error" in event:
            raise LlamaError(error_message(event["error"]))
        yield event


def error_message(error: Any) -> str:
    """The message of an OpenAI-style error (``{"message": ...}``, or a bare string)."""
    return str(error.get("message", error)) if isinstance(error, dict) else str(error)


class LlamaError(Exception):
    """llama.cpp reported an error in the middle of its stream."""


class Translation:
    """One answer's translation: ``event`` for each OpenAI chunk, then ``finish``."""

    def __init__(self, model: str, constrained_reply: bool) -> None:
        self.model = model
        self.constrained = constrained_reply
        self.answer = constrained.AnswerText()
        self.content = ""
        self.streamed = ""
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason = "stop"
        self.timings: Mapping[str, Any] = {}

    def event(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The Ollama chunks one OpenAI chunk gives (often one, none for an event without text)."""
        if isinstance(event.get("timings"), Mapping):
            self.timings = event["timings"]
        out = []
        for choice in event.get("choices") or ():
            delta = choice.get("delta") or {}
            piece = delta.get("content") or ""
            if piece:
                self.content += piece
                text = self.answer.feed(piece) if self.constrained else piece
                if text:
                    self.streamed += text
                    out.append(chunk(self.model, text))
            for call in delta.get("tool_calls") or ():
                self._add_call_piece(call)
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        return out

    def _add_call_piece(self, piece: Mapping[str, Any]) -> None:
        slot = self.calls.setdefault(int(piece.get("index", len(self.calls))), {"name": "", "arguments": ""})
        function = piece.get("function") or {}
        slot["name"] += function.get("name") or ""
        slot["arguments"] += function.get("arguments") or ""

    def finish(self) -> list[dict[str, Any]]:
        """The last chunks: the rest of the text or the tool calls, then ``done: true``."""
        out = []
        text, calls = self._outcome()
        if text[len(self.streamed) :] and text.startswith(self.streamed):
            out.append(chunk(self.model, text[len(self.streamed) :]))
        if calls:
            out.append(chunk(self.model, "", calls))
        out.append(final(self.model, _DONE_REASONS.get(self.finish_reason, self.finish_reason), self.timings))
        return out

    def _outcome(self) -> tuple[str, list[dict[str, Any]]]:
        if self.constrained:
            read = constrained.read_reply(self.content)
            if read is None:  # cut short by the token limit: what the answer said so far, else the raw text
                return (self.answer.text or self.content), []
            return read.text, read.tool_calls
        calls = []
        for index, call in sorted(self.calls.items()):
            try:
                arguments = json.loads(call["arguments"] or "{}")
            except ValueError:
                arguments = {"input": call["arguments"]}
            calls.append({"function": {"index": index, "name": call["name"], "arguments": arguments}})
        return self.content, calls


def whole(chunks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The single reply of a ``stream: false`` request: the chunks merged into the last one."""
    text, calls, last = "", [], None
    for part in chunks:
        text += part["message"].get("content", "")
        calls += part["message"].get("tool_calls", [])
        last = part
    assert last is not None and last.get("done"), "a translation always ends with a done chunk"
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
    return {**last, "message": message}
