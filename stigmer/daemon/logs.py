"""Reading component log files: the last lines, and following new ones."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

TAIL_BLOCK = 64 * 1024
FOLLOW_POLL_INTERVAL = 0.2


def tail_lines(path: Path, count: int, *, start: int = 0) -> list[str]:
    """The last ``count`` lines of ``path`` (from byte offset ``start`` on); [] when it is missing."""
    if count <= 0:
        return []
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            begin = max(start, size - TAIL_BLOCK * max(1, count // 200 + 1))
            handle.seek(begin)
            data = handle.read()
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    if begin > start and lines:
        lines = lines[1:]  # the first line was cut by the block boundary
    return list(deque(lines, maxlen=count))


def file_size(path: Path) -> int:
    """Size of ``path`` in bytes, 0 when it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def follow_lines(path: Path, *, start: int, keep_going: Callable[[], bool] = lambda: True) -> Iterator[str]:
    """Yield lines appended to ``path`` after byte offset ``start``, polling until ``keep_going()`` is False."""
    offset = start
    pending = b""
    while keep_going():
        size = file_size(path)
        if size < offset:  # truncated or replaced: start over
            offset, pending = 0, b""
        if size > offset:
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read(size - offset)
            offset += len(chunk)
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.decode("utf-8", errors="replace")
            continue
        time.sleep(FOLLOW_POLL_INTERVAL)  # poll interval of `tail -f`; the loop ends on keep_going()
