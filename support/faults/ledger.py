"""The ledger of injected faults: what was done, to what, when, and when it was undone.

Every injector appends one ``LedgerEntry`` when it injects and closes it when it undoes the fault, so a
test can reconcile what it did with what the system reports (the expected failures are exactly the
injected ones). Times are kept twice: monotonic (to compare with other monotonic readings of this
process) and wall-clock UTC (to compare with logs).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _wall() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class LedgerEntry:
    """One fault: its ``kind`` (e.g. ``kill``, ``freeze``, ``proxy.down``), its ``target`` (a component, a
    link, a path), the pids it touched, when it started and ended, and free-form ``detail``."""

    kind: str
    target: str
    pids: list[int] = field(default_factory=list)
    started_monotonic: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=_wall)
    ended_monotonic: float | None = None
    ended_at: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def active(self) -> bool:
        """Whether the fault is still in place."""
        return self.ended_monotonic is None

    @property
    def duration(self) -> float | None:
        """Seconds the fault lasted (None while it lasts)."""
        return None if self.ended_monotonic is None else self.ended_monotonic - self.started_monotonic

    def end(self, **detail: Any) -> None:
        """Mark the fault undone (the first call counts; later ones only add ``detail``)."""
        if self.ended_monotonic is None:
            self.ended_monotonic = time.monotonic()
            self.ended_at = _wall()
        self.detail.update(detail)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (with ``duration``)."""
        data = asdict(self)
        data["duration"] = self.duration
        return data


class Ledger:
    """A thread-safe, append-only list of ``LedgerEntry``; one per test or scenario."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LedgerEntry] = []

    def record(self, kind: str, target: str, pids: list[int] | None = None, **detail: Any) -> LedgerEntry:
        """Append a started fault and return its entry (to ``end()`` it later)."""
        entry = LedgerEntry(kind=kind, target=target, pids=list(pids or []), detail=dict(detail))
        with self._lock:
            self._entries.append(entry)
        return entry

    @property
    def entries(self) -> list[LedgerEntry]:
        """A copy of the entries, in the order the faults began."""
        with self._lock:
            return list(self._entries)

    def of_kind(self, kind: str) -> list[LedgerEntry]:
        """Entries whose kind is ``kind`` or starts with ``kind.``."""
        return [e for e in self.entries if e.kind == kind or e.kind.startswith(f"{kind}.")]

    def active(self) -> list[LedgerEntry]:
        """Faults still in place (a teardown expects none)."""
        return [e for e in self.entries if e.active]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __bool__(self) -> bool:
        return True  # an empty ledger is still a ledger (``ledger or default`` must not drop it)

    def to_json(self) -> list[dict[str, Any]]:
        """Every entry as a JSON-serialisable dict."""
        return [entry.to_json() for entry in self.entries]

    def save(self, path: Path) -> None:
        """Write the ledger as JSON to ``path`` (folders created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")


DEFAULT_LEDGER = Ledger()
"""The ledger injectors append to when none is given (a test should pass its own)."""
