"""Errors of the daemon (kept free of heavy imports so the CLI's error table can load them cheaply)."""

from __future__ import annotations


class DaemonError(Exception):
    """A component could not be started or stopped."""


class DaemonBusyError(DaemonError):
    """Another ``stigmer server start`` / ``stop`` holds the daemon lock."""


class StartTimeoutError(DaemonError, TimeoutError):
    """A component did not become ready before the deadline."""


class StackNotRunningError(DaemonError):
    """A command needs the running stack (e.g. ``server stop -c``), and none runs for this STIGMER_HOME."""
