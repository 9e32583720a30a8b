"""Page sizes and opaque page tokens for List calls (keyset paging on resource IDs)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from stigmer.server.errors import Invalid

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page:
    """Where a page starts (after this ID; empty for the first page) and how many items it holds."""

    after: str
    size: int


def page_size(requested: int) -> int:
    """The page size to use: the default for 0, at most ``MAX_PAGE_SIZE``."""
    if requested < 0:
        raise Invalid(f"page_size must not be negative (got {requested})")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(last_id: str) -> str:
    """The token of the page that follows the item ``last_id``."""
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    """The ID a token continues after (empty for an empty token)."""
    if not token:
        return ""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = data["after"]
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise Invalid(f"invalid page_token {token!r}") from exc
    if not isinstance(after, str) or not after:
        raise Invalid(f"invalid page_token {token!r}")
    return after


def page(requested_size: int, token: str) -> Page:
    """The page a List request asks for."""
    return Page(after=decode_token(token), size=page_size(requested_size))


def next_token(ids: list[str], size: int) -> str:
    """The token for the next page, given the IDs of up to ``size + 1`` fetched items (empty at the end)."""
    return encode_token(ids[size - 1]) if len(ids) > size else ""
