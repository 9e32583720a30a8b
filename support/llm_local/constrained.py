"""Constrained tool calls: the JSON schema the model's reply must match, the prompt block that tells
the model about it, and the reading of the reply back into Ollama's ``tool_calls``.

A reply is one JSON object: ``{"tool": NAME, "arguments": {...}}`` (the arguments matching that tool's
parameters) or ``{"answer": TEXT}``. Two rules keep a 135M model on the rails, both part of the mode:
strings and arrays in tool arguments are bounded (``MAX_STRING``, ``MAX_ITEMS``), since an unbounded
string lets the model repeat itself until the token limit; and once a tool result follows the last user
message the schema offers only the answer (one round of tool calls per user message).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TOOL, ARGUMENTS, ANSWER = "tool", "arguments", "answer"
MAX_STRING = 200
MAX_ITEMS = 8
_COMPOSITES = ("anyOf", "oneOf", "allOf")


def bounded(schema: Any) -> Any:
    """A copy of ``schema`` in which every string has a ``maxLength`` and every array a ``maxItems``."""
    if not isinstance(schema, Mapping):
        return schema
    copy: dict[str, Any] = dict(schema)
    kind = copy.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "string" in kinds and "enum" not in copy and "const" not in copy:
        copy["maxLength"] = min(int(copy.get("maxLength", MAX_STRING)), MAX_STRING)
    if "array" in kinds:
        copy["maxItems"] = min(int(copy.get("maxItems", MAX_ITEMS)), MAX_ITEMS)
    if isinstance(copy.get("properties"), Mapping):
        copy["properties"] = {name: bounded(value) for name, value in copy["properties"].items()}
    if "items" in copy:
        copy["items"] = bounded(copy["items"])
    for key in _COMPOSITES:
        if isinstance(copy.get(key), list):
            copy[key] = [bounded(part) for part in copy[key]]
    return copy


def tool_function(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``function`` part of an Ollama tool (``{"type": "function", "function": {...}}``)."""
    function = tool.get("function", tool)
    return function if isinstance(function, Mapping) else {}


def _parameters(tool: Mapping[str, Any]) -> dict[str, Any]:
    parameters = tool_function(tool).get("parameters")
    return dict(parameters) if isinstance(parameters, Mapping) else {"type": "object", "properties": {}}


def answer_schema(answer: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The final answer's object; ``answer``: the schema of its value (a string by default)."""
    value = dict(answer) if answer is not None else {"type": "string"}
    return {"type": "object", "properties": {ANSWER: value}, "required": [ANSWER], "additionalProperties": False}


def reply_schema(
    tools: Sequence[Mapping[str, Any]], *, answer_only: bool = False, answer: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A tool call of one of ``tools`` (name and its arguments) or the final answer."""
    final = answer_schema(answer)
    if answer_only or not tools:
        return final
    calls = [
        {
            "type": "object",
            "properties": {TOOL: {"const": tool_function(tool).get("name", "")}, ARGUMENTS: bounded(_parameters(tool))},
            "required": [TOOL, ARGUMENTS],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    return {"anyOf": [*calls, final]}


def _arguments_line(parameters: Mapping[str, Any]) -> str:
    properties = parameters.get("properties") or {}
    required = set(parameters.get("required") or ())
    if not isinstance(properties, Mapping) or not properties:
        return "no arguments"
    parts = []
    for name, spec in properties.items():
        kind = spec.get("type", "any") if isinstance(spec, Mapping) else "any"
        parts.append(f"{name} ({kind}{', required' if name in required else ''})")
    return ", ".join(parts)


def tools_prompt(tools: Sequence[Mapping[str, Any]]) -> str:
    """The block added to the system prompt: the tools, and the reply format the schema enforces."""
    lines = [
        "## Tools",
        "You reply with a JSON object: either a tool call (the tool and its arguments) or your answer.",
    ]
    for tool in tools:
        function = tool_function(tool)
        description = str(function.get("description") or "").strip()
        lines.append(f"- {function.get('name', '')}: {description} Arguments: {_arguments_line(_parameters(tool))}")
    return "\n".join(lines)


def answer_only(messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a tool result follows the last user message (the turn must then answer)."""
    for message in reversed(messages):
        role = message.get("role")
        if role == "tool":
            return True
        if role == "user":
            return False
    return False


def call_text(name: str, arguments: Mapping[str, Any]) -> str:
    """An earlier tool call, written in the reply format (how the conversation shows it to the model)."""
    return json.dumps({TOOL: name, ARGUMENTS: dict(arguments)}, separators=(",", ":"))


@dataclass
class Reply:
    """A constrained reply read back: the answer text, or tool calls in Ollama's form."""

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def read_reply(content: str) -> Reply | None:
    """The reply the JSON ``content`` holds; None when it is not one (cut short, or not JSON)."""
    try:
        value = json.loads(content)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if isinstance(value.get(TOOL), str) and isinstance(value.get(ARGUMENTS, {}), dict):
        call = {"function": {"index": 0, "name": value[TOOL], "arguments": value.get(ARGUMENTS, {})}}
        return Reply(tool_calls=[call])
    if ANSWER in value:
        answer = value[ANSWER]
        return Reply(text=answer if isinstance(answer, str) else json.dumps(answer))
    return None


_ANSWER_START = re.compile(r'\s*\{\s*"answer"\s*:\s*"')
_HIGH_SURROGATE = re.compile(r"(?<!\\)(?:\\\\)*\\u[dD][89abAB][0-9a-fA-F]{2}$")


class AnswerText:
    """The text of an ``{"answer": "..."}`` reply while it streams: each piece of JSON in, the new text out."""

    def __init__(self) -> None:
        self.content = ""
        self.text = ""

    def feed(self, piece: str) -> str:
        """Add ``piece`` of the reply; the answer text it completed (empty for a tool call, or mid-escape)."""
        self.content += piece
        start = _ANSWER_START.match(self.content)
        if start is None:
            return ""
        decoded = json.loads(f'"{_complete_prefix(self.content[start.end() :])}"')
        new, self.text = decoded[len(self.text) :], decoded
        return new


def _complete_prefix(raw: str) -> str:
    """The longest start of a JSON string body that ends neither inside an escape nor past the closing quote."""
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == '"':
            break
        if char == "\\":
            width = 6 if raw[index + 1 : index + 2] == "u" else 2
            if index + width > len(raw):
                break
            index += width
            continue
        index += 1
    prefix = raw[:index]
    return prefix[:-6] if _HIGH_SURROGATE.search(prefix) else prefix  # wait for the pair's second half
