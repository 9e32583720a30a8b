"""The start/stop lock: one ``stigmer server start`` or ``stop`` at a time per STIGMER_HOME.

``fcntl.flock`` on ``$STIGMER_HOME/daemon.lock``; the file exists only while the lock is held. The
kernel releases the lock when its holder dies, so a crashed CLI never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from stigmer.daemon.errors import DaemonBusyError
from stigmer.daemon.homedir import make_private_dir

POLL_INTERVAL = 0.05


class DaemonLock:
    """Exclusive lock on ``path``, waiting at most ``timeout`` seconds for another holder."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`DaemonBusyError` when ``timeout`` passes first."""
        make_private_dir(self.path.parent)
        deadline = time.monotonic() + self.timeout
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise DaemonBusyError(
                        f"another 'stigmer server start' or 'stop' is in progress (lock {self.path}); "
                        "try again when it has finished"
                    ) from None
                time.sleep(POLL_INTERVAL)  # poll interval of the lock, bounded by the deadline
                continue
            # The previous holder may have removed the file between our open and flock: the lock we
            # hold is then on an orphaned inode, and a newcomer could lock a fresh file. Retry.
            if self._same_file(fd):
                self._fd = fd
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                return
            os.close(fd)

    def _same_file(self, fd: int) -> bool:
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)

    def release(self) -> None:
        """Remove the lock file and release the lock."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
