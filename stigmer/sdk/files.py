"""Files of a user project, found relative to its entry point's folder."""

from __future__ import annotations

import sys
from pathlib import Path


def project_dir() -> Path:
    """The folder of the running entry point (``main.py``), or the current directory without one."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return Path(main_file).resolve().parent if main_file else Path.cwd()


def project_path(path: str | Path) -> Path:
    """``path`` resolved against the entry point's folder when it is relative."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else project_dir() / candidate


def read_project_file(path: str | Path) -> str:
    """The UTF-8 text of a project file (see ``project_path``)."""
    return project_path(path).read_text(encoding="utf-8")


def instructions_from_file(path: str | Path) -> str:
    """Agent instructions kept in a Markdown file of the project, e.g. ``instructions/reviewer.md``."""
    return read_project_file(path)
