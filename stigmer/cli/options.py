"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

TEXT = "text"
JSON = "json"


def output_option(function: F) -> F:
    """``-o/--output text|json``: text for people, JSON for machines."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice([TEXT, JSON], case_sensitive=False),
        default=TEXT,
        show_default=True,
        help="Output format: text for people, json for scripts.",
    )(function)


def reconnect_timeout_option(function: F) -> F:
    """``--reconnect-timeout SECONDS``: how long a follower tries to get stigmer-server back."""
    return click.option(
        "--reconnect-timeout",
        type=click.FloatRange(min=0),
        default=120.0,
        show_default=True,
        help="When the connection to stigmer-server is lost while following, seconds to keep reconnecting "
        "(the execution goes on meanwhile) before giving up with exit code 3.",
    )(function)
