"""The stderr of MCP server processes, copied into the runner's log line by line, with secrets redacted.

A stdio MCP server gets secrets in its environment and may print them; its stderr goes to a pipe whose
lines a thread writes to the runner's stderr, prefixed with the server's name, after ``redact``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import TextIO


class RedactingPipe:
    def __init__(self, prefix: str, redact: Callable[[str], str], out: TextIO | None = None) -> None:
        self._prefix, self._redact, self._out = prefix, redact, out
        read_fd, write_fd = os.pipe()
        self.writer: TextIO = os.fdopen(write_fd, "w", encoding="utf-8")
        self._reader = os.fdopen(read_fd, "r", encoding="utf-8", errors="replace")
        self._thread = threading.Thread(target=self._pump, name=f"stderr {prefix}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        out = self._out or sys.stderr
        with self._reader:
            for line in self._reader:
                out.write(f"{self._prefix}{self._redact(line.rstrip())}\n")
                out.flush()

    def close(self, timeout: float = 5.0) -> None:
        """Close our write end; the copy ends once the server process has closed its own."""
        self.writer.close()
        self._thread.join(timeout)
