"""The ordered, thread-safe set of rules of one stand-in, and how a chat request gets its answer."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from support.llm_standin.chat import Chat
from support.llm_standin.rules import (
    DEFAULT_AFTER_TOOL_REPLY,
    DEFAULT_REPLY,
    BrokenStream,
    CutStream,
    Hang,
    HttpError,
    MalformedToolCall,
    Reply,
    Rule,
    ToolCall,
    ToolCalls,
    ToolLoop,
)

DEFAULT_RULE = "default"


@dataclass(frozen=True)
class Answer:
    """What the stand-in sends for one chat request: an error, or text and/or tool calls (and, for a
    broken stream, the error line that follows the first ``broken_after`` pieces)."""

    rule: str
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    chunks: int | None = None
    error: HttpError | None = None
    broken: str | None = None
    broken_after: int = 0
    delay: float = 0.0
    chunk_delay: float = 0.0
    hang: Hang | None = None
    cut_after: int | None = None
    raw_tool_calls: tuple[dict[str, Any], ...] = ()


@dataclass
class _Entry:
    label: str
    rule: Rule
    remaining: int | None


class Rulebook:
    """Rules in the order they were added; the first that matches and has uses left answers."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []
        self._added = 0
        self.add(*rules)

    def add(self, *rules: Rule, first: bool = False) -> None:
        """Append ``rules`` (after every rule already set; with ``first``, before them, in order)."""
        with self._lock:
            entries = []
            for rule in rules:
                label = rule.name or f"rule {self._added}"
                entries.append(_Entry(label, rule, rule.times))
                self._added += 1
            if first:
                self._entries[:0] = entries
            else:
                self._entries.extend(entries)

    def remove(self, label: str) -> int:
        """Drop the rules labelled ``label``; how many there were."""
        with self._lock:
            kept = [entry for entry in self._entries if entry.label != label]
            removed = len(self._entries) - len(kept)
            self._entries = kept
            return removed

    def clear(self) -> None:
        """Drop every rule (the default reply answers everything)."""
        with self._lock:
            self._entries.clear()
            self._added = 0

    def snapshot(self) -> list[dict[str, Any]]:
        """The rules in order, each with its label and uses left (``null``: always)."""
        with self._lock:
            return [
                {"label": entry.label, "remaining": entry.remaining, **entry.rule.to_json()} for entry in self._entries
            ]

    def answer(self, chat: Chat, canonical_model: str) -> Answer:
        """The answer for ``chat``: from the first matching rule with uses left, else the default."""
        with self._lock:
            for entry in self._entries:
                if entry.remaining == 0 or not chat.matches(entry.rule.match, canonical_model):
                    continue
                answer, consumes = _answer_of(entry, chat)
                if consumes and entry.remaining is not None:
                    entry.remaining -= 1
                return answer
        return _default_answer(chat)


def _answer_of(entry: _Entry, chat: Chat) -> tuple[Answer, bool]:
    rule, respond = entry.rule, entry.rule.respond
    timing: dict[str, Any] = {"delay": rule.delay, "chunk_delay": rule.chunk_delay}
    if respond is None:
        return _default_answer(chat, entry.label, **timing), True
    if isinstance(respond, HttpError):
        return Answer(entry.label, error=respond, **timing), True
    if isinstance(respond, Reply):
        return Answer(entry.label, text=chat.fill(respond.text, chat.model), chunks=respond.chunks, **timing), True
    if isinstance(respond, ToolCalls):
        return Answer(entry.label, text=chat.fill(respond.text, chat.model), tool_calls=respond.calls, **timing), True
    if isinstance(respond, BrokenStream):
        text = chat.fill(respond.text, chat.model)
        return Answer(entry.label, text=text, broken=respond.message, broken_after=respond.after, **timing), True
    if isinstance(respond, Hang):
        return Answer(entry.label, hang=respond, **timing), True
    if isinstance(respond, CutStream):
        return Answer(entry.label, text=chat.fill(respond.text, chat.model), cut_after=respond.after, **timing), True
    if isinstance(respond, MalformedToolCall):
        raw = {"function": {"index": 0, "name": respond.name, "arguments": respond.arguments_text}}
        return Answer(entry.label, raw_tool_calls=(raw,), **timing), True
    if isinstance(respond, ToolLoop):
        if chat.tool_result(respond.tool) is not None:
            return Answer(entry.label, text=chat.fill(respond.reply, chat.model, respond.tool), **timing), True
        return Answer(entry.label, tool_calls=(ToolCall(respond.tool, respond.arguments),), **timing), False
    raise TypeError(f"unknown response {respond!r}")


def _default_answer(chat: Chat, label: str = DEFAULT_RULE, delay: float = 0.0, chunk_delay: float = 0.0) -> Answer:
    template = DEFAULT_AFTER_TOOL_REPLY if chat.ends_with_tool_result else DEFAULT_REPLY
    return Answer(label, text=chat.fill(template, chat.model), delay=delay, chunk_delay=chunk_delay)
