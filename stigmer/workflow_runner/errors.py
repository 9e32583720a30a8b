"""Task errors: the ``ErrorInfo`` shape (RFC 7807-like, as in the Serverless Workflow DSL) and matching.

A failing task raises ``TaskError``. ``try`` catches it when every field of ``errors.with`` equals
the error's field of that name (``{"status": 503}``, ``{"type": ERROR_TYPES["communication"]}``;
a ``type`` without a ``/`` names a standard type: ``{"type": "timeout"}``); an empty or missing
``with`` catches every error. Inside ``catch`` (``when``, ``exceptWhen``, ``retry``, ``do``) the
error is the variable named by ``as`` (default ``$error``): ``{type, status, title, detail,
instance}``, where ``instance`` is the path of the task that failed.

The runner's own errors use the DSL 1.0 standard types with their default statuses
(``stigmer.api.error_types``): ``timeout`` 408 (a call or an agent that did not finish in time),
``communication`` (an HTTP / gRPC answer with an error status carries that status; no answer at
all, e.g. a refused connection, is 500), ``runtime`` 500, ``expression`` / ``validation`` /
``configuration`` 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from stigmer.api.error_types import ERROR_TYPES, STANDARD_STATUS

__all__ = ["ERROR_TYPES", "STANDARD_STATUS", "ErrorInfo", "TaskError", "error", "matches"]


@dataclass(frozen=True)
class ErrorInfo:
    type: str
    status: int
    title: str
    detail: str = ""
    instance: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorInfo:
        status = data.get("status") or 0
        return cls(
            type=str(data.get("type") or ERROR_TYPES["runtime"]),
            status=int(status) if isinstance(status, int | float) or str(status).isdigit() else 0,
            title=str(data.get("title") or ""),
            detail=str(data.get("detail") or ""),
            instance=str(data.get("instance") or ""),
        )

    def text(self) -> str:
        """One line for people: ``Title (status 503): detail``."""
        head = self.title or self.type.rsplit("/", 1)[-1]
        if self.status:
            head += f" (status {self.status})"
        return f"{head}: {self.detail}" if self.detail else head


class TaskError(Exception):
    """A task failed; ``info`` says how (``instance`` is set to the failing task's path)."""

    def __init__(self, info: ErrorInfo) -> None:
        self.info = info
        super().__init__(info.text())

    def at(self, path: str) -> TaskError:
        """This error with ``instance`` set to ``path`` unless a deeper task already set it."""
        if self.info.instance:
            return self
        return TaskError(ErrorInfo(**{**self.info.as_dict(), "instance": path}))


def error(kind: str, status: int, title: str, detail: str = "") -> TaskError:
    return TaskError(ErrorInfo(ERROR_TYPES[kind], status, title, detail))


def matches(info: ErrorInfo, with_: Mapping[str, Any] | None) -> bool:
    """Whether ``info`` has every field value of ``with_`` (numbers compare as numbers)."""
    if not with_:
        return True
    fields = info.as_dict()
    for key, wanted in with_.items():
        have = fields.get(key)
        if key == "status" and isinstance(wanted, str) and wanted.isdigit():
            wanted = int(wanted)
        if key == "type" and isinstance(wanted, str) and "/" not in wanted:
            wanted = ERROR_TYPES.get(wanted, wanted)
        if have != wanted:
            return False
    return True
