"""Disk faults: a data directory made read-only, and a full disk. They need root (mount permission).

Root ignores file modes, so nothing here uses chmod: a read-only directory is a read-only bind mount of
itself, and a full disk is a small tmpfs (``size=``; tmpfs keeps no blocks in reserve for root, unlike
ext4) filled with one file. Without mount permission every injector raises ``FaultUnavailable`` with
the project's four-part message (a test skips with it).

To put a stack's data on a small filesystem, mount it before the stack starts::

    with mounted_home(stack.home, size_mb=64) as disk:
        stack.start()
        ...
        with disk.full(ledger=ledger):        # fill it up; released on exit
            ...                                 # writes fail with "database or disk is full"

Linux checks a mount's read-only flag when a file is opened, so ``ReadOnlyDir`` / ``ReadOnlyFile``
reach whatever is opened after they begin (files created in the directory, a component restarted or
started meanwhile) and not a process that holds a file open for writing (a running stigmer-server's
database): kill the component to make it meet the read-only directory or file. ``ReadOnlyFile`` of the
database (``SmallFs.read_only_database()``) is the one a restarted stigmer-server serves through
(reads work, writes fail clearly); a whole read-only home also stops the supervisor writing its state
and SQLite creating the WAL's files, so the server cannot open its database at all. A full disk
reaches every writer at once.
Every mount is noted in ``support.faults.leftovers`` until it is undone.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from support.faults import leftovers
from support.faults.base import DEFAULT_MAX_SECONDS, FaultError, FaultUnavailable, Injector
from support.faults.ledger import Ledger
from support.prereqs import CheckContext, Prerequisite, missing_message
from support.processes import RunId

FILL_NAME = ".stigmer-e2e-fill"
DATABASE = "stigmer.db"
MOUNT_LABEL = "stigmer-e2e"
_FILL_CHUNK = 1 << 20


def _check_mount(_context: CheckContext) -> tuple[bool, str]:
    problem = mount_problem()
    return problem is None, problem or "root, and mounting a tmpfs works"


MOUNT_PERMISSION = Prerequisite(
    name="permission to mount filesystems",
    needed_by=(
        "the disk faults (support/faults/disk.py: a read-only data directory, a full disk) of the resilience "
        "tier and tests/unit/test_faults_disk.py: they bind-mount and mount small tmpfs filesystems"
    ),
    provide=(
        "sudo -E nox -s resilience                 # run as root",
        "docker run --cap-add SYS_ADMIN ...        # or a container allowed to mount",
    ),
    without="run the other scenarios: `nox -s resilience -- -k 'not disk'`",
    check=_check_mount,
)


@functools.cache
def mount_problem() -> str | None:
    """Why this process cannot mount filesystems, or None when it can (tried once with a tiny tmpfs)."""
    if os.geteuid() != 0:
        return f"not running as root (uid {os.geteuid()}); mounting needs root"
    with tempfile.TemporaryDirectory(prefix="stigmer-e2e-mount-check-") as folder:
        tried = _run(["mount", "-t", "tmpfs", "-o", "size=64k", f"{MOUNT_LABEL}-check", folder])
        if tried.returncode != 0:
            return f"`mount -t tmpfs` failed: {(tried.stderr or tried.stdout).strip()}"
        leftovers.unmount(Path(folder))
    return None


def require_mount() -> None:
    """Raise ``FaultUnavailable`` (the four-part message) when this process cannot mount."""
    problem = mount_problem()
    if problem is not None:
        raise FaultUnavailable(missing_message(MOUNT_PERMISSION, problem))


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(argv, 1, "", str(exc))


def _mount(argv: list[str], mountpoint: Path) -> None:
    leftovers.note_mount(mountpoint)
    done = _run(argv)
    if done.returncode != 0:
        leftovers.forget_mount(mountpoint)
        raise FaultError(f"`{' '.join(argv)}` failed: {(done.stderr or done.stdout).strip()}")


def _unmount(mountpoint: Path) -> None:
    leftovers.unmount(mountpoint)
    leftovers.forget_mount(mountpoint)


def mount_tmpfs(path: Path, size_mb: float) -> None:
    """Mount a tmpfs of ``size_mb`` MiB at ``path`` (created; it must be empty), labelled with the run."""
    require_mount()
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()):
        raise FaultError(f"{path} is not empty: a filesystem mounted there would hide its files")
    label = f"{MOUNT_LABEL}-{RunId.for_process()}"
    size_kb = max(int(size_mb * 1024), 64)
    _mount(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", label, str(path)], path)


class SmallFs:
    """A size-limited tmpfs mounted at ``path``; ``fill()`` makes it full, ``release()`` frees it again."""

    def __init__(self, path: Path, size_mb: float, ledger: Ledger | None = None) -> None:
        self.path = path
        self.size_mb = size_mb
        self.ledger = ledger

    @property
    def fill_file(self) -> Path:
        return self.path / FILL_NAME

    def free_bytes(self) -> int:
        """Bytes still free on the filesystem."""
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def fill(self) -> int:
        """Write one file until the filesystem has no byte left; the bytes written."""
        written = 0
        fd = os.open(self.fill_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (_FILL_CHUNK, 4096, 1):
                block = b"\0" * size
                try:
                    while True:
                        written += os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
        finally:
            os.close(fd)
        return written

    def release(self) -> None:
        """Delete the fill file (the filesystem has room again)."""
        self.fill_file.unlink(missing_ok=True)

    def full(self, *, max_seconds: float = DEFAULT_MAX_SECONDS, ledger: Ledger | None = None) -> DiskFull:
        """An injector keeping this filesystem full while it is in place."""
        return DiskFull(
            self.path, self.size_mb, ledger=ledger if ledger is not None else self.ledger, max_seconds=max_seconds
        )

    def read_only(self, *, max_seconds: float = DEFAULT_MAX_SECONDS, ledger: Ledger | None = None) -> ReadOnlyDir:
        """An injector keeping this filesystem's directory read-only while it is in place."""
        return ReadOnlyDir(self.path, ledger=ledger if ledger is not None else self.ledger, max_seconds=max_seconds)

    def read_only_database(
        self, name: str = DATABASE, *, max_seconds: float = DEFAULT_MAX_SECONDS, ledger: Ledger | None = None
    ) -> ReadOnlyFile:
        """An injector keeping the database file ``name`` read-only (the rest of the home stays writable:
        the supervisor's state, pid files and logs)."""
        return ReadOnlyFile(
            self.path / name, ledger=ledger if ledger is not None else self.ledger, max_seconds=max_seconds
        )


