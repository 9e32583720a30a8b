"""Listing resources across pages, up to a limit, and saying how many more there are.

The server ends a page at ``page_size`` items or before it exceeds its size limit in bytes, whichever
comes first, and each response says how many items follow it (``remaining``). So a listing asks for
what it still needs, page after page, until it has ``limit`` items or the server has no more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stigmer.api.v1.common_pb2 import ListRequest
from stigmer.api.v1.execution_pb2 import ListExecutionsRequest
from stigmer.cli.client import StigmerClient

PAGE_SIZE = 500  # the most the server hands out in one page
DEFAULT_LIMIT = 50

# (page_size, page_token) -> a List response
FetchPage = Callable[[int, str], Any]


@dataclass(frozen=True)
class Listing:
    """Up to ``limit`` items, and how many more the server holds (None: more, but it did not say how many)."""

    items: list[Any]
    remaining: int | None

    @property
    def complete(self) -> bool:
        return self.remaining == 0


def collect(fetch: FetchPage, field: str, limit: int) -> Listing:
    """Up to ``limit`` items of ``field`` from consecutive pages, and the count of those left unread."""
    items: list[Any] = []
    token = ""
    while True:
        wanted = limit - len(items)
        response = fetch(min(wanted, PAGE_SIZE), token)
        page = list(getattr(response, field))
        items += page[:wanted]
        unread = max(0, len(page) - wanted)  # a server may send more than asked for
        next_token = response.next_page_token
        if len(items) >= limit or not next_token or (not page and next_token == token):
            break
        token = next_token
    if not next_token:
        return Listing(items, unread)
    if response.remaining:
        return Listing(items, unread + response.remaining)
    return Listing(items, None)  # a next page, but no count (a server that does not report it)


def _list_request(size: int, token: str) -> ListRequest:
    return ListRequest(page_size=size, page_token=token)


def list_agents(client: StigmerClient, limit: int = DEFAULT_LIMIT) -> Listing:
    """Up to ``limit`` agents, in the server's order (creation)."""
    return collect(
        lambda size, token: client.agents.List(_list_request(size, token), timeout=client.timeout), "agents", limit
    )


def list_workflows(client: StigmerClient, limit: int = DEFAULT_LIMIT) -> Listing:
    """Up to ``limit`` workflows, in the server's order (creation)."""
    return collect(
        lambda size, token: client.workflows.List(_list_request(size, token), timeout=client.timeout),
        "workflows",
        limit,
    )


def list_executions(client: StigmerClient, limit: int = DEFAULT_LIMIT) -> Listing:
    """The ``limit`` newest agent and workflow executions, newest first.

    The server lists each kind oldest first, so both are read to the end and merged; ``remaining`` is
    then exact.
    """
    found: list[Any] = []
    for stub in (client.agent_executions, client.workflow_executions):

        def fetch(size: int, token: str, stub: Any = stub) -> Any:
            return stub.List(ListExecutionsRequest(page_size=size, page_token=token), timeout=client.timeout)

        found += collect(fetch, "executions", limit=2**62).items
    found.sort(key=lambda e: (e.metadata.created_at.ToNanoseconds(), e.metadata.id), reverse=True)
    return Listing(found[:limit], max(0, len(found) - limit))


def more_hint(listing: Listing, limit: int) -> str | None:
    """The stderr line under a cut listing, e.g. ``… 1,950 more; use --limit 2000 to list them all``."""
    if listing.remaining == 0:
        return None
    if listing.remaining is None:
        return f"… more not shown; use a --limit above {limit} to list them"
    total = len(listing.items) + listing.remaining
    return f"… {listing.remaining:,} more; use --limit {total} to list them all"
