"""A client of a stand-in's control endpoint, for a stand-in running as another process.

It offers the same test-facing methods as ``LLMStandin`` (``add_rules``, ``clear_rules``, ``rules``,
``requests``, ``chats``, ``reset``), so a test reads the same whether its stand-in is in-process or not.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

from support.llm_standin.recording import RecordedRequest
from support.llm_standin.rules import Rule, rules_to_json
from support.llm_standin.server import CONTROL_PREFIX


class StandinControlError(Exception):
    """The control endpoint refused a call or could not be reached; the message says which and why."""


class StandinClient:
    """Control of the stand-in at ``url`` (``http://host:port``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def add_rules(self, *rules: Rule, first: bool = False) -> None:
        """Append ``rules`` after those already set (first match wins); ``first``: before them."""
        self._call("POST", "rules", {"rules": rules_to_json(rules), "first": first})

    def remove_rules(self, label: str) -> int:
        """Drop the rules labelled ``label`` (a rule's ``name``); how many there were."""
        return int(self._call("DELETE", f"rules/{quote(label, safe='')}")["removed"])

    def release(self) -> int:
        """End every hung request; how many there were."""
        return int(self._call("POST", "release")["released"])

    def clear_rules(self) -> None:
        self._call("DELETE", "rules")

    def rules(self) -> list[dict[str, Any]]:
        """The rules in order, in JSON form, each with its ``label`` and uses ``remaining``."""
        return list(self._call("GET", "rules")["rules"])

    def requests(self, path: str | None = None, user_contains: str | None = None) -> list[RecordedRequest]:
        """Every API request the stand-in received, in order (to ``path`` only, and whose last user
        message holds ``user_contains`` only, when given: the stand-in filters, so little is sent)."""
        filters = {key: value for key, value in (("path", path), ("user_contains", user_contains)) if value is not None}
        route = f"requests?{urlencode(filters)}" if filters else "requests"
        return [RecordedRequest.from_json(item) for item in self._call("GET", route)["requests"]]

    def chats(self, user_contains: str | None = None) -> list[RecordedRequest]:
        return self.requests("/api/chat", user_contains)

    def reset(self) -> None:
        """Drop every rule and recorded request."""
        self._call("POST", "reset")

    def version(self) -> str:
        """The Ollama version the stand-in reports (``GET /api/version``); raises when it does not answer."""
        return str(self._get_json(f"{self.url}/api/version")["version"])

    def _call(self, method: str, route: str, payload: Any = None) -> dict[str, Any]:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{self.url}{CONTROL_PREFIX}{route}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        return self._open(request)

    def _get_json(self, url: str) -> dict[str, Any]:
        return self._open(urllib.request.Request(url))

    def _open(self, request: urllib.request.Request) -> dict[str, Any]:
        what = f"{request.get_method()} {request.full_url}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise StandinControlError(f"{what}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise StandinControlError(f"{what}: {exc}") from None
