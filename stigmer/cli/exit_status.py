"""The exit codes of ``stigmer`` (one place, so scripts can rely on them)."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1  # not found, validation, execution failed or cancelled, bad project
    USAGE = 2  # bad command line (click's own usage errors use 2 as well)
    SERVER_UNAVAILABLE = 3
    TIMEOUT = 4
    INTERRUPTED = 130  # Ctrl-C
