"""What the interpreter asks of the outside world, and the requests it sends.

The interpreter (workflow code) never performs I/O itself: it calls an ``Effects`` object. The
Temporal workflow implements it with activities and durable timers (``workflow.py``); unit tests
implement it in memory. Requests are plain dataclasses, so Temporal can record them in history:
they hold no secret values (see ``secrets``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from stigmer.workflow_runner.reporting import StatusReport


@dataclass
class Deferred:
    """A config string evaluated in the activity (it reads ``$env``); ``pointer`` says where it goes."""

    pointer: list[str | int]
    text: str


@dataclass
class ExpressionScope:
    """What an activity needs to evaluate deferred strings: the data and the (non-env) variables."""

    context: Any
    variables: dict[str, Any]


@dataclass
class CallRequest:
    """One call of an ``http_call``, ``grpc_call``, ``agent_call`` or ``run`` task.

    ``config`` is the task's config with every expression already evaluated except ``deferred``
    (and ``scope`` is set when there are any). ``key`` is the idempotency key / child request ID
    (``paths.run_key``). ``secret_names`` are the execution's secret variables (no values).
    """

    kind: str
    execution_id: str
    path: str
    key: str
    config: dict[str, Any]
    deferred: list[Deferred] = field(default_factory=list)
    scope: ExpressionScope | None = None
    secret_names: list[str] = field(default_factory=list)


class Effects(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...

    async def call(self, request: CallRequest) -> Any:
        """Perform the call; return its output or raise ``errors.TaskError``."""
        ...

    async def report(self, report: StatusReport) -> None:
        """Send a status update (idempotent: it may be sent more than once)."""
        ...
