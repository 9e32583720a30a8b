"""LLM faults through the stand-in (``support.llm_standin``): errors, slow tokens, hangs, cut streams,
malformed tool calls, each limited by a count so an execution can fail, or succeed after retries.

The rule builders return stand-in ``Rule``s (like ``tool_loop``); ``LlmFault`` puts one in front of the
stand-in's rules for a bounded time and records it in the ledger::

    with LlmFault(standin, "http_500", times=2, ledger=ledger):
        ...  # the first two chats get HTTP 500, the next ones the usual rules

``standin`` is an ``LLMStandin`` (in-process) or a ``StandinClient`` (a stand-in process): both offer
``add_rules(first=True)``, ``remove_rules`` and ``release``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, Protocol

from support.faults.base import DEFAULT_MAX_SECONDS, Injector
from support.faults.ledger import Ledger
from support.llm_standin.rules import CutStream, Hang, HttpError, MalformedToolCall, Reply, Rule, ToolCall, ToolCalls

_labels = itertools.count(1)


class StandinControl(Protocol):
    """What ``LlmFault`` needs of a stand-in (``LLMStandin`` and ``StandinClient`` both have it)."""

    def add_rules(self, *rules: Rule, first: bool = False) -> None: ...

    def remove_rules(self, label: str) -> int: ...

    def rules(self) -> list[dict[str, Any]]: ...

    def release(self) -> int: ...


def _rule(respond: Any, times: int | None, conditions: dict[str, Any], **options: Any) -> Rule:
    from support.llm_standin.rules import Match

    name = str(conditions.pop("name", ""))
    return Rule(match=Match(**conditions), respond=respond, times=times, name=name, **options)


def http_error(
    status: int = 500,
    *,
    times: int | None = 1,
    message: str | None = None,
    retry_after: int | None = None,
    **conditions: Any,
) -> Rule:
    """Answer HTTP ``status`` (Ollama's ``{"error": ...}`` body, ``Retry-After`` when given) ``times`` times."""
    text = message or f"stand-in fault: HTTP {status}"
    return _rule(HttpError(status, text, retry_after), times, conditions)


def http_500(*, times: int | None = 1, **conditions: Any) -> Rule:
    """HTTP 500 with the error Ollama gives when its model runner crashed."""
    return http_error(500, times=times, message="llama runner process has terminated: exit status 2", **conditions)


def rate_limited(*, times: int | None = 1, retry_after: int | None = None, **conditions: Any) -> Rule:
    """HTTP 429 (too many requests), with ``Retry-After: <retry_after>`` when given."""
    return http_error(429, times=times, message="too many requests, retry later", retry_after=retry_after, **conditions)


def slow_tokens(chunk_delay: float = 0.5, *, text: str | None = None, times: int | None = 1, **conditions: Any) -> Rule:
    """Stream the answer (``text``, default the stand-in's default reply) with ``chunk_delay`` s per chunk."""
    respond = Reply(text) if text is not None else None
    return _rule(respond, times, conditions, chunk_delay=chunk_delay)


def hang(seconds: float | None = None, *, times: int | None = 1, **conditions: Any) -> Rule:
    """Never answer until released (``LlmFault`` releases on exit) or, when given, ``seconds`` pass."""
    return _rule(Hang(seconds), times, conditions)


def cut_stream(
    text: str = "Almost done, the answer is", *, after: int = 2, times: int | None = 1, **conditions: Any
) -> Rule:
    """Stream ``after`` chunks of ``text``, then close the connection mid-message."""
    return _rule(CutStream(text, after), times, conditions)


def malformed_tool_call(
    tool: str, *, arguments_text: str = '{"city": "Par', times: int | None = 1, **conditions: Any
) -> Rule:
    """A call of ``tool`` whose arguments are not a JSON object (``arguments_text`` as it is)."""
    return _rule(MalformedToolCall(tool, arguments_text), times, conditions)


def unknown_tool_call(
    tool: str = "no_such_tool", *, arguments: dict[str, Any] | None = None, times: int | None = 1, **conditions: Any
) -> Rule:
    """A well-formed call of a tool the agent does not have."""
    return _rule(ToolCalls((ToolCall(tool, arguments or {}),)), times, conditions)


KINDS: dict[str, Callable[..., Rule]] = {
    "http_500": http_500,
    "http_429": rate_limited,
    "http_error": http_error,
    "slow_tokens": slow_tokens,
    "hang": hang,
    "cut_stream": cut_stream,
    "malformed_tool_call": malformed_tool_call,
    "unknown_tool_call": unknown_tool_call,
}
"""Fault kind -> rule builder (``LlmFault``'s ``kind``)."""


class LlmFault(Injector):
    """Put a fault rule in front of the stand-in's rules, for ``times`` chats, until exit or ``max_seconds``.

    ``kind`` is a key of ``KINDS``; ``params`` go to its builder (``tool=`` for malformed tool calls,
    ``chunk_delay=`` for slow tokens, ``status=`` for ``http_error``, match conditions such as
    ``user_contains=``). On exit the rule is removed and hung requests are released; the ledger entry
    says how many chats the fault answered (``used``).
    """

    kind = "llm"

    def __init__(
        self,
        standin: StandinControl,
        kind: str,
        *,
        times: int | None = 1,
        ledger: Ledger | None = None,
        max_seconds: float | None = DEFAULT_MAX_SECONDS,
        **params: Any,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown LLM fault {kind!r}; known: {', '.join(KINDS)}")
        super().__init__("llm", max_seconds=max_seconds, ledger=ledger)
        self.kind = f"llm.{kind}"
        self.fault = kind
        self.standin = standin
        self.times = times
        self.label = f"fault:{kind}:{next(_labels)}"
        self.rule = KINDS[kind](times=times, name=self.label, **params)

    def _inject(self) -> dict[str, Any]:
        self.standin.add_rules(self.rule, first=True)
        return {"times": self.times, "rule": self.rule.to_json()}

    def used(self) -> int | None:
        """How many chats the fault has answered so far (None when it has no count)."""
        for rule in self.standin.rules():
            if rule.get("label") == self.label and self.times is not None and rule.get("remaining") is not None:
                return self.times - int(rule["remaining"])
        return None if self.times is None else self.times  # gone from the rules: used up

    def _undo(self) -> dict[str, Any]:
        used = self.used()
        self.standin.remove_rules(self.label)
        released = self.standin.release() if self.fault == "hang" else 0
        return {"used": used, "released": released}
