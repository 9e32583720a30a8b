"""The entry point: fast `--version` / `--help` without gRPC, protobuf or rich; help on every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stigmer import __version__
from stigmer.cli.app import COMMANDS, cli

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from stigmer.cli.main import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'rich', 'psutil') or m.startswith('google.proto'))
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def run_probe(*args: str) -> tuple[str, dict[str, object]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=30, check=False
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return result.stdout, report


def test_version_prints_the_version_without_heavy_imports() -> None:
    stdout, report = run_probe("--version")
    assert stdout == f"stigmer {__version__}\n"
    assert report == {"code": 0, "heavy": []}


def test_help_lists_every_command_without_heavy_imports() -> None:
    stdout, report = run_probe("--help")
    assert report == {"code": 0, "heavy": []}
    for name in COMMANDS:
        assert f"  {name} " in stdout


def test_python_dash_m_stigmer_works() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "stigmer", "--version"], capture_output=True, text=True, env=env, timeout=30, check=False
    )
    assert (result.returncode, result.stdout) == (0, f"stigmer {__version__}\n")


def all_command_paths() -> list[list[str]]:
    paths = []
    for name in COMMANDS:
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        subcommands = getattr(command, "commands", {})
        paths += [[name, sub] for sub in subcommands] or [[name]]
    return paths


@pytest.mark.parametrize("path", all_command_paths(), ids=" ".join)
def test_every_command_has_help_with_an_example(path: list[str]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout, f"stigmer {' '.join(path)} --help shows no example"
    assert len(result.stdout.splitlines()) > 5
