"""jq builtins that workflow code must not use: they read the clock, the host or other inputs.

Workflow expressions are evaluated in Temporal workflow code, which must give the same result when it
is replayed (after a runner restart, on another host, days later). jq's ``now`` reads the clock,
``$ENV``/``env`` the environment of whoever started the runner, ``input``/``inputs`` other inputs,
``input_filename``/``$__loc__``/``get_search_list`` the host's files; ``debug``/``stderr``/``halt``
act on the process. A replay that evaluates such a builtin again gets another value and fails with a
nondeterminism error (the execution stays IN_PROGRESS), or leaks the host's variables into output.

:func:`uses` finds them by reading the program's tokens (a jq lexer: strings with their ``\\( … )``
interpolations, comments, ``.field`` accesses, object keys, ``$variables``, ``def`` names), so that
``"now"`` inside a string literal, a field named ``.nowhere`` or an object key ``{now: 1}`` is not
taken for a call.
"""

from __future__ import annotations

from dataclasses import dataclass

_CLOCK = "reads the clock; pass the time in the execution's input instead (e.g. ${ $input.now })"
_LOCAL_TIME = (
    "depends on the time zone of the host that runs it; use gmtime / strftime (UTC), "
    "or pass the local time in the execution's input"
)
_HOST_ENV = (
    "reads the environment of the host that runs the workflow; use $env (the workflow's declared "
    "environment and the execution's runtime environment) instead"
)
_INPUTS = "reads further inputs, which workflow expressions do not have; use . or $input instead"
_HOST_FILES = "reads where jq runs on the host; workflow expressions cannot use it"
_SIDE_EFFECT = "writes to the runner's stderr; remove it (set a task's output to see a value)"
_HALT = "stops the runner's jq, not the workflow; use a raise task (or jq's error) to fail instead"

# name -> why it is rejected and what to use instead
FUNCTIONS: dict[str, str] = {
    "now": _CLOCK,
    "localtime": _LOCAL_TIME,
    "strflocaltime": _LOCAL_TIME,
    "env": _HOST_ENV,
    "input": _INPUTS,
    "inputs": _INPUTS,
    "input_line_number": _INPUTS,
    "input_filename": _HOST_FILES,
    "get_search_list": _HOST_FILES,
    "get_prog_origin": _HOST_FILES,
    "get_jq_origin": _HOST_FILES,
    "modulemeta": _HOST_FILES,
    "debug": _SIDE_EFFECT,
    "stderr": _SIDE_EFFECT,
    "halt": _HALT,
    "halt_error": _HALT,
}
VARIABLES: dict[str, str] = {
    "ENV": _HOST_ENV,
    "__loc__": _HOST_FILES,
    "__prog_args": _HOST_FILES,
}
DIRECTIVES: dict[str, str] = {
    "import": "loads jq modules from the host's files; workflow expressions cannot use modules",
    "include": "loads jq modules from the host's files; workflow expressions cannot use modules",
}


@dataclass(frozen=True)
class Use:
    """One use of a rejected builtin: its name as written (``now``, ``$ENV``) and why it is rejected."""

    name: str
    reason: str


@dataclass(frozen=True)
class _Token:
    kind: str  # "ident", "field", "var", "string", "punct", "other"
    text: str
    depth_kind: str  # the innermost open bracket around the token ("" at top level)


