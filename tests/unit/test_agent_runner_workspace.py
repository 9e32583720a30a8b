"""The built-in workspace tools and their path confinement."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stigmer.agent_runner.tools import ToolError
from stigmer.agent_runner.workspace_tools import Workspace, workspace_tools


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    created = Workspace(tmp_path / "workspace" / "aex-1")
    created.create()
    return created


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "~/x", "..", "a/..\\..\\x"])
def test_paths_that_leave_the_workspace_are_refused(workspace: Workspace, path: str) -> None:
    with pytest.raises(ToolError, match="workspace"):
        workspace.resolve(path)


def test_a_symlink_out_of_the_workspace_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    (workspace.root / "link").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(ToolError, match="leaves the workspace"):
        workspace.read_file("link")


def test_write_list_and_read_round_trip(workspace: Workspace) -> None:
    assert workspace.list_files() == "(empty)"
    assert workspace.write_file("notes/a.txt", "hello") == "wrote 5 characters to notes/a.txt"
    assert workspace.list_files(".") == "notes/\nnotes/a.txt"
    assert workspace.read_file("notes/a.txt") == "hello"
    assert (workspace.root / "notes" / "a.txt").read_text() == "hello"


def test_reading_a_missing_file_is_a_tool_error(workspace: Workspace) -> None:
    with pytest.raises(ToolError, match="is not a file"):
        workspace.read_file("nope.txt")


def test_tools_check_their_arguments(workspace: Workspace) -> None:
    tools = {tool.name: tool for tool in workspace_tools(workspace)}
    assert set(tools) == {"list_files", "read_file", "write_file"}
    assert all(tool.source == "builtin" for tool in tools.values())
    with pytest.raises(ToolError, match="'content' is required"):
        asyncio.run(tools["write_file"].handler({"path": "a.txt"}, "call-1-0"))
    assert asyncio.run(tools["write_file"].handler({"path": "a.txt", "content": "x"}, "call-1-0")).startswith("wrote")
    assert asyncio.run(tools["read_file"].handler({"path": "a.txt"}, "call-1-1")) == "x"
