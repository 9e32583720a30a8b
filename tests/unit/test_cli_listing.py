"""Listing across pages: what to ask for, when to stop, and the 'N more' hint."""

from __future__ import annotations

from typing import Any

from stigmer.api.v1.agent_pb2 import Agent, ListAgentsResponse
from stigmer.api.v1.common_pb2 import Metadata
from stigmer.cli.listing import Listing, collect, more_hint


def pages(total: int, per_page: int, report_remaining: bool = True) -> Any:
    """A List call over ``total`` agents that ends each page after ``per_page`` (its byte budget)."""

    def fetch(size: int, token: str) -> ListAgentsResponse:
        start = int(token or 0)
        end = min(start + min(size, per_page), total)
        agents = [Agent(metadata=Metadata(id=f"agt-{i}")) for i in range(start, end)]
        return ListAgentsResponse(
            agents=agents,
            next_page_token=str(end) if end < total else "",
            remaining=(total - end) if report_remaining else 0,
        )

    return fetch


def test_collects_up_to_the_limit_across_short_pages() -> None:
    listing = collect(pages(total=30, per_page=4), "agents", limit=10)
    assert [a.metadata.id for a in listing.items] == [f"agt-{i}" for i in range(10)]
    assert listing.remaining == 20
    assert more_hint(listing, 10) == "… 20 more; use --limit 30 to list them all"


def test_a_listing_that_fits_has_no_hint() -> None:
    listing = collect(pages(total=3, per_page=2), "agents", limit=10)
    assert (len(listing.items), listing.remaining, listing.complete) == (3, 0, True)
    assert more_hint(listing, 10) is None


def test_thousands_are_grouped_in_the_hint() -> None:
    hint = more_hint(Listing(items=[None] * 50, remaining=1950), 50)
    assert hint == "… 1,950 more; use --limit 2000 to list them all"


def test_a_server_that_does_not_count_still_gets_a_hint() -> None:
    listing = collect(pages(total=30, per_page=4, report_remaining=False), "agents", limit=10)
    assert listing.remaining is None
    assert more_hint(listing, 10) == "… more not shown; use a --limit above 10 to list them"


def test_a_server_sending_more_than_asked_is_cut_and_counted() -> None:
    def generous(size: int, token: str) -> ListAgentsResponse:
        return ListAgentsResponse(agents=[Agent(metadata=Metadata(id=f"agt-{i}")) for i in range(8)])

    listing = collect(generous, "agents", limit=5)
    assert (len(listing.items), listing.remaining) == (5, 3)
