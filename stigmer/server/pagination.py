"""Page sizes and opaque page tokens for List calls (keyset paging on resource IDs)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import Message

from stigmer.server.errors import Invalid

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# A page of a List response ends before its items exceed this many serialized bytes, whatever
# page_size says (a page always holds at least one item: items are smaller than the message limit).
PAGE_BYTES = 1024 * 1024
# Framing of one item inside the response (field tag and length prefix), counted generously.
_ITEM_OVERHEAD = 8


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


def fit(items: Sequence[Message], size: int, budget: int = PAGE_BYTES) -> int:
    """How many of the first ``items`` make the page: at most ``size``, at least one, within ``budget`` bytes."""
    total = 0
    for count, item in enumerate(items[:size]):
        total += item.ByteSize() + _ITEM_OVERHEAD
        if total > budget and count > 0:
            return count
    return min(len(items), size)
