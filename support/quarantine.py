"""Quarantine: tests known to flake (``ci/quarantine.json``) still run and are reported, but their failure
does not fail the tier; no test stays quarantined silently.

A quarantined test is marked ``xfail(strict=False, reason=...)`` at collection, so pytest itself turns
its failure (at set-up, call or teardown) into an xfail and its pass into an xpass. That is visible in
every report pytest writes (``x``/``X`` in the terminal, ``skipped type="pytest.xfail"`` with the reason
in JUnit), keeps the test's real outcome, and pytest-rerunfailures does not rerun it. (Overriding the
outcome in ``pytest_runtest_makereport`` would hide it from the reports that read the outcome alone.)
Each of its JUnit testcases carries a ``quarantined`` property: since when and why.

Not silently: the end of the run lists every entry with its age in days and its outcome this run, and
an entry older than ``--quarantine-max-age`` days (default 14), or naming a test that does not exist,
fails the run: the test must be fixed, or its entry re-justified (a new reason and date).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from support.reruns import is_rerun

QUARANTINE_FILE = Path("ci") / "quarantine.json"
MAX_AGE_DAYS = 14
QUARANTINED_PROPERTY = "quarantined"
# the failure an xfail absorbed (JUnit's xfail element carries the reason only)
QUARANTINED_FAILURE_PROPERTY = "quarantined_failure"
ENTRY_FIELDS = frozenset({"test", "reason", "added"})
_PROBLEMS_KEY = "stigmer_quarantine_problems"


@dataclass(frozen=True)
class Entry:
    """One quarantined test: its node ID (a parametrized test's base ID covers every case), why, since when."""

    test: str
    reason: str
    added: date

    def age_days(self, today: date) -> int:
        return (today - self.added).days

    def covers(self, nodeid: str) -> bool:
        return nodeid == self.test or nodeid.split("[", 1)[0] == self.test

    def describe(self, today: date) -> str:
        return f"since {self.added.isoformat()} ({self.age_days(today)} days): {self.reason}"


def load(path: Path, today: date) -> list[Entry]:
    """The entries of a quarantine file (``{"tests": [...]}`` or a bare list), checked."""
    raw: Any = json.loads(path.read_text(encoding="utf-8"))
    items = raw.get("tests") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of entries, or an object with a `tests` list")
    entries = []
    for index, item in enumerate(items):
        where = f"{path}: entry {index + 1}"
        if not isinstance(item, dict) or set(item) != ENTRY_FIELDS:
            raise ValueError(f"{where}: needs exactly the fields {sorted(ENTRY_FIELDS)}, got {item!r}")
        if "::" not in str(item["test"]) or not str(item["reason"]).strip():
            raise ValueError(f"{where}: `test` must be a node ID (path::name) and `reason` must say why: {item!r}")
        try:
            added = date.fromisoformat(str(item["added"]))
        except ValueError as exc:
            raise ValueError(f"{where}: `added` is not an ISO date (YYYY-MM-DD): {item['added']!r}") from exc
        if added > today:
            raise ValueError(f"{where}: `added` {added} is in the future")
        entries.append(Entry(str(item["test"]), str(item["reason"]).strip(), added))
    tests = [entry.test for entry in entries]
    twice = sorted({test for test in tests if tests.count(test) > 1})
    if twice:
        raise ValueError(f"{path}: tests quarantined twice: {twice}")
    return entries


def stale_problems(entries: list[Entry], today: date, max_age: int) -> list[str]:
    """A message per entry older than ``max_age`` days."""
    return [
        f"{entry.test} has been quarantined for {entry.age_days(today)} days (more than {max_age}): fix it, or "
        f"re-justify its entry (a new reason and date); a test is not allowed to stay quarantined silently"
        for entry in entries
        if entry.age_days(today) > max_age
    ]


def unknown_problems(entries: list[Entry], rootpath: Path, items: list[pytest.Item]) -> list[str]:
    """A message per entry naming a test that does not exist: its file is missing, or its file was
    collected and has no such test. (A file this run did not collect tells nothing.)"""
    collected_files = {item.path for item in items}
    problems = []
    for entry in entries:
        file = rootpath / entry.test.split("::", 1)[0]
        if not file.is_file():
            problems.append(f"{entry.test} names no test: there is no file {file}; remove the entry or fix it")
        elif file in collected_files and not any(entry.covers(item.nodeid) for item in items):
            problems.append(
                f"{entry.test} names no test: {file.name} has none by that name; remove the entry or fix it"
            )
    return problems


OUTCOME_RANK = {"not run this time": 0, "passed": 1, "skipped": 2, "failed (xfail: quarantined)": 3, "failed": 4}


def outcome_of(report: pytest.TestReport) -> str | None:
    """What a report says about a quarantined test (None for a passing set-up or teardown)."""
    if hasattr(report, "wasxfail"):
        return "failed (xfail: quarantined)" if report.skipped else "passed"
    if report.failed:
        return "failed"
    if report.skipped:
        return "skipped"
    return "passed" if report.when == "call" else None


def crash_message(report: pytest.TestReport) -> str:
    """The first line of the error a report carries."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", "") or report.longrepr or "")
    return text.strip().splitlines()[0] if text.strip() else "(no message)"


class Quarantine:
    """The run's quarantine: marks the tests, records their outcomes, lists them and fails on problems."""

    def __init__(self, config: pytest.Config, path: Path, entries: list[Entry], max_age: int, today: date) -> None:
        self.config = config
        self.path = path
        self.entries = entries
        self.max_age = max_age
        self.today = today
        self.problems: list[str] = stale_problems(entries, today, max_age)
        self.outcomes: dict[str, str] = {}
        self.failures: dict[str, str] = {}

    def entry_for(self, nodeid: str) -> Entry | None:
        return next((entry for entry in self.entries if entry.covers(nodeid)), None)

    def pytest_report_header(self) -> str:
        return f"quarantine: {len(self.entries)} test(s) in {self.path} (at most {self.max_age} days each)"

    @pytest.hookimpl(tryfirst=True)  # before -k / -m deselect: an entry is checked against every test
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self._add_problems(unknown_problems(self.entries, self.config.rootpath, items))
        for item in items:
            entry = self.entry_for(item.nodeid)
            if entry is not None:
                why = entry.describe(self.today)
                item.add_marker(pytest.mark.xfail(strict=False, reason=f"quarantined {why}"))
                item.user_properties.append((QUARANTINED_PROPERTY, why))

    @pytest.hookimpl(tryfirst=True)  # the JUnit writer reads the teardown report's properties after this
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if hasattr(self.config, "workerinput") or self.entry_for(report.nodeid) is None:
            return  # an xdist worker's reports are handled where they arrive, in the controller
        outcome = None if is_rerun(report) else outcome_of(report)
        if outcome is not None:
            previous = self.outcomes.get(report.nodeid, "not run this time")
            if OUTCOME_RANK[outcome] > OUTCOME_RANK[previous]:
                self.outcomes[report.nodeid] = outcome
        if outcome == "failed (xfail: quarantined)":
            self.failures.setdefault(report.nodeid, f"at {report.when}: {crash_message(report)}")
        if report.when == "teardown" and report.nodeid in self.failures:
            report.user_properties.append((QUARANTINED_FAILURE_PROPERTY, self.failures.pop(report.nodeid)))

    def _add_problems(self, problems: list[str]) -> None:
        self.problems.extend(problem for problem in problems if problem not in self.problems)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker hands its collection's problems to the controller
            workeroutput[_PROBLEMS_KEY] = self.problems
        elif self.problems and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        self._add_problems(getattr(node, "workeroutput", {}).get(_PROBLEMS_KEY, []))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.entries and not self.problems:
            return
        terminalreporter.section(f"quarantine: {len(self.entries)} test(s) ({self.path})")
        for entry in self.entries:
            matching = {nodeid: outcome for nodeid, outcome in self.outcomes.items() if entry.covers(nodeid)}
            outcome = ", ".join(f"{o}" if n == entry.test else f"{n}: {o}" for n, o in matching.items())
            terminalreporter.write_line(
                f"{entry.test}: {entry.age_days(self.today)} days old (max {self.max_age}); "
                f"this run: {outcome or 'not run this time'}; reason: {entry.reason}"
            )
        for problem in self.problems:
            terminalreporter.write_line(f"QUARANTINE FAILS THE RUN: {problem}", red=True, bold=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stigmer-quarantine", "Quarantine of tests known to flake")
    group.addoption(
        "--quarantine",
        default=None,
        help=f"the quarantine file (default: {QUARANTINE_FILE} under the rootdir; none there means none)",
    )
    group.addoption(
        "--quarantine-max-age",
        type=int,
        default=MAX_AGE_DAYS,
        help=f"days a test may stay quarantined before its entry fails the run (default {MAX_AGE_DAYS})",
    )


def pytest_configure(config: pytest.Config) -> None:
    given = config.getoption("quarantine")
    path = Path(given) if given else config.rootpath / QUARANTINE_FILE
    if not path.is_absolute():
        path = Path.cwd() / path
    today = date.today()
    if not path.is_file():
        if given:
            raise pytest.UsageError(f"--quarantine {given}: no such file")
        entries: list[Entry] = []
    else:
        try:
            entries = load(path, today)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from exc
    config.pluginmanager.register(
        Quarantine(config, path, entries, config.getoption("quarantine_max_age"), today), "stigmer-quarantine"
    )
