"""support.diagnostics: a failing test carries its stack logs and CLI calls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from support.cli import CliResult
from support.diagnostics import artifact_dir_name, last_lines, save_artifacts, sections


@dataclass
class FakeStack:
    name: str
    logs: dict[str, Path]

    def log_paths(self) -> dict[str, Path]:
        return self.logs


def test_artifact_dir_name_is_file_system_safe() -> None:
    assert artifact_dir_name("tests/apply/test_x.py::test_y[01_basic/agent]") == (
        "tests_apply_test_x.py__test_y_01_basic_agent_"
    )


def test_sections_and_artifacts_cover_every_log_and_cli_call(tmp_path: Path) -> None:
    log = tmp_path / "stigmer-server.log"
    log.write_text("".join(f"line {i}\n" for i in range(300)))
    stack = FakeStack("smoke-1", {"stigmer-server": log})
    call = CliResult(("apply",), 1, "", "Error: x", 0.1)
    found = dict(sections([stack], [call]))
    server_log = found["stigmer-server log (stack smoke-1)"]
    assert server_log.splitlines()[0].startswith("... (100 earlier lines")
    assert server_log.splitlines()[-1] == "line 299"
    assert "Error: x" in found["stigmer CLI calls"]
    dest = save_artifacts(tmp_path / "out", [stack], [call])
    assert (dest / "smoke-1" / "stigmer-server.log").read_text() == log.read_text()
    assert "$ stigmer apply" in (dest / "cli-calls.txt").read_text()


def test_last_lines_of_a_short_file(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_text("one\ntwo\n")
    assert last_lines(path) == "one\ntwo"