_small: dict[Path, SmallFs] = {}


@contextlib.contextmanager
def mounted_home(root: Path, size_mb: float = 64, *, ledger: Ledger | None = None) -> Iterator[SmallFs]:
    """Mount a ``size_mb`` MiB tmpfs at ``root`` (e.g. a stack's STIGMER_HOME, before the stack starts);
    unmounted on exit (lazily if something still holds it). Raises ``FaultUnavailable`` without root."""
    root = root.resolve()
    mount_tmpfs(root, size_mb)
    disk = SmallFs(root, size_mb, ledger)
    _small[root] = disk
    try:
        yield disk
    finally:
        _small.pop(root, None)
        with contextlib.suppress(OSError):
            disk.release()
        _unmount(root)


class DiskFull(Injector):
    """A full disk at ``path``: the small filesystem ``mounted_home`` put there is filled; elsewhere a new
    tmpfs of ``size_mb`` MiB is mounted at ``path`` (which must be empty) and filled. Undo frees it (and
    unmounts what this injector mounted)."""

    kind = "disk.full"

    def __init__(
        self,
        path: Path,
        size_mb: float = 16,
        *,
        ledger: Ledger | None = None,
        max_seconds: float | None = DEFAULT_MAX_SECONDS,
    ) -> None:
        super().__init__(str(path), max_seconds=max_seconds, ledger=ledger)
        self.path = path.resolve()
        self.size_mb = size_mb
        self._own_mount = False
        self.disk: SmallFs | None = None

    def _inject(self) -> dict[str, Any]:
        require_mount()
        disk = _small.get(self.path)
        if disk is None:
            mount_tmpfs(self.path, self.size_mb)
            self._own_mount = True
            disk = SmallFs(self.path, self.size_mb)
        self.disk = disk
        try:
            written = disk.fill()
        except BaseException:
            disk.release()
            if self._own_mount:
                _unmount(self.path)
                self._own_mount = False
            raise
        return {"filled_bytes": written, "size_mb": disk.size_mb, "own_mount": self._own_mount}

    def _undo(self) -> dict[str, Any]:
        assert self.disk is not None
        self.disk.release()
        free = self.disk.free_bytes()
        if self._own_mount:
            _unmount(self.path)
            self._own_mount = False
        return {"free_bytes_after": free}


class ReadOnlyDir(Injector):
    """``path`` read-only for every open made while this is in place: a read-only bind mount of itself
    (``mount --bind`` then ``mount -o remount,ro,bind``). Undo unmounts the bind (lazily when a process
    opened files through it: such a process keeps them read-only until it reopens them)."""

    kind = "disk.read_only"
    what = "directory"

    def __init__(
        self, path: Path, *, ledger: Ledger | None = None, max_seconds: float | None = DEFAULT_MAX_SECONDS
    ) -> None:
        super().__init__(str(path), max_seconds=max_seconds, ledger=ledger)
        self.path = path.resolve()

    def _inject(self) -> dict[str, Any]:
        require_mount()
        if not self._exists():
            raise FaultError(f"{self.path} is not a {self.what}")
        _mount(["mount", "--bind", str(self.path), str(self.path)], self.path)
        remount = _run(["mount", "-o", "remount,ro,bind", str(self.path)])
        if remount.returncode != 0:
            _unmount(self.path)
            raise FaultError(f"could not make the bind mount of {self.path} read-only: {remount.stderr.strip()}")
        return {}

    def _exists(self) -> bool:
        return self.path.is_dir()

    def _undo(self) -> dict[str, Any]:
        _unmount(self.path)
        return {}


class ReadOnlyFile(ReadOnlyDir):
    """One file read-only for every open made while this is in place (a read-only bind mount of the file
    over itself). For a stack's ``stigmer.db``: stigmer-server restarted meanwhile serves reads and fails
    writes with UNAVAILABLE "data directory is read-only: ...", while the rest of its home stays writable."""

    kind = "disk.read_only_file"
    what = "file"

    def _exists(self) -> bool:
        return self.path.is_file()
