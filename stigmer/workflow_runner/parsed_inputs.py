"""Big execution inputs parsed before the workflow thread needs them.

Temporal fails a workflow task whose activation holds the workflow thread for 2 s (TMPRL1101), and
parsing a multi-MiB input there takes about a second on a loaded machine. So ``load_execution``, a
local activity (run outside the workflow thread, in the same process), parses an input of at least
``MIN_CHARS`` and keeps the value here; the workflow then *takes* it instead of parsing. The value
is a pure function of the input's text, which the workflow has anyway (the local activity's recorded
result): a workflow that finds nothing here (a replay in another process, an entry evicted) parses
the text itself and gets the same value, so histories replay the same either way.

This module is passed through the workflow sandbox: workflow code and activities share its store.
"""

from __future__ import annotations

import gc
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

MIN_CHARS = 64 * 1024  # below this a parse takes well under a millisecond: not worth keeping
MAX_CHARS = 32 * 1024 * 1024  # texts kept at most; the oldest go first (a parsed value is larger)


def parse(text: str) -> Any:
    """``json.loads``, with the cyclic garbage collector paused: it would otherwise run over and
    over on the hundreds of thousands of containers of a big input (twice as slow, or more)."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return json.loads(text)
    finally:
        if paused:
            gc.enable()


@dataclass
class Counts:
    kept: int = 0
    taken: int = 0  # values handed to a workflow without a parse
    parsed_by_workflow: int = 0  # big inputs a workflow had to parse (nothing kept for them)


class ParsedInputs:
    """Parsed inputs by execution ID, bounded by the total length of their texts."""

    def __init__(self, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.counts = Counts()
        self._entries: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def keep(self, execution_id: str, text: str) -> None:
        """Parse ``text`` now, for the workflow of ``execution_id`` to take (a small text: nothing)."""
        if not self.min_chars <= len(text) <= self.max_chars:
            return
        value = parse(text)
        with self._lock:
            self._drop(execution_id)
            self._entries[execution_id] = (text, value)
            self._chars += len(text)
            while self._chars > self.max_chars:
                self._drop(next(iter(self._entries)))
            self.counts.kept += 1

    def take(self, execution_id: str, text: str) -> Any:
        """The value of ``text``: the one kept for ``execution_id`` (once) if it was kept for this very
        text, else parsed here."""
        with self._lock:
            entry = self._entries.get(execution_id)
            self._drop(execution_id)
            if entry is not None and entry[0] == text:
                self.counts.taken += 1
                return entry[1]
            if len(text) >= self.min_chars:
                self.counts.parsed_by_workflow += 1
        return parse(text)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._entries

    def _drop(self, execution_id: str) -> None:
        entry = self._entries.pop(execution_id, None)
        if entry is not None:
            self._chars -= len(entry[0])


PARSED_INPUTS = ParsedInputs()
