"""The private directories of a STIGMER_HOME: created 0700, with a clear error when that is impossible."""

from __future__ import annotations

import os
from pathlib import Path

from stigmer.config import Settings
from stigmer.daemon.errors import DaemonError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by this user only; an existing one is kept as is."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(directory, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def prepare_home(settings: Settings) -> None:
    """Create STIGMER_HOME and its logs/, pids/ and run/ directories (0700), or say why it cannot be used."""
    for directory in (settings.home, settings.logs_dir, settings.pids_dir, settings.run_dir):
        try:
            make_private_dir(directory)
            if not os.access(directory, os.W_OK | os.X_OK):
                raise PermissionError(13, "Permission denied", str(directory))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise DaemonError(
                f"cannot use STIGMER_HOME {settings.home}: {reason} ({exc.filename or directory}); "
                "make it writable, or point STIGMER_HOME at a writable directory"
            ) from exc
