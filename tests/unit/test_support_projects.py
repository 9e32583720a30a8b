"""support.projects: project copies, expected-fields files, and what examples refer to."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.projects import (
    ProjectCopy,
    copy_project,
    declared_names,
    list_examples,
    load_expected,
    referenced_names,
)


def test_copy_project_applies_replacements_and_names_missing_ones(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "Stigmer.yaml").write_text("name: demo\n")
    (source / "main.py").write_text('Agent(name="demo-agent")\n')
    copy = copy_project(source, tmp_path / "copy", {"demo-agent": "demo-agent-1234"})
    assert (copy / "main.py").read_text() == 'Agent(name="demo-agent-1234")\n'
    with pytest.raises(ValueError, match="nothing to replace"):
        copy_project(source, tmp_path / "copy2", {"absent": "x"})
    assert list_examples(tmp_path) == ["copy", "src"]


def test_load_expected_fills_missing_sections_and_rejects_unknown_ones(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("agents:\n  a:\n    spec: {model: m}\n")
    assert load_expected(path) == {"agents": {"a": {"spec": {"model": "m"}}}, "workflows": {}, "skipped_message": None}
    path.write_text("agent: {}\n")
    with pytest.raises(ValueError, match="unknown section"):
        load_expected(path)


def test_project_copy_edit_needs_exactly_one_occurrence(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text('a = "x"\nb = "y"\nc = "y"\n')
    copy = ProjectCopy(tmp_path, {"e2e-agent": "agent-1234"})
    copy.edit('a = "x"', 'a = "z"')
    assert (tmp_path / "main.py").read_text().startswith('a = "z"')
    with pytest.raises(ValueError, match="occurs 2 times"):
        copy.edit('"y"', '"w"')
    assert copy.name("e2e-agent") == "agent-1234"
    assert copy.name("other") == "other"


def test_declared_and_referenced_names() -> None:
    expected = {
        "agents": {"lead": {"spec": {"sub_agents": [{"agent_ref": "helper"}, {"name": "inline"}]}}},
        "workflows": {
            "ops/flow": {
                "spec": {
                    "tasks": [
                        {"name": "a", "kind": "agent_call", "config": {"agent": "lead"}},
                        {
                            "name": "b",
                            "kind": "try",
                            "config": {"do": [{"name": "c", "kind": "agent_call", "config": {"agent": "remote"}}]},
                        },
                        {"name": "d", "kind": "run", "config": {"workflow": "ops/child"}},
                    ]
                }
            }
        },
    }
    assert declared_names(expected) == {"lead", "ops/flow", "flow"}
    assert referenced_names(expected) == {"helper", "lead", "remote", "ops/child"}
