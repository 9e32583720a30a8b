"""A user project: a folder with ``Stigmer.yaml`` (name, runtime, main, optional version) and its entry point."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stigmer.cli.errors import ProjectError

PROJECT_FILE = "Stigmer.yaml"
SUPPORTED_RUNTIMES = ("python",)
REQUIRED_FIELDS = ("name", "runtime", "main")


@dataclass(frozen=True)
class Project:
    name: str
    runtime: str
    main: str
    root: Path
    version: str = ""

    @property
    def config_file(self) -> Path:
        return self.root / PROJECT_FILE

    @property
    def entry_point(self) -> Path:
        return self.root / self.main


def project_file(path: Path) -> Path:
    """The Stigmer.yaml that ``--config`` names: the file itself, or the one inside the folder."""
    path = path.expanduser()
    if not path.exists():
        raise ProjectError(f"{path} does not exist (--config takes a project folder or its {PROJECT_FILE})")
    if path.is_dir():
        candidate = path / PROJECT_FILE
        if not candidate.is_file():
            raise ProjectError(
                f"no {PROJECT_FILE} in {path.resolve()}: run this in a project folder, pass --config DIR, "
                "or create a project with: stigmer new NAME"
            )
        return candidate.resolve()
    return path.resolve()


def load_project(path: Path) -> Project:
    """Read and check the project at ``path`` (a folder or its Stigmer.yaml); one clear error per problem."""
    config_file = project_file(path)
    data = _parse(config_file)
    missing = [key for key in REQUIRED_FIELDS if data.get(key) in (None, "")]
    if missing:
        fields = ", ".join(repr(key) for key in missing)
        raise ProjectError(f"{config_file}: missing required field(s) {fields} (e.g. name: my-project)")
    for key in (*REQUIRED_FIELDS, "version"):
        if key in data and data[key] is not None and not isinstance(data[key], str | int | float):
            raise ProjectError(f"{config_file}: field {key!r} must be a string, got {type(data[key]).__name__}")
    runtime = str(data["runtime"])
    if runtime not in SUPPORTED_RUNTIMES:
        raise ProjectError(
            f"{config_file}: runtime {runtime!r} is not supported; this CLI runs 'python' projects (runtime: python)"
        )
    project = Project(
        name=str(data["name"]),
        runtime=runtime,
        main=str(data["main"]),
        root=config_file.parent,
        version=str(data.get("version") or ""),
    )
    if not project.entry_point.is_file():
        raise ProjectError(
            f"{config_file}: entry point {project.main!r} (field 'main') does not exist in {project.root}"
        )
    return project


def _parse(config_file: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(config_file.read_text())
    except yaml.YAMLError as exc:
        raise ProjectError(f"{config_file} is not valid YAML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"cannot read {config_file}: {exc}") from exc
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ProjectError(f"{config_file}: expected a mapping with name, runtime and main, found {found}")
    return data
