"""Rendering results: aligned plain-text tables, JSON, and progress spinners (stderr, TTY only)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.protobuf.message import Message
    from google.protobuf.timestamp_pb2 import Timestamp

    from stigmer.cli.environment import Environment

EMPTY_CELL = "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns left-aligned and separated by two spaces; empty cells shown as ``-``; no trailing spaces."""
    cells = [[str(h) for h in headers]] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return EMPTY_CELL
    return str(value).replace("\n", " ")


def to_json(data: Any) -> str:
    """Pretty JSON for ``--output json`` (UTF-8 kept readable, stable key order)."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def message_dict(message: Message) -> dict[str, Any]:
    """A protobuf message as the JSON object the API documents (see ``stigmer.api.json_values``)."""
    from stigmer.api.json_values import message_to_dict

    return message_to_dict(message)


def timestamp_text(timestamp: Timestamp) -> str:
    """A timestamp in local time, ``YYYY-MM-DD HH:MM:SS``; empty when unset."""
    if not timestamp.seconds and not timestamp.nanos:
        return ""
    return datetime.fromtimestamp(timestamp.seconds).strftime("%Y-%m-%d %H:%M:%S")


def truncate(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@contextlib.contextmanager
def spinner(env: Environment, text: str) -> Iterator[None]:
    """A rich spinner on stderr while the block runs, only when stderr is a terminal."""
    if not env.stderr_isatty:
        yield
        return
    from rich.console import Console

    console = Console(file=env.stderr, no_color=not env.use_color, highlight=False)
    with console.status(text):
        yield
