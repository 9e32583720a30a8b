"""Runtime expressions: ``${ … }`` jq programs, evaluated with the ``jq`` package.

The rule of where expressions are and how they are spliced is ``stigmer.api.templates`` (shared
with validation); in short:

Where expressions are
    Any string value of a task's config may hold expressions. A string is a *whole-value
    expression* when, stripped, it starts with ``${`` and the ``}`` that closes that ``${`` is its
    last character: ``"${ .fetch.stars }"``. Its value is the JSON value the program produces (a
    number stays a number, an object an object). Any other string containing ``${`` is
    *interpolated*: ``"Bearer ${ $env.TOKEN }"``, ``"/orders/${ $order.id }/charge"``.

Interpolation rule (embedded expressions)
    Each ``${ … }`` segment is evaluated on its own and spliced into the text: a string as-is
    (no quotes), ``null`` as the empty string, any other value (number, boolean, array, object)
    as compact JSON (``{"a":1}``, ``[1,2]``, ``true``). The closing ``}`` of a segment is the one
    that balances its ``${``; braces inside jq string literals do not count. A segment without
    its closing ``}`` is an error. Strings without ``${`` are literals.

Results
    A program with no result gives ``null``; one with several results is an error (collect them
    with ``[ … ]``). A condition (``when``, ``condition``) holds unless its value is ``false`` or
    ``null``, as in jq.

Variables
    Every program can use ``$context`` (the workflow's data document, also ``.``), ``$input``
    (the execution's input), ``$env`` (the runtime environment), ``$secrets`` (its secret part),
    ``$workflow`` (``{id, name, namespace, version}``), ``$task`` (``{name, path, kind}``),
    ``$runtime``, ``$output`` (in ``export``: the task's raw output) and ``$authorization``
    (always null), plus the names a ``for`` (``each``/``at``) or a ``catch`` (``as``) brings into
    scope. See ``interpreter`` for the data document and ``secrets`` for how ``$env`` is bound.

Numbers
    Values reach jq as JSON text and come back as JSON text, so numbers are jq's own (jq 1.7):
    an integer of any size is a number (``.big | type`` is ``"number"``), passed through
    exactly (``.big``, ``{id: .big}``, ``.big | tostring`` keep every digit) and compared
    exactly (``.big == 123456789012345678901``). Arithmetic is jq's, in doubles: ``.big + 1``
    is the nearest double (about 17 significant digits), as with the ``jq`` command. A result
    that is a whole number below 2**53 is an integer (``3``, not ``3.0``).

Cost
    A program sees only the variables it names (``$input`` is sent to jq only when the program
    reads it), and the JSON text of the document's large values is made once per value, not
    once per evaluation, so a loop over a large document costs per item what it costs on a
    small one (bar jq's own parsing).

Each program is compiled once per set of variable names (a compile costs milliseconds, an
evaluation microseconds). Expressions are evaluated in workflow code, which must be deterministic:
validation rejects the jq builtins that read the clock, the host or other inputs (``now``, ``$ENV``,
``env``, ``input``...; see ``stigmer.api.jq_builtins``).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import jq

from stigmer.api import templates

# the variables every program may use, in the order they are passed to jq
RUNTIME_VARIABLES = ("input", "env", "secrets", "workflow", "task", "runtime", "output", "authorization")
SAFE_INTEGER = 2**53
_ENV_RE = re.compile(r"\$(env|secrets)\b")


class ExpressionError(ValueError):
    """An expression that does not compile, fails, or gives several results."""

    def __init__(self, expression: str, message: str) -> None:
        self.expression = expression
        super().__init__(f"expression {expression!r}: {message}")


# --- finding expressions in text (the rule lives in stigmer.api.templates) ---------------


def _segments(text: str) -> list[templates.Segment]:
    try:
        return templates.segments(text)
    except templates.TemplateError:
        raise ExpressionError(text, "missing the closing '}'") from None


def whole_program(text: str) -> str | None:
    """The jq program when ``text`` is a whole-value expression, else None."""
    if not has_expression(text):
        return None
    try:
        segment = templates.whole_value(text)
    except templates.TemplateError:
        return None
    return segment.program if segment is not None else None


def has_expression(text: str) -> bool:
    return templates.is_expression(text)


def references_env(text: str) -> bool:
    """Whether an expression in ``text`` reads ``$env`` or ``$secrets``."""
    return has_expression(text) and bool(_ENV_RE.search(text))


# --- values to and from jq ------------------------------------------------------------------


def _parse_float(text: str) -> float | int:
    number = float(text)
    return int(number) if number.is_integer() and abs(number) < SAFE_INTEGER else number


def decode(text: str) -> Any:
    """A result of jq (its ``tojson`` text) as a Python value: integers of any size stay exact."""
    return json.loads(text, parse_float=_parse_float)


class JsonTexts:
    """JSON texts of values, made once per large value (values are never changed in place).

    Keyed by identity, holding the value (so its identity is not reused), the most recent
    ``CACHE_SIZE`` large values only. ``made`` counts the texts made of large values (tests
    check that a loop does not remake them per item).
    """

    CACHE_SIZE = 64

    def __init__(self) -> None:
        self._texts: OrderedDict[int, tuple[Any, str]] = OrderedDict()
        self.made = 0

    def document(self, value: Any) -> str:
        """The JSON text of the data document: an object changed in place, so only its members are cached."""
        if isinstance(value, dict):
            return "{" + ",".join(f"{_dumps(str(key))}:{self.value(item)}" for key, item in value.items()) + "}"
        return self.value(value)

    def value(self, value: Any) -> str:
        """The JSON text of a value that is never changed in place (cached when large)."""
        if not isinstance(value, dict | list | str):
            return _dumps(value)
        key = id(value)
        found = self._texts.get(key)
        if found is not None and found[0] is value:
            self._texts.move_to_end(key)
            return found[1]
        text = _dumps(value)
        if len(text) >= LARGE_TEXT:
            self.made += 1
            self._texts[key] = (value, text)
            if len(self._texts) > self.CACHE_SIZE:
                self._texts.popitem(last=False)
        return text


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except TypeError as exc:
        raise ExpressionError("", f"a value jq cannot read: {exc}") from None


TEXTS = JsonTexts()
# values whose JSON text is at least this long have it cached
LARGE_TEXT = 2048


# --- evaluation -----------------------------------------------------------------------------


@lru_cache(maxsize=2048)
def _compiled(program: str, names: tuple[str, ...], dot_is_output: bool) -> Any:
    bindings = " | ".join(f".[{index + 1}] as ${name}" for index, name in enumerate(names))
    dot = "$output" if dot_is_output else ".[0]"
    wrapper = " | ".join(part for part in (".[0] as $context", bindings, dot, f"({program})", "tojson") if part)
    try:
        return jq.compile(wrapper)
    except ValueError as exc:
        # compile the program alone for a message about the user's text, not the wrapper
        message = str(exc).splitlines()[0]
        raise ExpressionError(program, message) from None


def evaluate(program: str, context: Any, variables: Mapping[str, Any], *, dot_is_output: bool = False) -> Any:
    """The value of a jq ``program`` with ``.`` = ``context`` (or ``$output``) and ``variables``."""
    names = tuple(name for name in variables if (dot_is_output and name == "output") or _names(program, name))
    compiled = _compiled(program, names, dot_is_output)
    texts = [_document_text(program, context, dot_is_output), *(TEXTS.value(variables[name]) for name in names)]
    try:
        results = compiled.input_text("[" + ",".join(texts) + "]").all()
    except ValueError as exc:
        raise ExpressionError(program, str(exc).splitlines()[0]) from None
    if not results:
        return None
    if len(results) > 1:
        raise ExpressionError(program, f"gave {len(results)} results; collect them with [ ... ]")
    return decode(results[0])


def _document_text(program: str, context: Any, dot_is_output: bool) -> str:
    """The JSON text of what ``program`` may read of the document: all of it, or the fields it names."""
    if _names(program, "context") or not isinstance(context, dict):
        return TEXTS.document(context)
    fields = _root_fields(program)
    if fields is None:
        return "null" if dot_is_output else TEXTS.document(context)
    if dot_is_output:
        return "null"
    return TEXTS.document({name: context[name] for name in fields if name in context})


_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"""
    r"""|(?P<variable>\$[A-Za-z_][A-Za-z0-9_]*)|(?P<field>\.[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<space>\s+)|(?P<pipe>\|(?!=))|(?P<symbol>==|!=|<=|>=|//|[-+*/%<>()\[\]{},:?])"""
)
# words that are syntax, not functions of their input
_KEYWORDS = frozenset({"if", "then", "elif", "else", "end", "and", "or", "null", "true", "false"})
# tokens after which a ``.name`` starts from the program's input (not a path continued)
_OPENERS = frozenset({"(", "[", "{", ",", ":", "==", "!=", "<=", ">=", "//", "-", "+", "*", "/", "%", "<", ">"})


