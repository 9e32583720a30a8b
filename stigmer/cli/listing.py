"""Listing resources across pages, up to a limit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from stigmer.api.v1.common_pb2 import ListRequest
from stigmer.api.v1.execution_pb2 import ListExecutionsRequest
from stigmer.cli.client import StigmerClient

PAGE_SIZE = 100


def _pages(call: Callable[[Any], Any], make_request: Callable[[str], Any], field: str) -> Iterator[Any]:
    token = ""
    while True:
        response = call(make_request(token))
        yield from getattr(response, field)
        token = response.next_page_token
        if not token:
            return


def _take(items: Iterator[Any], limit: int) -> list[Any]:
    taken = []
    for item in items:
        if len(taken) >= limit:
            break
        taken.append(item)
    return taken


def list_agents(client: StigmerClient, limit: int) -> list[Any]:
    """Up to ``limit`` agents, in the server's order."""
    size = min(limit, PAGE_SIZE)
    return _take(
        _pages(
            lambda r: client.agents.List(r, timeout=client.timeout),
            lambda t: ListRequest(page_size=size, page_token=t),
            "agents",
        ),
        limit,
    )


def list_workflows(client: StigmerClient, limit: int) -> list[Any]:
    """Up to ``limit`` workflows, in the server's order."""
    size = min(limit, PAGE_SIZE)
    return _take(
        _pages(
            lambda r: client.workflows.List(r, timeout=client.timeout),
            lambda t: ListRequest(page_size=size, page_token=t),
            "workflows",
        ),
        limit,
    )


def list_executions(client: StigmerClient, limit: int) -> list[Any]:
    """Up to ``limit`` agent and workflow executions, newest first (both kinds are read, then merged)."""
    found = []
    for stub in (client.agent_executions, client.workflow_executions):
        found += _pages(
            lambda r, stub=stub: stub.List(r, timeout=client.timeout),
            lambda t: ListExecutionsRequest(page_size=PAGE_SIZE, page_token=t),
            "executions",
        )
    found.sort(key=lambda e: (e.metadata.created_at.ToNanoseconds(), e.metadata.id), reverse=True)
    return found[:limit]
