"""The client token: what a caller presents to change anything through stigmer-server's API.

stigmer-server writes the stack's client token to ``$STIGMER_HOME/client.token`` (mode 0600) when it
starts; the CLI and the test pipeline of the same user read it from the same ``STIGMER_HOME`` and send it
with every call as the metadata ``authorization: Bearer <token>``. Reads (Get, List, Subscribe, health,
reflection) need no token; see ``stigmer.server.access`` for the rule.
"""

from __future__ import annotations

from pathlib import Path

CLIENT_TOKEN_FILE = "client.token"
AUTHORIZATION_METADATA = "authorization"
BEARER = "Bearer "

Metadata = tuple[tuple[str, str], ...]


def client_token_path(home: Path) -> Path:
    return home / CLIENT_TOKEN_FILE


def read_client_token(home: Path) -> str:
    """The client token of the stack at ``home``, or "" when it has none (or it cannot be read)."""
    try:
        return client_token_path(home).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def client_metadata(token: str) -> Metadata:
    """The call metadata that presents ``token`` (none for an empty token)."""
    return ((AUTHORIZATION_METADATA, BEARER + token),) if token else ()


def presented_client_token(metadata: dict[str, str]) -> str:
    """The token a call's metadata presents as ``authorization: Bearer <token>`` ("" when none)."""
    value = metadata.get(AUTHORIZATION_METADATA, "")
    return value[len(BEARER) :].strip() if value.startswith(BEARER) else ""
