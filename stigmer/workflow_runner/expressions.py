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

Integers
    Integers stay integers, and integers beyond 2**53 (which jq would round to a double) pass
    through exactly: they enter jq as tagged strings and are turned back into integers in the
    results (inside a larger string, into their digits). Arithmetic on such a big integer is an
    error rather than a silently wrong number (and comparisons with it are not numeric).

Each program is compiled once per set of variable names (a compile costs milliseconds, an
evaluation microseconds). Expressions are evaluated in workflow code, which must be deterministic:
validation rejects the jq builtins that read the clock, the host or other inputs (``now``, ``$ENV``,
``env``, ``input``...; see ``stigmer.api.jq_builtins``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import jq

from stigmer.api import templates

# the variables every program may use, in the order they are passed to jq
RUNTIME_VARIABLES = ("input", "env", "secrets", "workflow", "task", "runtime", "output", "authorization")
SAFE_INTEGER = 2**53
_BIG_TAG = "\x00bigint:"
_BIG_RE = re.compile("\x00bigint:(-?[0-9]+)\x00")
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


# --- big integers ---------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return f"{_BIG_TAG}{value}\x00" if abs(value) >= SAFE_INTEGER else value
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    return value


def decode(value: Any) -> Any:
    """Turn tagged big integers in a jq result back into integers (or digits inside text)."""
    if isinstance(value, str):
        if _BIG_TAG not in value:
            return value
        whole = _BIG_RE.fullmatch(value)
        return int(whole.group(1)) if whole else _BIG_RE.sub(r"\1", value)
    if isinstance(value, dict):
        return {decode(key): decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < SAFE_INTEGER:
        return int(value)
    return value


# --- evaluation -----------------------------------------------------------------------------


@lru_cache(maxsize=2048)
def _compiled(program: str, names: tuple[str, ...], dot_is_output: bool) -> Any:
    bindings = " | ".join(f".[{index + 1}] as ${name}" for index, name in enumerate(names))
    dot = "$output" if dot_is_output else ".[0]"
    wrapper = " | ".join(part for part in (".[0] as $context", bindings, dot, f"({program})") if part)
    try:
        return jq.compile(wrapper)
    except ValueError as exc:
        # compile the program alone for a message about the user's text, not the wrapper
        message = str(exc).splitlines()[0]
        raise ExpressionError(program, message) from None


def evaluate(program: str, context: Any, variables: Mapping[str, Any], *, dot_is_output: bool = False) -> Any:
    """The value of a jq ``program`` with ``.`` = ``context`` (or ``$output``) and ``variables``."""
    names = tuple(variables)
    compiled = _compiled(program, names, dot_is_output)
    document = [_encode(context), *(_encode(variables[name]) for name in names)]
    try:
        results = compiled.input_value(document).all()
    except ValueError as exc:
        raise ExpressionError(program, str(exc).splitlines()[0]) from None
    if not results:
        return None
    if len(results) > 1:
        raise ExpressionError(program, f"gave {len(results)} results; collect them with [ ... ]")
    return decode(results[0])


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
