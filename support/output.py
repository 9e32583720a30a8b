"""Read the CLI's human output: the key lines of ``stigmer apply`` and ``stigmer run``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_SUMMARY_RE = re.compile(r"^(Deployed|Would deploy): (\d+) agent\(s\), (\d+) workflow\(s\)$", re.MULTILINE)
_EXECUTION_ID_RE = re.compile(r"^Execution ID: (\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class ApplyRow:
    """One row of the apply table."""

    kind: str
    name: str
    action: str
    id: str


@dataclass(frozen=True)
class ApplyReport:
    """The parsed text output of ``stigmer apply``."""

    headline: str
    rows: tuple[ApplyRow, ...]
    summary: str
    agents: int
    workflows: int

    def row(self, kind: str, name: str) -> ApplyRow:
        """The row for one resource; fails listing the rows when there is none."""
        for row in self.rows:
            if row.kind == kind and row.name == name:
                return row
        raise AssertionError(f"no {kind} {name!r} in the apply table; rows: {list(self.rows)}")

    def actions(self) -> dict[tuple[str, str], str]:
        """(kind, name) -> action."""
        return {(row.kind, row.name): row.action for row in self.rows}


def parse_apply(stdout: str) -> ApplyReport:
    """Parse the apply output; an ``AssertionError`` says which part is missing."""
    lines = [line.rstrip() for line in stdout.splitlines()]
    headlines = [line for line in lines if line in ("Deployment successful", "Dry run successful")]
    assert headlines, f"no 'Deployment successful' / 'Dry run successful' line in:\n{stdout}"
    header = [i for i, line in enumerate(lines) if line.split() == ["TYPE", "NAME", "ACTION", "ID"]]
    assert header, f"no 'TYPE NAME ACTION ID' table header in:\n{stdout}"
    rows = []
    for line in lines[header[0] + 1 :]:
        if not line.strip():
            break
        cells = line.split()
        assert len(cells) in (3, 4), f"apply table row {line!r} does not have TYPE NAME ACTION [ID]"
        rows.append(ApplyRow(cells[0], cells[1], cells[2], cells[3] if len(cells) == 4 else ""))
    summary = _SUMMARY_RE.search(stdout)
    assert summary, f"no 'Deployed: N agent(s), M workflow(s)' line in:\n{stdout}"
    return ApplyReport(headlines[0], tuple(rows), summary.group(0), int(summary[2]), int(summary[3]))


def execution_id(stdout: str) -> str:
    """The ID on the ``Execution ID: <id>`` line."""
    match = _EXECUTION_ID_RE.search(stdout)
    assert match, f"no 'Execution ID: <id>' line in:\n{stdout}"
    return match[1]


# What a user must never see from the CLI: Python and gRPC internals instead of an error message.
INTERNALS = (
    "Traceback (most recent call last)",
    "(run again with --traceback",  # the CLI met an exception it has no message for
    "_InactiveRpcError",
    "grpc._channel",
    "StatusCode.",
    "Exception calling application",  # an exception escaped a server method
    "stigmer-server answered",  # an RPC status the CLI has no message for (UNKNOWN, INTERNAL)
)
_FRAME_RE = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+', re.MULTILINE)


def internal_leaks(output: str, project: Path | None = None, user_error: str | None = None) -> list[str]:
    """Internals in the CLI's ``output`` (stdout and stderr): tracebacks, gRPC reprs, stack frames.

    The user's own traceback is not a leak when ``user_error`` (its last line, e.g.
    ``RuntimeError: boom``) is given and its innermost frame is in the ``project`` folder: the entry
    point the user wrote failed, and its output is shown as it printed it. Frames in ``project``
    (a ``SyntaxError``'s location) are never leaks.
    """
    rest = output
    if user_error is not None:
        pattern = re.compile(
            r"^\s*Traceback \(most recent call last\):\n(?P<body>(?:(?!Traceback \().)*?)^\s*"
            + re.escape(user_error)
            + "$",
            re.MULTILINE | re.DOTALL,
        )
        kept = []
        for match in pattern.finditer(output):
            frames = _FRAME_RE.findall(match["body"])
            if frames and project is not None and _inside(frames[-1], project):
                kept.append(match.span())
        for start, end in reversed(kept):
            rest = rest[:start] + rest[end:]
    found = [f"{marker!r} in the output" for marker in INTERNALS if marker in rest]
    for path in _FRAME_RE.findall(rest):
        if project is None or not _inside(path, project):
            found.append(f"a stack frame outside the project: {path}")
    return found


def _inside(path: str, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


Line = str | re.Pattern[str]
_RUN_HEAD_RE = re.compile(r"^(Agent|Workflow) execution started: .*\nExecution ID: \S+\n", re.MULTILINE)


def run_lines(stdout: str) -> list[str]:
    """The lines ``stigmer run`` printed after its ``Execution ID:`` line (the followed execution)."""
    head = _RUN_HEAD_RE.search(stdout)
    assert head, f"no 'execution started' / 'Execution ID' lines in:\n{stdout}"
    return stdout[head.end() :].splitlines()


def line_mismatches(actual: list[str], expected: list[Line]) -> list[str]:
    """Where ``actual`` differs from ``expected`` line by line (a pattern must match a whole line)."""
    problems = []
    for index in range(max(len(actual), len(expected))):
        got = actual[index] if index < len(actual) else None
        want = expected[index] if index < len(expected) else None
        if want is None:
            problems.append(f"line {index + 1}: unexpected {got!r}")
        elif got is None:
            problems.append(f"line {index + 1}: missing {_shown(want)}")
        elif isinstance(want, re.Pattern) and not want.fullmatch(got):
            problems.append(f"line {index + 1}: {got!r} does not match {_shown(want)}")
        elif isinstance(want, str) and got != want:
            problems.append(f"line {index + 1}: {got!r} != {want!r}")
    return problems


def assert_lines(actual: list[str], expected: list[Line], what: str = "output") -> None:
    """Fail, naming every differing line and showing both listings, unless the lines match."""
    problems = line_mismatches(actual, expected)
    if problems:
        listing = "\n".join(f"  {line}" for line in actual)
        wanted = "\n".join(f"  {_shown(line)}" for line in expected)
        raise AssertionError(
            f"{what} differs at {len(problems)} line(s):\n  "
            + "\n  ".join(problems)
            + f"\nactual:\n{listing}\nexpected:\n{wanted}"
        )


def _shown(line: Line) -> str:
    return f"/{line.pattern}/" if isinstance(line, re.Pattern) else repr(line)
