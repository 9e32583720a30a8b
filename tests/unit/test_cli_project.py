"""Loading Stigmer.yaml: one clear error per problem, and the happy path."""

from __future__ import annotations

from pathlib import Path

import pytest

from stigmer.cli.errors import ProjectError
from stigmer.cli.project import load_project

VALID = "name: demo\nruntime: python\nmain: main.py\nversion: 1.0.0\n"


def make_project(root: Path, config: str | None = VALID, main: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (root / "Stigmer.yaml").write_text(config)
    if main:
        (root / "main.py").write_text("print('hi')\n")
    return root


def test_valid_project_loads_from_folder_or_file(tmp_path: Path) -> None:
    root = make_project(tmp_path / "demo")
    from_dir = load_project(root)
    from_file = load_project(root / "Stigmer.yaml")
    assert from_dir == from_file
    assert (from_dir.name, from_dir.runtime, from_dir.version) == ("demo", "python", "1.0.0")
    assert from_dir.entry_point == (root / "main.py").resolve()


def test_version_is_optional(tmp_path: Path) -> None:
    root = make_project(tmp_path, "name: demo\nruntime: python\nmain: main.py\n")
    assert load_project(root).version == ""


@pytest.mark.parametrize(
    ("config", "main", "expected"),
    [
        (None, True, "no Stigmer.yaml in"),
        ("name: [unclosed\n", True, "is not valid YAML"),
        ("", True, "found an empty file"),
        ("- just\n- a list\n", True, "expected a mapping"),
        ("runtime: python\nmain: main.py\n", True, "missing required field(s) 'name'"),
        ("name: demo\nruntime: python\n", True, "missing required field(s) 'main'"),
        ("name: demo\nmain: main.py\n", True, "missing required field(s) 'runtime'"),
        ("name: demo\nruntime: go\nmain: main.go\n", True, "runtime 'go' is not supported"),
        ("name: {a: 1}\nruntime: python\nmain: main.py\n", True, "field 'name' must be a string"),
        (VALID, False, "entry point 'main.py' (field 'main') does not exist"),
    ],
    ids=[
        "missing-file",
        "bad-yaml",
        "empty",
        "not-mapping",
        "no-name",
        "no-main",
        "no-runtime",
        "wrong-runtime",
        "name-not-string",
        "no-entry-point",
    ],
)
def test_each_problem_has_a_clear_error(tmp_path: Path, config: str | None, main: bool, expected: str) -> None:
    root = make_project(tmp_path / "demo", config, main)
    with pytest.raises(ProjectError) as error:
        load_project(root)
    assert expected in str(error.value)


def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="does not exist"):
        load_project(tmp_path / "nowhere")
