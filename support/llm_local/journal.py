"""What the front was asked and what the model answered, chat by chat, for tests to read afterwards
(``GET /_local/chats``): with a real model the words are unknown, but where they went is not."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ChatRecord:
    """One ``/api/chat``: its order, the time it ended, the request body, whether it was constrained, and the
    reply (its text and Ollama ``tool_calls``; ``error`` when the model failed)."""

    seq: int
    time: float
    request: dict[str, Any]
    constrained: bool
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.request.get("messages") or [])

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatRecord:
        return cls(**data)


class Journal:
    """A thread-safe, append-only list of chats."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chats: list[ChatRecord] = []

    def add(self, request: dict[str, Any], constrained: bool, reply: dict[str, Any], error: str = "") -> ChatRecord:
        """Record a finished chat (``reply``: the merged Ollama reply, or ``{}`` after an error)."""
        message = reply.get("message") or {}
        with self._lock:
            record = ChatRecord(
                len(self._chats),
                time.time(),
                request,
                constrained,
                str(message.get("content", "")),
                list(message.get("tool_calls", [])),
                error,
            )
            self._chats.append(record)
            return record

    def chats(self) -> list[ChatRecord]:
        with self._lock:
            return list(self._chats)
