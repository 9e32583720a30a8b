"""The wheelhouse images install from with ``pip install --no-index``: built on the host, cached.

Image builds run with ``--network none``, so every wheel comes from here: the project's locked runtime
dependencies (``uv export --frozen --no-hashes --no-emit-project`` of uv.lock, then ``pip download
--only-binary=:all:``), cached by the hash of uv.lock and the host's Python (the image's Debian Python
must have the same ABI), and the project's own wheel (``uv build --wheel`` of a copy of its sources),
cached by the hash of those sources.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from support.build_cache import cache_dir, cache_lock, files_under, hash_files, progress

ROOT = Path(__file__).resolve().parent.parent
PROJECT_SOURCES = ("pyproject.toml", "README.md", "stigmer")
STEP_TIMEOUT = 900.0
# Bump when the way the wheelhouse is made changes.
RECIPE = "1"


class WheelhouseError(Exception):
    """A step of the wheelhouse failed; the message carries the command and the end of its output."""


@dataclass(frozen=True)
class Wheelhouse:
    """The cached wheels: the locked dependencies, and the project's own wheel."""

    dependencies: Path
    project_wheel: Path

    def dependency_wheels(self) -> list[Path]:
        return sorted(self.dependencies.glob("*.whl"))

    def all_wheels(self) -> list[Path]:
        return [*self.dependency_wheels(), self.project_wheel]


def python_tag() -> str:
    """The interpreter the wheels are for (``cp311-x86_64``): part of the dependencies' cache key."""
    return f"cp{sys.version_info.major}{sys.version_info.minor}-{platform.machine()}"


def find_uv() -> str:
    """The uv executable: beside this Python, the ``uv`` package's, or on PATH."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return str(beside)
    if importlib.util.find_spec("uv") is not None:
        from uv import find_uv_bin

        return str(find_uv_bin())
    found = shutil.which("uv")
    if found is None:
        raise WheelhouseError("no uv executable (beside python, as the uv package, or on PATH): `pip install uv`")
    return found


def pip_command() -> list[str]:
    """pip of this Python, or pip run through uv when this environment has none (nox's uv environments)."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    return [find_uv(), "tool", "run", "--python", sys.executable, "--from", "pip", "pip"]


def _run(command: list[str], what: str, cwd: Path | None = None) -> None:
    progress(f"{what}: {' '.join(command)}")
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=STEP_TIMEOUT, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise WheelhouseError(f"{what} did not finish within {STEP_TIMEOUT:g}s: {' '.join(command)}") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-30:]
        raise WheelhouseError(f"{what} exited {done.returncode}: {' '.join(command)}\n" + "\n".join(output))


def dependencies_key(project: Path = ROOT) -> str:
    return hash_files([("uv.lock", project / "uv.lock")], python_tag(), RECIPE)[:12]


def project_key(project: Path = ROOT) -> str:
    files = [("pyproject.toml", project / "pyproject.toml"), ("README.md", project / "README.md")]
    return hash_files([*files, *files_under(project / "stigmer", "stigmer/")], RECIPE)[:12]


def _dependencies(project: Path, folder: Path) -> Path:
    if (folder / ".complete").is_file():
        progress(f"wheelhouse of uv.lock cached: {folder}")
        return folder
    started = time.monotonic()
    work = folder.with_name(f"{folder.name}.work-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    requirements = work / "requirements.txt"
    export = [find_uv(), "export", "--frozen", "--no-hashes", "--no-emit-project", "--format", "requirements-txt"]
    _run([*export, "--quiet", "--output-file", str(requirements)], "exporting uv.lock", cwd=project)
    download = [*pip_command(), "download", "--only-binary=:all:", "--disable-pip-version-check", "--quiet"]
    _run([*download, "--dest", str(work), "-r", str(requirements)], "downloading the locked wheels")
    (work / ".complete").write_text(f"{len(list(work.glob('*.whl')))} wheels\n")
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)
    progress(f"wheelhouse of uv.lock ready in {time.monotonic() - started:.1f}s: {folder}")
    return folder


def _project_wheel(project: Path, folder: Path) -> Path:
    wheels = sorted(folder.glob("*.whl"))
    if wheels:
        progress(f"project wheel cached: {wheels[0]}")
        return wheels[0]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stigmer-wheel-") as tmp:
        source = Path(tmp) / "source"
        source.mkdir()
        for name in PROJECT_SOURCES:
            path = project / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(path, source / name)
        built = Path(tmp) / "dist"
        _run([find_uv(), "build", "--wheel", "--quiet", "--out-dir", str(built), str(source)], "building the project")
        found = sorted(built.glob("*.whl"))
        if len(found) != 1:
            raise WheelhouseError(f"uv build left {[p.name for p in found]} in {built}, expected one wheel")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / found[0].name
        shutil.copy2(found[0], target.with_suffix(".part"))
        target.with_suffix(".part").rename(target)
    progress(f"project wheel built in {time.monotonic() - started:.1f}s: {target}")
    return target


def ensure_wheelhouse(project: Path = ROOT) -> Wheelhouse:
    """The wheelhouse of ``project``: from the cache, or built now (about a minute when cold)."""
    cache = cache_dir()
    deps_name = f"wheels-{dependencies_key(project)}"
    with cache_lock(deps_name):
        dependencies = _dependencies(project, cache / deps_name)
    project_name = f"project-{project_key(project)}"
    with cache_lock(project_name):
        wheel = _project_wheel(project, cache / project_name)
    return Wheelhouse(dependencies, wheel)
