"""The rule model: which chat requests a rule matches and how the stand-in answers them.

A test states rules in order; for each ``/api/chat`` request the first rule that matches (and has uses
left) answers it, else the default reply does. Every piece is a frozen dataclass with a JSON form, so
the same rules can be set in-process or sent to a stand-in process over its control endpoint.

Reply texts may hold placeholders, replaced literally (no other brace is special): ``{user}`` the last
user message, ``{system}`` the system prompt, ``{model}`` the model name, ``{tool}`` and ``{result}``
the name and content of the latest tool result (empty when there is none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_REPLY = "Stand-in reply to: {user}"
DEFAULT_AFTER_TOOL_REPLY = "Stand-in reply after tool {tool}: {result}"


class RuleError(ValueError):
    """A rule (or its JSON form) is malformed; the message names the field."""


@dataclass(frozen=True)
class Match:
    """Conditions on a chat request; all given ones must hold (``None`` means "any").

    ``after_tool``: ``True`` when the request ends with a tool result, ``False`` when it does not, a
    name when it ends with a result of that tool. Text conditions: ``*_contains`` is a substring,
    ``*_regex`` a ``re.search`` pattern.
    """

    model: str | None = None
    user_contains: str | None = None
    user_regex: str | None = None
    system_contains: str | None = None
    system_regex: str | None = None
    tools_offered: bool | None = None
    tool_offered: str | None = None
    after_tool: bool | str | None = None

    def __post_init__(self) -> None:
        for name in ("user_regex", "system_regex"):
            pattern = getattr(self, name)
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise RuleError(f"match.{name}: invalid regular expression {pattern!r}: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if value is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Match:
        _known_keys("match", data, cls.__dataclass_fields__)
        return cls(**data)


@dataclass(frozen=True)
class Reply:
    """Answer with ``text``, streamed in ``chunks`` pieces (``None``: one piece per word)."""

    text: str
    chunks: int | None = None

    def __post_init__(self) -> None:
        if self.chunks is not None and self.chunks < 1:
            raise RuleError(f"reply.chunks must be at least 1, got {self.chunks}")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": "reply", "text": self.text}
        if self.chunks is not None:
            data["chunks"] = self.chunks
        return data


@dataclass(frozen=True)
class ToolCall:
    """One call of tool ``name`` with JSON ``arguments``."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise RuleError("tool call: name is required")
        if not isinstance(self.arguments, Mapping):
            raise RuleError(f"tool call {self.name!r}: arguments must be a JSON object")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": dict(self.arguments)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToolCall:
        _known_keys("tool call", data, cls.__dataclass_fields__)
        return cls(name=data.get("name", ""), arguments=data.get("arguments", {}))


@dataclass(frozen=True)
class ToolCalls:
    """Answer with one or more tool calls (and optional ``text`` before them)."""

    calls: tuple[ToolCall, ...]
    text: str = ""

    def __post_init__(self) -> None:
        if not self.calls:
            raise RuleError("tool_calls: at least one call is required")
        object.__setattr__(self, "calls", tuple(self.calls))

    def to_json(self) -> dict[str, Any]:
        return {"kind": "tool_calls", "calls": [call.to_json() for call in self.calls], "text": self.text}


@dataclass(frozen=True)
class ToolLoop:
    """Call ``tool`` with ``arguments``; once its result comes back, answer ``reply`` (``{result}`` in it).

    A rule with a tool loop uses up one of its ``times`` only when it gives the final reply, so a
    ``once`` rule drives exactly one call-then-reply loop.
    """

    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    reply: str = "Tool {tool} returned: {result}"

    def __post_init__(self) -> None:
        ToolCall(self.tool, self.arguments)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "tool_loop", "tool": self.tool, "arguments": dict(self.arguments), "reply": self.reply}


