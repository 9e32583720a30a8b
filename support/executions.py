"""Read executions through the API the way a client follows them: Subscribe, Get, and plain views of
their status (phases, task statuses by path, messages, tool calls) for assertions.

Views are the JSON documents the CLI prints (``support.client.to_dict``): phases are short names
(``COMPLETED``), ``*_json`` fields are decoded (``output``, ``arguments``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc

from stigmer.api.v1 import execution_pb2 as pb
from support.client import StackClient, ref, to_dict
from support.waits import Liveness, eventually

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


def phase(value: int | str) -> str:
    """``EXECUTION_PHASE_COMPLETED`` (or its number) -> ``COMPLETED``."""
    name = pb.ExecutionPhase.Name(value) if isinstance(value, int) else value
    return name.removeprefix("EXECUTION_PHASE_")


def service(api: StackClient, execution_id: str) -> Any:
    """The execution service of this ID's kind (``aex-`` agent, ``wex-`` workflow)."""
    if execution_id.startswith("aex-"):
        return api.agent_executions
    if execution_id.startswith("wex-"):
        return api.workflow_executions
    raise ValueError(f"not an execution ID: {execution_id!r}")


def get(api: StackClient, execution_id: str) -> dict[str, Any]:
    """The execution as a JSON document."""
    return to_dict(service(api, execution_id).Get(ref(execution_id)))


def wait_finished(
    api: StackClient, execution_id: str, *, timeout: float = 60.0, alive: Liveness | None = None
) -> dict[str, Any]:
    """The execution once it is COMPLETED, FAILED or CANCELLED; fails with its last state otherwise."""

    def finished() -> dict[str, Any]:
        execution = get(api, execution_id)
        current = phase(execution["status"].get("phase", 0))
        assert current in TERMINAL, f"execution {execution_id} is still {current}: {execution['status']}"
        return execution

    return eventually(finished, timeout=timeout, interval=0.1, alive=alive)


@dataclass(frozen=True)
class Followed:
    """Every state one Subscribe stream sent, and how long the stream took to end."""

    states: tuple[dict[str, Any], ...]
    seconds: float

    @property
    def phases(self) -> list[str]:
        """The phases in the order seen, each once per run of equal phases."""
        seen: list[str] = []
        for state in self.states:
            current = phase(state["status"].get("phase", 0))
            if not seen or seen[-1] != current:
                seen.append(current)
        return seen

    @property
    def last(self) -> dict[str, Any]:
        return self.states[-1]


def subscribe(
    api: StackClient,
    execution_id: str,
    *,
    timeout: float = 60.0,
    on_state: Callable[[dict[str, Any]], None] | None = None,
) -> Followed:
    """Follow the execution with Subscribe until the server ends the stream (at a terminal phase);
    ``on_state`` sees each state as it arrives.

    Fails when the stream outlives ``timeout`` or ends before a terminal phase.
    """
    started = time.monotonic()
    stream = service(api, execution_id).Subscribe(ref(execution_id), timeout=timeout)
    states: list[dict[str, Any]] = []
    try:
        for message in stream:
            states.append(to_dict(message))
            if on_state is not None:
                on_state(states[-1])
    except grpc.RpcError as exc:
        shown = [phase(s["status"].get("phase", 0)) for s in states]
        raise AssertionError(
            f"Subscribe({execution_id}) ended with {exc.code().name} {exc.details()} after phases {shown}"
        ) from None
    followed = Followed(tuple(states), time.monotonic() - started)
    assert states, f"Subscribe({execution_id}) ended without sending a state"
    assert followed.phases[-1] in TERMINAL, f"Subscribe({execution_id}) ended at {followed.phases}"
    return followed


def status(execution: dict[str, Any]) -> dict[str, Any]:
    return dict(execution.get("status") or {})


def execution_phase(execution: dict[str, Any]) -> str:
    return phase(status(execution).get("phase", 0))


def tasks(execution: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Task statuses by path, in the order the status lists them, each with its phase short-named."""
    found: dict[str, dict[str, Any]] = {}
    for task in status(execution).get("tasks", []):
        found[task.get("path") or task["name"]] = {**task, "phase": phase(task.get("phase", 0))}
    return found


def task_phases(execution: dict[str, Any]) -> dict[str, str]:
    """``{path: phase}`` in the order the status lists the tasks."""
    return {path: task["phase"] for path, task in tasks(execution).items()}


def task_outputs(execution: dict[str, Any]) -> dict[str, Any]:
    """``{path: output}`` of the tasks that have one."""
    return {path: task["output"] for path, task in tasks(execution).items() if "output" in task}


def started_order(execution: dict[str, Any], paths: Iterable[str] | None = None) -> list[str]:
    """Task paths sorted by when they started (ties keep the status order)."""
    found = tasks(execution)
    chosen = list(found) if paths is None else [p for p in paths if p in found]
    return sorted(chosen, key=lambda p: found[p].get("started_at", ""))


def messages(execution: dict[str, Any]) -> list[tuple[str, str]]:
    """``(type, content)`` of each message: ``("HUMAN", "Hi")``, ``("AGENT", "Hello")``."""
    return [
        (str(m.get("type", "")).removeprefix("MESSAGE_TYPE_"), m.get("content", ""))
        for m in status(execution).get("messages", [])
    ]


def tool_calls(execution: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool calls, each with ``name``, ``arguments`` (decoded), ``result``, ``source``, ``phase``."""
    return [
        {**call, "phase": phase(call.get("phase", 0)), "arguments": call.get("arguments", {})}
        for call in status(execution).get("tool_calls", [])
    ]
