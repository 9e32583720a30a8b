"""Built-in tools over the execution's workspace folder ``$STIGMER_HOME/workspace/<execution_id>/``.

Paths are relative to the folder; anything that resolves outside it (``..``, absolute paths, symlinks
out) is refused.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from stigmer.agent_runner.tools import BUILTIN, Tool, ToolError

MAX_READ_CHARS = 100_000
MAX_LISTED = 1_000


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def resolve(self, path: str) -> Path:
        """The absolute path of ``path`` inside the workspace; ``ToolError`` when it would leave it."""
        raw = (path or ".").strip()
        if PurePosixPath(raw).is_absolute() or Path(raw).is_absolute() or raw.startswith("~"):
            raise ToolError(f"path {path!r} is absolute; give a path relative to the workspace")
        if ".." in PurePosixPath(raw.replace("\\", "/")).parts:
            raise ToolError(f"path {path!r} leaves the workspace ('..' is not allowed)")
        root = self.root.resolve()
        candidate = (root / raw).resolve()
        if candidate != root and root not in candidate.parents:
            raise ToolError(f"path {path!r} leaves the workspace")
        return candidate

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root.resolve()).as_posix()

    def list_files(self, path: str = ".") -> str:
        folder = self.resolve(path)
        if not folder.exists():
            raise ToolError(f"{path!r} does not exist")
        if not folder.is_dir():
            raise ToolError(f"{path!r} is not a folder")
        names = sorted(self.relative(p) + ("/" if p.is_dir() else "") for p in folder.rglob("*"))
        if not names:
            return "(empty)"
        if len(names) > MAX_LISTED:
            names = [*names[:MAX_LISTED], f"... and {len(names) - MAX_LISTED} more"]
        return "\n".join(names)

    def read_file(self, path: str) -> str:
        target = self.resolve(path)
        if not target.is_file():
            raise ToolError(f"{path!r} is not a file in the workspace")
        text = target.read_text(encoding="utf-8", errors="replace")
        if len(text) > MAX_READ_CHARS:
            return text[:MAX_READ_CHARS] + f"\n... ({len(text) - MAX_READ_CHARS} more characters)"
        return text

    def write_file(self, path: str, content: str) -> str:
        target = self.resolve(path)
        if target == self.root.resolve():
            raise ToolError("a file name is required")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        return f"wrote {len(content)} characters to {self.relative(target)}"


def _text_arg(arguments: dict[str, Any], name: str, default: str | None = None) -> str:
    value = arguments.get(name, default)
    if value is None:
        raise ToolError(f"argument {name!r} is required")
    if not isinstance(value, str):
        raise ToolError(f"argument {name!r} must be a string")
    return value


def workspace_tools(workspace: Workspace) -> list[Tool]:
    """``list_files``, ``read_file`` and ``write_file`` over ``workspace``."""

    async def list_files(arguments: dict[str, Any], call_id: str) -> str:
        return workspace.list_files(_text_arg(arguments, "path", "."))

    async def read_file(arguments: dict[str, Any], call_id: str) -> str:
        return workspace.read_file(_text_arg(arguments, "path"))

    async def write_file(arguments: dict[str, Any], call_id: str) -> str:
        return workspace.write_file(_text_arg(arguments, "path"), _text_arg(arguments, "content"))

    path = {"type": "string", "description": "Path relative to the workspace folder"}
    return [
        Tool(
            "list_files",
            "List the files in the workspace folder (or one of its sub-folders).",
            {"type": "object", "properties": {"path": path}},
            BUILTIN,
            list_files,
        ),
        Tool(
            "read_file",
            "Read a text file of the workspace folder.",
            {"type": "object", "properties": {"path": path}, "required": ["path"]},
            BUILTIN,
            read_file,
        ),
        Tool(
            "write_file",
            "Write a text file in the workspace folder (creates folders, replaces an existing file).",
            {
                "type": "object",
                "properties": {"path": path, "content": {"type": "string", "description": "The file's text"}},
                "required": ["path", "content"],
            },
            BUILTIN,
            write_file,
        ),
    ]
