"""Every API request the stand-in receives, in arrival order, for tests to read afterwards."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request: its order, wall-clock time, method, path, headers (lower-case names), JSON body
    (``None`` when absent or not JSON), the HTTP status sent and which rule answered (chat only)."""

    seq: int
    time: float
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    rule: str | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of the body (empty for other requests)."""
        return list(self.body.get("messages") or []) if isinstance(self.body, dict) else []

    @property
    def last_user_message(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return str(message.get("content", ""))
        return ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordedRequest:
        return cls(**data)


class Recorder:
    """A thread-safe append-only log of requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def record(
        self,
        *,
        time: float,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any,
        status: int,
        rule: str | None,
    ) -> RecordedRequest:
        with self._lock:
            request = RecordedRequest(len(self._requests), time, method, path, headers, body, status, rule)
            self._requests.append(request)
            return request

    def requests(self, path: str | None = None, user_contains: str | None = None) -> list[RecordedRequest]:
        """The requests so far (to ``path`` only, and whose last user message holds ``user_contains``
        only, when given)."""
        with self._lock:
            found = [r for r in self._requests if path is None or r.path == path]
        return [r for r in found if user_contains is None or user_contains in r.last_user_message]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
