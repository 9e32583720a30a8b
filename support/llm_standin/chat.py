"""A chat request as the rules see it: model, last user message, system prompt, tools, last tool result."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from support.llm_standin.rules import Match


@dataclass(frozen=True)
class ToolResult:
    """The content of a ``tool`` message and the tool it answers (``""`` when it cannot be told)."""

    tool: str
    content: str


@dataclass(frozen=True)
class Chat:
    """The parts of an ``/api/chat`` body that rules match on and replies quote."""

    model: str
    user: str
    system: str
    tools: tuple[str, ...]
    tools_offered: bool
    tool_results: tuple[ToolResult, ...]
    stream: bool

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Chat:
        """Read a request body (already known to be a JSON object with a model)."""
        messages = [m for m in body.get("messages") or () if isinstance(m, Mapping)]
        tools = tuple(_tool_name(tool) for tool in body.get("tools") or () if isinstance(tool, Mapping))
        return cls(
            model=str(body.get("model", "")),
            user=_last_content(messages, "user"),
            system="\n".join(_text(m.get("content")) for m in messages if m.get("role") == "system"),
            tools=tuple(name for name in tools if name),
            tools_offered=bool(tools),
            tool_results=_trailing_tool_results(messages),
            stream=body.get("stream", True) is not False,
        )

    @property
    def ends_with_tool_result(self) -> bool:
        return bool(self.tool_results)

    def tool_result(self, tool: str | None = None) -> ToolResult | None:
        """The latest trailing tool result (of ``tool`` when given)."""
        for result in reversed(self.tool_results):
            if tool is None or result.tool == tool:
                return result
        return None

    def matches(self, match: Match, canonical_model: str) -> bool:
        """Whether every condition of ``match`` holds; ``canonical_model`` is this chat's model, normalised."""
        if match.model is not None and match.model not in (self.model, canonical_model):
            return False
        if not _text_matches(self.user, match.user_contains, match.user_regex):
            return False
        if not _text_matches(self.system, match.system_contains, match.system_regex):
            return False
        if match.tools_offered is not None and match.tools_offered != self.tools_offered:
            return False
        if match.tool_offered is not None and match.tool_offered not in self.tools:
            return False
        if match.after_tool is None:
            return True
        if isinstance(match.after_tool, bool):
            return match.after_tool == self.ends_with_tool_result
        return self.tool_result(match.after_tool) is not None

    def fill(self, template: str, model: str, tool: str | None = None) -> str:
        """``template`` with its placeholders replaced (see ``support.llm_standin.rules``)."""
        result = self.tool_result(tool) or self.tool_result()
        values = {
            "{user}": self.user,
            "{system}": self.system,
            "{model}": model,
            "{tool}": result.tool if result else "",
            "{result}": result.content if result else "",
        }
        return re.sub("|".join(re.escape(key) for key in values), lambda m: values[m.group(0)], template)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _last_content(messages: Sequence[Mapping[str, Any]], role: str) -> str:
    for message in reversed(messages):
        if message.get("role") == role:
            return _text(message.get("content"))
    return ""


def _tool_name(tool: Mapping[str, Any]) -> str:
    function = tool.get("function")
    return _text(function.get("name")) if isinstance(function, Mapping) else ""


def _called_tools(message: Mapping[str, Any]) -> list[str]:
    names = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            names.append(_text(function.get("name")))
    return names


def _trailing_tool_results(messages: Sequence[Mapping[str, Any]]) -> tuple[ToolResult, ...]:
    """The ``tool`` messages at the end of the conversation, each named by ``tool_name`` or, when the
    client leaves it out, by the preceding assistant message's tool calls (in order)."""
    start = len(messages)
    while start > 0 and messages[start - 1].get("role") == "tool":
        start -= 1
    trailing = messages[start:]
    if not trailing:
        return ()
    called = _called_tools(messages[start - 1]) if start > 0 and messages[start - 1].get("role") == "assistant" else []
    results = []
    for index, message in enumerate(trailing):
        name = _text(message.get("tool_name")) or _text(message.get("name"))
        if not name and index < len(called):
            name = called[index]
        if not name and len(called) == 1:
            name = called[0]
        results.append(ToolResult(name, _text(message.get("content"))))
    return tuple(results)


def _text_matches(text: str, contains: str | None, regex: str | None) -> bool:
    if contains is not None and contains not in text:
        return False
    return regex is None or re.search(regex, text) is not None