class _Lexer:
    """Splits a jq program into tokens; string interpolations are lexed as part of the program."""

    def __init__(self, program: str) -> None:
        self.text = program
        self.index = 0
        self.tokens: list[_Token] = []
        self.stack: list[str] = []

    def run(self, stop_at_close: bool = False) -> None:
        """Lex until the end, or (inside ``\\(``) until the ``)`` that closes the interpolation."""
        base = len(self.stack)
        text = self.text
        while self.index < len(text):
            char = text[self.index]
            if char.isspace():
                self.index += 1
            elif char == "#":
                end = text.find("\n", self.index)
                self.index = len(text) if end == -1 else end
            elif char == '"':
                self._string()
            elif char == "$":
                self.index += 1
                name = self._name()
                self._add("var", name)
            elif char == "." and (self._peek(1).isalpha() or self._peek(1) == "_"):
                self.index += 1
                self._add("field", self._name())
            elif char.isalpha() or char == "_":
                self._add("ident", self._name())
            elif char == "@":
                self.index += 1
                self._add("other", "@" + self._name())
            elif char in "([{":
                self._add("punct", char)
                self.stack.append(char)
                self.index += 1
            elif char in ")]}":
                if stop_at_close and char == ")" and len(self.stack) == base:
                    self.index += 1
                    return
                if len(self.stack) > base:
                    self.stack.pop()
                self.index += 1
                self._add("punct", char)
            else:
                self.index += 1
                self._add("punct" if char in ",:;|" else "other", char)

    def _peek(self, offset: int) -> str:
        position = self.index + offset
        return self.text[position] if position < len(self.text) else ""

    def _name(self) -> str:
        start = self.index
        text = self.text
        while self.index < len(text):
            char = text[self.index]
            if char.isalnum() or char == "_":
                self.index += 1
            elif text.startswith("::", self.index):
                self.index += 2
            else:
                break
        return text[start : self.index]

    def _string(self) -> None:
        self._add("string", '"')
        self.index += 1
        text = self.text
        while self.index < len(text):
            char = text[self.index]
            if char == "\\" and self._peek(1) == "(":
                self.index += 2
                self.stack.append("(")
                self.run(stop_at_close=True)
                self.stack.pop()
            elif char == "\\":
                self.index += 2
            elif char == '"':
                self.index += 1
                return
            else:
                self.index += 1

    def _add(self, kind: str, text: str) -> None:
        self.tokens.append(_Token(kind, text, self.stack[-1] if self.stack else ""))


def uses(program: str) -> list[Use]:
    """The rejected builtins ``program`` uses, in order of appearance, each name once."""
    lexer = _Lexer(program)
    lexer.run()
    tokens = lexer.tokens
    defined = _defined_names(tokens)
    found: dict[str, Use] = {}
    for index, token in enumerate(tokens):
        before = tokens[index - 1] if index else None
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.kind == "var" and token.text in VARIABLES and token.text not in defined:
            found.setdefault("$" + token.text, Use("$" + token.text, VARIABLES[token.text]))
        elif token.kind == "ident" and token.text in DIRECTIVES:
            found.setdefault(token.text, Use(token.text, DIRECTIVES[token.text]))
        elif token.kind == "ident" and token.text in FUNCTIONS and token.text not in defined:
            if _is_object_key(token, before, after) or (before is not None and before.text == "def"):
                continue
            found.setdefault(token.text, Use(token.text, FUNCTIONS[token.text]))
    return list(found.values())


def _is_object_key(token: _Token, before: _Token | None, after: _Token | None) -> bool:
    """``{now: 1}`` (a key) and ``{now}`` (shorthand for ``{now: .now}``) name a field, not a call."""
    if token.depth_kind != "{" or before is None or before.text not in ("{", ","):
        return False
    return after is not None and after.text in (":", ",", "}")


def _defined_names(tokens: list[_Token]) -> set[str]:
    """Names the program defines itself (``def now: …;``, ``def f($ENV): …;``), which shadow builtins."""
    names: set[str] = set()
    for index, token in enumerate(tokens):
        if token.kind != "ident" or token.text != "def" or index + 1 >= len(tokens):
            continue
        names.add(tokens[index + 1].text)
        position = index + 2
        if position < len(tokens) and tokens[position].text == "(":
            while position < len(tokens) and tokens[position].text != ")":
                if tokens[position].kind in ("ident", "var"):
                    names.add(tokens[position].text)
                position += 1
    return names