@lru_cache(maxsize=4096)
def _root_fields(program: str) -> frozenset[str] | None:
    """The top-level fields ``program`` reads of its input, when it reads it only as ``.name`` paths.

    A conservative reading: a program of field paths, variables, literals, operators, ``if`` and
    constructors (no function, no bare ``.``, no string interpolation, no assignment) reads nothing
    of its input but the fields its root paths name. After the first ``|`` outside brackets and
    ``if``, ``.`` is what the left side gave, so only the left side counts (``.rows | length``
    reads ``rows``). Any other program: None (it may read it all).
    """
    fields: set[str] = set()
    previous = ""
    depth = 0
    position = 0
    while position < len(program):
        token = _TOKEN.match(program, position)
        if token is None:
            return None
        position = token.end()
        kind, text = token.lastgroup, token.group()
        if kind == "space":
            continue
        if kind == "pipe":
            if depth == 0:
                return frozenset(fields)
            return None  # a pipe inside brackets: its right side may read the input again, e.g. [.a | f]
        if kind == "string" and "\\(" in text:
            return None
        key = previous in ("{", ",") and program[position:].lstrip().startswith(":")
        if kind == "word" and text not in _KEYWORDS and not key:
            return None  # a function of its input, or an object's {name} shorthand
        if kind == "field" and (previous == "" or previous in _OPENERS or previous in _KEYWORDS):
            fields.add(text[1:])
        depth += (text in ("(", "[", "{", "if")) - (text in (")", "]", "}", "end"))
        previous = text
    return frozenset(fields)


