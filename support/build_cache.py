"""The persistent cache of what image builds reuse between runs (the base rootfs tar, the wheelhouse).

It lives in ``$STIGMER_E2E_CACHE`` (default ``~/.cache/stigmer-e2e``), outside any run's folder, so a run
with a fresh Docker engine only imports what an earlier run built. Entries are named by a hash of
their inputs, written under a temporary name and renamed into place, under a lock so two runs never
build the same entry at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from support.waits import wait_until

CACHE_ENV = "STIGMER_E2E_CACHE"
LOCK_TIMEOUT = 1800.0


def cache_dir() -> Path:
    """The cache folder (created)."""
    folder = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "stigmer-e2e")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def progress(message: str) -> None:
    """One line of progress on stderr (image builds take minutes: say what is happening)."""
    print(f"[docker-images] {message}", file=sys.stderr, flush=True)


def hash_files(files: Iterable[tuple[str, Path]], *extra: str) -> str:
    """SHA-256 over (name, content) pairs in name order, then ``extra`` strings."""
    digest = hashlib.sha256()
    for name, path in sorted(files, key=lambda pair: pair[0]):
        digest.update(f"{name}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as data:
            for chunk in iter(lambda: data.read(1 << 20), b""):
                digest.update(chunk)
    for text in extra:
        digest.update(f"\0{text}".encode())
    return digest.hexdigest()


def files_under(folder: Path, prefix: str = "") -> list[tuple[str, Path]]:
    """Every file below ``folder`` as (``prefix`` + relative path, path), bytecode caches left out."""
    return [
        (prefix + path.relative_to(folder).as_posix(), path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]


@contextmanager
def cache_lock(name: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the lock ``<cache>/<name>.lock`` (waiting at most ``timeout`` seconds for another run)."""
    path = cache_dir() / f"{name}.lock"
    with path.open("a") as handle:

        def locked() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        if not locked():
            progress(f"waiting for another run building {name} ({path})")
            try:
                wait_until(locked, f"{path} is locked by another run", timeout=timeout, interval=0.5)
            except AssertionError as exc:
                raise TimeoutError(f"{exc} for more than {timeout:g}s") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