@dataclass(frozen=True)
class HttpError:
    """Answer with HTTP ``status`` and Ollama's error body ``{"error": message}``; with ``retry_after``,
    a ``Retry-After: <seconds>`` header too."""

    status: int
    message: str
    retry_after: int | None = None

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise RuleError(f"error.status must be an HTTP error status (400-599), got {self.status}")
        if self.retry_after is not None and self.retry_after < 0:
            raise RuleError(f"error.retry_after must be a number of seconds >= 0, got {self.retry_after}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "error", "status": self.status, "message": self.message}
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out


@dataclass(frozen=True)
class BrokenStream:
    """Stream the first ``after`` words of ``text``, then Ollama's mid-stream error line
    ``{"error": message}`` (as when the model runner dies); without streaming, HTTP 500 with it."""

    text: str
    after: int = 1
    message: str = "an error was encountered while running the model: unexpected EOF"

    def __post_init__(self) -> None:
        if self.after < 0:
            raise RuleError(f"broken_stream.after must not be negative, got {self.after}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": "broken_stream", "text": self.text, "after": self.after, "message": self.message}


@dataclass(frozen=True)
class Hang:
    """Never answer: the request waits until the stand-in is told to release its hung requests (or for
    ``seconds`` when given), then the connection is closed without an answer."""

    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.seconds is not None and self.seconds < 0:
            raise RuleError(f"hang.seconds must not be negative, got {self.seconds}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": "hang", "seconds": self.seconds}


@dataclass(frozen=True)
class CutStream:
    """Stream the first ``after`` pieces of ``text``, then close the connection mid-message (no final
    chunk, no error line: as when the model server dies); without streaming, close without answering."""

    text: str
    after: int = 1

    def __post_init__(self) -> None:
        if self.after < 0:
            raise RuleError(f"cut_stream.after must not be negative, got {self.after}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": "cut_stream", "text": self.text, "after": self.after}


@dataclass(frozen=True)
class MalformedToolCall:
    """A call of tool ``name`` whose ``arguments`` are ``arguments_text`` as it is: a JSON string that
    does not hold a JSON object (``{"city": "Par``), where Ollama sends an object."""

    name: str
    arguments_text: str = '{"city": "Par'

    def __post_init__(self) -> None:
        if not self.name:
            raise RuleError("malformed_tool_call: name is required")

    def to_json(self) -> dict[str, Any]:
        return {"kind": "malformed_tool_call", "name": self.name, "arguments_text": self.arguments_text}


Response = Reply | ToolCalls | ToolLoop | HttpError | BrokenStream | Hang | CutStream | MalformedToolCall


@dataclass(frozen=True)
class Rule:
    """When ``match`` holds, answer with ``respond`` (``None``: the default reply).

    ``times``: how many answers the rule gives (``None``: always). ``delay``: seconds before the
    answer; ``chunk_delay``: seconds between streamed chunks. ``name`` labels it in the recording.
    """

    match: Match = field(default_factory=Match)
    respond: Response | None = None
    times: int | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 1:
            raise RuleError(f"rule.times must be at least 1 (or null for always), got {self.times}")
        if self.delay < 0 or self.chunk_delay < 0:
            raise RuleError("rule.delay and rule.chunk_delay must not be negative")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "match": self.match.to_json(),
            "respond": self.respond.to_json() if self.respond is not None else None,
            "times": self.times,
            "delay": self.delay,
            "chunk_delay": self.chunk_delay,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rule:
        _known_keys("rule", data, cls.__dataclass_fields__)
        respond = data.get("respond")
        return cls(
            match=Match.from_json(data.get("match") or {}),
            respond=response_from_json(respond) if respond is not None else None,
            times=data.get("times"),
            delay=float(data.get("delay", 0.0)),
            chunk_delay=float(data.get("chunk_delay", 0.0)),
            name=str(data.get("name", "")),
        )


def reply(text: str, *, chunks: int | None = None, **conditions: Any) -> Rule:
    """A rule answering ``text``; keyword ``conditions`` are ``Match`` fields or ``Rule`` options."""
    return _rule(Reply(text, chunks), conditions)


def tool_call(name: str, arguments: Mapping[str, Any] | None = None, **conditions: Any) -> Rule:
    """A rule answering with one call of tool ``name``."""
    return _rule(ToolCalls((ToolCall(name, arguments or {}),)), conditions)


def tool_loop(
    tool: str, arguments: Mapping[str, Any] | None = None, *, then: str | None = None, **conditions: Any
) -> Rule:
    """A rule calling ``tool``, then replying ``then`` (default ``Tool {tool} returned: {result}``)."""
    loop = ToolLoop(tool, arguments or {}) if then is None else ToolLoop(tool, arguments or {}, then)
    return _rule(loop, conditions)


def error(status: int, message: str, **conditions: Any) -> Rule:
    """A rule answering HTTP ``status`` with Ollama's ``{"error": message}``."""
    return _rule(HttpError(status, message), conditions)


def response_from_json(data: Mapping[str, Any]) -> Response:
    """A response from its JSON form (``kind``: reply, tool_calls, tool_loop, error, broken_stream, hang,
    cut_stream, malformed_tool_call)."""
    kind = data.get("kind")
    body = {key: value for key, value in data.items() if key != "kind"}
    try:
        if kind == "reply":
            _known_keys("reply", body, Reply.__dataclass_fields__)
            return Reply(**body)
        if kind == "tool_calls":
            _known_keys("tool_calls", body, ToolCalls.__dataclass_fields__)
            calls = tuple(ToolCall.from_json(call) for call in body.get("calls", ()))
            return ToolCalls(calls, body.get("text", ""))
        if kind == "tool_loop":
            _known_keys("tool_loop", body, ToolLoop.__dataclass_fields__)
            return ToolLoop(**body)
        if kind == "error":
            _known_keys("error", body, HttpError.__dataclass_fields__)
            return HttpError(**body)
        if kind == "broken_stream":
            _known_keys("broken_stream", body, BrokenStream.__dataclass_fields__)
            return BrokenStream(**body)
        simple: dict[str, type[Hang | CutStream | MalformedToolCall]] = {
            "hang": Hang,
            "cut_stream": CutStream,
            "malformed_tool_call": MalformedToolCall,
        }
        if kind in simple:
            _known_keys(str(kind), body, simple[str(kind)].__dataclass_fields__)
            return simple[str(kind)](**body)
    except TypeError as exc:
        raise RuleError(f"{kind}: {exc}") from None
    raise RuleError(
        "respond.kind must be one of reply, tool_calls, tool_loop, error, broken_stream, hang, cut_stream, "
        f"malformed_tool_call; got {kind!r}"
    )


def rules_from_json(data: Any) -> list[Rule]:
    """Rules from JSON: a list of rules, one rule, or ``{"rules": [...]}``."""
    if isinstance(data, Mapping) and "rules" in data:
        data = data["rules"]
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, Sequence) or isinstance(data, str):
        raise RuleError("rules must be a JSON list of rule objects")
    return [Rule.from_json(item) for item in data]


def rules_to_json(rules: Sequence[Rule]) -> list[dict[str, Any]]:
    """The JSON form of ``rules`` (what ``rules_from_json`` reads)."""
    return [rule.to_json() for rule in rules]


_RULE_OPTIONS = ("times", "delay", "chunk_delay", "name")


def _rule(respond: Response, conditions: Mapping[str, Any]) -> Rule:
    options = {key: conditions[key] for key in _RULE_OPTIONS if key in conditions}
    match = {key: value for key, value in conditions.items() if key not in _RULE_OPTIONS}
    _known_keys("match", match, Match.__dataclass_fields__)
    return Rule(match=Match(**match), respond=respond, **options)


def _known_keys(what: str, data: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    if not isinstance(data, Mapping):
        raise RuleError(f"{what} must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RuleError(f"{what}: unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
