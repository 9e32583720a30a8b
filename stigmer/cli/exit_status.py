"""The exit codes of ``stigmer`` (one place, so scripts can rely on them).

| code | meaning |
|---|---|
| 0 | success (for ``run``: the execution COMPLETED) |
| 1 | user error: not found, validation, ambiguous name, still referenced, bad project, bad config |
| 2 | bad command line (click's own usage errors use 2 as well) |
| 3 | stigmer-server unreachable (or a component not running, for ``server status``) |
| 4 | timed out (``run --timeout``, a server that does not answer in time) |
| 5 | ``run``: the execution FAILED |
| 6 | ``run``: the execution was CANCELLED |
| 70 | a bug: an unexpected exception in the CLI, or an internal error of stigmer-server (EX_SOFTWARE) |
| 130 | interrupted by SIGINT (Ctrl-C): 128 + 2 |
| 143 | terminated by SIGTERM: 128 + 15 |
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    SERVER_UNAVAILABLE = 3
    TIMEOUT = 4
    EXECUTION_FAILED = 5
    EXECUTION_CANCELLED = 6
    INTERNAL_ERROR = 70  # EX_SOFTWARE from sysexits.h
    INTERRUPTED = 130  # 128 + SIGINT
    TERMINATED = 143  # 128 + SIGTERM
