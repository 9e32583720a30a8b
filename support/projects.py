"""User projects as test fixtures: list the examples, copy a project into a temp dir (optionally
renaming things in it), and read the expected fields declared for it."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPO_ROOT / "examples"
PROJECT_FILE = "Stigmer.yaml"
_TEXT_SUFFIXES = (".py", ".yaml", ".yml", ".md", ".json", ".txt")


def list_examples(root: Path = EXAMPLES_DIR) -> list[str]:
    """Names of the example projects (folders holding a Stigmer.yaml), sorted."""
    if not root.is_dir():
        return []
    return sorted(path.parent.name for path in root.glob(f"*/{PROJECT_FILE}"))


def copy_project(source: Path, dest: Path, replacements: Mapping[str, str] | None = None) -> Path:
    """Copy the project folder ``source`` to ``dest`` (which must not exist) and return ``dest``.

    ``replacements`` (old text -> new text) are applied to every text file; each ``old`` must occur
    somewhere, so a renamed fixture cannot silently keep its old name.
    """
    if not source.is_dir():
        raise FileNotFoundError(f"no project folder at {source}")
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if replacements:
        seen = {old: 0 for old in replacements}
        for path in sorted(dest.rglob("*")):
            if not path.is_file() or path.suffix not in _TEXT_SUFFIXES:
                continue
            text = path.read_text()
            for old, new in replacements.items():
                seen[old] += text.count(old)
                text = text.replace(old, new)
            path.write_text(text)
        absent = [old for old, count in seen.items() if count == 0]
        if absent:
            shutil.rmtree(dest)
            raise ValueError(f"{source}: nothing to replace for {absent!r}")
    return dest


@dataclass(frozen=True)
class ProjectCopy:
    """A project copied for one test, with the names it was given in place of the original ones."""

    folder: Path
    names: Mapping[str, str]

    def name(self, original: str) -> str:
        """The name this copy uses for ``original``."""
        return self.names.get(original, original)

    def edit(self, old: str, new: str, file: str = "main.py") -> None:
        """Change a file of the project the way a user would; ``old`` must occur exactly once."""
        path = self.folder / file
        text = path.read_text()
        if text.count(old) != 1:
            raise ValueError(f"{old!r} occurs {text.count(old)} times in {path}, expected once")
        path.write_text(text.replace(old, new))

    def expected(self) -> dict[str, Any]:
        """The project's ``expected.yaml`` (its names already replaced)."""
        return load_expected(self.folder / "expected.yaml")


def load_expected(path: Path) -> dict[str, Any]:
    """An expected-fields file: ``agents: {name: {...}}``, ``workflows: {ns/name: {...}}``,
    optional ``skipped_message``. Missing sections come back empty."""
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with agents / workflows, got {type(data).__name__}")
    unknown = sorted(set(data) - {"agents", "workflows", "skipped_message"})
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {unknown}; known: agents, workflows, skipped_message")
    return {
        "agents": dict(data.get("agents") or {}),
        "workflows": dict(data.get("workflows") or {}),
        "skipped_message": data.get("skipped_message"),
    }


def declared_names(expected: Mapping[str, Any]) -> set[str]:
    """The agents (``name``) and workflows (``ns/name`` and ``name``) an expected-fields file declares."""
    workflows = set(expected.get("workflows") or {})
    return set(expected.get("agents") or {}) | workflows | {name.rpartition("/")[2] for name in workflows}


def referenced_names(expected: Mapping[str, Any]) -> set[str]:
    """Agents and workflows the declared resources refer to (agent_call / run tasks at any depth,
    sub-agent references), whether or not they are declared in the same file."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            config = value.get("config")
            if value.get("kind") == "agent_call" and isinstance(config, Mapping):
                found.add(str(config.get("agent", "")))
            if value.get("kind") == "run" and isinstance(config, Mapping):
                found.add(str(config.get("workflow", "")))
            if value.get("agent_ref"):
                found.add(str(value["agent_ref"]))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(expected.get("agents") or {})
    walk(expected.get("workflows") or {})
    return found - {""}
