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
