"""Runtime expressions in strings: where ``${ … }`` segments are, and how a string is evaluated.

The rule, shared by validation and the workflow-runner:

* A string that is exactly one ``${ program }`` (surrounding whitespace allowed) is a *whole-value*
  expression: its value is the JSON value the jq program yields (an object stays an object, an
  integer an integer).
* A string with ``${ … }`` segments inside other text (``"Bearer ${ $env.TOKEN }"``) is a *template*:
  each segment is evaluated and spliced in as text: a string as is, ``null`` as the empty string,
  any other value as compact JSON (``{"a":1}``, ``42``, ``true``).
* A string without ``${`` is a literal. A ``${`` that is never closed is an error.

The end of a segment is its matching ``}``: braces inside the program (jq object constructors such
as ``${ {a: 1} }``) and inside jq string literals (``"}"``) do not end it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

OPEN = "${"


class TemplateError(ValueError):
    """A ``${`` without its closing ``}``."""


@dataclass(frozen=True)
class Segment:
    """One ``${ … }`` of a string: its jq program (stripped) and where it stands in the string."""

    program: str
    start: int
    end: int


def segments(text: str) -> list[Segment]:
    """The ``${ … }`` segments of ``text``, in order; ``TemplateError`` for an unclosed one."""
    found: list[Segment] = []
    index = text.find(OPEN)
    while index != -1:
        end = _closing_brace(text, index + len(OPEN))
        if end == -1:
            raise TemplateError(f"expression {text!r} is missing its closing '}}'")
        found.append(Segment(text[index + len(OPEN) : end].strip(), index, end + 1))
        index = text.find(OPEN, end + 1)
    return found


def _closing_brace(text: str, position: int) -> int:
    """The index of the ``}`` that closes a segment whose program starts at ``position``, or -1."""
    depth = 0
    in_string = False
    index = position
    while index < len(text):
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return -1


def whole_value(text: str) -> Segment | None:
    """The single segment when ``text`` is exactly one ``${ … }`` (whitespace aside), else None."""
    found = segments(text)
    if len(found) != 1:
        return None
    segment = found[0]
    if text[: segment.start].strip() or text[segment.end :].strip():
        return None
    return segment


def is_expression(value: Any) -> bool:
    """Whether ``value`` is a string holding at least one ``${``."""
    return isinstance(value, str) and OPEN in value


def as_text(value: Any) -> str:
    """How an evaluated segment is spliced into a template."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def render(text: str, values: list[Any]) -> str:
    """``text`` with its segments replaced by ``values`` (one per segment, in order) as text."""
    found = segments(text)
    if len(found) != len(values):
        raise ValueError(f"{len(found)} segment(s) but {len(values)} value(s)")
    parts: list[str] = []
    position = 0
    for segment, value in zip(found, values, strict=True):
        parts.append(text[position : segment.start])
        parts.append(as_text(value))
        position = segment.end
    parts.append(text[position:])
    return "".join(parts)
