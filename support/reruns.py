"""Reruns, never hidden: every rerun of a failing test (pytest-rerunfailures, only for the known
infrastructure errors of ``ci/known-infra-errors.txt``) is reported.

- in the terminal: a section at the end with a line per rerun (the test, the phase, the pattern that
  matched and the error);
- in the JUnit file: a ``rerun`` property on each testcase element of the test (pytest writes one
  element per attempt), and an ``attempt`` property saying which attempt the element is;
- in the flake report (``support.flake`` reads those properties).

``--reruns`` without ``--only-rerun`` is refused: it would rerun every failure, product bugs included.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import pytest

RERUN_PROPERTY = "rerun"
ATTEMPT_PROPERTY = "attempt"


@dataclass(frozen=True)
class Rerun:
    """One failed attempt that was run again."""

    nodeid: str
    when: str
    attempt: int  # 1-based: the attempt that failed
    error: str  # "ExceptionType: message" (its first line)
    pattern: str  # the known infrastructure error it matched

    def describe(self) -> str:
        return (
            f"attempt {self.attempt} failed at {self.when}: {self.error} (known infrastructure error /{self.pattern}/)"
        )


# set on a failed report by the worker that ran the test (reports cross xdist as their __dict__)
MATCHED_ATTR = "known_infra_error"


def is_rerun(report: pytest.TestReport) -> bool:
    """Whether pytest-rerunfailures marked this report as a failed attempt it runs again."""
    outcome: str = report.outcome  # "rerun" is not among TestReport's declared outcomes
    return outcome == "rerun"


def exception_chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and its causes / contexts, as pytest-rerunfailures walks them for ``--only-rerun``."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        if exc.__cause__ is not None:
            exc = exc.__cause__
        elif not exc.__suppress_context__:
            exc = exc.__context__
        else:
            exc = None


def matching_error(patterns: list[str], exc: BaseException | None) -> tuple[str, str] | None:
    """``(pattern, "Type: message")`` for the first exception of the chain a pattern matches, else None."""
    for each in exception_chain(exc):
        text = f"{type(each).__name__}: {each}"
        for pattern in patterns:
            if re.search(pattern, text):
                return pattern, text.splitlines()[0]
    return None


class RerunRecorder:
    """Records reruns in the process that writes the terminal summary and the JUnit file (not an xdist
    worker: its reports reach the controller, rerun outcomes included)."""

    def __init__(self) -> None:
        self.reruns: dict[str, list[Rerun]] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # tryfirst: the JUnit writer reads a testcase's properties from its teardown report, after this
        if is_rerun(report):
            pattern, error = getattr(report, MATCHED_ATTR, None) or ("?", "(not recorded: see the test's output)")
            attempt = int(getattr(report, "rerun", 0)) + 1
            self.reruns.setdefault(report.nodeid, []).append(Rerun(report.nodeid, report.when, attempt, error, pattern))
        if report.when == "teardown" and report.nodeid in self.reruns:
            report.user_properties.append((ATTEMPT_PROPERTY, int(getattr(report, "rerun", 0)) + 1))
            report.user_properties.extend((RERUN_PROPERTY, rerun.describe()) for rerun in self.reruns[report.nodeid])

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        reruns = [rerun for each in self.reruns.values() for rerun in each]
        if not reruns:
            return
        terminalreporter.section(f"{len(reruns)} rerun(s) after a known infrastructure error")
        for rerun in reruns:
            terminalreporter.write_line(f"RERUN {rerun.nodeid}: {rerun.describe()}", yellow=True)


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("reruns", None) and not config.getoption("only_rerun", None):
        raise pytest.UsageError(
            "--reruns without --only-rerun would rerun every failure, product bugs included: reruns are only "
            "for the known infrastructure errors of ci/known-infra-errors.txt (the tiers pass them)"
        )
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(RerunRecorder(), "stigmer-rerun-recorder")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    patterns = item.config.getoption("only_rerun", None)
    if report.failed and patterns and call.excinfo is not None:
        matched = matching_error(list(patterns), call.excinfo.value)
        if matched:
            setattr(report, MATCHED_ATTR, list(matched))
    return report