@lru_cache(maxsize=4096)
def _names(program: str, name: str) -> bool:
    """Whether ``program`` mentions ``$name`` (a variable it does not mention, it cannot read)."""
    return re.search(rf"\${re.escape(name)}(?![A-Za-z0-9_])", program) is not None


def needed_by(texts: list[str], context: Any, variables: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """What of ``context`` and ``variables`` the expressions in ``texts`` can read (for a deferred
    evaluation: only that is copied into the request, not the whole document)."""
    programs = [segment.program for text in texts for segment in _segments(text)]
    names = {name: value for name, value in variables.items() if any(_names(p, name) for p in programs)}
    fields: set[str] = set()
    for program in programs:
        found = _root_fields(program)
        if found is None or _names(program, "context") or not isinstance(context, dict):
            return context, names
        fields |= found
    return {name: context[name] for name in fields if name in context}, names


def truthy(value: Any) -> bool:
    return value is not None and value is not False


splice = templates.as_text  # the text of a value spliced into a string (see the interpolation rule)


def render_text(text: str, context: Any, variables: Mapping[str, Any]) -> Any:
    """The value of a config string: a whole expression's value, interpolated text, or the literal."""
    if not has_expression(text):
        return text
    found = _segments(text)
    whole = templates.whole_value(text)
    if whole is not None:
        return evaluate(whole.program, context, variables)
    return templates.render(text, [evaluate(segment.program, context, variables) for segment in found])


def render(value: Any, context: Any, variables: Mapping[str, Any]) -> Any:
    """``value`` with every string rendered (recursively through objects and arrays; keys stay literal)."""
    if isinstance(value, str):
        return render_text(value, context, variables)
    if isinstance(value, dict):
        return {key: render(item, context, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context, variables) for item in value]
    return value


Pointer = list[str | int]


def render_except(
    value: Any, context: Any, variables: Mapping[str, Any], defer: Callable[[str], bool]
) -> tuple[Any, list[tuple[Pointer, str]]]:
    """Render ``value`` but leave the strings ``defer`` selects for later.

    Returns the rendered value and the deferred strings with where they go (a list of keys and
    indexes); ``fill_in`` renders them later (in an activity, with the secrets at hand). Rendered
    values are never evaluated again, so data that happens to contain ``${`` stays data.
    """
    deferred: list[tuple[Pointer, str]] = []

    def walk(item: Any, pointer: Pointer) -> Any:
        if isinstance(item, str):
            if defer(item):
                deferred.append((pointer, item))
                return None
            return render_text(item, context, variables)
        if isinstance(item, dict):
            return {key: walk(child, [*pointer, key]) for key, child in item.items()}
        if isinstance(item, list):
            return [walk(child, [*pointer, index]) for index, child in enumerate(item)]
        return item

    return walk(value, []), deferred


def fill_in(value: Any, deferred: list[tuple[Pointer, str]], context: Any, variables: Mapping[str, Any]) -> Any:
    """Render the ``deferred`` strings of ``render_except`` into ``value`` (returns the filled value)."""
    for pointer, text in deferred:
        rendered = render_text(text, context, variables)
        if not pointer:
            value = rendered
            continue
        target = value
        for key in pointer[:-1]:
            target = target[key]
        target[pointer[-1]] = rendered
    return value
