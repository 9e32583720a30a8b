"""Everything a command reads from or writes to its surroundings, in one swappable object.

Commands never touch ``sys.stdout`` / ``os.environ`` directly, so they run the same in a
subprocess, under click's ``CliRunner``, or with ``Environment(stdout=io.StringIO(), ...)``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from stigmer.config import Settings


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Environment:
    stdout: TextIO
    stderr: TextIO
    environ: Mapping[str, str] = field(default_factory=dict)
    stdout_isatty: bool = False
    stderr_isatty: bool = False
    # Set from the global options.
    server_override: str | None = None
    show_traceback: bool = False

    @classmethod
    def from_process(cls) -> Environment:
        """The real process: its standard streams and environment, read now."""
        return cls(
            stdout=sys.stdout,
            stderr=sys.stderr,
            environ=dict(os.environ),
            stdout_isatty=_isatty(sys.stdout),
            stderr_isatty=_isatty(sys.stderr),
        )

    @cached_property
    def settings(self) -> Settings:
        """Settings from this environment (STIGMER_HOME, ``config.yaml``, ...), loaded once."""
        from stigmer.config import load_settings

        return load_settings(self.environ)

    @property
    def server_addr(self) -> str:
        """Where commands call stigmer-server; the first of:

        1. ``--server``;
        2. ``STIGMER_SERVER_ADDR``;
        3. the address the running stack of this STIGMER_HOME recorded (``run/stack.json``), so a stack
           started on a custom address is found without repeating it;
        4. ``server_addr`` in ``config.yaml``;
        5. the default, 127.0.0.1:7234.
        """
        if self.server_override:
            return self.server_override
        if self.environ.get("STIGMER_SERVER_ADDR"):
            return self.settings.server_addr
        from stigmer.daemon.state import recorded_address

        return recorded_address(self.settings.state_file, "stigmer-server") or self.settings.server_addr

    @property
    def use_color(self) -> bool:
        """Colour only on a terminal, and never when NO_COLOR is set."""
        return self.stderr_isatty and "NO_COLOR" not in self.environ

    def out(self, text: str = "") -> None:
        """Write a line to stdout (the command's result)."""
        print(text, file=self.stdout, flush=True)

    def write(self, text: str) -> None:
        """Write ``text`` to stdout as it is (streamed output: it may end mid-line)."""
        self.stdout.write(text)
        self.stdout.flush()

    def err(self, text: str = "") -> None:
        """Write a line to stderr (progress, diagnostics, errors)."""
        print(text, file=self.stderr, flush=True)
