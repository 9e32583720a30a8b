"""The ``stigmer`` entry point. Deliberately tiny: everything is imported inside :func:`main` so that
``stigmer --version`` and ``--help`` start fast."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return its exit status.

    SIGTERM raises :class:`~stigmer.cli.errors.Terminated` in the main thread (exit 143), as Ctrl-C
    raises ``KeyboardInterrupt`` (exit 130), so cleanup runs and the user is told which signal ended it.
    """
    import signal

    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")

    from stigmer.cli.errors import Terminated, raise_terminated

    try:
        previous = signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread (an embedding program): leave signals to it
        previous = None
    try:
        from stigmer.cli.app import cli

        cli.main(args=argv, prog_name="stigmer", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except (KeyboardInterrupt, Terminated) as exc:  # outside a command (while importing, parsing)
        from stigmer.cli.environment import Environment
        from stigmer.cli.error_table import report_error

        return int(report_error(exc, Environment.from_process()))
    except BrokenPipeError:  # e.g. `stigmer list agents | head -1`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
