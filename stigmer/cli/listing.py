"""Listing resources across pages, up to a limit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from itertools import islice
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


def _list_resources(client: StigmerClient, stub: Any, field: str, limit: int) -> list[Any]:
    size = min(limit, PAGE_SIZE)
    pages = _pages(
        lambda r: stub.List(r, timeout=client.timeout),
        lambda t: ListRequest(page_size=size, page_token=t),
        field,
    )
    return list(islice(pages, limit))


def list_agents(client: StigmerClient, limit: int) -> list[Any]:
    """Up to ``limit`` agents, in the server's order."""
    return _list_resources(client, client.agents, "agents", limit)


def list_workflows(client: StigmerClient, limit: int) -> list[Any]:
    """Up to ``limit`` workflows, in the server's order."""
    return _list_resources(client, client.workflows, "workflows", limit)


def list_executions(client: StigmerClient, limit: int) -> list[Any]:
    """Up to ``limit`` agent and workflow executions, newest first (both kinds are read, then merged)."""
    found: list[Any] = []
    for stub in (client.agent_executions, client.workflow_executions):
        found += _pages(
            partial(stub.List, timeout=client.timeout),
            lambda t: ListExecutionsRequest(page_size=PAGE_SIZE, page_token=t),
            "executions",
        )
    found.sort(key=lambda e: (e.metadata.created_at.ToNanoseconds(), e.metadata.id), reverse=True)
    return found[:limit]
